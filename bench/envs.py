"""Environment builds: spacerunner (uv, cached) vs `python -m venv && pip install gradio`.

    python bench/envs.py [--runs 2]

For spaces/hello-gradio (gradio at its sdk_version, Python from its header), in one run:
- a cold build into an empty spacerunner cache, with uv's package cache warm;
- a warm start: the same Space again from a new builder (a cache hit, interpreter lookup included);
- the baseline: `python -m venv` then `pip install gradio==<sdk_version>` with the same Python;
- the app's start from the new environment, first (it writes its bytecode) and later.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from spacerunner.config import load_space
from spacerunner.envs import EnvBuilder, interpreters, spec_for
from spacerunner.envs.builder import RUN_ENV
from spacerunner.launch.ports import free_port

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "hello-gradio"


def timed_ensure(cache: Path) -> tuple[float, bool]:
    interpreters.installed.cache_clear()  # a new process would look the interpreters up again
    spec = spec_for(load_space(SPACE))
    start = time.perf_counter()
    env = asyncio.run(EnvBuilder(cache).ensure(spec))
    return time.perf_counter() - start, env.reused


def baseline(python: str, requirement: str, where: Path) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    subprocess.run(
        [str(where / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", requirement],
        check=True,
    )
    return time.perf_counter() - start


def app_start(python: str) -> float:
    """Seconds from spawning the Space's app to its first answer (as spacerunner runs it)."""
    port = free_port()
    env = {**os.environ, **RUN_ENV, "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen([python, "app.py"], cwd=SPACE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=30)
                return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    spec = spec_for(load_space(SPACE))
    python = EnvBuilder(Path(tempfile.gettempdir())).choose_python(spec).interpreter
    tmp = Path(tempfile.mkdtemp(prefix="bench-envs-"))
    try:
        timed_ensure(tmp / "warm-uv-cache")  # so that uv's package cache holds every wheel
        cold, warm, pip = [], [], []
        for run in range(args.runs):
            seconds, reused = timed_ensure(tmp / f"cache-{run}")
            assert not reused
            cold.append(seconds)
            seconds, reused = timed_ensure(tmp / f"cache-{run}")
            assert reused
            warm.append(seconds)
            pip.append(baseline(python.path, str(spec.sdk_requirement), tmp / f"venv-{run}"))
        env_python = str(next((tmp / "cache-0" / "envs").glob("*/bin/python")))
        first = app_start(env_python)  # writes the bytecode of what it imports
        later = statistics.median(app_start(env_python) for _ in range(2))
        c, w, p = (statistics.median(x) for x in (cold, warm, pip))

        def runs(values: list[float]) -> str:
            return ", ".join(f"{x:.3f}" for x in values)

        print(f"{spec.sdk_requirement} on Python {python.dotted}, median of {args.runs}:")
        print(f"  venv + pip install        {p:7.3f} s   {runs(pip)}")
        print(
            f"  spacerunner cold build    {c:7.3f} s   {runs(cold)}   "
            f"({p / c:.1f}x faster than venv + pip; target >= 5x)"
        )
        print(f"  spacerunner warm start    {w:7.3f} s   {runs(warm)}   (target < 1 s)")
        print(
            f"  app start, first          {first:7.3f} s   (in a new environment: writes "
            "its bytecode)"
        )
        print(f"  app start, later          {later:7.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
