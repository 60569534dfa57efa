"""A real attacker Space against a real neighbour under `serve`: with default isolation every
attack is refused; under --isolation none the same attacks succeed (so this test can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import SPACES, LoopThread, needs_full_isolation

from spacerunner.backends.base import Upstream
from spacerunner.envs import EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.limits import LimitSettings
from spacerunner.limits.sandbox import Isolation
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = pytest.mark.slow

ATTACKS = (
    "environ",
    "read_folder",
    "read_data",
    "server_token",
    "api_stop",
    "direct_port",
    "signal_other",
    "disk_past_limit",
    "kill_neighbour",
)


def preloaded(loop_thread: LoopThread, portfolio: Portfolio) -> int:
    """Once the preloader is up, start both Spaces again from it; returns its pid."""
    supervisor = portfolio.supervisor
    assert supervisor is not None
    for _ in range(600):
        helpers = supervisor.backend.helpers()
        if helpers:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no preloader came up")
    for name in ("neighbour", "intruder"):
        loop_thread.run(supervisor.spaces[name].stop(sleep=True, why="test"))
        assert httpx.get(f"{portfolio.url}/spaces/{name}/", timeout=60).status_code == 200
        instance = supervisor.spaces[name].instance
        assert getattr(instance, "preloaded", None) is not None, name
    return int(helpers[0]["pid"])  # type: ignore[call-overload]


def attack(
    loop_thread: LoopThread, tmp_path: Path, isolation: Isolation, *, preload: bool = False
) -> dict[str, object]:
    spaces = tmp_path / "spaces"
    for name in ("intruder", "neighbour"):
        shutil.copytree(SPACES / name, spaces / name)
    state = tmp_path / "state"
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            state_dir=state,
            policy=Policy(health_interval=0, watch=False),
            preload=preload,
            spaces=SpaceSettings(
                env_mode=EnvMode.CURRENT,
                limits=LimitSettings(memory="300M", disk="64M"),
                isolation=isolation,
            ),
        )
    )
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    loop_thread.run(portfolio.start())
    try:
        base = portfolio.url
        assert httpx.get(f"{base}/spaces/neighbour/", timeout=60).json() == {"space": "neighbour"}
        supervisor = portfolio.supervisor
        assert supervisor is not None
        preloader = preloaded(loop_thread, portfolio) if preload else None
        endpoint = supervisor.spaces["neighbour"].instance.endpoint  # type: ignore[union-attr]
        assert isinstance(endpoint, Upstream)
        query = {
            "folder": str(spaces / "neighbour"),
            "data": str(state / "serve" / str(portfolio.proxy.port) / "data" / "neighbour"),
            "server_json": str(state / "serve" / str(portfolio.proxy.port) / "server.json"),
            "serve_port": str(portfolio.proxy.port),
            "port": str(endpoint.port),
            "victim": str(victim.pid),
            "fill_mb": "100",
            "preloader": str(preloader or ""),
        }
        results = httpx.get(f"{base}/spaces/intruder/attack", params=query, timeout=120).json()
        time.sleep(0.5)
        results["neighbour_still_up"] = (
            httpx.get(f"{base}/spaces/neighbour/", timeout=30).status_code == 200
            and supervisor.spaces["neighbour"].restarts == 0
        )
        results["victim_alive"] = victim.poll() is None
        results["preloader_alive"] = preloader is None or psutil.pid_exists(preloader)
        return results
    finally:
        loop_thread.run(portfolio.close())
        victim.kill()
        victim.wait()


@needs_full_isolation
def test_every_attack_is_refused_under_default_isolation(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    results = attack(loop_thread, tmp_path, Isolation.FULL)
    succeeded = [name for name in ATTACKS if results[name]]
    assert succeeded == [], results
    assert results["uid"] == 1000
    assert results["neighbour_still_up"] and results["victim_alive"]


@needs_full_isolation
def test_every_attack_is_refused_when_both_are_forked_from_one_preloader(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    results = attack(loop_thread, tmp_path, Isolation.FULL, preload=True)
    succeeded = [name for name in (*ATTACKS, "kill_preloader") if results[name]]
    assert succeeded == [], results
    assert results["uid"] == 1000
    assert results["neighbour_still_up"] and results["victim_alive"]
    assert results["preloader_alive"]


def test_the_same_attacks_succeed_without_isolation(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    results = attack(loop_thread, tmp_path, Isolation.NONE)
    for name in ATTACKS:
        assert results[name], (name, results)
