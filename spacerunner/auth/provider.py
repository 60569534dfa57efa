"""spacerunner as the OpenID provider of its own Spaces, as huggingface.co is for Spaces with
``hf_oauth: true``: each Space a client with its own secret, the authorization-code flow (with
PKCE when asked), ID tokens signed RS256, userinfo with the person's name, email and groups
(also as the ``orgs`` Spaces reports). The HTTP side is ``spacerunner.server.oidc``; this
module keeps clients, codes, tokens and claims."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from spacerunner.auth.identity import Identity
from spacerunner.config.model import OAuth
from spacerunner.privatefile import JsonFile, write_private

BASE_SCOPES = ("openid", "profile")
"""What every Space's client gets (Spaces: ``OAUTH_SCOPES`` is 'openid profile' plus the
header's ``hf_oauth_scopes``)."""
CODE_SECONDS = 60


def scopes_of(oauth: OAuth) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*BASE_SCOPES, *oauth.scopes)))


@dataclass(frozen=True)
class Client:
    space: str
    id: str
    secret: str


class Clients:
    """Each Space's client id and secret, made on first use and kept in the state directory."""

    def __init__(self, path: Path) -> None:
        self.file = JsonFile(path)

    def for_space(self, space: str) -> Client:
        raw = self.file.read().get(space)
        if not isinstance(raw, dict):
            with self.file.change() as data:
                raw = data.get(space)
                if not isinstance(raw, dict):
                    raw = data[space] = {
                        "id": str(uuid.uuid4()),
                        "secret": secrets.token_urlsafe(32),
                    }
        return Client(space, str(raw["id"]), str(raw["secret"]))

    def by_id(self, client_id: str) -> Client | None:
        for space, raw in self.file.read().items():
            if isinstance(raw, dict) and raw.get("id") == client_id:
                return Client(space, client_id, str(raw.get("secret", "")))
        return None

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        client = self.by_id(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return None
        return client


def load_signing_key(path: Path) -> RSAKey:
    try:
        return RSAKey.import_key(json.loads(path.read_text()))
    except (OSError, ValueError):
        pass
    key = RSAKey.generate_key(
        2048,
        parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"},
        private=True,
    )
    write_private(path, json.dumps(key.as_dict(private=True)).encode())
    return key


@dataclass(frozen=True)
class Grant:
    """What an authorization code (and then an access token) stands for."""

    client: Client
    who: Identity
    scopes: tuple[str, ...]
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    lifetime: int
    """Seconds the access token lives (``hf_oauth_expiration_minutes``)."""
    expires: float


class Provider:
    def __init__(
        self,
        clients: Clients,
        key: RSAKey,
        issuer: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.key = key
        self.issuer = issuer
        """The server's own URL (the ``iss`` of its tokens, the base of its endpoints)."""
        self.clock = clock
        self._codes: dict[str, Grant] = {}
        self._tokens: dict[str, Grant] = {}

    def discovery(self) -> dict[str, Any]:
        base = self.issuer()
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/oauth/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "name",
                "preferred_username",
                "email",
                "groups",
                "orgs",
                "profile",
                "picture",
            ],
        }

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    def _sweep(self) -> None:
        now = self.clock()
        for table in (self._codes, self._tokens):
            for key in [k for k, g in table.items() if g.expires < now]:
                del table[key]

    def issue_code(
        self,
        client: Client,
        who: Identity,
        *,
        scopes: tuple[str, ...],
        redirect_uri: str,
        nonce: str | None,
        challenge: str | None,
        lifetime: int,
    ) -> str:
        self._sweep()
        code = secrets.token_urlsafe(24)
        self._codes[code] = Grant(
            client,
            who,
            scopes,
            redirect_uri,
            nonce,
            challenge,
            lifetime,
            self.clock() + CODE_SECONDS,
        )
        return code

    def exchange(
        self, client: Client, code: str, redirect_uri: str, verifier: str | None
    ) -> dict[str, Any] | str:
        """The token response for ``code``, or the OAuth error code why not (a code works
        once, for its own client and redirect URI, within the minute)."""
        grant = self._codes.pop(code, None)
        if grant is None or grant.expires < self.clock() or grant.client.id != client.id:
            return "invalid_grant"
        if redirect_uri != grant.redirect_uri:
            return "invalid_grant"
        if grant.challenge is not None:
            digest = hashlib.sha256((verifier or "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                return "invalid_grant"
        now = self.clock()
        token = secrets.token_urlsafe(32)
        self._tokens[token] = Grant(
            grant.client,
            grant.who,
            grant.scopes,
            grant.redirect_uri,
            None,
            None,
            grant.lifetime,
            now + grant.lifetime,
        )
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": grant.lifetime,
            "scope": " ".join(grant.scopes),
        }
        if "openid" in grant.scopes:
            claims = {
                **self.claims(grant.who, grant.scopes),
                "iss": self.issuer(),
                "aud": client.id,
                "iat": int(now),
                "auth_time": int(now),
                "exp": int(now + grant.lifetime),
            }
            if grant.nonce:
                claims["nonce"] = grant.nonce
            header = {"alg": "RS256", "kid": self.key.kid}
            answer["id_token"] = jwt.encode(header, claims, self.key)
        return answer

    def userinfo(self, token: str) -> dict[str, Any] | None:
        grant = self._tokens.get(token)
        if grant is None or grant.expires < self.clock():
            return None
        return self.claims(grant.who, grant.scopes)

    def claims(self, who: Identity, scopes: tuple[str, ...]) -> dict[str, Any]:
        base = self.issuer()
        claims: dict[str, Any] = {"sub": who.name}
        if "profile" in scopes:
            groups = sorted(who.groups)
            claims.update(
                {
                    "name": who.name,
                    "preferred_username": who.name,
                    "profile": f"{base}/account",
                    "picture": "",
                    "website": "",
                    "groups": groups,
                    "orgs": [
                        {"sub": g, "name": g, "preferred_username": g, "picture": ""}
                        for g in groups
                    ],
                }
            )
        if "email" in scopes and who.email:
            claims.update({"email": who.email, "email_verified": False})
        return claims


def space_variables(provider: Provider, space: str, oauth: OAuth) -> dict[str, str]:
    """What a Space with ``hf_oauth: true`` gets, as on Spaces."""
    client = provider.clients.for_space(space)
    return {
        "OAUTH_CLIENT_ID": client.id,
        "OAUTH_CLIENT_SECRET": client.secret,
        "OAUTH_SCOPES": " ".join(scopes_of(oauth)),
        "OPENID_PROVIDER_URL": provider.issuer(),
    }
