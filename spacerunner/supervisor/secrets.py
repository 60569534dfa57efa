"""Per-Space variables and secrets of a server, as Spaces keeps them in each Space's settings:
a file per Space in a folder only spacerunner's user can read. A Space's app sees its own (and
the server-wide ``--env-file`` ones) from its next start; no other Space ever does."""

from __future__ import annotations

import json
import re
from pathlib import Path

from spacerunner.errors import SpacerunnerError
from spacerunner.privatefile import write_private_json

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VALUE = 64 * 1024


def check_key(key: str) -> str:
    if not _NAME.fullmatch(key):
        raise SpacerunnerError(
            f"{key!r} cannot name a variable. Fix: use letters, digits and '_', not starting "
            "with a digit (e.g. HF_TOKEN)."
        )
    return key


class SecretStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, space: str) -> Path:
        return self.root / f"{space}.json"

    def get(self, space: str) -> dict[str, str]:
        """The Space's variables (empty when it has none)."""
        try:
            data = json.loads(self._file(space).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def names(self, space: str) -> list[str]:
        return sorted(self.get(space))

    def set(self, space: str, key: str, value: str) -> None:
        check_key(key)
        if len(value.encode()) > MAX_VALUE:
            raise SpacerunnerError(f"{key}: a value of more than {MAX_VALUE} bytes is refused.")
        values = self.get(space)
        values[key] = value
        self._write(space, values)

    def unset(self, space: str, key: str) -> bool:
        values = self.get(space)
        if values.pop(key, None) is None:
            return False
        self._write(space, values)
        return True

    def _write(self, space: str, values: dict[str, str]) -> None:
        if not values:
            self._file(space).unlink(missing_ok=True)
            return
        write_private_json(self._file(space), values)
