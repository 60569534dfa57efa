"""The HTTP side of the server's OpenID provider (``spacerunner.auth.provider``): discovery,
keys, authorize (a browser, signed in on this server), token and userinfo (the app's back
channel)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from spacerunner.auth.gate import Gate
from spacerunner.auth.provider import Client, Provider, scopes_of
from spacerunner.config.model import SpaceConfig
from spacerunner.server.web import problem_page, who
from spacerunner.urls import space_host, space_mount

SpaceConfigs = Callable[[str], SpaceConfig | None]


def _oauth_error(error: str, status: int = 400, description: str = "") -> JSONResponse:
    body = {"error": error, **({"error_description": description} if description else {})}
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def provider_routes(provider: Provider) -> list[Route]:
    """The endpoints that do not depend on who the clients are: discovery, keys, token and
    userinfo."""

    async def discovery(request: Request) -> Response:
        return JSONResponse(provider.discovery())

    async def jwks(request: Request) -> Response:
        return JSONResponse(provider.jwks())

    def client_of(request: Request, form: dict[str, str]) -> Client | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = raw.partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return provider.clients.authenticate(client_id, secret)

    async def token(request: Request) -> Response:
        body = await request.body()
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client = client_of(request, form)
        if client is None:
            return _oauth_error("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type")
        answer: dict[str, Any] | str = provider.exchange(
            client, form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier")
        )
        if isinstance(answer, str):
            return _oauth_error(answer)
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        claims = provider.userinfo(bearer) if bearer else None
        if claims is None:
            return _oauth_error("invalid_token", 401)
        return JSONResponse(claims)

    return [
        Route("/.well-known/openid-configuration", discovery),
        Route("/oauth/jwks", jwks),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/userinfo", userinfo, methods=["GET", "POST"]),
    ]


def oidc_routes(
    provider: Provider,
    gate: Gate,
    configs: SpaceConfigs,
    *,
    port: int,
    proto: Callable[[], str],
) -> list[Route]:
    """The provider of this server's Spaces: its own endpoints, and an authorize that signs in
    people of this server to Spaces with ``hf_oauth: true``."""

    def redirect_allowed(uri: str, space: str, request: Request) -> bool:
        """A URI of the Space itself: its own host name, or its path on this server."""
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or parts.fragment:
            return False
        netloc = parts.netloc.lower()
        if netloc == f"{space_host(space)}:{port}":
            return True
        return netloc == request.headers.get("host", "").lower() and parts.path.startswith(
            space_mount(space) + "/"
        )

    async def authorize(request: Request) -> Response:
        query = request.query_params
        client = provider.clients.by_id(query.get("client_id", ""))
        config = configs(client.space) if client is not None else None
        if client is None or config is None or not config.oauth.enabled:
            return problem_page("Unknown app", "No Space here signs people in with that id.", 400)
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_allowed(redirect_uri, client.space, request):
            return problem_page(
                "Wrong return address",
                f"{client.space} may only send people back to its own address.",
                400,
            )
        # Spaces' apps ask to come back over https (Gradio writes it into the address);
        # people come back the way they reach this server.
        back = urlsplit(redirect_uri)._replace(scheme=proto())

        def to_app(**params: str) -> Response:
            query_pairs = parse_qs(back.query, keep_blank_values=True)
            pairs = [(k, v) for k, values in query_pairs.items() for v in values]
            pairs += [(k, v) for k, v in params.items() if v]
            if state := query.get("state"):
                pairs.append(("state", state))
            return RedirectResponse(urlunsplit(back._replace(query=urlencode(pairs))), 303)

        if query.get("response_type") != "code":
            return to_app(error="unsupported_response_type")
        identity = who(gate, request)
        if not identity.name:
            target = request.url.path + "?" + request.url.query
            return RedirectResponse(f"/signin?{urlencode({'next': target})}", 303)
        if not gate.access.get(client.space).may_see(identity):
            return to_app(error="access_denied")
        orgs = config.oauth.authorized_orgs
        if orgs and not identity.groups & set(orgs):
            return problem_page(
                "Not allowed",
                f"Only members of {', '.join(orgs)} may sign in to {client.space}.",
                403,
            )
        allowed = scopes_of(config.oauth)
        wanted = tuple(s for s in query.get("scope", "openid").split() if s in allowed)
        challenge = query.get("code_challenge") or None
        if challenge is not None and query.get("code_challenge_method", "plain") != "S256":
            return to_app(error="invalid_request")
        code = provider.issue_code(
            client,
            identity,
            scopes=wanted,
            redirect_uri=redirect_uri,
            nonce=query.get("nonce") or None,
            challenge=challenge,
            lifetime=config.oauth.expiration_minutes * 60,
        )
        return to_app(code=code)

    return [
        *provider_routes(provider),
        Route("/oauth/authorize", authorize),
    ]
