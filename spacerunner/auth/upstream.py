"""Sign-in through an upstream OpenID Connect provider (a company's Keycloak, Google, Entra,
another spacerunner...): who its claims say a person is, mapped to an account of this server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from spacerunner.errors import AccountError

_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class UpstreamOIDC:
    issuer: str
    client_id: str
    client_secret: str
    name_claim: str = "preferred_username"
    """The claim that names the person (falls back to ``email``'s local part, then ``sub``)."""
    groups_claim: str = "groups"
    admin_group: str | None = None
    """Members of this group are admins here."""
    scopes: str = "openid profile email"

    @property
    def source(self) -> str:
        """How accounts made from it are marked (the issuer's host)."""
        return f"oidc:{urlsplit(self.issuer).netloc}"

    @property
    def label(self) -> str:
        return urlsplit(self.issuer).netloc or self.issuer


@dataclass(frozen=True)
class Claimed:
    name: str
    email: str
    groups: tuple[str, ...]
    admin: bool


def _as_name(value: str) -> str:
    return _NOT_NAME.sub("-", value.strip().lower()).strip("-._")[:39]


def from_claims(settings: UpstreamOIDC, claims: dict[str, Any]) -> Claimed:
    """The person the claims describe; a clear error when they name no one."""
    raw_name = claims.get(settings.name_claim)
    email = str(claims.get("email") or "")
    if not raw_name and email:
        raw_name = email.partition("@")[0]
    raw_name = raw_name or claims.get("sub")
    name = _as_name(str(raw_name or ""))
    if not name:
        raise AccountError(
            f"the sign-in from {settings.label} names no one (no {settings.name_claim!r}, "
            "'email' or 'sub' claim). Fix: --oidc-name-claim CLAIM."
        )
    groups_value = claims.get(settings.groups_claim, [])
    if isinstance(groups_value, str):
        groups_value = groups_value.replace(",", " ").split()
    groups = tuple(
        sorted({g for g in (_as_name(str(v).rsplit("/", 1)[-1]) for v in groups_value) if g})
    )
    admin = settings.admin_group is not None and _as_name(settings.admin_group) in groups
    return Claimed(name, email, groups, admin)
