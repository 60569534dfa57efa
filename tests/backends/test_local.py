"""The local backend on real processes: readiness, crashes, timeouts, whole-tree stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from helpers import SPACES

from spacerunner.backends.base import State, Upstream
from spacerunner.backends.local import LocalBackend, LocalProcess
from spacerunner.config import load_space
from spacerunner.errors import AppExitedError, StartupTimeoutError
from spacerunner.launch import LaunchOptions, build_plan


def run(coro):
    return asyncio.run(coro)


def fetch(instance: LocalProcess, path: str = "/") -> dict:
    assert isinstance(instance.endpoint, Upstream)
    url = f"http://{instance.endpoint.host}:{instance.endpoint.port}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_start_ready_env_and_stop(tmp_path: Path) -> None:
    async def main() -> None:
        backend = LocalBackend(tmp_path)
        plan = build_plan(
            load_space(SPACES / "http-app"), LaunchOptions(variables={"MY_SECRET": "s3cret"})
        )
        instance = await backend.start(plan)
        assert isinstance(instance, LocalProcess)
        assert instance.status().state is State.STARTING
        await instance.wait_ready(20)
        assert instance.status().state is State.RUNNING
        data = await asyncio.to_thread(fetch, instance, "/env")
        assert data["env"]["SYSTEM"] == "spaces"
        assert data["env"]["SPACE_ID"] == "local/http-app"
        assert data["env"]["GRADIO_SERVER_PORT"] == str(plan.port)
        assert data["env"]["MY_SECRET"] == "s3cret"
        assert data["cwd"] == str(SPACES / "http-app")
        status = await instance.stop(grace=5)
        assert status.state is State.STOPPED
        assert status.reason == "stopped by spacerunner"
        await backend.close()

    run(main())
    log = (tmp_path / "http-app.log").read_text()
    assert "listening on" in log
    assert "ready on 127.0.0.1" in log
    assert "s3cret" not in log


def test_crash_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    async def main() -> AppExitedError:
        backend = LocalBackend(tmp_path)
        instance = await backend.start(build_plan(load_space(SPACES / "crash-app")))
        with pytest.raises(AppExitedError) as info:
            await instance.wait_ready(20)
        status = instance.status()
        assert status.state is State.EXITED
        assert status.returncode == 1
        await backend.close()
        return info.value

    error = run(main())
    assert error.returncode == 1
    assert error.reason == "exited with code 1 while starting"
    text = str(error)
    assert "crash-app: exited with code 1 while starting" in text
    assert "loading the model..." in text
    assert "RuntimeError: model weights not found: /nowhere/model.bin" in text
    # the log stays readable after the crash
    log = (tmp_path / "crash-app.log").read_text()
    assert "RuntimeError: model weights not found" in log
    assert "[spacerunner] exited with code 1 while starting" in log


def test_crash_while_running(tmp_path: Path) -> None:
    async def main() -> None:
        backend = LocalBackend(tmp_path)
        instance = await backend.start(build_plan(load_space(SPACES / "http-app")))
        await instance.wait_ready(20)
        pid = instance.status().pid
        with pytest.raises(Exception):  # noqa: B017, PT011 - the app dies mid-request
            await asyncio.to_thread(fetch, instance, "/crash")
        status = await asyncio.wait_for(instance.wait(), 10)
        assert status.state is State.EXITED
        assert status.reason == "exited with code 3"
        assert backend.instances == frozenset()  # an ended app is let go (no growth)
        assert instance.log.tail(3)[-2:] == [
            "crashing on request",
            f"[spacerunner] exited with code 3 (pid {pid})",
        ]
        await backend.close()

    run(main())


def test_hanging_app_hits_the_startup_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        backend = LocalBackend(tmp_path)
        config = load_space(SPACES / "hang-app")
        assert config.startup_duration_timeout == 2
        instance = await backend.start(build_plan(config))
        started = time.monotonic()
        with pytest.raises(StartupTimeoutError) as info:
            await instance.wait_ready()
        assert 1.9 < time.monotonic() - started < 6
        assert "hang-app: not ready after 2s" in str(info.value)
        assert "thinking forever, never listening" in str(info.value)
        await instance.stop(grace=2)
        await backend.close()

    run(main())


def test_stop_kills_the_whole_tree(tmp_path: Path) -> None:
    """Children, and a grandchild that left the session, all end with the app."""

    async def main() -> list[int]:
        backend = LocalBackend(tmp_path, base_env={**os.environ, "CHILDREN": "2"})
        instance = await backend.start(build_plan(load_space(SPACES / "http-app")))
        await instance.wait_ready(20)
        pids = (await asyncio.to_thread(fetch, instance, "/env"))["children"]
        assert len(pids) == 4
        assert all(alive(pid) for pid in pids)
        await backend.close()
        return pids

    pids = run(main())
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)]


def test_app_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    space = tmp_path / "stubborn"
    space.mkdir()
    (space / "README.md").write_text("---\nsdk: gradio\n---\n")
    (space / "app.py").write_text(
        "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring TERM', flush=True)\nwhile True: time.sleep(1)\n"
    )

    async def main() -> None:
        backend = LocalBackend(tmp_path / "logs")
        instance = await backend.start(build_plan(load_space(space)))
        assert isinstance(instance, LocalProcess)
        async for line in instance.log.follow(history=5):
            if line == "ignoring TERM":
                break
        started = time.monotonic()
        status = await instance.stop(grace=0.5)
        assert 0.4 < time.monotonic() - started < 5
        assert status.state is State.STOPPED
        assert status.returncode == -signal.SIGKILL
        await backend.close()

    run(main())


def test_missing_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    from spacerunner.errors import BackendError

    async def main() -> None:
        backend = LocalBackend(tmp_path)
        plan = build_plan(load_space(SPACES / "http-app"), LaunchOptions(python="/no/python3"))
        with pytest.raises(BackendError, match="cannot start '/no/python3'"):
            await backend.start(plan)

    run(main())


def test_log_follow_gets_new_lines(tmp_path: Path) -> None:
    from spacerunner.backends.logs import AppLog

    async def main() -> list[str]:
        log = AppLog(tmp_path / "x.log")
        log.feed(b"one\ntw")
        got: list[str] = []

        async def reader() -> None:
            async for line in log.follow(history=5):
                got.append(line)

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)
        log.feed(b"o\nprogress 10%\rprogress 100%\n\xff\n")
        log.close()
        await asyncio.wait_for(task, 2)
        return got

    assert run(main()) == ["one", "two", "progress 100%", "\ufffd"]


def hard_coded_space(root: Path, name: str, port: int) -> Path:
    """An app that ignores GRADIO_SERVER_PORT and PORT, as many real Spaces do (7860)."""
    path = root / name
    path.mkdir(parents=True)
    (path / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
    server = (SPACES / "http-app" / "server.py").read_text()
    (path / "app.py").write_text(server.replace('int(os.environ["GRADIO_SERVER_PORT"])', str(port)))
    return path


def test_an_app_that_hard_codes_its_port_is_still_reached(tmp_path: Path) -> None:
    from spacerunner.launch.ports import free_port

    port = free_port()
    space = hard_coded_space(tmp_path, "stubborn-port", port)

    async def main() -> None:
        backend = LocalBackend(tmp_path / "logs")
        try:
            plan = build_plan(load_space(space))
            instance = await backend.start(plan)
            assert plan.port != port
            await instance.wait_ready(20)
            assert isinstance(instance.endpoint, Upstream)
            assert instance.endpoint.port == port
            assert (await asyncio.to_thread(fetch, instance, "/env"))["path"] == "/env"
            notes = "\n".join(instance.log.tail(20))
            assert f"the app listens on port {port}, not on {plan.port}" in notes
            # a second app hard-coding the same port cannot start: a clear crash, with why
            other = hard_coded_space(tmp_path, "same-port", port)
            second = await backend.start(build_plan(load_space(other)))
            with pytest.raises(AppExitedError) as info:
                await second.wait_ready(20)
            assert "exited with code 1 while starting" in str(info.value)
            assert "Address already in use" in str(info.value)
        finally:
            await backend.close()

    run(main())
