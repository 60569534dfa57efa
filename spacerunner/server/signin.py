"""People on the control app: sign in, sign out, the first admin, and one's own API tokens."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from spacerunner.auth.accounts import AccountStore
from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import SERVER_ADMIN, Identity
from spacerunner.auth.sessions import TICKET_PATH, cookie_header
from spacerunner.auth.throttle import Throttle
from spacerunner.auth.upstream import UpstreamOIDC
from spacerunner.errors import AccountError
from spacerunner.server.web import (
    back_to,
    error,
    may_change,
    page,
    problem_page,
    same_origin,
    who,
)

_MAX_FORM = 16 * 1024


@dataclass
class Bootstrap:
    """The one-time code that creates the first admin of a server without accounts."""

    code: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    def valid(self, given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.code.encode())


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def signin_routes(
    gate: Gate,
    bootstrap: Bootstrap,
    throttle: Throttle,
    proto: Callable[[], str],
    upstream: UpstreamOIDC | None = None,
) -> list[Route]:
    accounts: AccountStore = gate.accounts

    def signed_in(identity: Identity, target: str, request: Request) -> Response:
        """Start ``identity``'s session and go on to ``target`` (carried to a Space's own
        host name with a ticket when that is where the person was going)."""
        session = gate.sessions.issue(identity)
        path, host = back_to(target, request)
        location = path
        if host is not None:
            ticket = gate.sessions.ticket(session, host)
            query = urlencode({"ticket": ticket, "next": path})
            location = f"{proto()}://{host}{TICKET_PATH}?{query}"
        response = RedirectResponse(location, status_code=303)
        response.headers.append("Set-Cookie", cookie_header(session))
        return response

    def signin_page(
        request: Request, target: str, message: str = "", status: int = 200
    ) -> Response:
        return page(
            "signin.html",
            {
                "who": who(gate, request),
                "next": target,
                "message": message,
                "accounts": accounts.any(),
                "upstream": upstream.label if upstream is not None else None,
            },
            status=status,
        )

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            target = request.query_params.get("next", "/")
            current = who(gate, request)
            if current.signed_in and request.query_params.get("next"):
                return signed_in(current, target, request)
            return signin_page(request, target)
        form = await _form(request)
        target = form.get("next", "/")
        if not same_origin(request):
            return signin_page(request, target, "Sign in from this server's own page.", 403)
        name, password = form.get("name", "").strip().lower(), form.get("password", "")
        client = request.headers.get("x-forwarded-for") or (
            request.client.host if request.client else ""
        )
        keys = (f"user:{name}", f"client:{client}")
        wait = throttle.wait(keys)
        if wait > 0:
            return signin_page(
                request,
                target,
                f"Too many failed sign-ins. Try again in {wait:.0f} s.",
                429,
            )
        account = accounts.verify_password(name, password)
        if account is None:
            throttle.failed(keys)
            return signin_page(request, target, "Wrong name or password.", 401)
        throttle.succeeded(keys)
        return signed_in(account.identity, target, request)

    async def signout(request: Request) -> Response:
        if request.method == "POST" and not same_origin(request):
            return error("sign out from this server's own page", 403)
        response = RedirectResponse("/", status_code=303)
        response.headers.append("Set-Cookie", cookie_header(""))
        return response

    async def login_with_token(request: Request) -> Response:
        """``/login?token=TOKEN``: the server's management token as a browser session."""
        given = request.query_params.get("token", "")
        if not gate.is_server_token(given):
            return problem_page("Wrong token", "That token is not this server's.", 401)
        return signed_in(SERVER_ADMIN, "/", request)

    async def setup(request: Request) -> Response:
        if accounts.any():
            return problem_page("Already set up", "This server has accounts: sign in.", 410)
        if request.method == "GET":
            code = request.query_params.get("code", "")
            if not bootstrap.valid(code):
                return problem_page("Wrong link", "Use the link 'spacerunner serve' printed.", 401)
            return page("setup.html", {"code": code, "message": "", "who": who(gate, request)})
        form = await _form(request)
        code = form.get("code", "")
        if not bootstrap.valid(code) or not same_origin(request):
            return error("use the link 'spacerunner serve' printed", 401)
        try:
            account = accounts.add(
                form.get("name", "").strip().lower(), form.get("password", ""), admin=True
            )
        except AccountError as exc:
            return page(
                "setup.html", {"code": code, "message": str(exc), "who": who(gate, request)}, 400
            )
        return signed_in(account.identity, "/", request)

    def token_rows(identity: Identity) -> list[dict[str, object]]:
        return [
            {"id": t.id, "name": t.name, "created": t.created}
            for t in accounts.tokens(identity.name)
        ]

    async def account_page(request: Request) -> Response:
        identity = who(gate, request)
        if not identity.signed_in:
            return RedirectResponse("/signin?next=/account", status_code=303)
        return page(
            "account.html", {"who": identity, "tokens": token_rows(identity), "new_token": None}
        )

    async def account_tokens(request: Request) -> Response:
        """POST from the account page: create a token (shown once) or revoke one."""
        identity = who(gate, request)
        if not identity.name:
            return error("sign in with an account to have tokens", 401)
        if not same_origin(request):
            return error("change tokens from this server's own page", 403)
        form = await _form(request)
        new_token = None
        if revoke := form.get("revoke"):
            accounts.revoke_token(revoke, user=identity.name)
        else:
            new_token = accounts.create_token(identity.name, form.get("name", ""))
        return page(
            "account.html",
            {"who": identity, "tokens": token_rows(identity), "new_token": new_token},
        )

    async def api_whoami(request: Request) -> Response:
        identity = who(gate, request)
        return JSONResponse(
            {
                "name": identity.name or None,
                "email": identity.email or None,
                "groups": sorted(identity.groups),
                "admin": identity.admin,
                "signed_in": identity.signed_in,
            }
        )

    async def api_tokens(request: Request) -> Response:
        identity = who(gate, request)
        if not identity.name:
            return error("API tokens belong to accounts: sign in, or use one", 401)
        if request.method == "GET":
            return JSONResponse({"tokens": token_rows(identity)})
        if not may_change(request):
            return error("cross-origin request refused", 403)
        if request.method == "DELETE":
            if not accounts.revoke_token(request.path_params.get("id", ""), user=identity.name):
                return error("no such token of yours", 404)
            return JSONResponse({"tokens": token_rows(identity)})
        body = await request.body()
        try:
            given = json.loads(body) if body.strip() else {}
        except ValueError:
            return error('expected JSON such as {"name": "laptop"}, or no body', 400)
        label = str(given.get("name", "")) if isinstance(given, dict) else ""
        token = accounts.create_token(identity.name, label)
        return JSONResponse({"token": token, "tokens": token_rows(identity)}, status_code=201)

    extra = []
    if upstream is not None:
        from spacerunner.server.upstream import upstream_routes

        extra = upstream_routes(upstream, gate, signed_in)
    return [
        *extra,
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["GET", "POST"]),
        Route("/login", login_with_token),
        Route("/setup", setup, methods=["GET", "POST"]),
        Route("/account", account_page),
        Route("/account/tokens", account_tokens, methods=["POST"]),
        Route("/api/whoami", api_whoami),
        Route("/api/tokens", api_tokens, methods=["GET", "POST"]),
        Route("/api/tokens/{id}", api_tokens, methods=["DELETE"]),
    ]
