"""The Docker backend: start time and throughput of a container behind spacerunner, against the
same image run by `docker run` in the same run.

    DOCKER_HOST=unix:///path/docker.sock python bench/containers.py [--runs 3] [--duration 5]

Needs an engine with `python:3.11-slim` (tests/docker_support.py makes both on a machine with no
registry) and wrk. The Space is tests/spaces/docker-http (a standard-library HTTP server).

1. Time to first answer, image cached: `spacerunner run --backend docker` (through its proxy)
   against `docker run --network host` of the same image polled directly (the baseline).
2. Requests per second with wrk (c=16): through spacerunner's proxy to the container (with
   --bridge=none, through the relay in the container's network namespace) against the same app
   hit directly on the host network.
"""

from __future__ import annotations

import argparse
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

import docker
from proxy import wrk

from spacerunner.launch.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "tests" / "spaces" / "docker-http"


def first_answer(url: str, timeout: float = 120) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200 and b"space_id" in response.read():
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} never answered")


def spacerunner_run(space: Path, port: int, state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spacerunner",
            "run",
            str(space),
            "--port",
            str(port),
            "--backend",
            "docker",
            "--quiet",
        ],
        env={**os.environ, "SPACERUNNER_STATE_DIR": str(state)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DOCKER_HOST") or shutil.which("wrk") is None:
        print("set DOCKER_HOST to an engine with python:3.11-slim, and install wrk")
        return 2
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "bench-http"
        shutil.copytree(SPACE, space)
        state = Path(tmp) / "state"
        port = free_port()
        proc = spacerunner_run(space, port, state)  # builds the image once
        first_answer(f"http://127.0.0.1:{port}/", timeout=600)
        stop(proc)
        (image,) = client.images.list(filters={"label": "spacerunner.space=bench-http"})
        ours, theirs = [], []
        for _ in range(args.runs):
            port = free_port()
            proc = spacerunner_run(space, port, state)
            ours.append(first_answer(f"http://127.0.0.1:{port}/"))
            stop(proc)
            began = time.perf_counter()
            container = client.containers.run(
                image.id, network_mode="host", detach=True, environment={"PORT": "8080"}
            )
            try:
                first_answer("http://127.0.0.1:8080/")
                theirs.append(time.perf_counter() - began)
            finally:
                container.remove(force=True)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"start, image cached (median of {args.runs}): spacerunner {a:.2f} s, "
              f"docker run {b:.2f} s, ratio {a / b:.2f}")  # fmt: skip

        port = free_port()
        proc = spacerunner_run(space, port, state)
        first_answer(f"http://127.0.0.1:{port}/")
        through = wrk(port, 16, args.duration)
        stop(proc)
        container = client.containers.run(image.id, network_mode="host", detach=True)
        try:
            first_answer("http://127.0.0.1:8080/")
            direct = wrk(8080, 16, args.duration)
        finally:
            container.remove(force=True)
        print(f"wrk c=16: direct {direct.rps:,.0f} req/s (p50 {direct.p50_ms:.2f} ms), through "
              f"spacerunner {through.rps:,.0f} req/s (p50 {through.p50_ms:.2f} ms), "
              f"ratio {through.rps / direct.rps:.2f}")  # fmt: skip
        image.reload()
        client.images.remove(image.id, force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
