"""Who may see a Space and who may run it: Spaces' public, protected and private, plus owners.

Kept by the server (never in the Space's README: Spaces' header has no such field), in one file
under the state directory that ``spacerunner access`` and the API both change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner.auth.accounts import check_name
from spacerunner.auth.identity import Identity
from spacerunner.errors import AccountError
from spacerunner.privatefile import locked, read_json_object, write_private_json


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
        self.path = path
        self.default = default
        self._seen: tuple[int, int] | None = None
        self._data: dict[str, object] = {}

    def _spaces(self) -> dict[str, object]:
        try:
            st = self.path.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key is None or key != self._seen:
            self._data = read_json_object(self.path)
            self._seen = key
        spaces = self._data.get("spaces", {})
        return spaces if isinstance(spaces, dict) else {}

    def get(self, space: str) -> SpaceAccess:
        raw = self._spaces().get(space)
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
        with locked(self.path):
            data = read_json_object(self.path)
            spaces = data.setdefault("spaces", {})
            current = self.get(space)
            spaces[space] = {
                "visibility": (visibility or current.visibility).value,
                "owners": list(owners if owners is not None else current.owners),
            }
            write_private_json(self.path, data)
            self._seen = None
        return self.get(space)
