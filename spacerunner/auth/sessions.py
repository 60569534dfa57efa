"""Signed session cookies for the whole site, and the short tickets that carry a session to a
Space's own host name (``<name>.localhost`` cannot read a cookie set for the server's host).

Signed with itsdangerous and a key kept in the state directory; a session names its account
and that account's password stamp, so a changed password or a removed account ends it.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from spacerunner.auth.accounts import AccountStore
from spacerunner.auth.identity import SERVER_ADMIN, Identity
from spacerunner.privatefile import write_private

COOKIE = "spacerunner_session"
SESSION_DAYS = 14
TICKET_SECONDS = 60
TICKET_PATH = "/.spacerunner/session"
"""Where a Space's own host name takes a ticket and sets its session cookie."""


def load_key(path: Path) -> bytes:
    """The signing key in ``path``, made on first use (a new key ends every session)."""
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    write_private(path, key)
    return key


def cookie_header(value: str, *, max_age: int = SESSION_DAYS * 86400) -> str:
    """The ``Set-Cookie`` value of a session (an empty value signs out)."""
    age = max_age if value else 0
    return f"{COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax"


class Sessions:
    def __init__(self, key: bytes, accounts: AccountStore, server_token: str) -> None:
        self.accounts = accounts
        self._key = key
        self._sessions = URLSafeTimedSerializer(key, salt="spacerunner-session")
        self._tickets = URLSafeTimedSerializer(key, salt="spacerunner-ticket")
        self._token_mark = hashlib.sha256(server_token.encode()).hexdigest()[:16]
        self.max_age = SESSION_DAYS * 86400

    def key_for(self, purpose: str) -> str:
        """A key derived from the signing key for another signed cookie (never the key)."""
        return hashlib.sha256(self._key + b"\0" + purpose.encode()).hexdigest()

    def issue(self, who: Identity) -> str:
        """A session cookie value for ``who`` (an account, or the server token's admin)."""
        if not who.name:
            return str(self._sessions.dumps({"t": self._token_mark}))
        account = self.accounts.get(who.name)
        assert account is not None, "sessions are issued to existing accounts"
        return str(self._sessions.dumps({"u": account.name, "s": account.stamp}))

    def read(self, value: str) -> Identity | None:
        """Who the session value belongs to; None when forged, expired or ended."""
        try:
            data = self._sessions.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        if "t" in data:
            return SERVER_ADMIN if data["t"] == self._token_mark else None
        account = self.accounts.get(str(data.get("u", "")))
        if account is None or not secrets.compare_digest(account.stamp, str(data.get("s"))):
            return None
        return account.identity

    def ticket(self, session: str, host: str) -> str:
        return str(self._tickets.dumps({"v": session, "h": host.lower()}))

    def redeem(self, ticket: str, host: str) -> str | None:
        """The session a ticket carries, when it was made for ``host`` within the minute."""
        try:
            data = self._tickets.loads(ticket, max_age=TICKET_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("h") != host.lower():
            return None
        session = str(data.get("v", ""))
        return session if self.read(session) is not None else None
