"""The control app behind `/`: gallery, Space pages, logs and the JSON API.

It is a plain ASGI app served in the same process; spacerunner's proxy routes every path that
is not a Space's (`/spaces/<name>/...`) to it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from spacerunner.defaults import DEFAULTS
from spacerunner.errors import SpacerunnerError
from spacerunner.server.facts import gallery_order, space_facts, tail_file
from spacerunner.supervisor import ManagedSpace, Supervisor
from spacerunner.supervisor.space import SpaceUnavailable

COOKIE = "spacerunner_token"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("spacerunner.server", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
)


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``) is the origin it was sent to."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    return parts.scheme == proto and parts.netloc.lower() == host.lower()


def build_app(supervisor: Supervisor, *, token: str, port: int) -> Starlette:
    """The control app for ``supervisor``; ``token`` guards logs and actions."""

    def valid(given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), token.encode())

    def bearer(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def admin(request: Request) -> bool:
        given = bearer(request)
        return valid(given if given is not None else request.cookies.get(COOKIE, ""))

    def may_change(request: Request) -> bool:
        """A state-changing call: a bearer token, or the cookie from a page of this very
        origin (a cookie alone would let any web page a logged-in admin visits act: CSRF)."""
        given = bearer(request)
        if given is not None:
            return valid(given)
        return valid(request.cookies.get(COOKIE, "")) and same_origin(request)

    def denied() -> JSONResponse:
        return JSONResponse(
            {
                "error": "a token is required: 'Authorization: Bearer TOKEN' (printed by "
                "'spacerunner serve' at start), or open /login?token=TOKEN once"
            },
            status_code=401,
        )

    def cross_origin() -> JSONResponse:
        return JSONResponse(
            {
                "error": "cross-origin request refused: changes need "
                "'Authorization: Bearer TOKEN', or the admin cookie from this server's own "
                "pages (Origin or Referer of this origin)"
            },
            status_code=403,
        )

    def space_or_404(name: str) -> ManagedSpace | None:
        return supervisor.spaces.get(name)

    def not_found(name: str, *, html: bool) -> Response:
        message = f"No Space named {name!r} is served here."
        if html:
            return page("error.html", {"title": "Not found", "message": message}, status=404)
        return JSONResponse({"error": message}, status_code=404)

    def page(template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        body = _TEMPLATES.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status)

    def facts(private: bool = False) -> list[dict[str, Any]]:
        return gallery_order(
            [space_facts(s, port, private=private) for s in supervisor.spaces.values()]
        )

    async def gallery(request: Request) -> Response:
        is_admin = admin(request)
        return page(
            "gallery.html",
            {"spaces": facts(is_admin), "version": supervisor.version, "admin": is_admin},
        )

    def space_view(request: Request, template: str) -> Response:
        space = space_or_404(request.path_params["name"])
        if space is None:
            return not_found(request.path_params["name"], html=True)
        is_admin = admin(request)
        return page(
            template, {"space": space_facts(space, port, private=is_admin), "admin": is_admin}
        )

    async def space_page(request: Request) -> Response:
        return space_view(request, "space.html")

    async def logs_page(request: Request) -> Response:
        return space_view(request, "logs.html")

    async def login(request: Request) -> Response:
        given = request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            return page(
                "error.html",
                {"title": "Wrong token", "message": "That token is not this server's."},
                status=401,
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/api")
        return response

    async def api_list(request: Request) -> Response:
        return JSONResponse({"spaces": facts(admin(request)), "version": supervisor.version})

    async def api_space(request: Request) -> Response:
        space = space_or_404(request.path_params["name"])
        if space is None:
            return not_found(request.path_params["name"], html=False)
        return JSONResponse(space_facts(space, port, private=admin(request)))

    async def api_whoami(request: Request) -> Response:
        return JSONResponse({"admin": admin(request)})

    async def api_action(request: Request) -> Response:
        if not admin(request):
            return denied()
        if not may_change(request):
            return cross_origin()
        space = space_or_404(request.path_params["name"])
        if space is None:
            return not_found(request.path_params["name"], html=False)
        action = request.path_params["action"]
        try:
            if action == "start":
                await space.admin_start()
            elif action == "stop":
                await space.stop(sleep=False)
            elif action == "restart":
                await space.restart()
            elif action == "sleep":
                await space.stop(sleep=True)
            else:
                return JSONResponse(
                    {"error": f"no action {action!r}: use start, stop, restart or sleep"},
                    status_code=404,
                )
        except SpaceUnavailable as exc:
            return JSONResponse(
                {"error": str(exc), **space_facts(space, port, private=True)}, status_code=409
            )
        return JSONResponse(space_facts(space, port, private=True))

    async def api_secrets(request: Request) -> Response:
        """GET: the names of a Space's variables (never values); PUT .../KEY with the value as
        the body; DELETE .../KEY. Changes reach the app at its next start."""
        if not admin(request):
            return denied()
        if request.method != "GET" and not may_change(request):
            return cross_origin()
        name = request.path_params["name"]
        store = supervisor.context.secrets
        if space_or_404(name) is None or store is None:
            return not_found(name, html=False)
        key = request.path_params.get("key")
        try:
            if request.method == "PUT" and key is not None:
                store.set(name, key, (await request.body()).decode("utf-8"))
            elif request.method == "DELETE" and key is not None and not store.unset(name, key):
                return JSONResponse({"error": f"{name} has no {key!r}"}, status_code=404)
        except (SpacerunnerError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"space": name, "names": store.names(name)})

    async def api_logs(request: Request) -> Response:
        if not admin(request):
            return denied()
        space = space_or_404(request.path_params["name"])
        if space is None:
            return not_found(request.path_params["name"], html=False)
        try:
            tail = int(request.query_params.get("tail", str(DEFAULTS.log_tail)))
        except ValueError:
            return JSONResponse(
                {"error": "tail must be a whole number of lines, e.g. ?tail=200"},
                status_code=400,
            )
        follow = request.query_params.get("follow") in ("1", "true", "yes")
        sse = request.query_params.get("format") == "sse"
        lines = _log_lines(space, supervisor, tail, follow)
        if sse:
            return StreamingResponse(
                _as_sse(lines),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store"},
            )
        if not follow:
            return PlainTextResponse("".join([line + "\n" async for line in lines]))
        return StreamingResponse(
            (line + "\n" async for line in lines), media_type="text/plain; charset=utf-8"
        )

    async def api_events(request: Request) -> Response:
        """Server-sent state changes for the gallery (public facts only)."""

        async def events() -> AsyncIterator[bytes]:
            version = -1
            while True:
                version = await supervisor.wait_changed(version, 15)
                yield f"data: {json.dumps({'version': version, 'spaces': facts()})}\n\n".encode()

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def fallback(request: Request) -> Response:
        path = request.url.path
        if path.startswith("/spaces/"):
            return not_found(path.split("/")[2], html=True)
        return page(
            "error.html", {"title": "Not found", "message": f"Nothing at {path}."}, status=404
        )

    return Starlette(
        routes=[
            Route("/", gallery),
            Route("/space/{name}", space_page),
            Route("/space/{name}/logs", logs_page),
            Route("/login", login),
            Route("/favicon.ico", favicon),
            Route("/api/spaces", api_list),
            Route("/api/events", api_events),
            Route("/api/whoami", api_whoami),
            Route("/api/spaces/{name}", api_space),
            Route("/api/spaces/{name}/logs", api_logs),
            Route("/api/spaces/{name}/secrets", api_secrets),
            Route("/api/spaces/{name}/secrets/{key}", api_secrets, methods=["PUT", "DELETE"]),
            Route("/api/spaces/{name}/{action}", api_action, methods=["POST"]),
            Route("/{path:path}", fallback),
        ]
    )


async def _log_lines(
    space: ManagedSpace, supervisor: Supervisor, tail: int, follow: bool
) -> AsyncIterator[str]:
    """The last ``tail`` lines, then (with ``follow``) new lines across restarts."""
    log = space.log
    if log is None:
        for line in tail_file(supervisor.backend.log_dir / f"{space.name}.log", tail):
            yield line
        tail = 0
    elif not follow:
        for line in log.tail(tail):
            yield line
        return
    if not follow:
        return
    version = supervisor.version
    while True:
        log = space.log
        if log is not None:
            async for line in log.follow(history=tail):
                yield line
            tail = 0
        while space.log is log:  # wait for the next run's log
            version = await supervisor.wait_changed(version, 30)
            await asyncio.sleep(0)


async def _as_sse(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for line in lines:
        yield f"data: {json.dumps(line)}\n\n".encode()
