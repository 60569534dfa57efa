"""The reverse proxy against a real ASGI app (uvicorn) and a raw HTTP/1.0 server."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import SPACES, LoopThread
from websockets.sync.client import connect as ws_connect

from spacerunner.backends.base import StaticSite, Upstream
from spacerunner.launch.ports import free_port
from spacerunner.proxy import ProxyServer, Route, Router
from spacerunner.proxy.hosts import AllowedHosts

UPSTREAM_APP = Path(__file__).parent / "upstream_app.py"


@dataclass
class Setup:
    base: str
    port: int
    state: Path
    router: Router
    upstream: Upstream


async def _raw_http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers like an HTTP/1.0 server: no length, the body ends when the connection closes."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    for i in range(5):
        writer.write(f"line {i}\n".encode())
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.close()


async def _start(router: Router) -> tuple[ProxyServer, asyncio.Server]:
    proxy = ProxyServer(router)
    await proxy.start("127.0.0.1", 0)
    raw = await asyncio.start_server(_raw_http10, "127.0.0.1", 0)
    return proxy, raw


@pytest.fixture(scope="module")
def setup(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    state = tmp_path_factory.mktemp("upstream")
    port = free_port()
    app = subprocess.Popen([sys.executable, str(UPSTREAM_APP), str(port), str(state)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    upstream = Upstream("127.0.0.1", port)
    router = Router()
    proxy, raw = loop_thread.run(_start(router))
    raw_port = raw.sockets[0].getsockname()[1]
    router.add(Route("root", endpoint=upstream))
    router.add(Route("pre", prefix="/pre", strip_prefix=True, endpoint=upstream))
    router.add(Route("keep", prefix="/keep", endpoint=upstream))
    router.add(
        Route(
            "hosted",
            prefix="/hosted",
            host="hosted.localhost",
            strip_prefix=True,
            endpoint=upstream,
        )
    )
    router.add(Route("kept", prefix="/kept", host="kept.localhost", endpoint=upstream))
    router.add(Route("down", prefix="/down", down_reason="It is asleep."))
    router.add(Route("dead", prefix="/dead", endpoint=Upstream("127.0.0.1", free_port())))
    router.add(Route("raw", prefix="/raw", endpoint=Upstream("127.0.0.1", raw_port)))
    router.add(
        Route(
            "static",
            prefix="/static",
            endpoint=StaticSite(SPACES / "static-site", "index.html"),
            response_headers=((b"cross-origin-opener-policy", b"same-origin"),),
        )
    )
    router.add(
        Route(
            "coop",
            prefix="/coop",
            endpoint=upstream,
            response_headers=((b"cross-origin-embedder-policy", b"require-corp"),),
        )
    )
    try:
        yield Setup(f"http://127.0.0.1:{proxy.port}", proxy.port, state, router, upstream)
    finally:
        loop_thread.run(proxy.close())
        raw.close()
        app.terminate()
        app.wait(10)


def echo(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def header(data: dict, name: str) -> list[str]:
    return [v for k, v in data["headers"] if k.lower() == name.lower()]


def test_get_sets_forwarded_headers_and_drops_hop_by_hop(setup: Setup) -> None:
    response = httpx.get(
        f"{setup.base}/hello/world?x=1",
        headers={
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "X-Forwarded-For": "6.6.6.6",
            "X-Kept": "yes",
        },
    )
    data = echo(response)
    assert data["path"] == "/hello/world"
    assert data["query"] == "x=1"
    assert header(data, "x-forwarded-for") == ["127.0.0.1"]  # a client cannot spoof it
    assert header(data, "x-forwarded-proto") == ["http"]
    assert header(data, "x-forwarded-host") == [f"127.0.0.1:{setup.port}"]
    assert header(data, "host") == [f"127.0.0.1:{setup.port}"]
    assert header(data, "x-private-hop") == []
    assert header(data, "x-kept") == ["yes"]
    assert response.headers["x-upstream"] == "yes"
    assert "keep-alive" not in response.headers  # hop-by-hop on the way back too


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods_and_bodies(setup: Setup, method: str) -> None:
    body = b"x" * 100_000
    data = echo(httpx.request(method, f"{setup.base}/m", content=body))
    assert data["method"] == method
    assert data["body_len"] == len(body)
    assert data["body_sha"] == hashlib.sha256(body).hexdigest()


def test_chunked_request_body_streams_through(setup: Setup) -> None:
    parts = [bytes([i]) * 70_000 for i in range(20)]
    data = echo(httpx.post(f"{setup.base}/upload", content=iter(parts)))
    assert data["body_len"] == sum(map(len, parts))
    assert data["body_sha"] == hashlib.sha256(b"".join(parts)).hexdigest()


def test_large_response_is_complete(setup: Setup) -> None:
    size = 12_345_678
    response = httpx.get(f"{setup.base}/big?size={size}")
    assert response.status_code == 200
    assert len(response.content) == size
    block = hashlib.sha256(b"spacerunner").digest() * 2048
    assert response.content == (block * (size // len(block) + 1))[:size]


def test_keep_alive_connection_routes_each_request(setup: Setup) -> None:
    """One connection, requests alternating between routes, HEAD among them."""
    conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=10)
    seen = []
    for path in ["/pre/a", "/keep/b", "/pre/c", "/static/", "/keep/d"]:
        conn.request("HEAD" if path == "/keep/b" else "GET", path)
        response = conn.getresponse()
        body = response.read()
        seen.append((response.status, json.loads(body)["path"] if body[:1] == b"{" else body[:15]))
    assert conn.sock is not None  # still the same connection
    conn.close()
    assert seen == [
        (200, "/a"),
        (200, b""),
        (200, "/c"),
        (200, b"<!doctype html>"),
        (200, "/keep/d"),
    ]


def test_pipelined_requests_answer_in_order(setup: Setup) -> None:
    with socket.create_connection(("127.0.0.1", setup.port), 10) as sock:
        sock.sendall(
            b"GET /pre/one HTTP/1.1\r\nHost: localhost\r\n\r\n"
            b"GET /pre/two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 2
    assert data.index(b'"path":"/one"') < data.index(b'"path":"/two"')


def test_prefix_is_stripped_and_announced(setup: Setup) -> None:
    data = echo(httpx.get(f"{setup.base}/pre/sub/path?q=2"))
    assert data["path"] == "/sub/path"
    assert data["query"] == "q=2"
    assert header(data, "x-forwarded-prefix") == ["/pre"]


def test_bare_prefix_redirects_to_slash(setup: Setup) -> None:
    response = httpx.get(f"{setup.base}/pre?a=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/pre/?a=1"


def test_host_routing(setup: Setup) -> None:
    host = f"hosted.localhost:{setup.port}"
    data = echo(httpx.get(f"{setup.base}/via/host", headers={"Host": host}))
    assert data["path"] == "/via/host"
    assert header(data, "x-forwarded-host") == [host]
    assert header(data, "x-forwarded-prefix") == []
    # the app's own links carry its path prefix; by host name they reach the same place
    assert echo(httpx.get(f"{setup.base}/hosted/x?q=1", headers={"Host": host}))["path"] == "/x"


def test_host_routing_to_an_app_that_keeps_its_prefix(setup: Setup) -> None:
    """Streamlit-style apps serve under their base path: a host-routed request gets it added."""
    host = f"kept.localhost:{setup.port}"
    assert echo(httpx.get(f"{setup.base}/x", headers={"Host": host}))["path"] == "/kept/x"
    assert echo(httpx.get(f"{setup.base}/kept/x", headers={"Host": host}))["path"] == "/kept/x"


def test_active_requests_are_counted(setup: Setup) -> None:
    route = Route("counted", prefix="/counted", strip_prefix=True, endpoint=setup.upstream)
    setup.router.add(route)
    try:
        with httpx.stream("GET", f"{setup.base}/counted/forever?id=count2") as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: tick")
            assert route.active_requests == 1
            assert next(lines) == ""
            assert next(lines).startswith("data: tick")  # still streaming
            assert route.active_requests == 1
        deadline = time.monotonic() + 3
        while route.active_requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert route.active_requests == 0
    finally:
        setup.router.remove("counted")


def test_sse_is_not_buffered(setup: Setup) -> None:
    start = time.monotonic()
    arrivals = []
    with httpx.stream("GET", f"{setup.base}/sse?n=3&delay=0.6") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append((line, time.monotonic() - start))
    assert [a[0] for a in arrivals] == ["data: event 0", "data: event 1", "data: event 2"]
    assert arrivals[0][1] < 0.5  # the first event arrives while the app still sleeps
    assert arrivals[1][1] - arrivals[0][1] > 0.4


def test_client_disconnect_mid_stream_reaches_the_app(setup: Setup) -> None:
    marker = setup.state / "disconnected-d1"
    with httpx.stream("GET", f"{setup.base}/forever?id=d1") as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: tick")
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the app never saw the client leave"
    echo(httpx.get(f"{setup.base}/still-fine"))


def test_websocket_both_ways(setup: Setup) -> None:
    with ws_connect(f"ws://127.0.0.1:{setup.port}/pre/ws", subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        ws.send("hello")
        assert ws.recv(5) == "echo: hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(5) == b"\x03\x02\x01"
        big = "y" * 300_000
        ws.send(big)
        assert ws.recv(5) == "echo: " + big
    route = next(r for r in setup.router.routes if r.name == "pre")
    deadline = time.monotonic() + 2
    while route.open_tunnels and time.monotonic() < deadline:
        time.sleep(0.02)
    assert route.open_tunnels == 0


def test_custom_headers_are_applied(setup: Setup) -> None:
    response = httpx.get(f"{setup.base}/coop/x")
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


def test_app_down_is_an_honest_503(setup: Setup) -> None:
    response = httpx.get(f"{setup.base}/down/")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert "It is asleep." in response.text
    assert "text/html" in response.headers["content-type"]


def test_unreachable_app_is_a_502(setup: Setup) -> None:
    response = httpx.get(f"{setup.base}/dead/")
    assert response.status_code == 502
    assert "could not connect to the app" in response.text


def test_http10_style_body_until_close(setup: Setup) -> None:
    response = httpx.get(f"{setup.base}/raw/")
    assert response.status_code == 200
    assert response.text == "".join(f"line {i}\n" for i in range(5))
    assert response.headers.get("transfer-encoding") == "chunked"


def test_malformed_request_gets_400(setup: Setup) -> None:
    with socket.create_connection(("127.0.0.1", setup.port), 5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")


def test_head_response_has_no_body_and_connection_survives(setup: Setup) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=5)
    for _ in range(3):
        conn.request("HEAD", "/big?size=5000")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("content-length") == "5000"
        assert response.read() == b""
    conn.request("GET", "/pre/after-head")
    assert json.loads(conn.getresponse().read())["path"] == "/after-head"
    conn.close()


def test_status_without_body(setup: Setup) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=5)
    conn.request("GET", "/status/204")
    response = conn.getresponse()
    assert response.status == 204
    assert response.read() == b""
    conn.request("GET", "/status/304")
    response = conn.getresponse()
    assert response.status == 304
    assert response.read() == b""
    conn.request("GET", "/pre/next")
    assert json.loads(conn.getresponse().read())["path"] == "/next"
    conn.close()


def test_a_slow_reader_does_not_leave_a_paused_connection_in_the_pool(setup: Setup) -> None:
    """Flow control pauses reading from the app while a client is slow; the app connection must
    not go back to the pool paused, or the next request on it would hang."""
    size = 20_000_000
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", setup.port), 10) as sock:
            sock.sendall(f"GET /big?size={size} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            time.sleep(0.3)  # let every buffer on the way fill up
            received = 0
            while received < size:
                chunk = sock.recv(1 << 20)
                assert chunk
                received += len(chunk)
        for i in range(4):  # whichever pooled connection these get, they must answer
            assert httpx.get(f"{setup.base}/after-slow/{i}", timeout=5).status_code == 200


def test_idle_and_slow_clients_are_closed_but_streams_are_not(
    setup: Setup, loop_thread: LoopThread
) -> None:
    router = Router()
    router.add(Route("root", endpoint=setup.upstream))
    proxy = ProxyServer(router, idle_timeout=0.5)
    loop_thread.run(proxy.start("127.0.0.1", 0))

    def closed_within(sock: socket.socket, seconds: float) -> bool:
        sock.settimeout(seconds)
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            return False
        return True

    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as silent:
            assert closed_within(silent, 3)  # never sent a request
        with socket.create_connection(("127.0.0.1", proxy.port)) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHo")  # a head that never ends
            assert closed_within(slow, 3)
        with socket.create_connection(("127.0.0.1", proxy.port)) as kept:
            kept.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")
            assert closed_within(kept, 3)  # kept alive, then idle
        with socket.create_connection(("127.0.0.1", proxy.port)) as stalled:
            stalled.sendall(
                b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab"
            )
            assert closed_within(stalled, 3)  # a body that stopped arriving
        with socket.create_connection(("127.0.0.1", proxy.port)) as steady:
            steady.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12\r\n\r\n")
            for _ in range(12):  # one byte every 0.15 s: 1.8 s in all, slow but moving
                steady.sendall(b"x")
                time.sleep(0.15)
            assert steady.recv(65536).startswith(b"HTTP/1.1 200")
        with httpx.stream("GET", f"http://127.0.0.1:{proxy.port}/forever?id=idle") as stream:
            lines = stream.iter_lines()
            started = time.monotonic()
            while time.monotonic() - started < 1.5:  # three timeouts long, still streaming
                assert next(lines) is not None
    finally:
        loop_thread.run(proxy.close())


# --- hostile input: huge heads, other hosts, HTTP/1.0 without Host, garbage ---


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(data)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got


def test_a_huge_header_is_a_431_while_others_are_served(setup: Setup) -> None:
    rss_before = psutil.Process().memory_info().rss
    answer: list[bytes] = []

    def attacker() -> None:
        with socket.create_connection(("127.0.0.1", setup.port), 30) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
            try:
                for _ in range(3200):  # 200 MB, if the proxy kept reading
                    sock.sendall(b"a" * 65536)
            except OSError:
                pass  # refused part-way, as it should be
            sock.settimeout(10)
            try:
                answer.append(sock.recv(65536))
            except OSError:
                answer.append(b"")

    thread = threading.Thread(target=attacker)
    thread.start()
    started = time.monotonic()
    latencies = []
    while thread.is_alive() and time.monotonic() - started < 30:
        before = time.monotonic()
        assert echo(httpx.get(f"{setup.base}/pre/while-attacked", timeout=5))["path"]
        latencies.append(time.monotonic() - before)
    thread.join(30)
    assert answer and answer[0].startswith(b"HTTP/1.1 431 ")
    assert b"64 KiB" in answer[0]
    assert latencies and max(latencies) < 1.0, latencies  # nobody else stalled
    grown = psutil.Process().memory_info().rss - rss_before
    assert grown < 50 * 2**20, f"the proxy grew {grown / 2**20:.0f} MiB"


def test_too_many_headers_is_a_431(setup: Setup) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    got = raw(setup.port, b"GET /pre/x HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n")
    assert got.startswith(b"HTTP/1.1 431 ")
    fine = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    got = raw(
        setup.port,
        b"GET /pre/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + fine + b"\r\n",
    )
    assert got.startswith(b"HTTP/1.1 200 ")


def test_other_hosts_are_refused_with_the_flag_that_allows_them(setup: Setup) -> None:
    refused = httpx.get(f"{setup.base}/pre/x", headers={"Host": "evil.example"})
    assert refused.status_code == 421
    assert "--allowed-host evil.example" in refused.text
    for host in ("localhost", "127.0.0.1:9", "[::1]:9", "kept.localhost", "a.b.localhost"):
        assert httpx.get(f"{setup.base}/pre/x", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_rules() -> None:
    hosts = AllowedHosts(("spaces.example.org", "*.team.example"), bound="10.1.2.3")
    assert hosts.allows(b"spaces.example.org:8000")
    assert hosts.allows(b"a.team.example")
    assert not hosts.allows(b"team.example.evil.com")
    assert hosts.allows(b"10.1.2.3:8000")
    assert hosts.allows(b"127.0.0.2")
    assert not hosts.allows(b"localhost.evil.com")
    assert not hosts.allows(b"10.1.2.4")
    assert AllowedHosts(("*",)).allows(b"anything.example")


def test_http10_without_host_is_forwarded_with_one(setup: Setup) -> None:
    got = raw(setup.port, b"GET /pre/x HTTP/1.0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 ") or got.startswith(b"HTTP/1.0 200 ")
    body = got.split(b"\r\n\r\n", 1)[1]
    data = json.loads(body)
    assert header(data, "host") == [f"127.0.0.1:{setup.port}"]


def test_garbage_after_a_valid_request_still_gets_its_answer(setup: Setup) -> None:
    got = raw(
        setup.port, b"GET /pre/first HTTP/1.1\r\nHost: localhost\r\n\r\n\x00\x01garbage\r\n\r\n"
    )
    assert got.startswith(b"HTTP/1.1 200 ")
    assert b'"path":"/first"' in got
    assert b"HTTP/1.1 400 " in got  # then the garbage is answered, and the connection closed
