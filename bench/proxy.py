"""Proxy throughput and latency: direct vs spacerunner's proxy vs nginx, measured with wrk.

    python bench/proxy.py [--duration 10] [--upstream nginx|python]

Needs Debian's `wrk` and `nginx` (apt-get install wrk nginx-light). Every figure comes from this
one run on this machine: the same upstream is hit directly, through spacerunner's proxy, and
through nginx (one worker, keep-alive to the upstream) as the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spacerunner.launch.ports import free_port

NGINX_UPSTREAM = """
worker_processes 1;
daemon off;
pid {tmp}/upstream.pid;
error_log {tmp}/upstream-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type text/plain; return 200 "hello from upstream\\n"; }}
  }}
}}
"""

NGINX_PROXY = """
worker_processes 1;
daemon off;
pid {tmp}/proxy.pid;
error_log {tmp}/proxy-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }}
  }}
}}
"""


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"cannot read wrk's latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(port: int, connections: int, duration: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Latency Distribution" not in out:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|errors):.*?(\d+)", out))
    return Result(rps, p50, p99, errors)


def serve_proxy(port: int, upstream: int) -> None:
    """Child mode: spacerunner's proxy on uvloop, one route to the upstream."""
    import uvloop

    from spacerunner.backends.base import Upstream
    from spacerunner.proxy import ProxyServer, Route, Router

    async def main() -> None:
        router = Router()
        router.add(Route("bench", endpoint=Upstream("127.0.0.1", upstream)))
        proxy = ProxyServer(router)
        await proxy.start("127.0.0.1", port)
        await asyncio.Event().wait()

    uvloop.run(main())


def serve_python_upstream(port: int) -> None:
    """Child mode: a minimal keep-alive HTTP server on uvloop + httptools (a Python upstream)."""
    import httptools
    import uvloop

    body = b"hello from upstream\n"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            self.transport.write(response)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Protocol, "127.0.0.1", port, backlog=4096)
        await asyncio.Event().wait()

    uvloop.run(main())


async def _asgi_app(scope: dict, receive: object, send: object) -> None:
    """A trivial ASGI app: what Gradio and Streamlit run on, minus the framework."""
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,  # type: ignore[operator]
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello from upstream\n"})  # type: ignore[operator]


def serve_uvicorn_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _asgi_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        backlog=4096,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument(
        "--upstream",
        choices=["uvicorn", "python", "nginx"],
        default="uvicorn",
        help="uvicorn: a trivial ASGI app (what Gradio/Streamlit serve on); "
        "python: raw uvloop+httptools; nginx: a static answer",
    )
    parser.add_argument("--serve-proxy", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-uvicorn", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(*args.serve_proxy)
        return 0
    if args.serve_upstream:
        serve_python_upstream(args.serve_upstream)
        return 0
    if args.serve_uvicorn:
        serve_uvicorn_upstream(args.serve_uvicorn)
        return 0
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"bench: {tool} is missing: apt-get install wrk nginx-light", file=sys.stderr)
            return 2
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    procs: list[subprocess.Popen[bytes]] = []
    up, ours, ref = free_port(), free_port(), free_port()
    try:
        if args.upstream == "nginx":
            (tmp / "upstream.conf").write_text(NGINX_UPSTREAM.format(tmp=tmp, port=up))
            procs.append(
                subprocess.Popen(
                    [nginx, "-c", str(tmp / "upstream.conf"), "-e", str(tmp / "upstream-error.log")]
                )
            )
        else:
            mode = "--serve-upstream" if args.upstream == "python" else "--serve-uvicorn"
            procs.append(subprocess.Popen([sys.executable, __file__, mode, str(up)]))
        (tmp / "proxy.conf").write_text(NGINX_PROXY.format(tmp=tmp, port=ref, upstream=up))
        procs.append(
            subprocess.Popen(
                [nginx, "-c", str(tmp / "proxy.conf"), "-e", str(tmp / "proxy-error.log")]
            )
        )
        procs.append(
            subprocess.Popen([sys.executable, __file__, "--serve-proxy", str(ours), str(up)])
        )
        for port in (up, ours, ref):
            wait_port(port)
        for port in (up, ours, ref):
            wrk(port, 8, 1)  # warm up: connections, pools, caches

        print(
            f"upstream: {args.upstream}; wrk -t1, {args.duration}s per run; {os.cpu_count()} CPUs"
        )
        print(f"{'':>22} {'c':>3} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'of direct':>10}")
        for connections in (1, 64):
            direct = wrk(up, connections, args.duration)
            rows = [
                ("direct", direct),
                ("spacerunner proxy", wrk(ours, connections, args.duration)),
                ("nginx (reference)", wrk(ref, connections, args.duration)),
            ]
            for name, result in rows:
                ratio = result.rps / direct.rps
                print(
                    f"{name:>22} {connections:>3} {result.rps:>10.0f} {result.p50_ms:>8.3f} "
                    f"{result.p99_ms:>8.3f} {ratio:>10.2f}"
                    + (f"  ({result.errors} errors)" if result.errors else "")
                )
            ours_result = rows[1][1]
            if connections == 1:
                print(
                    f"{'':>22} added p50 latency at c=1: "
                    f"{ours_result.p50_ms - direct.p50_ms:.3f} ms (target < 0.5 ms)"
                )
            else:
                print(
                    f"{'':>22} spacerunner keeps {ours_result.rps / direct.rps:.2f} of direct "
                    f"at c=64 (target >= 0.5); nginx keeps {rows[2][1].rps / direct.rps:.2f}"
                )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
