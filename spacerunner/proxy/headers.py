"""Rewriting HTTP/1.1 heads between client and app: hop-by-hop headers, X-Forwarded-*."""

from __future__ import annotations

from http import HTTPStatus

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Headers that describe one connection, not the message: never forwarded as they are."""
FORWARDED = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-prefix",
        b"forwarded",
    }
)
"""Where the request came from, set by spacerunner itself."""
IDENTITY = (b"X-Forwarded-User", b"X-Forwarded-Email", b"X-Forwarded-Groups")
"""Who is asking, as the proxy tells a Space's app (name, email, comma-separated groups); sent
only for signed-in people, and whatever a client sends under these names is dropped."""
SET_BY_PROXY = FORWARDED | frozenset(n.lower() for n in IDENTITY)
"""Set by spacerunner itself, the edge proxy: whatever a client sends is dropped."""

Headers = list[tuple[bytes, bytes]]


def connection_tokens(value: bytes) -> frozenset[bytes]:
    """Header names listed in a ``Connection:`` value; they are hop-by-hop too."""
    return frozenset(t.strip().lower() for t in value.split(b",") if t.strip())


def _emit(out: list[bytes], headers: Headers, drop: frozenset[bytes]) -> None:
    if drop:
        for name, value in headers:
            if name.lower() not in drop:
                out += (name, b": ", value, b"\r\n")
    else:
        for name, value in headers:
            out += (name, b": ", value, b"\r\n")


def request_head(
    method: bytes,
    target: bytes,
    headers: Headers,
    *,
    host: bytes | None,
    client_ip: bytes,
    proto: bytes,
    prefix: bytes,
    chunked: bool,
    upgrade: bytes | None,
    drop: frozenset[bytes] = frozenset(),
) -> bytes:
    """The head sent to the app: HTTP/1.1, keep-alive, X-Forwarded-* set.

    ``headers`` are the end-to-end headers (the parser already set hop-by-hop ones aside);
    ``drop`` names the extra ones a ``Connection:`` header listed.
    """
    out = [method, b" ", target, b" HTTP/1.1\r\n"]
    _emit(out, headers, drop)
    out += (b"X-Forwarded-For: ", client_ip, b"\r\nX-Forwarded-Proto: ", proto, b"\r\n")
    if host:
        out += (b"X-Forwarded-Host: ", host, b"\r\n")
    if prefix:
        out += (b"X-Forwarded-Prefix: ", prefix, b"\r\n")
    if chunked:
        out.append(b"Transfer-Encoding: chunked\r\n")
    if upgrade is not None:
        out += (b"Connection: Upgrade\r\nUpgrade: ", upgrade, b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def response_head(
    status: int,
    reason: bytes,
    headers: Headers,
    *,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    extra_names: frozenset[bytes] = frozenset(),
    chunked: bool = False,
    close: bool = False,
    upgrade: bytes | None = None,
    drop: frozenset[bytes] = frozenset(),
) -> bytes:
    """The head sent to the client; the route's own headers (``extra``) replace the app's."""
    out = [b"HTTP/1.1 ", str(status).encode(), b" ", reason or _reason(status), b"\r\n"]
    _emit(out, headers, drop | extra_names if extra_names else drop)
    for name, value in extra:
        out += (name, b": ", value, b"\r\n")
    if chunked:
        out.append(b"Transfer-Encoding: chunked\r\n")
    if upgrade is not None:
        out += (b"Connection: Upgrade\r\nUpgrade: ", upgrade, b"\r\n")
    elif close:
        out.append(b"Connection: close\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def simple_response(
    status: int,
    body: bytes,
    content_type: bytes,
    *,
    close: bool,
    headers: Headers | None = None,
    head_only: bool = False,
) -> bytes:
    """A complete response spacerunner makes itself (error pages, redirects)."""
    lines = [
        b"HTTP/1.1 ",
        str(status).encode(),
        b" ",
        _reason(status),
        b"\r\n",
        b"Content-Type: ",
        content_type,
        b"\r\n",
        b"Content-Length: ",
        str(len(body)).encode(),
        b"\r\n",
        b"Cache-Control: no-store\r\n",
    ]
    for name, value in headers or ():
        lines += (name, b": ", value, b"\r\n")
    if close:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)
