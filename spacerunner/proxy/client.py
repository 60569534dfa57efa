"""One client connection to the proxy: requests parsed by httptools, routed per request.

Callbacks only on the hot path (no coroutine per request): a request whose app connection is
pooled is forwarded from inside ``data_received``. Bodies stream both ways with flow control;
``Upgrade`` requests (WebSockets) become a byte tunnel once the app answers 101.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qs

import httptools

from spacerunner.backends.base import Endpoint, StaticSite, Upstream
from spacerunner.proxy import static
from spacerunner.proxy.gate import Gatekeeper, Verdict, without_cookie
from spacerunner.proxy.headers import (
    HOP_BY_HOP,
    SET_BY_PROXY,
    Headers,
    connection_tokens,
    request_head,
    response_head,
    simple_response,
)
from spacerunner.proxy.pages import error_page
from spacerunner.proxy.routes import Route, UpstreamKey
from spacerunner.proxy.upstream import BodyMode, UpstreamConnection

if TYPE_CHECKING:
    from spacerunner.proxy.server import ProxyServer

_BUFFER_LIMIT = 1 << 20
_STATIC_INLINE = 256 * 1024
_HTML = b"text/html; charset=utf-8"
_SET_ASIDE = HOP_BY_HOP | SET_BY_PROXY


class Request:
    __slots__ = (
        "accept",
        "began",
        "body",
        "buffered",
        "by_host",
        "chunked",
        "complete",
        "counted",
        "discard",
        "drop",
        "head_size",
        "headers",
        "held",
        "host",
        "ims",
        "inm",
        "keep_alive",
        "method",
        "route",
        "sending_to",
        "status",
        "tunnel_bytes",
        "upgrade",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: Headers = []
        """End-to-end headers only: hop-by-hop and X-Forwarded-* are set aside while parsing."""
        self.drop: frozenset[bytes] = frozenset()
        self.host: bytes | None = None
        self.method = b"GET"
        self.version = "1.1"
        self.keep_alive = True
        self.chunked = False
        self.upgrade: bytes | None = None
        self.inm: bytes | None = None
        self.accept = b""
        self.ims: bytes | None = None
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.counted = False
        self.began = 0.0
        self.status = 0
        """The status answered (0: none yet)."""
        self.discard = False
        self.sending_to: asyncio.Transport | None = None
        self.tunnel_bytes: list[bytes] = []
        self.route: Route | None = None
        self.held: UpstreamKey | None = None
        """The app (by its key) the request was forwarded to, while it is answered."""
        self.by_host = False
        self.head_size = 0
        """Bytes of the request line and headers, as parsed (for the head limit)."""

    def frame(self, data: bytes) -> bytes:
        return b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_ip = b"127.0.0.1"
        self.queue: deque[Request] = deque()
        self.parsing: Request | None = None
        self.active: Request | None = None
        self.upstream: UpstreamConnection | None = None
        self.tunnel: UpstreamConnection | None = None
        self.upgrading = False
        self.resp_chunked = False
        self.resp_close = False
        self.closed = False
        self.write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._read_pauses: set[str] = set()
        self._out: list[bytes] = []
        self.idle_since: float | None = server.clock()
        """When the connection last had no request under way (None: one is being answered)."""
        self.reads = 0
        """Reads from the client so far (the idle sweep tells a stalled request body by it)."""
        self._reads_seen = 0
        self._stalled = 0.0
        self._task: asyncio.Task[None] | None = None
        self._in_head = True
        """The head of the next request is being received (its bytes count to the limit)."""
        self._head_raw = 0
        self._too_large = False
        self._broken: tuple[int, str, str] | None = None
        """An error to answer once the requests before it are answered, then close."""

    # --- connection ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip = str(peer[0]).encode()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.active is not None:
            self._uncount(self.active, self.server.clock())
        if self.upstream is not None:
            self.upstream.abandon()
            self.upstream = None
        if self.tunnel is not None:
            self.tunnel.abandon()
            self._tunnel_closed()
        if self._task is not None:
            self._task.cancel()
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(ConnectionResetError("client disconnected"))
            self._drained.exception()  # mark retrieved

    def pause_writing(self) -> None:
        self.write_paused = True
        peer = self.tunnel or self.upstream
        if peer is not None:
            peer.set_reading(False)

    def resume_writing(self) -> None:
        self.write_paused = False
        peer = self.tunnel or self.upstream
        if peer is not None:
            peer.set_reading(True)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _pause_reading(self, why: str, paused: bool) -> None:
        before = bool(self._read_pauses)
        if paused:
            self._read_pauses.add(why)
        else:
            self._read_pauses.discard(why)
        after = bool(self._read_pauses)
        if self.transport is not None and before != after and not self.closed:
            if after:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def upstream_paused(self, paused: bool) -> None:
        self._pause_reading("upstream", paused)

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        if self._broken is not None:
            return  # the connection ends once what came before is answered
        if self.tunnel is not None:
            if self.tunnel.transport is not None:
                self.tunnel.transport.write(data)
            return
        if self.upgrading:
            if self.active is not None:
                self.active.tunnel_bytes.append(data)
            return
        if self._in_head:
            self._head_raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.upgrading = True
            rest = data[exc.args[0] :]
            if rest and self.active is not None:
                self.active.tunnel_bytes.append(rest)
        except httptools.HttpParserError as exc:
            self._fail(400, "Bad request", f"The request could not be parsed: {exc}.")
            return
        limit = self.server.max_head_bytes
        if self._too_large or (self._in_head and self._head_raw > limit):
            self._fail(
                431,
                "Request header fields too large",
                f"The request head is larger than {limit // 1024} KiB or has more than "
                f"{self.server.max_headers} header fields.",
            )

    def _fail(self, status: int, title: str, message: str) -> None:
        """Stop reading; answer ``status`` once the requests before it are answered, then
        close (a valid request followed by garbage still gets its response)."""
        self._broken = (status, title, message)
        self._pause_reading("broken", True)
        self.parsing = None
        if self.active is None and not self.queue:
            self._answer_broken()

    def _answer_broken(self) -> None:
        """Answer the error :meth:`_fail` kept; the connection closes after it (``_broken``
        stays set, so nothing more is read)."""
        assert self._broken is not None
        status, title, message = self._broken
        self._send_page(status, title, message, close=True)

    # --- request parsing (httptools callbacks) ---

    def on_message_begin(self) -> None:
        self.parsing = Request()

    def on_url(self, url: bytes) -> None:
        req = self.parsing
        assert req is not None
        req.url += url
        req.head_size += len(url)
        if req.head_size > self.server.max_head_bytes:
            self._too_large = True

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.parsing
        assert req is not None
        req.head_size += len(name) + len(value) + 4
        if (
            req.head_size > self.server.max_head_bytes
            or len(req.headers) >= self.server.max_headers
        ):
            self._too_large = True
            return
        lname = name.lower()
        if lname in _SET_ASIDE:
            if lname == b"transfer-encoding":
                req.chunked = b"chunked" in value.lower()
            elif lname == b"upgrade":
                req.upgrade = value
            elif lname == b"connection":
                req.drop = connection_tokens(value) - HOP_BY_HOP
            return
        req.headers.append((name, value))
        if lname == b"host":
            req.host = value
        elif lname == b"accept":
            req.accept = value
        elif lname == b"if-none-match":
            req.inm = value
        elif lname == b"if-modified-since":
            req.ims = value

    def on_headers_complete(self) -> None:
        req = self.parsing
        assert req is not None
        self._in_head, self._head_raw = False, 0
        if self._too_large:
            return
        self.idle_since = None
        if req.host is None:  # HTTP/1.0 without Host: the app gets the proxy's own
            req.headers.append((b"Host", self.server.host_header))
        parser = self.parser
        req.method = parser.get_method()
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        if not parser.should_upgrade():
            req.upgrade = None
        self.queue.append(req)
        if len(self.queue) > 1:
            self._pause_reading("pipeline", True)
        if self.active is None:
            self._next()

    def on_body(self, body: bytes) -> None:
        req = self.parsing
        if req is None or req.discard:
            return
        if req.sending_to is not None:
            req.sending_to.write(req.frame(body))
            return
        req.body.append(body)
        req.buffered += len(body)
        if req.buffered > _BUFFER_LIMIT:
            self._pause_reading("buffer", True)

    def on_message_complete(self) -> None:
        self._in_head, self._head_raw = True, 0
        req = self.parsing
        if req is None:
            return
        req.complete = True
        if req.sending_to is not None and req.chunked and not req.discard:
            req.sending_to.write(b"0\r\n\r\n")

    # --- dispatch ---

    def _next(self) -> None:
        if not self.queue or self.closed:
            return
        req = self.active = self.queue.popleft()
        if len(self.queue) <= 1:
            self._pause_reading("pipeline", False)
        path = req.url.split(b"?", 1)[0]
        if not self.server.host_allowed(req.host):
            assert req.host is not None
            self._send_page(421, "Unknown host", self.server.allowed_hosts.refusal(req.host))
            return
        match = self.server.router.match(req.host, path)
        if match is None:
            self._send_page(404, "No Space here", f"Nothing is served at {path.decode('latin-1')}.")
            return
        route, req.by_host = match
        gate = self.server.gate
        if gate is not None and route.guarded:
            admitted = self._admit(req, route, path, gate)
            if admitted is None:
                return
            route = admitted
        req.route = route
        route.last_active = req.began = self.server.clock()
        route.active_requests += 1
        req.counted = True
        if not req.by_host and route.prefix and path == route.prefix.encode():
            query = req.url[len(path) :]
            self._send_redirect(route.prefix.encode() + b"/" + query)
            return
        endpoint = route.endpoint
        if endpoint is not None:
            self._forward(req, route, endpoint)
        elif (
            route.waker is not None
            and req.method == b"GET"
            and req.upgrade is None
            and (b"text/html" in req.accept)
        ):
            # A person's browser: wake the Space in the background and show a page that reloads
            # itself until the app answers. Other requests (API calls, WebSockets) are held.
            route.wake_soon()
            self._send_page(503, "Starting", route.down_reason, space=route.name, refresh=True)
        elif route.waker is not None:
            self._task = asyncio.ensure_future(self._wake(req, route))
        else:
            self._send_page(
                503,
                "Starting" if route.retry else "Space not running",
                route.down_reason,
                space=route.name,
                refresh=route.retry,
            )

    def _admit(self, req: Request, route: Route, path: bytes, gate: Gatekeeper) -> Route | None:
        """Ask the gatekeeper; answer a refusal here (None), or give the route to forward to
        with the request's headers rewritten: no session cookie, no spacerunner credential,
        the identity headers of who is asking."""
        if req.by_host and path == gate.ticket_path:
            self._redeem_ticket(req, gate)
            return None
        cookie = authorization = None
        for name, value in req.headers:
            lname = name.lower()
            if lname == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
            elif lname == b"authorization":
                authorization = value
        admission = gate.admit(route.name, cookie, authorization)
        if admission.verdict is Verdict.HIDE:
            fallback = self.server.router.fallback
            if fallback is None:
                self._send_page(404, "No Space here", "Nothing is served here.")
                return None
            req.by_host = False
            return fallback  # answered exactly as a Space that does not exist
        if admission.verdict is Verdict.SIGN_IN:
            if req.method == b"GET" and req.upgrade is None and b"text/html" in req.accept:
                back = req.url.decode("latin-1")
                if req.by_host and req.host is not None:
                    host = req.host.decode("latin-1")
                    back = f"{self.server.forwarded_proto.decode()}://{host}{back}"
                location = gate.sign_in_url(back).encode()
                self._send_simple(303, b"", b"text/plain", headers=[(b"Location", location)])
            else:
                body = error_page(
                    401, "Sign-in required", "This Space is for signed-in people.", space=""
                )
                challenge = [(b"WWW-Authenticate", b'Bearer realm="spacerunner"')]
                self._send_simple(401, body, _HTML, headers=challenge)
            return None
        if cookie is not None or authorization is not None or admission.headers:
            kept: Headers = []
            for name, value in req.headers:
                lname = name.lower()
                if lname == b"authorization" and admission.credential:
                    continue
                if lname == b"cookie":
                    continue
                kept.append((name, value))
            if cookie is not None and (rest := without_cookie(cookie, gate.session_cookie)):
                kept.append((b"Cookie", rest))
            kept.extend(admission.headers)
            req.headers = kept
        return route

    def _redeem_ticket(self, req: Request, gate: Gatekeeper) -> None:
        """A Space's own host name takes the session a sign-in sent it (the server's cookie
        is not sent to ``<name>.localhost``), then goes where the person was going."""
        query = parse_qs(req.url.partition(b"?")[2].decode("latin-1"))
        host = (req.host or b"").decode("latin-1")
        cookie = gate.redeem(query.get("ticket", [""])[0], host)
        back = query.get("next", ["/"])[0]
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        if cookie is None:
            self._send_page(400, "Sign-in link expired", "Sign in again from the Space's page.")
            return
        self._send_simple(
            303,
            b"",
            b"text/plain",
            headers=[(b"Location", back.encode()), (b"Set-Cookie", cookie.encode())],
        )

    async def _wake(self, req: Request, route: Route) -> None:
        waker = route.waker
        assert waker is not None
        try:
            endpoint = await waker()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the waker reports why the Space cannot start
            self._send_page(503, "Space could not start", str(exc), space=route.name)
            return
        if not self.closed:
            self._forward(req, route, endpoint)

    def _forward(self, req: Request, route: Route, endpoint: Endpoint) -> None:
        if isinstance(endpoint, StaticSite):
            self._task = asyncio.ensure_future(self._serve_static(req, route, endpoint))
            return
        self._hold(req, route, endpoint)
        conn = None if req.upgrade is not None else self.server.pool.take(endpoint.key)
        if conn is not None:
            self._attach(req, conn)
        else:
            self._task = asyncio.ensure_future(self._connect(req, endpoint))

    async def _connect(self, req: Request, endpoint: Upstream) -> None:
        try:
            conn = await self.server.pool.connect(endpoint.key)
        except (OSError, TimeoutError) as exc:
            route = req.route
            assert route is not None
            self._send_page(
                502,
                "App not reachable",
                f"spacerunner could not connect to the app at "
                f"{endpoint.host}:{endpoint.port}: {exc}.",
                space=route.name,
            )
            return
        if self.closed or self.active is not req:
            conn.abandon()
            return
        self._attach(req, conn)

    def _attach(self, req: Request, conn: UpstreamConnection) -> None:
        route = req.route
        assert route is not None and conn.transport is not None
        self.upstream = conn
        conn.begin(self, head_only=req.method == b"HEAD")
        by_host = req.by_host
        target = route.upstream_path(req.url, by_host=by_host)
        prefix = route.prefix.encode() if route.strip_prefix and not by_host else b""
        head = request_head(
            req.method,
            target,
            req.headers,
            host=req.host,
            client_ip=self.client_ip,
            proto=self.server.forwarded_proto,
            prefix=prefix,
            chunked=req.chunked,
            upgrade=req.upgrade,
            drop=req.drop,
        )
        if req.body:
            head += b"".join(req.frame(chunk) for chunk in req.body)
            req.body.clear()
            req.buffered = 0
        if req.complete and req.chunked:
            head += b"0\r\n\r\n"
        conn.transport.write(head)
        req.sending_to = conn.transport
        self._pause_reading("buffer", False)
        if self.write_paused:
            conn.set_reading(False)

    # --- response from the app (ResponseSink) ---

    def response_head(
        self, status: int, reason: bytes, headers: Headers, mode: BodyMode, drop: frozenset[bytes]
    ) -> None:
        req = self.active
        if req is None or self.transport is None:
            return
        if status >= 200 or status == 101:
            req.status = status
        if status == 101 and req.upgrade is not None:
            self._start_tunnel(req, reason, headers, drop)
            return
        if status < 200:
            self._out.append(response_head(status, reason, headers, drop=drop))
            return
        route = req.route
        self.resp_chunked = mode in (BodyMode.CHUNKED, BodyMode.UNTIL_CLOSE) and (
            req.version == "1.1"
        )
        self.resp_close = (
            not req.keep_alive
            or req.upgrade is not None
            or (mode is BodyMode.UNTIL_CLOSE and not self.resp_chunked)
            or self.server.closing
        )
        self._out.append(
            response_head(
                status,
                reason,
                headers,
                extra=route.response_headers if route is not None else (),
                extra_names=route.response_header_names if route is not None else frozenset(),
                chunked=self.resp_chunked,
                close=self.resp_close,
                drop=drop,
            )
        )

    def response_body(self, data: bytes) -> None:
        if data:
            self._out.append(b"%x\r\n%b\r\n" % (len(data), data) if self.resp_chunked else data)

    def flush(self) -> None:
        """Write what the app sent during one read as one write (head and body together)."""
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def response_done(self) -> None:
        # The app connection is already back in the pool: forget it before writing, since a
        # full client buffer would otherwise pause reading on it there.
        self.upstream = None
        self._pause_reading("upstream", False)
        if self.resp_chunked:
            self._out.append(b"0\r\n\r\n")
        self.flush()
        self.resp_chunked = False
        req = self.active
        if req is not None and not req.complete:
            req.discard = True
            req.sending_to = None
        self._finish()

    def upstream_lost(self, conn: UpstreamConnection, *, started: bool) -> None:
        req = self.active
        self.upstream = None
        if self.tunnel is conn:
            self._close()
            return
        if req is None or self.closed:
            return
        if started:
            self._out.clear()
            if self.transport is not None:
                self.transport.abort()  # a truncated body: the client must see an error
            return
        retry = (
            conn.reused
            and req.complete
            and not req.body
            and req.buffered == 0
            and (req.method in (b"GET", b"HEAD", b"OPTIONS") or not req.chunked)
        )
        if retry and req.route is not None and isinstance(req.route.endpoint, Upstream):
            req.sending_to = None
            self._hold(req, req.route, req.route.endpoint)
            self._task = asyncio.ensure_future(self._connect(req, req.route.endpoint))
            return
        name = req.route.name if req.route is not None else ""
        self._send_page(
            502,
            "App closed the connection",
            "The app closed the connection without answering. It may have crashed; "
            "its log says more.",
            space=name,
        )

    def tunnel_data(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _start_tunnel(
        self, req: Request, reason: bytes, headers: Headers, drop: frozenset[bytes]
    ) -> None:
        assert self.transport is not None and req.upgrade is not None
        conn = self.upstream
        self.tunnel, self.upstream = conn, None
        route = req.route
        self._out.append(
            response_head(
                101,
                reason,
                headers,
                extra=route.response_headers if route is not None else (),
                extra_names=route.response_header_names if route is not None else frozenset(),
                upgrade=req.upgrade,
                drop=drop,
            )
        )
        self.flush()
        if conn is not None and conn.transport is not None and req.tunnel_bytes:
            conn.transport.write(b"".join(req.tunnel_bytes))
            req.tunnel_bytes.clear()
        if req.route is not None:
            req.route.open_tunnels += 1

    def _tunnel_closed(self) -> None:
        req, self.tunnel = self.active, None
        if req is not None and req.route is not None:
            req.route.open_tunnels -= 1

    # --- answers spacerunner makes itself ---

    def _send_page(
        self,
        status: int,
        title: str,
        message: str,
        *,
        space: str = "",
        close: bool = False,
        refresh: bool = False,
    ) -> None:
        body = error_page(status, title, message, space=space, refresh=2 if refresh else 0)
        headers = [(b"Retry-After", b"2")] if refresh else None
        self._send_simple(status, body, _HTML, headers=headers, close=close)

    def _send_redirect(self, location: bytes) -> None:
        self._send_simple(308, b"", b"text/plain", headers=[(b"Location", location)])

    def _send_simple(
        self,
        status: int,
        body: bytes,
        content_type: bytes,
        *,
        headers: Headers | None = None,
        close: bool = False,
    ) -> None:
        req = self.active
        if self.transport is None or self.closed:
            return
        close = close or req is None or not req.keep_alive or req.upgrade is not None
        head_only = req is not None and req.method == b"HEAD"
        if req is not None:
            req.status = status
        if req is not None and not req.complete:
            req.discard = True
            close = close or req.buffered > 0 or req.chunked
        self.resp_close = close
        self.transport.write(
            simple_response(
                status, body, content_type, close=close, headers=headers, head_only=head_only
            )
        )
        self._finish()

    async def _serve_static(self, req: Request, route: Route, site: StaticSite) -> None:
        path = route.without_prefix(req.url.split(b"?", 1)[0])
        if req.method not in (b"GET", b"HEAD"):
            self._send_simple(
                405,
                b"Static Spaces answer GET and HEAD only.\n",
                b"text/plain",
                headers=[(b"Allow", b"GET, HEAD")],
            )
            return
        found = static.resolve(site, path)
        if isinstance(found, static.Redirect):
            self._send_redirect(found.location.encode())
            return
        if isinstance(found, static.Refused):
            self._send_page(
                found.status,
                "Not found" if found.status == 404 else "Refused",
                found.reason,
                space=route.name,
            )
            return
        assert self.transport is not None
        headers: Headers = [
            (b"ETag", found.etag.encode()),
            (b"Last-Modified", found.last_modified.encode()),
            (b"Cache-Control", b"no-cache"),
        ]
        fresh = static.not_modified(found, req.inm, req.ims)
        if not fresh:
            headers += [
                (b"Content-Type", found.content_type.encode()),
                (b"Content-Length", str(found.size).encode()),
            ]
        self.resp_close = not req.keep_alive
        req.status = 304 if fresh else 200
        self.transport.write(
            response_head(
                req.status,
                b"Not Modified" if fresh else b"OK",
                headers,
                extra=route.response_headers,
                extra_names=route.response_header_names,
                close=self.resp_close,
            )
        )
        if req.method == b"GET" and not fresh:
            await self._send_file(found)
        self._finish()

    async def _send_file(self, found: static.StaticFile) -> None:
        loop = asyncio.get_running_loop()
        with found.path.open("rb") as handle:
            if found.size <= _STATIC_INLINE:
                data = handle.read()
                if self.transport is not None:
                    self.transport.write(data)
                return
            while chunk := await loop.run_in_executor(None, handle.read, _STATIC_INLINE):
                if self.closed or self.transport is None:
                    return
                self.transport.write(chunk)
                if self.write_paused:
                    self._drained = loop.create_future()
                    await self._drained

    # --- end of a request ---

    def _finish(self) -> None:
        now = self.server.clock()
        if self.active is not None:
            self._uncount(self.active, now)
        self.active = None
        if not self.queue:
            self.idle_since = now
        self._task = None
        if self.resp_close or self.closed:
            self._close()
            return
        if self.queue:
            self._next()
        elif self._broken is not None:
            self._answer_broken()

    @staticmethod
    def _hold(req: Request, route: Route, upstream: Upstream) -> None:
        """Count the request against the app it goes to (moved when it is sent again)."""
        if req.held is not None:
            route.release(req.held)
        req.held = route.hold(upstream)

    def _uncount(self, req: Request, now: float) -> None:
        """The request no longer keeps its Space awake (once per request, however it ended)."""
        if req.counted and req.route is not None:
            req.counted = False
            req.route.active_requests -= 1
            req.route.last_active = now
            req.route.stats.record(req.status, now - req.began)
            if req.held is not None:
                req.route.release(req.held)
                req.held = None

    def _close(self) -> None:
        self.flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def body_stalled(self, interval: float) -> float:
        """How long (counted in sweeps ``interval`` apart) the request body being received has
        not advanced; 0 when no body is awaited or spacerunner itself holds the reading."""
        req = self.parsing
        if (
            req is None
            or req.complete
            or self.idle_since is not None
            or self._read_pauses
            or self.tunnel is not None
            or self.upgrading
        ):
            self._stalled, self._reads_seen = 0.0, self.reads
            return 0.0
        if self.reads == self._reads_seen:
            self._stalled += interval
        else:
            self._stalled, self._reads_seen = 0.0, self.reads
        return self._stalled

    def close_now(self) -> None:
        """Give up on the connection and its request (the upstream side is abandoned)."""
        self._close()

    def shutdown(self) -> None:
        """Close when idle; an active response finishes first (its Connection: close is set)."""
        if self.active is None and self.tunnel is None:
            self._close()
        elif self.tunnel is not None:
            with contextlib.suppress(Exception):
                self.tunnel.abandon()
            self._close()
