"""`spacerunner serve`: waking a sleeping Space vs starting it directly, and memory.

    python bench/serve.py [--runs 3] [--only wake,streamlit,memory,first,server]

1. wake: time to first byte: `python app.py` (hello-gradio) from spawn to its first answered
   request (the baseline), against a request to the same Space asleep in `spacerunner serve`
   (wake, start, answer): isolated and preloaded (the default), isolated with `--no-preload`,
   and with `--isolation none`, in the same run, alternating.
2. streamlit: time to a rendered session of random-walks (its WebSocket session has run the
   script: `script_finished`): `streamlit run app.py` from spawn, against a session opened on
   the Space asleep in serve, preloaded and with `--no-preload`.
3. memory: ten copies of hello-gradio running at once under one server, preloaded and with
   `--no-preload`: the proportional memory (PSS) of every process the server started, summed
   (apps, sandboxes, the preloader and its children).
4. first: first visit to a Space just registered with an empty environment cache: the server
   builds its environment when it registers the Space (in the background); the first request,
   once that build is done, against `python app.py`; and the first request sent at once, while
   the build runs (what every first visit waited for when environments were built on it).
5. server: resident memory of the server process with 1 and with 50 registered (sleeping)
   Spaces.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from spacerunner.launch.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
GRADIO_SPACE = ROOT / "spaces" / "hello-gradio"
STREAMLIT_SPACE = ROOT / "spaces" / "random-walks"
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


def timed_start(
    argv: list[str], cwd: Path, ready: Callable[[], object], env: dict[str, str] | None = None
) -> float:
    """Seconds from spawning ``argv`` until ``ready()`` returns (then the process is ended)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        ready()
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def baseline(python: str) -> float:
    """``python app.py`` of hello-gradio to its first answer."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/gradio_api/info"
    return timed_start([python, "app.py"], GRADIO_SPACE, lambda: first_byte(url), env)


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


PARTS = ("wake", "streamlit", "memory", "first", "server")


def wake_url(at: int, name: str, path: str) -> float:
    post(f"http://127.0.0.1:{at}/api/spaces/{name}/sleep")
    return first_byte(f"http://127.0.0.1:{at}/spaces/{name}{path}")


def settle(wake: Callable[[], object]) -> None:
    """Wake three times, 8 s apart: the first start makes the preloader, the next teach it
    what the app imports (it imports them a few seconds after)."""
    for _ in range(3):
        wake()
        time.sleep(8)


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


@contextlib.contextmanager
def serving(
    tmp: Path, dirs: list[Path], variants: dict[str, tuple[str, ...]]
) -> Iterator[dict[str, Server]]:
    """One server of ``dirs`` per variant (its extra arguments); yields them by variant and
    stops them all at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    servers: dict[str, Server] = {}
    try:
        for name, extra in variants.items():
            port = free_port()
            state = tmp / f"state-{dirs[0].name}-{name.replace(' ', '-')}"
            procs.append(start_server(dirs, port, state, *extra))
            servers[name] = Server(port, procs[-1].pid)
        yield servers
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)


def copies(folder: Path, count: int) -> list[str]:
    """``count`` copies of hello-gradio in ``folder``; their names."""
    names = [f"space-{i:02d}" for i in range(count)]
    for name in names:
        (folder / name).mkdir(parents=True)
        for file in ("README.md", "app.py"):
            shutil.copy(GRADIO_SPACE / file, folder / name / file)
    return names


def report(title: str, direct: str, times: dict[str, list[float]]) -> None:
    """Medians of each way's times against the first (the baseline), with their ratios."""
    base, *ways = times
    d = statistics.median(times[base])
    print(title)
    print(f"  {direct:<29} {d:6.2f} s   {runs(times[base])}")
    for name in ways:
        m = statistics.median(times[name])
        print(f"  wake, {name:<23} {m:6.2f} s   {runs(times[name])}   ratio {m / d:.2f}")


