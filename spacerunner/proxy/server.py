"""The proxy's listening side: one server for every route, on uvloop where available."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable

from spacerunner.errors import PortInUseError
from spacerunner.proxy.client import ClientConnection
from spacerunner.proxy.gate import Gatekeeper
from spacerunner.proxy.hosts import AllowedHosts
from spacerunner.proxy.routes import Router
from spacerunner.proxy.upstream import UpstreamPool


class ProxyServer:
    """An HTTP/1.1 reverse proxy in front of every app in ``router``."""

    def __init__(
        self,
        router: Router,
        *,
        forwarded_proto: str = "http",
        connect_timeout: float = 10.0,
        idle_timeout: float = 75.0,
        clock: Callable[[], float] = time.monotonic,
        allowed_hosts: tuple[str, ...] = (),
        max_head_bytes: int = 64 * 1024,
        max_headers: int = 100,
        gate: Gatekeeper | None = None,
    ) -> None:
        self.router = router
        self.gate = gate
        """Asked before each request reaches a guarded route (None: every request passes)."""
        self._allowed_extra = tuple(h.lower() for h in allowed_hosts)
        self.allowed_hosts = AllowedHosts(self._allowed_extra)
        self._host_verdicts: dict[bytes, bool] = {}
        self.max_head_bytes = max_head_bytes
        """A request line and headers larger than this are answered 431 (never buffered)."""
        self.max_headers = max_headers
        self.host_header = b"127.0.0.1"
        """What a request without ``Host`` (HTTP/1.0) is forwarded with."""
        self.idle_timeout = idle_timeout
        """Seconds a client connection may sit with no request under way (kept alive, or
        sending its request head slowly) before it is closed."""
        self._sweeper: asyncio.Task[None] | None = None
        self.forwarded_proto = forwarded_proto.encode()
        self.pool = UpstreamPool(connect_timeout=connect_timeout)
        self.connections: set[ClientConnection] = set()
        self.clock = clock
        self.closing = False
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: ClientConnection(self), host, port, reuse_address=True, backlog=2048
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port) from exc
            raise
        for sock in self._server.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._port = int(self._server.sockets[0].getsockname()[1])
        bound = "" if host in ("", "0.0.0.0", "::") else host.lower()
        self.allowed_hosts = AllowedHosts(self._allowed_extra, bound)
        self._host_verdicts.clear()
        self.host_header = self.url.removeprefix("http://").encode()
        if self.idle_timeout > 0:
            self._sweeper = asyncio.create_task(self._sweep_idle())
        self._host = host

    def host_allowed(self, host: bytes | None) -> bool:
        """Whether requests for ``host`` are answered (remembered per distinct value)."""
        if host is None:
            return True
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            verdict = self.allowed_hosts.allows(host)
            if len(self._host_verdicts) < 1024:
                self._host_verdicts[host] = verdict
        return verdict

    @property
    def port(self) -> int:
        assert self._port is not None, "start() the proxy first"
        return self._port

    @property
    def url(self) -> str:
        """Where people reach the proxy (loopback when it listens on every address)."""
        host = self._host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    async def _sweep_idle(self) -> None:
        """Close connections idle past the timeout, and those whose request body has stopped
        arriving for as long: one pass a while, no timer per request."""
        interval = min(5.0, max(self.idle_timeout / 4, 0.05))
        while True:
            await asyncio.sleep(interval)
            limit = self.clock() - self.idle_timeout
            for conn in list(self.connections):
                if conn.idle_since is not None and conn.idle_since < limit:
                    conn.shutdown()
                elif conn.body_stalled(interval) >= self.idle_timeout:
                    conn.close_now()  # a request body that stopped arriving

    async def close(self) -> None:
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        self.pool.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            except TimeoutError:
                for conn in list(self.connections):
                    if conn.transport is not None:
                        conn.transport.abort()
