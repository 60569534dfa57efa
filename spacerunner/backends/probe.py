"""One HTTP readiness check against an app, parsed with httptools."""

from __future__ import annotations

import asyncio
import contextlib

import httptools

from spacerunner.netns import connect as connect_in


class _Status:
    def __init__(self) -> None:
        self.done = False

    def on_headers_complete(self) -> None:
        self.done = True


async def http_status(
    host: str,
    port: int,
    path: str,
    *,
    timeout: float = 2.0,
    unix: str | None = None,
    netns: str | None = None,
) -> int | None:
    """The status code of ``GET path``, or ``None`` when nothing answers (yet)."""
    try:
        async with asyncio.timeout(timeout):
            if unix is not None:
                reader, writer = await asyncio.open_unix_connection(unix)
            elif netns is not None:
                sock = await connect_in(netns, host, port)
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
