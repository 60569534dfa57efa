"""`spacerunner serve`: waking a sleeping Gradio Space vs `python app.py`, and server memory.

    python bench/serve.py [--runs 3]

1. Time to first byte: `python app.py` from spawn to its first answered request (the baseline),
   against a request to a sleeping Space through `spacerunner serve` (wake, start, answer),
   isolated (the default) and with `--isolation none`, in the same run, alternating.
2. First visit to a Space just registered with an empty environment cache: the server builds its
   environment when it registers the Space (in the background); the first request, once that
   build is done, against `python app.py`; and the first request sent at once, while the build
   runs (what every first visit waited for when environments were built on it).
3. Resident memory of the server process with 1 and with 50 registered (sleeping) Spaces.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from spacerunner.launch.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
GRADIO_SPACE = ROOT / "spaces" / "hello-gradio"
TOKEN = "bench-token"


def first_byte(url: str, timeout: float = 120) -> float:
    """Seconds until ``url`` answers 200 (retrying while nothing listens)."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                response.read(1)
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.02)
    raise RuntimeError(f"{url} never answered")


def baseline(python: str) -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, "app.py"],
        cwd=GRADIO_SPACE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_byte(f"http://127.0.0.1:{port}/gradio_api/info")
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def start_server(
    dirs: list[Path], port: int, state: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spacerunner",
            "serve",
            *map(str, dirs),
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--no-watch",
            "--state-dir",
            str(state),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    first_byte(f"http://127.0.0.1:{port}/api/spaces")
    return proc


def built(port: int, name: str, timeout: float = 600) -> float:
    """Wait until the Space's build at registration is done; returns how long that took."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/spaces/{name}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        facts = json.loads(urllib.request.urlopen(request, timeout=10).read())
        build = facts.get("build") or {}
        if build.get("state") == "done" and facts["state"] == "sleeping":
            return time.perf_counter() - start
        if build.get("state") == "failed" or facts["state"] == "error":
            raise RuntimeError(f"the build failed: {facts['reason'] or build.get('error')}")
        time.sleep(0.05)
    raise RuntimeError("the build did not end")


def first_visits(tmp: Path, runs: int) -> tuple[list[float], list[float], list[float]]:
    """(build at registration, first visit after it, first visit during it), each with an
    empty spacerunner cache (uv's package cache stays warm, as on a server that built before)."""
    builds, after, during = [], [], []
    url = "/spaces/hello-gradio/gradio_api/info"
    for i in range(runs):
        for ahead in (True, False):
            port = free_port()
            cache = {"SPACERUNNER_CACHE_DIR": str(tmp / f"cache-{i}-{ahead}")}
            server = start_server([GRADIO_SPACE], port, tmp / f"state-fv-{i}-{ahead}", env=cache)
            try:
                if ahead:
                    builds.append(built(port, "hello-gradio"))
                    after.append(first_byte(f"http://127.0.0.1:{port}{url}", timeout=600))
                else:
                    during.append(first_byte(f"http://127.0.0.1:{port}{url}", timeout=600))
            finally:
                server.terminate()
                server.wait(30)
    return builds, after, during


def post(url: str) -> None:
    request = urllib.request.Request(
        url, method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    urllib.request.urlopen(request, timeout=60).read()


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        port, plain_port = free_port(), free_port()
        server = start_server([GRADIO_SPACE], port, tmp / "state")
        plain = start_server([GRADIO_SPACE], plain_port, tmp / "state-plain", "--isolation", "none")
        direct, woken, unisolated = [], [], []

        def wake(at: int) -> float:
            post(f"http://127.0.0.1:{at}/api/spaces/hello-gradio/sleep")
            return first_byte(f"http://127.0.0.1:{at}/spaces/hello-gradio/gradio_api/info")

        try:
            wake(port), wake(plain_port)  # both environments built before timing
            for _ in range(args.runs):
                direct.append(baseline(sys.executable))
                woken.append(wake(port))
                unisolated.append(wake(plain_port))
            one_space_rss = rss_mib(server.pid)
        finally:
            for proc in (server, plain):
                proc.terminate()
                proc.wait(30)
        d, w, u = (statistics.median(x) for x in (direct, woken, unisolated))

        def runs(values: list[float]) -> str:
            return ", ".join(f"{x:.2f}" for x in values)

        print(f"time to first byte, median of {args.runs} (Gradio hello-gradio):")
        print(f"  python app.py             {d:6.2f} s   {runs(direct)}")
        print(f"  wake through serve        {w:6.2f} s   {runs(woken)}  (isolated, the default)")
        print(f"  wake, --isolation none    {u:6.2f} s   {runs(unisolated)}")
        print(f"  ratio wake / direct       {w / d:6.2f}   (added {w - d:+.2f} s)")
        print(f"  isolation adds            {w - u:+6.2f} s   (ratio {w / u:.2f})")

        builds, after, during = first_visits(tmp, args.runs)
        b, a, g = (statistics.median(x) for x in (builds, after, during))
        print(f"first visit to a Space just registered, empty cache, median of {args.runs}:")
        print(f"  build at registration     {b:6.2f} s   {runs(builds)}  (in the background)")
        print(f"  first visit after it      {a:6.2f} s   {runs(after)}")
        print(f"  first visit during it     {g:6.2f} s   {runs(during)}  (the old first visit)")
        print(f"  ratio after / python app.py {a / d:4.2f}")

        many = tmp / "many"
        for i in range(50):
            space = many / f"space-{i:02d}"
            space.mkdir(parents=True)
            shutil.copy(GRADIO_SPACE / "README.md", space / "README.md")
            shutil.copy(GRADIO_SPACE / "app.py", space / "app.py")
        port = free_port()
        server = start_server([many], port, tmp / "state-many")
        try:
            time.sleep(1)
            fifty = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
        print("server memory (RSS of the spacerunner process):")
        print(f"  1 Space (after the runs)  {one_space_rss:6.1f} MiB")
        print(f"  50 sleeping Spaces        {fifty:6.1f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
