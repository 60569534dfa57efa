"""Pure pieces of the proxy: routing decisions and head rewriting."""

from __future__ import annotations

from spacerunner.backends.base import Upstream
from spacerunner.proxy import Route, Router
from spacerunner.proxy.headers import request_head, response_head, simple_response


def test_longest_prefix_wins_and_root_catches_the_rest() -> None:
    router = Router()
    for name, prefix in [("root", ""), ("a", "/spaces/a"), ("ab", "/spaces/ab")]:
        router.add(Route(name, prefix=prefix))

    def match(path: bytes) -> str:
        found = router.match(b"localhost:8000", path)
        assert found is not None
        return found[0].name

    assert match(b"/spaces/a") == "a"
    assert match(b"/spaces/a/x") == "a"
    assert match(b"/spaces/ab/") == "ab"
    assert match(b"/spaces/abc") == "root"  # a prefix matches whole path segments only
    assert match(b"/") == "root"


def test_no_route_is_none() -> None:
    router = Router()
    router.add(Route("a", prefix="/spaces/a"))
    assert router.match(None, b"/elsewhere") is None


def test_host_routes_win_and_ignore_the_port() -> None:
    router = Router()
    router.add(Route("root"))
    router.add(Route("demo", prefix="/spaces/demo", host="demo.localhost"))
    assert router.match(b"Demo.LocalHost:8000", b"/x") == (router.routes[0], True)
    assert router.match(b"other.localhost:8000", b"/x")[0].name == "root"  # type: ignore[index]


def test_re_adding_replaces_and_remove_forgets() -> None:
    router = Router()
    router.add(Route("a", prefix="/one", host="a.localhost"))
    router.add(Route("a", prefix="/two"))
    assert [r.prefix for r in router.routes] == ["/two"]
    assert router.match(b"a.localhost", b"/zzz") is None
    assert router.remove("a") is not None
    assert router.routes == []


def test_prefix_strip() -> None:
    route = Route("a", prefix="/spaces/a", strip_prefix=True, endpoint=Upstream("h", 1))
    assert route.upstream_path(b"/spaces/a/x?y=1") == b"/x?y=1"
    assert route.upstream_path(b"/spaces/a/") == b"/"
    assert route.upstream_path(b"/spaces/a?q") == b"/?q"
    assert Route("b", prefix="/p").upstream_path(b"/p/x") == b"/p/x"


def test_request_head() -> None:
    head = request_head(
        b"POST",
        b"/x",
        [(b"Host", b"h:1"), (b"X-Private", b"1"), (b"Accept", b"*/*")],
        host=b"h:1",
        client_ip=b"10.0.0.9",
        proto=b"https",
        prefix=b"/spaces/a",
        chunked=True,
        upgrade=None,
        drop=frozenset({b"x-private"}),
    )
    assert head == (
        b"POST /x HTTP/1.1\r\nHost: h:1\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.9\r\n"
        b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: h:1\r\nX-Forwarded-Prefix: /spaces/a\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )


def test_response_head_route_headers_replace_the_apps() -> None:
    head = response_head(
        200,
        b"OK",
        [(b"Cross-Origin-Opener-Policy", b"unsafe-none"), (b"Content-Length", b"2")],
        extra=((b"cross-origin-opener-policy", b"same-origin"),),
        extra_names=frozenset({b"cross-origin-opener-policy"}),
        close=True,
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncross-origin-opener-policy: same-origin\r\n"
        b"Connection: close\r\n\r\n"
    )


def test_upgrade_and_unknown_reason() -> None:
    assert response_head(101, b"", [], upgrade=b"websocket").startswith(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    )
    assert response_head(599, b"", []).startswith(b"HTTP/1.1 599 Unknown\r\n")


def test_simple_response_head_only() -> None:
    full = simple_response(404, b"nope", b"text/plain", close=False)
    assert full.endswith(b"\r\n\r\nnope")
    assert b"Content-Length: 4" in full
    head = simple_response(404, b"nope", b"text/plain", close=True, head_only=True)
    assert head.endswith(b"Connection: close\r\n\r\n")
