"""``/signin/oidc``: sign in through the upstream OpenID Connect provider, with authlib's
Starlette client (its state kept in a short-lived signed cookie of its own)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacerunner.auth.gate import Gate
from spacerunner.auth.upstream import UpstreamOIDC, from_claims
from spacerunner.errors import AccountError
from spacerunner.server.web import problem_page

STATE_COOKIE = "spacerunner_oidc_state"


def upstream_routes(
    settings: UpstreamOIDC,
    gate: Gate,
    signed_in: Callable[..., Response],
) -> list[Route]:
    oauth = OAuth()
    oauth.register(
        "upstream",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256"},
    )
    client = oauth.create_client("upstream")
    assert client is not None

    def failed(message: str, status: int = 401) -> Response:
        return problem_page("Sign-in failed", message, status, sign_in=True)

    async def start(request: Request) -> Response:
        request.session["next"] = request.query_params.get("next", "/")
        back = f"{gate.origin}/signin/oidc/callback"
        try:
            return await client.authorize_redirect(request, back)  # type: ignore[no-any-return]
        except Exception as exc:  # the provider could not be reached or read
            return failed(f"{settings.label} could not be reached: {exc}", 502)

    async def callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)
        except OAuthError as exc:
            return failed(f"{settings.label} refused the sign-in: {exc.description or exc.error}")
        claims = dict(token.get("userinfo") or {})
        if settings.groups_claim not in claims or not claims.get("email"):
            # userinfo is optional: without it, go on with the ID token's claims
            with contextlib.suppress(Exception):
                claims = {**dict(await client.userinfo(token=token)), **claims}
        try:
            person = from_claims(settings, claims)
            account = gate.accounts.external(
                person.name,
                source=settings.source,
                email=person.email,
                groups=person.groups,
                admin=person.admin,
            )
        except AccountError as exc:
            return failed(str(exc), 403)
        target = str(request.session.pop("next", "/"))
        return signed_in(account.identity, target, request)

    return [Route("/signin/oidc", start), Route("/signin/oidc/callback", callback)]
