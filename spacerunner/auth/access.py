"""Who may see a Space and who may run it: Spaces' public, protected and private, plus owners.

Kept by the server (never in the Space's README: Spaces' header has no such field), in one file
under the state directory that ``spacerunner access`` and the API both change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from spacerunner.auth.accounts import check_name
from spacerunner.auth.identity import Identity
from spacerunner.errors import AccountError
from spacerunner.privatefile import JsonFile


class Visibility(StrEnum):
    PUBLIC = "public"
    """Anyone who reaches the server."""
    PROTECTED = "protected"
    """Signed-in people only."""
    PRIVATE = "private"
    """Its owners, their groups and admins; to everyone else it does not exist."""


def visibility(value: str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        raise AccountError(
            f"{value!r} is not a visibility. Fix: use {', '.join(v.value for v in Visibility)}."
        ) from None


@dataclass(frozen=True)
class SpaceAccess:
    visibility: Visibility
    owners: tuple[str, ...] = ()
    """People or groups who may start, stop, read logs of and manage the secrets of it."""

    def may_see(self, who: Identity) -> bool:
        if who.admin or self.visibility is Visibility.PUBLIC:
            return True
        if self.visibility is Visibility.PROTECTED:
            return who.signed_in
        return who.is_one_of(self.owners)

    def may_manage(self, who: Identity) -> bool:
        return who.admin or who.is_one_of(self.owners)


class AccessStore:
    def __init__(self, path: Path, default: Visibility = Visibility.PUBLIC) -> None:
        self.file = JsonFile(path)
        self.default = default

    def get(self, space: str) -> SpaceAccess:
        return self._rule(self.file.read(), space)

    def _rule(self, data: dict[str, Any], space: str) -> SpaceAccess:
        spaces = data.get("spaces")
        raw = spaces.get(space) if isinstance(spaces, dict) else None
        if not isinstance(raw, dict):
            return SpaceAccess(self.default)
        try:
            seen = Visibility(str(raw.get("visibility")))
        except ValueError:
            seen = Visibility.PRIVATE  # a damaged entry hides rather than exposes
        return SpaceAccess(seen, tuple(str(o) for o in raw.get("owners", ())))

    def set(
        self,
        space: str,
        *,
        visibility: Visibility | None = None,
        owners: tuple[str, ...] | None = None,
    ) -> SpaceAccess:
        """Change what is given; keep the rest (a Space without an entry starts from the
        server's default visibility)."""
        if owners is not None:
            owners = tuple(sorted({check_name(o, "user or group") for o in owners}))
        with self.file.change() as data:
            current = self._rule(data, space)
            data.setdefault("spaces", {})[space] = {
                "visibility": (visibility or current.visibility).value,
                "owners": list(owners if owners is not None else current.owners),
            }
        return self.get(space)
