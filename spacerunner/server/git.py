"""``/<name>.git``: each Space as a git remote over HTTP (clone, pull, push), through
``git http-backend``, with the server's people and rules: reading follows who may see the
Space, pushing who may manage it; a push to a new name creates a Space owned by the pusher
when the server allows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import Identity
from spacerunner.errors import SpacerunnerError
from spacerunner.publish.githttp import (
    CgiRequest,
    GitService,
    init_repository,
    is_repository,
    run_backend,
    service_of,
)
from spacerunner.server.web import who as identify
from spacerunner.supervisor import Supervisor
from spacerunner.supervisor.discovery import is_label, is_space


def _text(message: str, status: int, challenge: bool = False) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="spacerunner"'} if challenge else {}
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def git_routes(supervisor: Supervisor, gate: Gate, *, allow_create: bool) -> list[Route]:
    def sign_in_first(name: str) -> Response:
        return _text(
            f"{name}: sign in with your user name and an API token "
            "('spacerunner tokens create NAME', or your account page).",
            401,
            challenge=True,
        )

    def missing(name: str, who: Identity, service: GitService) -> Response:
        if not who.signed_in:
            return sign_in_first(name)  # anonymous: not even whether it exists
        if service is GitService.PUSH and not allow_create:
            return _text(
                f"no Space named {name!r} here, and this server does not create Spaces on "
                "push (serve --allow-create).",
                404,
            )
        return _text(f"no Space named {name!r} here.", 404)

    def new_space_folder(name: str) -> Path | None:
        for root in supervisor.dirs:
            if root.is_dir() and not is_space(root):
                return root / name
        return None

    async def repository(name: str, who: Identity, service: GitService) -> Path | Response:
        """The repository of Space ``name`` for this request, or the refusal."""
        space = supervisor.spaces.get(name)
        if space is not None and gate.access.get(name).may_see(who):
            if service is GitService.PUSH and not gate.access.get(name).may_manage(who):
                if not who.signed_in:
                    return sign_in_first(name)
                return _text(f"{name}: only its owners and admins may push to it.", 403)
            if not is_repository(space.path):
                return _text(
                    f"{name} is served from a plain folder, not a git repository. Fix: run "
                    "'git init' in it on the server (or publish it by pushing a new name).",
                    404,
                )
            return space.path
        folder = new_space_folder(name)
        creating = service is GitService.PUSH and allow_create and bool(who.name)
        if not creating or folder is None or not is_label(name):
            return missing(name, who, service)
        if folder.exists():
            # only the new repository of this pusher's own (made by the first request of a
            # push that has not landed yet)
            pending = is_repository(folder) and not is_space(folder)
            if not pending or not gate.access.get(name).may_manage(who):
                return missing(name, who, service)
            return folder
        try:
            await init_repository(folder)
        except SpacerunnerError as exc:
            return _text(str(exc), 500)
        gate.access.set(name, owners=(who.name,))
        return folder

    async def git(request: Request) -> Response:
        name, rest = request.path_params["name"], request.path_params["rest"]
        service = service_of(rest, request.query_params)
        if service is None:
            return _text("only git's smart HTTP protocol is served here.", 404)
        who = identify(gate, request)
        repo = await repository(name, who, service)
        if isinstance(repo, Response):
            return repo
        cgi = CgiRequest(
            method=request.method,
            rest=rest,
            query=request.url.query,
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
            content_encoding=request.headers.get("content-encoding"),
            git_protocol=request.headers.get("git-protocol"),
            remote_user=who.name or "anonymous",
            remote_addr=request.headers.get("x-forwarded-for", ""),
        )
        try:
            answer = await run_backend(repo, cgi, _body(request))
        except SpacerunnerError as exc:
            return _text(str(exc), 500)
        pushed = service is GitService.PUSH and request.method == "POST"

        async def published() -> None:  # on the event loop, once git has answered
            supervisor.revision_changed(repo)

        return StreamingResponse(
            answer.body,
            status_code=answer.status,
            headers=dict(answer.headers),
            background=BackgroundTask(published) if pushed else None,
        )

    return [Route("/{name}.git/{rest:path}", git, methods=["GET", "POST"])]


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
