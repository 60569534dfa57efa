"""The server's gatekeeper: who a request comes from (session cookie, API token, or the server's
token) and what they may do with a Space. The proxy asks it for every request to an app; the
control app asks it for pages and API calls. One rule for every door."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import OrderedDict
from urllib.parse import quote

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, Visibility
from spacerunner.auth.accounts import AccountStore
from spacerunner.auth.identity import ANONYMOUS, SERVER_ADMIN, Identity
from spacerunner.auth.sessions import COOKIE, TICKET_PATH, Sessions, cookie_header, load_key
from spacerunner.proxy.gate import Admission, Verdict, cookie_value
from spacerunner.proxy.headers import IDENTITY

_CACHE_SECONDS = 30.0
_CACHE_SIZE = 4096


class Gate:
    session_cookie = COOKIE.encode()
    ticket_path = TICKET_PATH.encode()

    def __init__(
        self,
        accounts: AccountStore,
        access: AccessStore,
        sessions: Sessions,
        server_token: str,
        *,
        origin: str = "",
    ) -> None:
        self.accounts = accounts
        self.access = access
        self.sessions = sessions
        self._server_token = server_token.encode()
        self.origin = origin
        """The server's own URL (where people sign in), set once the proxy listens."""
        self._cache: OrderedDict[tuple[bytes, bytes], tuple[float, Identity, bool]] = OrderedDict()
        self._cache_version: object = None

    @classmethod
    def of(
        cls, files: TeamFiles, server_token: str, default: Visibility = Visibility.PUBLIC
    ) -> Gate:
        """The gate of a machine's team files (accounts, access, session key)."""
        accounts = AccountStore(files.accounts)
        return cls(
            accounts,
            AccessStore(files.access, default),
            Sessions(load_key(files.session_key), accounts, server_token),
            server_token,
        )

    # --- who ---

    def identify(self, cookie: bytes | None, authorization: bytes | None) -> tuple[Identity, bool]:
        """Who sent a request, and whether its ``Authorization`` was a spacerunner credential.
        A credential that does not verify counts as none (anonymous)."""
        session = cookie_value(cookie, self.session_cookie) if cookie else None
        if not session and not authorization:
            return ANONYMOUS, False
        version = self.accounts.version
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version
        key = (session or b"", authorization or b"")
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        who, credential = self._identify(session, authorization)
        self._cache[key] = (now + _CACHE_SECONDS, who, credential)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return who, credential

    def _identify(
        self, session: bytes | None, authorization: bytes | None
    ) -> tuple[Identity, bool]:
        if authorization:
            who = self._from_authorization(authorization)
            if who is not None:
                return who, True
        if session:
            who = self.sessions.read(session.decode("latin-1"))
            if who is not None:
                return who, False
        return ANONYMOUS, False

    def _from_authorization(self, header: bytes) -> Identity | None:
        scheme, _, given = header.strip().partition(b" ")
        given = given.strip()
        if scheme.lower() == b"bearer":
            if secrets.compare_digest(given, self._server_token):
                return SERVER_ADMIN
            account = self.accounts.verify_token(given.decode("latin-1"))
            return account.identity if account is not None else None
        if scheme.lower() == b"basic":  # git and scripts: user name and API token
            try:
                user, _, token = base64.b64decode(given, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            account = self.accounts.verify_token(token)
            if account is not None and account.name == user:
                return account.identity
        return None

    def is_server_token(self, given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self._server_token)

    # --- what ---

    def admit(self, space: str, cookie: bytes | None, authorization: bytes | None) -> Admission:
        who, credential = self.identify(cookie, authorization)
        rule = self.access.get(space)
        if not rule.may_see(who):
            # Protected: a sign-in would do. Private: not revealed (anonymous visitors included:
            # the not-found page has the sign-in link, as for any missing Space).
            protected = rule.visibility is Visibility.PROTECTED
            return Admission(Verdict.SIGN_IN if protected else Verdict.HIDE)
        return Admission(Verdict.PASS, identity_headers(who), credential)

    # --- browsers ---

    def sign_in_url(self, back_to: str) -> str:
        return f"{self.origin}/signin?next={quote(back_to, safe='')}"

    def redeem(self, ticket: str, host: str) -> str | None:
        session = self.sessions.redeem(ticket, host)
        return cookie_header(session) if session is not None else None


def identity_headers(who: Identity) -> tuple[tuple[bytes, bytes], ...]:
    """What the app is told about a signed-in person (nothing for anonymous visitors)."""
    if not who.name:
        return ()
    user, email, groups = IDENTITY
    values = (who.name, who.email, ",".join(sorted(who.groups)))
    return tuple(
        (header, _header_safe(value).encode())
        for header, value in zip((user, email, groups), values, strict=True)
        if value
    )


def _header_safe(value: str) -> str:
    return "".join(c for c in value if c.isprintable() and c not in "\r\n")
