"""Readiness: one HTTP check against an app (parsed with httptools), and the polling every
backend does until its app answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httptools

from spacerunner.backends.base import Instance, Upstream
from spacerunner.errors import AppExitedError, StartupTimeoutError
from spacerunner.launch.plan import ContainerPlan, ProcessPlan
from spacerunner.netns import connect as connect_in

Moved = Callable[[Upstream], Awaitable[Upstream | None]]


class _Status:
    def __init__(self) -> None:
        self.done = False

    def on_headers_complete(self) -> None:
        self.done = True


async def http_status(upstream: Upstream, path: str, *, timeout: float = 2.0) -> int | None:
    """The status code of ``GET path`` on ``upstream``, or ``None`` when nothing answers (yet)."""
    host, port = upstream.host, upstream.port
    try:
        async with asyncio.timeout(timeout):
            if upstream.unix is not None:
                reader, writer = await asyncio.open_unix_connection(upstream.unix)
            elif upstream.netns is not None:
                sock = await connect_in(upstream.netns, host, port)
                reader, writer = await asyncio.open_connection(sock=sock)
            else:
                reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "User-Agent: spacerunner-probe\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                callbacks = _Status()
                parser = httptools.HttpResponseParser(callbacks)
                while not callbacks.done:
                    data = await reader.read(65536)
                    if not data:
                        return None
                    parser.feed_data(data)
                return int(parser.get_status_code())
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, httptools.HttpParserError):
        return None


async def wait_until_ready(
    instance: Instance, timeout: float | None, *, moved: Moved | None = None
) -> Upstream:
    """Probe ``instance`` until its app answers below 500 and return the upstream that
    answered. Raises :class:`AppExitedError` if it ends first and :class:`StartupTimeoutError`
    after ``timeout`` seconds (the plan's startup timeout when ``None``). The pause between
    attempts grows from the probe's interval to 0.25 s; ``moved`` is asked after an unanswered
    attempt where else the app listens."""
    plan = instance.plan
    assert isinstance(plan, ProcessPlan | ContainerPlan)
    assert isinstance(instance.endpoint, Upstream)
    upstream = instance.endpoint
    timeout = plan.startup_timeout if timeout is None else timeout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = plan.probe.interval
    while not instance.ended:
        if isinstance(instance.endpoint, Upstream) and instance.endpoint != upstream:
            upstream = instance.endpoint  # started again (a preloaded start fell back)
        remaining = deadline - loop.time()
        code = await http_status(upstream, plan.probe.path, timeout=max(0.1, min(2.0, remaining)))
        if code is not None and code < 500:
            return upstream
        if loop.time() >= deadline:
            where = plan.probe.describe(upstream.port)
            raise StartupTimeoutError(instance.name, timeout, where, instance.log.tail(25))
        if code is None and moved is not None and (elsewhere := await moved(upstream)):
            upstream = elsewhere
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(instance.wait(), min(delay, max(0.0, remaining)))
        delay = min(delay * 1.2, 0.25)
    status = instance.status()
    raise AppExitedError(
        instance.name, status.returncode, status.reason or "ended", instance.log.tail(25)
    )
