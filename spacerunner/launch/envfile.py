"""Variables and secrets for a Space from a dotenv-style file (``--env-file``)."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from spacerunner.errors import EnvFileError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=value`` lines (comments, quotes and ``export`` allowed).

    Values are secrets: errors name the file and the key, never the value.
    """
    if not path.is_file():
        raise EnvFileError(f"{path}: no such file. Fix: pass an existing file to --env-file.")
    values = dotenv_values(path, interpolate=False)
    result: dict[str, str] = {}
    for key, value in values.items():
        if not _NAME.match(key):
            raise EnvFileError(
                f"{path}: {key!r} is not a valid variable name. "
                "Fix: use letters, digits and '_', not starting with a digit."
            )
        if value is None:
            raise EnvFileError(f"{path}: {key} has no '=' and no value. Fix: write {key}=value.")
        result[key] = value
    return result
