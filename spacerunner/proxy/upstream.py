"""Connections from the proxy to apps: HTTP/1.1 responses parsed by httptools, pooled keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
from enum import Enum
from typing import Protocol, cast

import httptools

from spacerunner.netns import connect as connect_in
from spacerunner.proxy.headers import HOP_BY_HOP, Headers, connection_tokens

Key = tuple[str, int, str | None, str | None]
"""(host, port, unix socket path or None, registered network namespace or None)"""


class BodyMode(Enum):
    NONE = "none"
    """No body (HEAD, 1xx, 204, 304)."""
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"
    """Body ends when the app closes the connection (HTTP/1.0 style)."""


class ResponseSink(Protocol):
    """What an upstream connection reports to (the client connection it serves)."""

    def response_head(
        self, status: int, reason: bytes, headers: Headers, mode: BodyMode, drop: frozenset[bytes]
    ) -> None: ...

    def response_body(self, data: bytes) -> None: ...

    def response_done(self) -> None: ...

    def flush(self) -> None: ...

    def upstream_lost(self, conn: UpstreamConnection, *, started: bool) -> None: ...

    def tunnel_data(self, data: bytes) -> None: ...

    def upstream_paused(self, paused: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """One connection to an app; serves one request at a time, then goes back to the pool."""

    def __init__(self, pool: UpstreamPool, key: Key) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.headers: Headers = []
        self.drop: frozenset[bytes] = frozenset()
        self.has_length = False
        self.chunked = False
        self.reason = b""
        self.head_only = False
        self.started = False
        self.head_sent = False
        self.mode = BodyMode.LENGTH
        self.keep_alive = True
        self.tunnel = False
        self.reused = False
        self.closed = False
        self.reading = True
        self._reset_parser = False

    # --- lifecycle ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def begin(self, sink: ResponseSink, *, head_only: bool) -> None:
        """Start serving one request for ``sink``."""
        self.sink = sink
        self.head_only = head_only
        self.started = False
        self.head_sent = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is None:
            return
        if self.tunnel:
            sink.upstream_lost(self, started=True)
        elif self.head_sent and self.mode is BodyMode.UNTIL_CLOSE:
            sink.response_done()
        else:
            sink.upstream_lost(self, started=self.started)

    def set_reading(self, on: bool) -> None:
        """Flow control from the client side: stop or resume reading from the app."""
        if self.transport is None or self.closed or self.reading == on:
            return
        self.reading = on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def abandon(self) -> None:
        """The client went away: drop this connection (the app sees the disconnect)."""
        self.sink = None
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_paused(True)

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_paused(False)

    # --- bytes in ---

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            if self.sink is not None:
                self.sink.tunnel_data(data)
            return
        self.started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            rest = data[exc.args[0] :]
            if self.tunnel and rest and self.sink is not None:
                self.sink.tunnel_data(rest)
        except httptools.HttpParserError:
            self._broken()
        if self.sink is not None:
            self.sink.flush()
        if self._reset_parser:
            self._reset_parser = False
            self.parser = httptools.HttpResponseParser(self)

    def _broken(self) -> None:
        sink, self.sink = self.sink, None
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if sink is not None:
            sink.upstream_lost(self, started=self.head_sent)

    # --- httptools callbacks ---

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname in HOP_BY_HOP:
            if lname == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif lname == b"connection":
                self.drop = connection_tokens(value) - HOP_BY_HOP
            return
        if lname == b"content-length":
            self.has_length = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        sink = self.sink
        headers, self.headers = self.headers, []
        reason, self.reason = self.reason, b""
        drop, self.drop = self.drop, frozenset()
        chunked, self.chunked = self.chunked, False
        has_length, self.has_length = self.has_length, False
        if sink is None:
            return
        self.keep_alive = self.parser.should_keep_alive()
        if 100 <= status < 200:
            if status == 101:
                self.tunnel = True
            sink.response_head(status, reason, headers, BodyMode.NONE, drop)
            return
        if self.head_only or status in (204, 304):
            self.mode = BodyMode.NONE
        elif chunked:
            self.mode = BodyMode.CHUNKED
        elif has_length:
            self.mode = BodyMode.LENGTH
        else:
            self.mode = BodyMode.UNTIL_CLOSE
            self.keep_alive = False
        self.head_sent = True
        sink.response_head(status, reason, headers, self.mode, drop)
        if self.head_only:
            # httptools cannot be told that a HEAD response has no body: finish here and start a
            # fresh parser for the next response on this connection.
            self._reset_parser = True
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.response_body(body)

    def on_message_complete(self) -> None:
        if self.sink is None or self.tunnel or not self.head_sent:
            return  # informational (1xx) responses, upgrades, or an abandoned response
        self._finish()

    def _finish(self) -> None:
        sink, self.sink = self.sink, None
        self.head_sent = False
        if self.keep_alive and not self.closed:
            self.set_reading(True)  # a slow client may have paused it: never pool it paused
            self.pool.release(self)
        else:
            self.abandon()
        if sink is not None:
            sink.response_done()


class UpstreamPool:
    """Idle keep-alive connections to apps, per (host, port)."""

    def __init__(self, *, max_idle: int = 128, connect_timeout: float = 10.0) -> None:
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self._idle: dict[Key, list[UpstreamConnection]] = {}

    def take(self, key: Key) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
        return None

    async def connect(self, key: Key) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            host, port, unix, netns = key
            if unix is not None:
                _, conn = await loop.create_unix_connection(
                    lambda: UpstreamConnection(self, key), unix
                )
            elif netns is not None:
                sock = await connect_in(netns, host, port)
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(self, key), sock=sock
                )
            else:
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(self, key), host, port
                )
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            conn.abandon()
            return
        conn.reused = False
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                with contextlib.suppress(Exception):
                    conn.abandon()
        self._idle.clear()
