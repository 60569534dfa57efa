"""Who is asking: the one value every access decision reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    name: str = ""
    """The account's name; '' for anonymous visitors and for the server's own token."""
    email: str = ""
    groups: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def signed_in(self) -> bool:
        return bool(self.name) or self.admin

    @property
    def label(self) -> str:
        """How pages name this person."""
        if self.name:
            return self.name
        return "admin (server token)" if self.admin else "anonymous"

    def is_one_of(self, principals: tuple[str, ...]) -> bool:
        """Whether this person, or one of their groups, is named in ``principals``."""
        return bool(self.name) and (self.name in principals or bool(self.groups & set(principals)))


ANONYMOUS = Identity()
SERVER_ADMIN = Identity(admin=True)
"""Whoever holds the server's management token (the CLI on the server's machine)."""