def session_seconds(url: str, timeout: float = 120) -> float:
    """Seconds until a Streamlit session at ``url`` (its WebSocket) has run the script once
    (retrying while nothing answers)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with connect(url, subprotocols=["streamlit"], open_timeout=timeout) as ws:
                ws.send(rerun.SerializeToString())
                while True:
                    message = ForwardMsg()
                    message.ParseFromString(ws.recv(timeout=timeout))
                    if message.WhichOneof("type") == "script_finished":
                        return time.perf_counter() - start
        except (OSError, EOFError):
            time.sleep(0.02)
    raise RuntimeError(f"{url}: no session")


def streamlit_baseline() -> float:
    """``streamlit run app.py`` of random-walks to a rendered session."""
    port = free_port()
    argv = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    return timed_start(argv, STREAMLIT_SPACE, lambda: session_seconds(url))


def pss_of_tree(pid: int) -> float:
    """MiB of proportional memory of every descendant of ``pid``."""
    total = 0
    for proc in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss
    return total / 2**20


def runs(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


PRELOAD_VARIANTS = {"preloaded": (), "no-preload": ("--no-preload",)}


def bench_wake(tmp: Path, count: int) -> None:
    path = "/gradio_api/info"
    variants = {**PRELOAD_VARIANTS, "isolation none": ("--isolation", "none")}
    times: dict[str, list[float]] = {name: [] for name in ("direct", *variants)}
    with serving(tmp, [GRADIO_SPACE], variants) as servers:
        settle(lambda: wake_url(servers["preloaded"].port, "hello-gradio", path))
        for name in ("no-preload", "isolation none"):
            wake_url(servers[name].port, "hello-gradio", path)  # environments built
        for _ in range(count):
            times["direct"].append(baseline(sys.executable))
            for name in variants:
                times[name].append(wake_url(servers[name].port, "hello-gradio", path))
    report(f"time to first byte, median of {count} (Gradio hello-gradio):", "python app.py", times)


def bench_streamlit(tmp: Path, count: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in ("direct", *PRELOAD_VARIANTS)}
    with serving(tmp, [STREAMLIT_SPACE], PRELOAD_VARIANTS) as servers:

        def wake(name: str) -> float:
            at = servers[name].port
            post(f"http://127.0.0.1:{at}/api/spaces/random-walks/sleep")
            return session_seconds(f"ws://127.0.0.1:{at}/spaces/random-walks/_stcore/stream")

        settle(lambda: wake("preloaded"))
        wake("no-preload")
        for _ in range(count):
            times["direct"].append(streamlit_baseline())
            for name in PRELOAD_VARIANTS:
                times[name].append(wake(name))
    report(
        f"time to a rendered session, median of {count} (Streamlit random-walks):",
        "streamlit run app.py",
        times,
    )


def bench_memory(tmp: Path, spaces: int = 10) -> None:
    names = copies(tmp / "ten", spaces)
    path = "/gradio_api/info"
    found = {}
    for name, extra in PRELOAD_VARIANTS.items():
        with serving(tmp, [tmp / "ten"], {name: extra}) as servers:
            server = servers[name]
            if name == "preloaded":
                settle(lambda: wake_url(server.port, names[0], path))  # noqa: B023 - called now
            for space in names:
                wake_url(server.port, space, path)
            time.sleep(5)
            found[name] = pss_of_tree(server.pid)
    pre, fresh = found["preloaded"], found["no-preload"]
    print(f"{spaces} running hello-gradio Spaces, PSS of everything the server started:")
    print(f"  preloaded                {pre:8.1f} MiB")
    print(f"  --no-preload             {fresh:8.1f} MiB")
    print(f"  ratio                    {pre / fresh:8.2f}")


def bench_first(tmp: Path, count: int) -> None:
    direct = [baseline(sys.executable) for _ in range(count)]
    d = statistics.median(direct)
    builds, after, during = first_visits(tmp, count)
    b, a, g = (statistics.median(x) for x in (builds, after, during))
    print(f"first visit to a Space just registered, empty cache, median of {count}:")
    print(f"  python app.py             {d:6.2f} s   {runs(direct)}")
    print(f"  build at registration     {b:6.2f} s   {runs(builds)}  (in the background)")
    print(f"  first visit after it      {a:6.2f} s   {runs(after)}")
    print(f"  first visit during it     {g:6.2f} s   {runs(during)}  (the old first visit)")
    print(f"  ratio after / python app.py {a / d:4.2f}")


def bench_server(tmp: Path) -> None:
    with serving(tmp, [GRADIO_SPACE], {"one": ()}) as servers:
        wake_url(servers["one"].port, "hello-gradio", "/gradio_api/info")
        one_space_rss = rss_mib(servers["one"].pid)
    copies(tmp / "many", 50)
    with serving(tmp, [tmp / "many"], {"fifty": ()}) as servers:
        time.sleep(1)
        fifty = rss_mib(servers["fifty"].pid)
    print("server memory (RSS of the spacerunner process):")
    print(f"  1 Space (after a wake)    {one_space_rss:6.1f} MiB")
    print(f"  50 sleeping Spaces        {fifty:6.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS), help="which parts, comma-separated")
    args = parser.parse_args()
    parts = [part for part in args.only.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; the parts are {', '.join(PARTS)}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        if "wake" in parts:
            bench_wake(tmp, args.runs)
        if "streamlit" in parts:
            bench_streamlit(tmp, args.runs)
        if "memory" in parts:
            bench_memory(tmp)
        if "first" in parts:
            bench_first(tmp, args.runs)
        if "server" in parts:
            bench_server(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
