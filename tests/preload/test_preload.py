"""Preloaded starts against fresh ones, on real sandboxes: what the app sees, how it ends
(a crash, a signal, an OOM kill, a stop), and the ways back to a fresh interpreter (a Space that
opts out, an app that fails only when forked). The preloader imports Gradio from the test's
own environment; the probe app never imports it, so a fresh start has no Gradio module."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil
import pytest
from helpers import SPACES, needs_full_isolation

from spacerunner.backends.base import State, Upstream
from spacerunner.backends.local import LocalBackend, LocalProcess
from spacerunner.config import load_space
from spacerunner.launch import LaunchOptions, build_plan
from spacerunner.launch.plan import ProcessPlan
from spacerunner.limits.model import Limits
from spacerunner.limits.sandbox import UID_BASE, Isolation
from spacerunner.netns import connect
from spacerunner.preload.preloader import Preloader, PreloadError

pytestmark = [pytest.mark.slow, needs_full_isolation]  # preloading is for isolated apps

LIMITS = Limits(memory=256 * 2**20, cpus=2, disk=None, pids=512, nofile=4096)
SESSION_VARIES = {"SPACE_ID", "SPACE_REPO_NAME", "SPACE_TITLE"}


def probe_plan(tmp_path: Path, name: str = "probe", **variables: str) -> ProcessPlan:
    space = tmp_path / name
    shutil.copytree(SPACES / "preload-probe", space)
    plan = build_plan(
        load_space(space),
        LaunchOptions(
            python=sys.executable,
            isolation=Isolation.FULL,
            limits=LIMITS,
            variables=variables,
        ),
    )
    assert isinstance(plan, ProcessPlan)
    return plan


async def get(instance: LocalProcess, path: str = "/") -> dict[str, object]:
    endpoint = instance.endpoint
    assert isinstance(endpoint, Upstream) and endpoint.netns is not None
    sock = await connect(endpoint.netns, endpoint.host, endpoint.port)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: probe\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return json.loads(raw.partition(b"\r\n\r\n")[2])


async def preloader_ready(backend: LocalBackend, count: int = 1) -> None:
    for _ in range(1200):
        if len(backend.helpers()) >= count:
            return
        await asyncio.sleep(0.1)
    logs = "\n".join(p.read_text() for p in backend.log_dir.glob("preload-*.log"))
    raise AssertionError(f"no preloader became ready:\n{logs}")


@asynccontextmanager
async def backend_for(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(
        tmp_path / "logs", scratch_root=tmp_path / "scratch", state_dir=tmp_path, preload=True
    )
    try:
        yield backend
    finally:
        await backend.close()


async def start(backend: LocalBackend, plan: ProcessPlan) -> LocalProcess:
    await backend.prepare(plan, lambda data: None)  # as serve does when it registers a Space
    instance = await backend.start(plan)
    assert isinstance(instance, LocalProcess)
    await instance.wait_ready(120)
    return instance


def test_a_preloaded_app_sees_what_a_fresh_one_sees(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = probe_plan(tmp_path, SECRET_TOKEN="s3cret")
        async with backend_for(tmp_path) as backend:
            fresh = await start(backend, plan)
            assert fresh.preloaded is None
            seen_fresh = await get(fresh)
            fresh_host_uids = psutil.Process(fresh.status().pid).uids()
            await fresh.stop()
            await preloader_ready(backend)
            warm = await start(backend, plan)
            assert warm.preloaded is not None
            seen_warm = await get(warm)
            warm_pid = warm.status().pid
            assert warm_pid == warm.preloaded.pid
            warm_host_uids = psutil.Process(warm_pid).uids()
            await warm.stop()
            # what the app imported is learned, and imported by the preloader a batch later
            learned = json.loads(next((tmp_path / "preload").glob("*.json")).read_text())
            assert "poplib" in learned["learned"]
        assert (seen_fresh["preloaded"], seen_warm["preloaded"]) == (False, True)
        for key in ("name", "file", "main_spec", "argv", "orig_argv_tail", "path0", "cwd",
                    "ids", "env", "hostname", "httpx", "own_modules", "threads", "cap_eff",
                    "cap_bnd", "no_new_privs", "cgroup", "stdin", "dont_write_bytecode",
                    "nofile"):  # fmt: skip
            assert seen_warm[key] == seen_fresh[key], key
        assert seen_warm["env"]["SECRET_TOKEN"] == "s3cret"  # type: ignore[index]
        assert seen_warm["httpx"] == "the Space's own httpx.py"
        assert seen_warm["ids"] == [1000, 1000, 1000, 1000, []]
        assert seen_warm["cap_eff"] == "0000000000000000"
        assert seen_warm["no_new_privs"] == "1"
        # alone in its PID namespace with its sandbox's init; a preloaded app also sees its
        # seat (the one difference it can see there)
        assert len(seen_fresh["pids"]) == 2  # type: ignore[arg-type]
        assert len(seen_warm["pids"]) == 3  # type: ignore[arg-type]
        assert warm_host_uids == fresh_host_uids
        assert fresh_host_uids.real >= 200_000

    asyncio.run(scenario())


def test_preloaded_apps_end_as_fresh_ones_do(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = probe_plan(tmp_path)
        async with backend_for(tmp_path) as backend:
            await (await start(backend, plan)).stop()
            await preloader_ready(backend)

            crashed = await start(backend, plan)
            assert crashed.preloaded is not None
            with pytest.raises((OSError, ValueError)):
                await get(crashed, "/exit/3")
            status = await asyncio.wait_for(crashed.wait(), 30)
            assert (status.state, status.returncode) == (State.EXITED, 3)
            assert status.reason == "exited with code 3"

            killed = await start(backend, plan)
            assert killed.preloaded is not None
            os.kill(killed.preloaded.pid, 9)
            status = await asyncio.wait_for(killed.wait(), 30)
            assert (status.state, status.returncode) == (State.EXITED, -9)

            hungry = await start(backend, plan)
            assert hungry.preloaded is not None
            with pytest.raises((OSError, ValueError)):
                await get(hungry, "/alloc/512")
            status = await asyncio.wait_for(hungry.wait(), 30)
            assert status.limit_exceeded == "Memory limit exceeded (256.0M)", status

            stopped = await start(backend, plan)
            assert stopped.preloaded is not None
            app = stopped.preloaded.pid
            status = await stopped.stop(grace=5)
            assert (status.state, status.reason) == (State.STOPPED, "stopped by spacerunner")
            assert not psutil.pid_exists(app) or psutil.Process(app).status() == "zombie"
            log = stopped.log.path.read_text()
            assert "preload: forked from preloader" in log
            assert "probe: preloaded" in log  # the app's own output reaches its log

    asyncio.run(scenario())


def test_a_space_that_opts_out_starts_fresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with backend_for(tmp_path) as backend:
            await (await start(backend, probe_plan(tmp_path, "first"))).stop()
            await preloader_ready(backend)
            plan = probe_plan(tmp_path, "opted-out", SPACERUNNER_PRELOAD="0")
            instance = await start(backend, plan)
            assert instance.preloaded is None
            assert (await get(instance))["preloaded"] is False
            await instance.stop()
            assert "the Space opts out (SPACERUNNER_PRELOAD=0)" in instance.log.path.read_text()

    asyncio.run(scenario())


def test_an_app_that_fails_only_when_forked_starts_again_fresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with backend_for(tmp_path) as backend:
            plan = probe_plan(tmp_path, "fragile", PROBE_FAIL_WHEN_PRELOADED="1")
            await backend.prepare(plan, lambda data: None)  # registered with the first
            await (await start(backend, probe_plan(tmp_path, "first"))).stop()
            await preloader_ready(backend)
            instance = await start(backend, plan)  # ready: the fresh start served
            seen = await get(instance)
            assert seen["preloaded"] is False
            log = instance.log.path.read_text()
            assert "a library that cannot be used after fork (simulated)" in log
            assert "before it served; the app runs again in a fresh interpreter" in log
            await instance.stop()
            again = await start(backend, plan)
            assert again.preloaded is None  # from now on it starts fresh, and says why
            await again.stop()
            assert "its preloaded start failed before it served" in again.log.path.read_text()

    asyncio.run(scenario())


def memory_holds(pid: int, needle: bytes) -> bool:
    """Whether any readable memory of process ``pid`` holds ``needle`` (read as root)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r") or line.rstrip().endswith("[vvar]"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except OSError:
                continue
    return False


