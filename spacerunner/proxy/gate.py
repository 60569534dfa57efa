"""What the proxy asks before a request reaches a Space's app: may this client see it, and who
is it (for the app's identity headers). The proxy does the mechanics (answers, redirects,
header rewriting); the decision is the gatekeeper's (``spacerunner.auth.gate``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Verdict(StrEnum):
    PASS = "pass"
    SIGN_IN = "sign-in"
    """Not for anonymous visitors: a browser is sent to sign in, other clients get 401."""
    HIDE = "hide"
    """Answered exactly as if no such Space existed."""


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """Identity headers the app gets."""
    credential: bool = False
    """The request's ``Authorization`` was a spacerunner credential: not forwarded."""


class Gatekeeper(Protocol):
    session_cookie: bytes
    """The name of the session cookie: never forwarded to an app."""
    ticket_path: bytes
    """The path where a Space's own host name redeems a session ticket."""

    def admit(self, space: str, cookie: bytes | None, authorization: bytes | None) -> Admission:
        """Whether (and as whom) a request with these headers reaches ``space``."""
        ...

    def sign_in_url(self, back_to: str) -> str:
        """Where a browser signs in, coming back to ``back_to`` (a path or a URL)."""
        ...

    def redeem(self, ticket: str, host: str) -> str | None:
        """The ``Set-Cookie`` value for ``host`` a valid ticket gives, else None."""
        ...


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """The value of cookie ``name`` in a ``Cookie:`` header."""
    for part in header.split(b";"):
        key, eq, value = part.strip().partition(b"=")
        if eq and key == name:
            return value
    return None


def without_cookie(header: bytes, name: bytes) -> bytes:
    """A ``Cookie:`` header without cookie ``name`` (b'' when nothing is left)."""
    return b"; ".join(
        p.strip() for p in header.split(b";") if p.strip() and p.strip().partition(b"=")[0] != name
    )
