"""The people of a team server: accounts with argon2-hashed passwords, groups, and API tokens.

Kept in one private JSON file under the state directory, changed under a lock by the server and
by ``spacerunner users``/``tokens`` alike; the server re-reads it when it changes. API tokens
(``sr_<id>.<secret>``) are random and long, so they are stored as SHA-256 digests (looked up on
every request, where a memory-hard hash would cost ~50 ms); passwords get argon2.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from spacerunner.auth.identity import Identity
from spacerunner.errors import AccountError
from spacerunner.privatefile import JsonFile

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,38}")
TOKEN_PREFIX = "sr_"
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("spacerunner: a password no account has")


def check_name(name: str, what: str = "user") -> str:
    if not _NAME.fullmatch(name):
        raise AccountError(
            f"{name!r} cannot name a {what}. Fix: use 1-39 lowercase letters, digits, '_', '.' "
            "or '-', starting with a letter or digit (e.g. alice)."
        )
    return name


@dataclass(frozen=True)
class Account:
    name: str
    admin: bool
    groups: tuple[str, ...]
    email: str
    stamp: str
    """Changes when the password changes: sessions signed before then stop working."""

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.email, frozenset(self.groups), self.admin)


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    name: str
    created: float


def _account(name: str, raw: dict[str, Any]) -> Account:
    return Account(
        name=name,
        admin=bool(raw.get("admin")),
        groups=tuple(str(g) for g in raw.get("groups", ())),
        email=str(raw.get("email", "")),
        stamp=str(raw.get("stamp", "")),
    )


class AccountStore:
    def __init__(self, path: Path) -> None:
        self.file = JsonFile(path)

    # --- reading ---

    @property
    def version(self) -> tuple[int, int] | None:
        """Changes whenever the file does (for caches of what it says)."""
        return self.file.version

    def _users(self) -> dict[str, dict[str, Any]]:
        users = self.file.read().get("users", {})
        return users if isinstance(users, dict) else {}

    def _tokens(self) -> dict[str, dict[str, Any]]:
        tokens = self.file.read().get("tokens", {})
        return tokens if isinstance(tokens, dict) else {}

    def any(self) -> bool:
        return bool(self._users())

    def get(self, name: str) -> Account | None:
        raw = self._users().get(name)
        return _account(name, raw) if isinstance(raw, dict) else None

    def accounts(self) -> list[Account]:
        return [_account(n, r) for n, r in sorted(self._users().items()) if isinstance(r, dict)]

    def verify_password(self, name: str, password: str) -> Account | None:
        """The account when ``password`` is its password (the same work is done either way,
        so timing does not tell whether the name exists)."""
        raw = self._users().get(name)
        stored = raw.get("hash") if isinstance(raw, dict) else None
        try:
            _HASHER.verify(stored if isinstance(stored, str) else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return self.get(name) if isinstance(stored, str) else None

    def verify_token(self, token: str) -> Account | None:
        token_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition(".")
        if not token.startswith(TOKEN_PREFIX) or not secret:
            return None
        raw = self._tokens().get(token_id)
        if not isinstance(raw, dict):
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if not secrets.compare_digest(digest, str(raw.get("digest", ""))):
            return None
        return self.get(str(raw.get("user", "")))

    def tokens(self, user: str | None = None) -> list[TokenInfo]:
        found = [
            TokenInfo(
                tid,
                str(raw.get("user", "")),
                str(raw.get("name", "")),
                float(raw.get("created", 0)),
            )
            for tid, raw in self._tokens().items()
            if isinstance(raw, dict)
        ]
        return sorted((t for t in found if user is None or t.user == user), key=lambda t: t.created)

    # --- changing ---

    def add(
        self,
        name: str,
        password: str,
        *,
        admin: bool = False,
        groups: Iterable[str] = (),
        email: str = "",
    ) -> Account:
        check_name(name)
        group_names = tuple(sorted({check_name(g, "group") for g in groups}))
        _check_password(password)
        with self.file.change() as data:
            users = data.setdefault("users", {})
            if name in users:
                raise AccountError(
                    f"a user named {name!r} already exists. Fix: pick another name, or "
                    f"'spacerunner users passwd {name}'."
                )
            users[name] = {
                "hash": _HASHER.hash(password),
                "admin": admin,
                "groups": list(group_names),
                "email": email,
                "stamp": secrets.token_urlsafe(9),
                "created": time.time(),
            }
        account = self.get(name)
        assert account is not None
        return account

    def update(
        self, name: str, *, admin: bool | None = None, groups: Iterable[str] | None = None
    ) -> Account:
        with self.file.change() as data:
            raw = self._require(data, name)
            if admin is not None:
                raw["admin"] = admin
            if groups is not None:
                raw["groups"] = sorted({check_name(g, "group") for g in groups})
        account = self.get(name)
        assert account is not None
        return account

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self.file.change() as data:
            raw = self._require(data, name)
            raw["hash"] = _HASHER.hash(password)
            raw["stamp"] = secrets.token_urlsafe(9)

    def remove(self, name: str) -> None:
        with self.file.change() as data:
            self._require(data, name)
            del data["users"][name]
            tokens = data.get("tokens", {})
            for tid in [t for t, raw in tokens.items() if raw.get("user") == name]:
                del tokens[tid]

    def external(
        self, name: str, *, source: str, email: str, groups: Iterable[str], admin: bool
    ) -> Account:
        """The account of a person an upstream provider signed in, made or brought up to date
        from its claims (no password: they sign in there). A local account of the same name
        is never taken over."""
        check_name(name)
        group_names = sorted({check_name(g, "group") for g in groups})
        with self.file.change() as data:
            users = data.setdefault("users", {})
            raw = users.get(name)
            if isinstance(raw, dict) and raw.get("source") != source:
                raise AccountError(
                    f"{name!r} is an account of this server, not of {source}. Fix: an admin "
                    f"renames or removes the local account ('spacerunner users remove {name}')."
                )
            before = raw if isinstance(raw, dict) else {}
            users[name] = {
                "source": source,
                "admin": admin,
                "groups": group_names,
                "email": email,
                "stamp": before.get("stamp") or secrets.token_urlsafe(9),
                "created": before.get("created", time.time()),
            }
        account = self.get(name)
        assert account is not None
        return account

    def create_token(self, user: str, label: str = "") -> str:
        """A new API token for ``user``: the only time its text exists outside the caller."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.file.change() as data:
            self._require(data, user)
            data.setdefault("tokens", {})[token_id] = {
                "user": user,
                "name": label[:80],
                "digest": hashlib.sha256(secret.encode()).hexdigest(),
                "created": time.time(),
            }
        return f"{TOKEN_PREFIX}{token_id}.{secret}"

    def revoke_token(self, token_id: str, *, user: str | None = None) -> bool:
        with self.file.change() as data:
            raw = data.get("tokens", {}).get(token_id)
            if raw is None or (user is not None and raw.get("user") != user):
                return False
            del data["tokens"][token_id]
        return True

    @staticmethod
    def _require(data: dict[str, Any], name: str) -> dict[str, Any]:
        raw = data.get("users", {}).get(name)
        if not isinstance(raw, dict):
            raise AccountError(f"no user named {name!r}. Fix: 'spacerunner users list'.")
        return raw


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"a password needs at least {MIN_PASSWORD} characters. Fix: choose a longer one, "
            "or leave it out to have one generated."
        )


def generated_password() -> str:
    return secrets.token_urlsafe(12)