def environ_holds(pid: int, needle: bytes) -> bool:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return needle in handle.read()


def test_nothing_of_a_space_reaches_the_preloader(tmp_path: Path) -> None:
    secret = f"s3cret-{os.getpid()}-{id(tmp_path)}"

    async def scenario() -> None:
        async with backend_for(tmp_path) as backend:
            secretive = probe_plan(tmp_path, "secretive", SECRET_TOKEN=secret)
            other = probe_plan(tmp_path, "other")
            await backend.prepare(other, lambda data: None)
            await (await start(backend, secretive)).stop()  # its environment made the preloader
            await preloader_ready(backend)
            warm = await start(backend, secretive)  # forked, given its secret
            assert warm.preloaded is not None
            assert (await get(warm))["env"]["SECRET_TOKEN"] == secret  # type: ignore[index]
            preloader = int(backend.helpers()[0]["pid"])  # type: ignore[call-overload]
            neighbour = await start(backend, other)  # forked after it
            assert neighbour.preloaded is not None
            needle = secret.encode()
            assert memory_holds(warm.preloaded.pid, needle)  # the search finds what is there
            assert not memory_holds(preloader, needle)
            assert not memory_holds(neighbour.preloaded.pid, needle)
            assert not environ_holds(preloader, needle)
            await warm.stop()
            await neighbour.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("module", "refusal"),
    [
        (
            "import threading, time\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
            "started Python threads (2)",
        ),
        ("import asyncio\nasyncio.set_event_loop(asyncio.new_event_loop())\n", "event loop"),
    ],
    ids=["thread", "event-loop"],
)
def test_a_preloader_whose_imports_cannot_be_forked_is_refused(
    tmp_path: Path, module: str, refusal: str
) -> None:
    """A real preloader importing a module that leaves a thread or an event loop behind: a
    fork would not be what a fresh interpreter is, so it is not used."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "unforkable.py").write_text(module)
    os.chmod(tmp_path, 0o755)  # the preloader's own uid reads the environment

    async def scenario() -> None:
        preloader = Preloader(
            python=str(venv / "bin" / "python"), modules=("json", "unforkable"), env={},
            uid=UID_BASE - 1, space_uids=frozenset(), log_path=tmp_path / "preload.log",
        )  # fmt: skip
        with pytest.raises(PreloadError, match=re.escape(refusal)):
            await preloader.start()
        assert not preloader.alive

    asyncio.run(scenario())
