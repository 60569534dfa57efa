"""Real limits on real processes, with small numbers: memory, CPU, pids, disk, and the watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from helpers import SPACES

from spacerunner.backends.base import State, Upstream
from spacerunner.backends.local import LocalBackend, LocalProcess
from spacerunner.config import load_space
from spacerunner.launch import LaunchOptions, build_plan
from spacerunner.limits import DEFAULT_LIMITS, Limits, cgroups, limits_for
from spacerunner.limits.cgroups import detect
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.sandbox import Isolation
from spacerunner.proxy import ProxyServer, Route, Router

MiB = 2**20
STRESS = SPACES / "stress-app"
needs_cgroups = pytest.mark.skipif(detect() == "none", reason="no usable cgroup hierarchy here")


def get(instance: LocalProcess, path: str, timeout: float = 30) -> tuple[int, dict]:
    assert isinstance(instance.endpoint, Upstream)
    url = f"http://{instance.endpoint.host}:{instance.endpoint.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def start(
    backend: LocalBackend,
    limits: Limits | None,
    *,
    name: str = "stress",
    data_dir: Path | None = None,
) -> LocalProcess:
    config = replace(load_space(STRESS), path=STRESS)
    plan = build_plan(config, LaunchOptions(limits=limits, data_dir=data_dir))
    plan = replace(plan, name=name)
    instance = await backend.start(plan)
    assert isinstance(instance, LocalProcess)
    await instance.wait_ready(30)
    return instance


def with_backend(main, *args, **kwargs):
    """Run ``main(backend)``; the backend is closed (apps stopped, mounts and cgroups removed)
    whatever happens."""

    async def run():
        backend = LocalBackend(*args, **kwargs)
        try:
            return await main(backend)
        finally:
            await backend.close()

    return asyncio.run(run())


def small(**changes: object) -> Limits:
    return replace(
        Limits(memory=200 * MiB, cpus=None, disk=None, pids=None, nofile=None), **changes
    )  # type: ignore[arg-type]


def test_limits_values_and_presets() -> None:
    assert DEFAULT_LIMITS.memory == 16 * 2**30
    assert DEFAULT_LIMITS.cpus == 2
    assert DEFAULT_LIMITS.disk == 50 * 2**30
    assert limits_for("cpu-upgrade").cpus == 8
    assert limits_for("cpu-upgrade").memory == 32 * 2**30
    assert limits_for(None) == DEFAULT_LIMITS
    custom = DEFAULT_LIMITS.with_overrides(memory="512M", cpus="1.5", disk="none")
    assert (custom.memory, custom.cpus, custom.disk) == (512 * MiB, 1.5, None)
    with pytest.raises(ValueError, match=r"--memory 'lots': expected e\.g\. 16G"):
        DEFAULT_LIMITS.with_overrides(memory="lots")
    assert "memory 16.0G, cpus 2, disk 50.0G" in DEFAULT_LIMITS.describe()


@needs_cgroups
def test_memory_limit_kills_the_greedy_app_and_spares_the_other(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> None:
        greedy = await start(backend, small(), name="greedy")
        modest = await start(backend, small(), name="modest")
        assert "limit: memory 200.0M: enforced (cgroup v" in "\n".join(greedy.log.tail(20))
        code, _ = await asyncio.to_thread(get, modest, "/alloc?mb=100")
        assert code == 200
        with pytest.raises(Exception):  # noqa: B017, PT011 - the app is killed mid-request
            await asyncio.to_thread(get, greedy, "/alloc?mb=400")
        status = await asyncio.wait_for(greedy.wait(), 20)
        assert status.state is State.EXITED
        assert status.limit_exceeded == "Memory limit exceeded (200.0M)"
        assert status.reason == "Memory limit exceeded (200.0M): killed by SIGKILL"
        assert (await asyncio.to_thread(get, modest, "/"))[0] == 200  # still serving
        usage = modest.usage()
        assert usage is not None
        assert usage["memory_peak"] >= 100 * MiB

    with_backend(main, tmp_path / "logs")
    log = (tmp_path / "logs" / "greedy.log").read_text()
    assert "[spacerunner] Memory limit exceeded (200.0M): killed by SIGKILL" in log


@needs_cgroups
def test_cpu_quota_holds_four_spinners_to_one_cpu(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> float:
        app = await start(backend, small(memory=None, cpus=1.0))
        await asyncio.to_thread(get, app, "/spin?procs=4")
        await asyncio.sleep(1.0)  # let them all run
        first = app.usage()
        await asyncio.sleep(3.0)
        second = app.usage()
        assert first is not None and second is not None
        return (second["cpu_seconds"] - first["cpu_seconds"]) / 3.0

    rate = with_backend(main, tmp_path)
    assert 0.8 < rate < 1.15, f"{rate:.2f} CPU-seconds per second under a 1-CPU limit"


@needs_cgroups
def test_pids_limit_stops_a_fork_bomb(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> None:
        bomb = await start(backend, small(memory=None, pids=40), name="bomb")
        bystander = await start(backend, small(memory=None, pids=40), name="bystander")
        await asyncio.to_thread(get, bomb, "/fork?n=500")
        deadline = time.monotonic() + 10
        while "fork failed" not in "\n".join(bomb.log.tail(50)):
            assert time.monotonic() < deadline, "the fork bomb was never stopped"
            await asyncio.sleep(0.1)
        assert bomb.confinement.cgroup is not None
        assert len(bomb.confinement.cgroup.pids()) <= 40
        assert (await asyncio.to_thread(get, bystander, "/"))[0] == 200
        assert "fork failed: Resource temporarily unavailable" in "\n".join(bomb.log.tail(50))

    with_backend(main, tmp_path)


def test_disk_limit_and_persistent_data(tmp_path: Path) -> None:
    data = tmp_path / "data" / "stress"

    async def main(backend: LocalBackend) -> None:
        limits = small(memory=None, disk=50 * MiB)
        app = await start(backend, limits, data_dir=data)
        home = (await asyncio.to_thread(get, app, "/"))[1]["home"]
        assert home.startswith(str(tmp_path / "scratch"))
        await asyncio.to_thread(get, app, "/write?mb=1&where=home&name=ephemeral.bin")
        await asyncio.to_thread(get, app, "/write?mb=1&where=data&name=kept.bin")
        code, body = await asyncio.to_thread(get, app, "/write?mb=80&where=home")
        if app.confinement.scratch is not None and app.confinement.scratch.enforced:
            assert code == 507  # the write failed: the filesystem is full
            assert body["error"] == "No space left on device"
            assert body["written_mb"] < 50
            await app.stop(grace=2)
        else:  # not root here: the watchdog stops the app instead
            status = await asyncio.wait_for(app.wait(), 20)
            assert status.limit_exceeded == "Disk limit exceeded (50.0M)"
        assert not await asyncio.to_thread(Path(home).exists)  # ephemeral: wiped at stop
        again = await start(backend, limits, data_dir=data)
        files = (await asyncio.to_thread(get, again, "/files"))[1]
        assert files["data"] == ["kept.bin"]  # persistent: survives the restart
        assert "ephemeral.bin" not in files["home"]

    with_backend(main, tmp_path / "logs", scratch_root=tmp_path / "scratch")
    assert (data / "kept.bin").stat().st_size == MiB


def test_watchdog_fallback_for_memory(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> None:
        app = await start(backend, small(cpus=1.0))
        report = "\n".join(app.log.tail(20))
        assert "memory 200.0M: WATCHED ONLY, not enforced (forced by --limits watchdog)" in report
        assert "cpus 1: CPU affinity to 1 core(s) only, not a quota" in report
        with contextlib.suppress(OSError):  # it may answer before the watchdog looks
            await asyncio.to_thread(get, app, "/alloc?mb=400")
        status = await asyncio.wait_for(app.wait(), 20)
        assert status.limit_exceeded is not None
        assert status.limit_exceeded.startswith("Memory limit exceeded (200.0M; watched:")

    with_backend(main, tmp_path, limits_mode=LimitsMode.WATCHDOG)


def test_watchdog_fallback_for_disk(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> None:
        app = await start(backend, small(memory=None, disk=20 * MiB))
        report = "\n".join(app.log.tail(20))
        assert "disk 20.0M: WATCHED ONLY, not enforced" in report
        with contextlib.suppress(OSError):  # the write may finish before the watchdog looks
            await asyncio.to_thread(get, app, "/write?mb=200&where=home")
        status = await asyncio.wait_for(app.wait(), 30)
        assert status.limit_exceeded == "Disk limit exceeded (20.0M)"

    with_backend(
        main, tmp_path / "logs", scratch_root=tmp_path / "scratch", limits_mode=LimitsMode.WATCHDOG
    )


def test_cgroup_v2_when_the_host_has_it(tmp_path: Path) -> None:
    if detect() != "v2":
        pytest.skip(
            f"cgroup v2 with a memory controller is not available here ({detect()} is "
            "used); the v2 code paths run on hosts that delegate cgroup v2"
        )

    async def main(backend: LocalBackend) -> None:
        app = await start(backend, small())
        assert app.confinement.cgroup is not None
        assert app.confinement.cgroup.version == 2
        with pytest.raises(Exception):  # noqa: B017, PT011
            await asyncio.to_thread(get, app, "/alloc?mb=400")
        status = await asyncio.wait_for(app.wait(), 20)
        assert status.limit_exceeded == "Memory limit exceeded (200.0M)"

    with_backend(main, tmp_path)


def test_cgroup_v2_two_in_a_row_are_siblings() -> None:
    """After the first v2 cgroup moves spacerunner into its supervisor leaf, the next one is
    made beside the first, not inside the leaf (each start one level deeper)."""
    if detect() != "v2":
        pytest.skip(f"cgroup v2 with a memory controller is not available here ({detect()})")
    first = cgroups.create(f"spacerunner-a-{os.getpid()}-x1", Limits(memory=64 << 20))
    second = cgroups.create(f"spacerunner-b-{os.getpid()}-x2", Limits(memory=64 << 20))
    try:
        assert first is not None and second is not None
        assert first.dirs["unified"].parent == second.dirs["unified"].parent
        assert first.dirs["unified"].parent.name != cgroups.SUPERVISOR_LEAF
    finally:
        for cgroup in (first, second):
            if cgroup is not None:
                cgroup.remove()


def test_v2_base_is_above_the_supervisor_leaf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The base lookup itself, on any host (a v2 tree laid out in files): a spacerunner that
    sits in its supervisor leaf makes app cgroups in the leaf's parent."""
    job = tmp_path / "srv" / "job"
    (job / cgroups.SUPERVISOR_LEAF).mkdir(parents=True)
    for folder in (tmp_path, job, job / cgroups.SUPERVISOR_LEAF):
        (folder / "cgroup.controllers").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "own_cgroups", lambda: {"": "/srv/job"})
    assert cgroups._v2_base() == job
    monkeypatch.setattr(cgroups, "own_cgroups", lambda: {"": f"/srv/job/{cgroups.SUPERVISOR_LEAF}"})
    assert cgroups._v2_base() == job


needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None and not os.environ.get("SPACERUNNER_REQUIRE_BROWSER"),
    reason="bubblewrap is not installed (apt-get install bubblewrap)",
)


@needs_bwrap
def test_sandbox_drops_privileges_hides_the_system_and_the_network(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def main(backend: LocalBackend) -> None:
        config = load_space(STRESS)
        plan = build_plan(
            config,
            LaunchOptions(limits=small(disk=32 * MiB), isolation=Isolation.OFFLINE, data_dir=data),
        )
        app = await backend.start(plan)
        assert isinstance(app, LocalProcess)
        await app.wait_ready(30)
        assert app.endpoint.netns is not None  # type: ignore[union-attr]
        _, facts = await via_proxy(app, "/probe")
        assert facts["uid"] == 1000
        assert facts["capabilities"] == "0000000000000000"
        assert facts["write_usr"] is False
        # next to its own files it writes into its ephemeral working copy; the checkout itself
        # is not even bound into the sandbox
        assert facts["write_space"] is True
        assert facts["write_home"] is True  # its scratch space is writable
        assert facts["read_root_home"] is False  # only what is bound in is there
        assert facts["interfaces"] == ["lo"]  # no network but its own loopback
        code, _ = await via_proxy(app, "/write?mb=1&where=data&name=k")
        assert code == 200
        # limits still apply inside the sandbox, and exits are reported as they are
        code, _ = await via_proxy(app, "/alloc?mb=400")
        assert code >= 500
        status = await asyncio.wait_for(app.wait(), 20)
        assert status.limit_exceeded == "Memory limit exceeded (200.0M)"
        assert status.reason is not None
        assert status.reason.startswith("Memory limit exceeded (200.0M): ")

    with_backend(main, tmp_path / "logs", scratch_root=tmp_path / "scratch")
    assert (data / "k").stat().st_size == MiB


@needs_bwrap
def test_sandboxed_exit_codes_pass_through(tmp_path: Path) -> None:
    async def main(backend: LocalBackend) -> None:
        plan = build_plan(
            load_space(STRESS), LaunchOptions(limits=small(), isolation=Isolation.OFFLINE)
        )
        app = await backend.start(plan)
        await app.wait_ready(30)
        code, _ = await via_proxy(app, "/exit?code=3")
        assert code >= 500
        status = await asyncio.wait_for(app.wait(), 20)
        assert status.reason == "exited with code 3"

    with_backend(main, tmp_path / "logs", scratch_root=tmp_path / "scratch")


async def via_proxy(instance: LocalProcess, path: str) -> tuple[int, dict]:
    """GET ``path`` of an isolated app through spacerunner's proxy (the way in to its network
    namespace); a cut connection is a 502 from the proxy."""
    router = Router()
    router.add(Route("isolated", endpoint=instance.endpoint))
    proxy = ProxyServer(router)
    await proxy.start("127.0.0.1", 0)
    try:
        response = await asyncio.to_thread(
            httpx.get, f"http://127.0.0.1:{proxy.port}{path}", timeout=30
        )
    finally:
        await proxy.close()
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status_code, response.json() if is_json else {}


def test_writes_into_the_space_folder_stay_in_the_run(tmp_path: Path) -> None:
    space = tmp_path / "writer"
    shutil.copytree(STRESS, space)
    before = sorted(p.name for p in space.iterdir())

    async def main(backend: LocalBackend) -> None:
        plan = build_plan(load_space(space), LaunchOptions(limits=small(disk=32 * MiB)))
        app = await backend.start(plan)
        assert isinstance(app, LocalProcess)
        await app.wait_ready(30)
        notes = "\n".join(app.log.tail(20))
        assert "working copy of the Space:" in notes
        # the app writes next to its own files, as apps that flag data or cache do
        code, body = await asyncio.to_thread(get, app, "/write?mb=1&where=cwd&name=flagged.csv")
        assert code == 200, body
        await app.stop(grace=2)
        again = await backend.start(plan)
        await again.wait_ready(30)
        listing = (await asyncio.to_thread(get, again, "/files?cwd=1"))[1]
        assert "flagged.csv" not in listing["cwd"]  # nothing leaks into the next run
        assert "server.py" in listing["cwd"]

    with_backend(main, tmp_path / "logs", scratch_root=tmp_path / "scratch")
    assert sorted(p.name for p in space.iterdir()) == before  # the checkout is untouched


@needs_bwrap
def test_an_isolated_working_copy_owns_its_files_without_copying_them(tmp_path: Path) -> None:
    """The Space's files are given to the app's uid (it may write next to them, as on Spaces)
    through overlay metadata: a large file in the Space costs its disk limit nothing."""
    space = tmp_path / "big"
    shutil.copytree(STRESS, space)
    with (space / "weights.bin").open("wb") as handle:
        handle.truncate(0)
        handle.write(os.urandom(24 * MiB))

    async def main(backend: LocalBackend) -> None:
        plan = build_plan(
            load_space(space),
            LaunchOptions(limits=small(disk=64 * MiB), isolation=Isolation.OFFLINE),
        )
        app = await backend.start(plan)
        await app.wait_ready(30)
        usage = app.usage()
        assert usage is not None and usage["disk"] is not None
        assert usage["disk"] < 8 * MiB, usage["disk"]  # the 24 MiB file was not copied up
        code, _ = await via_proxy(app, "/write?mb=1&where=cwd&name=flagged.bin")
        assert code == 200  # and the app may write next to its own files
        await app.stop(5)

    with_backend(main, tmp_path / "logs", scratch_root=tmp_path / "scratch")
    assert sorted(p.name for p in space.iterdir()) == sorted(
        [*(p.name for p in STRESS.iterdir()), "weights.bin"]
    )  # the checkout itself is untouched
