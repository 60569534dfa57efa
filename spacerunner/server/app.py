"""The control app behind `/`: gallery, Space pages, logs and the JSON API.

It is a plain ASGI app served in the same process; spacerunner's proxy routes every path that
is not a Space's (`/spaces/<name>/...`) to it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from spacerunner.auth.access import SpaceAccess, visibility
from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import Identity
from spacerunner.auth.provider import Provider
from spacerunner.auth.throttle import Throttle
from spacerunner.auth.upstream import UpstreamOIDC
from spacerunner.backends.logs import LogKind, log_path
from spacerunner.config.model import SpaceConfig
from spacerunner.defaults import DEFAULTS
from spacerunner.errors import SpacerunnerError
from spacerunner.server.facts import gallery_order, space_facts, tail_file
from spacerunner.server.git import git_routes
from spacerunner.server.history import History
from spacerunner.server.metrics import CONTENT_TYPE, ServerMetrics
from spacerunner.server.oidc import oidc_routes
from spacerunner.server.signin import Bootstrap, signin_routes
from spacerunner.server.web import error, may_change, page, problem_page, who
from spacerunner.supervisor import ManagedSpace, Supervisor
from spacerunner.supervisor.space import SpaceUnavailable


def build_app(
    supervisor: Supervisor,
    *,
    metrics: ServerMetrics | None = None,
    history: History | None = None,
    gate: Gate,
    port: int,
    bootstrap: Bootstrap | None = None,
    throttle: Throttle | None = None,
    proto: Callable[[], str] = lambda: "http",
    provider: Provider | None = None,
    upstream: UpstreamOIDC | None = None,
    allow_create: bool = False,
) -> Starlette:
    """The control app for ``supervisor``; ``gate`` says who asks and what they may do."""

    def config_of(name: str) -> SpaceConfig | None:
        space = supervisor.spaces.get(name)
        return space.config if space is not None else None

    def rule(space: ManagedSpace) -> SpaceAccess:
        return gate.access.get(space.name)

    def visible(request: Request) -> tuple[Identity, ManagedSpace | None]:
        """Who asks, and the Space the path names when they may see it (else None: a Space
        they may not see is answered as one that does not exist)."""
        identity = who(gate, request)
        space = supervisor.spaces.get(request.path_params["name"])
        if space is not None and not rule(space).may_see(identity):
            space = None
        return identity, space

    def refused(identity: Identity, what: str) -> JSONResponse:
        if not identity.signed_in:
            return error(
                f"{what} need a sign-in: 'Authorization: Bearer TOKEN' (an API token, or the "
                "management token 'spacerunner serve' printed), or a browser session",
                401,
            )
        return error(f"{what} are for the Space's owners and admins", 403)

    def cross_origin() -> JSONResponse:
        return error(
            "cross-origin request refused: changes need 'Authorization: Bearer TOKEN', or the "
            "session cookie from this server's own pages (Origin or Referer of this origin)",
            403,
        )

    def not_found(name: str, *, html: bool, identity: Identity) -> Response:
        message = f"No Space named {name!r} is served here."
        if html:
            return problem_page("Not found", message, 404, who=identity, sign_in=True)
        return error(message, 404)

    def one_space(space: ManagedSpace, identity: Identity) -> dict[str, Any]:
        access = rule(space)
        manage = access.may_manage(identity)
        facts = space_facts(space, port, private=manage)
        facts["visibility"] = access.visibility.value
        facts["manage"] = manage
        if manage:
            facts["owners"] = list(access.owners)
        return facts

    def facts_for(identity: Identity) -> list[dict[str, Any]]:
        return gallery_order(
            [
                one_space(space, identity)
                for space in supervisor.spaces.values()
                if rule(space).may_see(identity)
            ]
        )

    async def gallery(request: Request) -> Response:
        identity = who(gate, request)
        return page(
            "gallery.html",
            {"spaces": facts_for(identity), "version": supervisor.version, "who": identity},
        )

    def space_view(request: Request, template: str, **extra: Any) -> Response:
        identity, space = visible(request)
        if space is None:
            return not_found(request.path_params["name"], html=True, identity=identity)
        return page(template, {"space": one_space(space, identity), "who": identity, **extra})

    async def space_page(request: Request) -> Response:
        return space_view(request, "space.html")

    async def logs_page(request: Request) -> Response:
        kind = LogKind.BUILD if request.query_params.get("kind") == "build" else LogKind.RUN
        return space_view(request, "logs.html", kind=kind.value)

    async def api_list(request: Request) -> Response:
        return JSONResponse(
            {"spaces": facts_for(who(gate, request)), "version": supervisor.version}
        )

    async def api_space(request: Request) -> Response:
        identity, space = visible(request)
        if space is None:
            return not_found(request.path_params["name"], html=False, identity=identity)
        return JSONResponse(one_space(space, identity))

    async def api_action(request: Request) -> Response:
        identity, space = visible(request)
        if space is None:
            return not_found(request.path_params["name"], html=False, identity=identity)
        if not rule(space).may_manage(identity):
            return refused(identity, "start, stop and restart")
        if not may_change(request):
            return cross_origin()
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
                return error(f"no action {action!r}: use start, stop, restart or sleep", 404)
        except SpaceUnavailable as exc:
            return JSONResponse({"error": str(exc), **one_space(space, identity)}, status_code=409)
        return JSONResponse(one_space(space, identity))

    async def api_access(request: Request) -> Response:
        """GET: a Space's visibility and owners; PUT {"visibility": ..., "owners": [...]}."""
        identity, space = visible(request)
        if space is None:
            return not_found(request.path_params["name"], html=False, identity=identity)
        access = rule(space)
        if not access.may_manage(identity):
            return refused(identity, "access settings")
        if request.method == "PUT":
            if not may_change(request):
                return cross_origin()
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                owners = body.get("owners")
                access = gate.access.set(
                    space.name,
                    visibility=visibility(body["visibility"]) if "visibility" in body else None,
                    owners=tuple(str(o) for o in owners) if isinstance(owners, list) else None,
                )
            except (ValueError, SpacerunnerError) as exc:
                return error(str(exc), 400)
        return JSONResponse(
            {"space": space.name, "visibility": access.visibility.value, "owners": access.owners}
        )

    async def api_secrets(request: Request) -> Response:
        """GET: the names of a Space's variables (never values); PUT .../KEY with the value as
        the body; DELETE .../KEY. Changes reach the app at its next start."""
        identity, space = visible(request)
        name = request.path_params["name"]
        store = supervisor.context.secrets
        if space is None or store is None:
            return not_found(name, html=False, identity=identity)
        if not rule(space).may_manage(identity):
            return refused(identity, "secrets")
        if request.method != "GET" and not may_change(request):
            return cross_origin()
        key = request.path_params.get("key")
        try:
            if request.method == "PUT" and key is not None:
                store.set(name, key, (await request.body()).decode("utf-8"))
            elif request.method == "DELETE" and key is not None and not store.unset(name, key):
                return error(f"{name} has no {key!r}", 404)
        except (SpacerunnerError, UnicodeDecodeError) as exc:
            return error(str(exc), 400)
        return JSONResponse({"space": name, "names": store.names(name)})

    async def api_logs(request: Request) -> Response:
        identity, space = visible(request)
        if space is None:
            return not_found(request.path_params["name"], html=False, identity=identity)
        if not rule(space).may_manage(identity):
            return refused(identity, "logs")
        try:
            tail = int(request.query_params.get("tail", str(DEFAULTS.log_tail)))
        except ValueError:
            return error("tail must be a whole number of lines, e.g. ?tail=200", 400)
        follow = request.query_params.get("follow") in ("1", "true", "yes")
        sse = request.query_params.get("format") == "sse"
        try:
            kind = LogKind(request.path_params.get("kind", LogKind.RUN.value))
        except ValueError:
            return error("the logs of a Space are /logs/run and /logs/build", 404)
        lines = _log_lines(space, supervisor, kind, tail, follow)
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
        """Server-sent state changes of the Spaces the person may see."""

        async def events() -> AsyncIterator[bytes]:
            version = -1
            while not supervisor.closing.is_set():
                version = await supervisor.wait_changed(version, 15)
                if supervisor.closing.is_set():
                    return
                spaces = facts_for(who(gate, request))
                yield f"data: {json.dumps({'version': version, 'spaces': spaces})}\n\n".encode()

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def api_history(request: Request) -> Response:
        """The last hour of the Space's memory, CPU and request rate (its page's charts)."""
        identity, space = visible(request)
        if space is None or history is None:
            return not_found(request.path_params["name"], html=False, identity=identity)
        return JSONResponse(history.of(space.name))

    async def metrics_page(request: Request) -> Response:
        """Prometheus' scrape target, for admins (``--metrics-address`` serves it openly)."""
        identity = who(gate, request)
        if metrics is None:
            return error("this server keeps no metrics", 404)
        if not identity.admin:
            if not identity.signed_in:
                return error(
                    "metrics need an admin: 'Authorization: Bearer TOKEN' (the management "
                    "token, or an admin's API token), or serve them on an address of their "
                    "own with --metrics-address",
                    401,
                )
            return error("metrics are for admins", 403)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def fallback(request: Request) -> Response:
        path = request.url.path
        identity = who(gate, request)
        if path.startswith("/spaces/"):
            return not_found(path.split("/")[2], html=True, identity=identity)
        return problem_page("Not found", f"Nothing at {path}.", 404, who=identity)

    middleware = []
    if upstream is not None:
        from spacerunner.server.upstream import STATE_COOKIE  # authlib: only with --oidc-issuer

        # authlib keeps the state of a sign-in under way in Starlette's session: a cookie of
        # its own, signed with the server's session key, for ten minutes
        middleware.append(
            Middleware(
                SessionMiddleware,
                secret_key=gate.sessions.key_for("upstream-state"),
                session_cookie=STATE_COOKIE,
                max_age=600,
                same_site="lax",
            )
        )
    return Starlette(
        routes=[
            Route("/", gallery),
            Route("/space/{name}", space_page),
            Route("/space/{name}/logs", logs_page),
            *signin_routes(gate, bootstrap or Bootstrap(), throttle or Throttle(), proto, upstream),
            *(
                oidc_routes(provider, gate, config_of, port=port, proto=proto)
                if provider is not None
                else []
            ),
            *git_routes(supervisor, gate, allow_create=allow_create),
            Route("/favicon.ico", favicon),
            Route("/metrics", metrics_page),
            Route("/api/spaces", api_list),
            Route("/api/events", api_events),
            Route("/api/spaces/{name}", api_space),
            Route("/api/spaces/{name}/access", api_access, methods=["GET", "PUT"]),
            Route("/api/spaces/{name}/logs", api_logs),
            Route("/api/spaces/{name}/logs/{kind}", api_logs),
            Route("/api/spaces/{name}/history", api_history),
            Route("/api/spaces/{name}/secrets", api_secrets),
            Route("/api/spaces/{name}/secrets/{key}", api_secrets, methods=["PUT", "DELETE"]),
            Route("/api/spaces/{name}/{action}", api_action, methods=["POST"]),
            Route("/{path:path}", fallback),
        ],
        middleware=middleware,
    )


async def _log_lines(
    space: ManagedSpace, supervisor: Supervisor, kind: LogKind, tail: int, follow: bool
) -> AsyncIterator[str]:
    """The last ``tail`` lines of the Space's ``kind`` log, then (with ``follow``) new lines
    across restarts and rebuilds: each later run's (or build's) log from its first line, the
    notes written before the app was handed to the supervisor included."""
    log = space.log_of(kind)
    history: int | None = tail  # of the log there is now
    if log is None:
        for line in tail_file(log_path(supervisor.backend.log_dir, space.name, kind), tail):
            yield line
        history = None  # the first log to come is a new one
    elif not follow:
        for line in log.tail(tail):
            yield line
        return
    if not follow:
        return
    version = supervisor.version
    closing = supervisor.closing
    while not closing.is_set():
        log = space.log_of(kind)
        if log is not None:
            async for line in log.follow(history=history):
                yield line
            history = None  # a next run's (or build's) log: from its first line on
        while space.log_of(kind) is log and not closing.is_set():  # the next run's (or build's)
            version = await supervisor.wait_changed(version, 30)


async def _as_sse(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for line in lines:
        yield f"data: {json.dumps(line)}\n\n".encode()
