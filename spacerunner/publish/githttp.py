"""git's smart HTTP protocol, served by ``git http-backend`` (git's own CGI program) for one
repository: the request streamed to it, its answer streamed back.

A Space's folder is a work tree; pushes to its checked-out branch update the files
(``receive.denyCurrentBranch=updateInstead``), and git itself refuses a push that would lose
uncommitted edits made on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner.errors import SpacerunnerError

_HEAD_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
GIT_CONFIG = {
    "receive.denyCurrentBranch": "updateInstead",
    "http.receivepack": "true",
    "http.uploadpack": "true",
    "uploadpack.allowFilter": "true",
}
"""Given to the backend per request (the repositories' own config is left alone)."""


class GitService(StrEnum):
    FETCH = "git-upload-pack"
    """clone, fetch, pull: reading."""
    PUSH = "git-receive-pack"


def service_of(rest: str, query: Mapping[str, str]) -> GitService | None:
    """Which service a smart-HTTP request is for (None: a dumb-protocol file, refused)."""
    if rest == "info/refs":
        wanted = query.get("service", "")
        return GitService(wanted) if wanted in {s.value for s in GitService} else None
    for service in GitService:
        if rest == service.value:
            return service
    return None


def is_repository(path: Path) -> bool:
    return (path / ".git").is_dir()


def _git() -> str:
    git = shutil.which("git")
    if git is None:
        raise SpacerunnerError("git is not installed. Fix: apt-get install git.")
    return git


async def init_repository(path: Path) -> None:
    """A new, empty Space repository that pushes fill (branch ``main``, as Spaces'); git
    makes the folder."""
    proc = await asyncio.create_subprocess_exec(
        _git(),
        "init",
        "--quiet",
        "--initial-branch=main",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await proc.communicate()
    if proc.returncode != 0:
        raise SpacerunnerError(f"git init {path} failed: {errors.decode(errors='replace')}")


@dataclass(frozen=True)
class CgiRequest:
    method: str
    rest: str
    """The path inside the repository, e.g. ``info/refs`` or ``git-receive-pack``."""
    query: str
    content_type: str
    content_length: str | None
    content_encoding: str | None
    git_protocol: str | None
    remote_user: str
    remote_addr: str


def cgi_environment(repo: Path, request: CgiRequest) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GATEWAY_INTERFACE": "CGI/1.1",
        "GIT_PROJECT_ROOT": str(repo),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/.git/{request.rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query,
        "CONTENT_TYPE": request.content_type,
        "REMOTE_USER": request.remote_user,
        "REMOTE_ADDR": request.remote_addr,
    }
    # the server's own user runs git on the folders it serves, whoever owns them
    config = {**GIT_CONFIG, "safe.directory": str(repo)}
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = request.content_length
    if request.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = request.content_encoding
    if request.git_protocol:
        env["GIT_PROTOCOL"] = request.git_protocol
    return env


@dataclass
class CgiAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]


async def run_backend(repo: Path, request: CgiRequest, body: AsyncIterator[bytes]) -> CgiAnswer:
    """Start ``git http-backend`` for ``request``, feed it ``body``, and give its answer: the
    status and headers it printed, then its output as it comes."""
    proc = await asyncio.create_subprocess_exec(
        _git(),
        "http-backend",
        env=cgi_environment(repo, request),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            async for chunk in body:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    feeding = asyncio.create_task(feed())
    errors = asyncio.create_task(proc.stderr.read())
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        chunk = await proc.stdout.read(_CHUNK)
        if not chunk:
            break
        head += chunk
        if len(head) > _HEAD_LIMIT:
            break
    separator = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    raw_head, _, rest = head.partition(separator)
    status, headers = 200, []
    for line in raw_head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            with contextlib.suppress(ValueError):
                status = int(value.strip().split()[0])
        elif name.strip():
            headers.append((name.strip(), value.strip()))
    if not raw_head:
        await feeding
        message = (await errors).decode("utf-8", "replace").strip()
        await proc.wait()
        raise SpacerunnerError(f"git http-backend gave no answer: {message or 'nothing said'}")

    async def stream() -> AsyncIterator[bytes]:
        try:
            if rest:
                yield rest
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(_CHUNK):
                yield chunk
            await feeding
            await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            feeding.cancel()
            errors.cancel()

    return CgiAnswer(status, headers, stream())
