from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import LoopThread


def _children() -> dict[int, psutil.Process]:
    return {p.pid: p for p in psutil.Process().children(recursive=True)}


def _check_no_new_children(before: set[int]) -> None:
    deadline = time.monotonic() + 5
    while True:
        extra = {pid: p for pid, p in _children().items() if pid not in before}
        live = {
            pid: p
            for pid, p in extra.items()
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        }
        if not live or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if live:
        described = [f"{pid}: {' '.join(p.cmdline())[:120]}" for pid, p in live.items()]
        for p in live.values():
            p.kill()
        pytest.fail("processes left behind:\n" + "\n".join(described))


@pytest.fixture(autouse=True)
def no_leftover_children(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test must leave no process of its own behind.

    In modules marked ``shared_processes`` a module-scoped server starts apps on demand and owns
    them; there the check runs when the module's fixtures are torn down.
    """
    if request.node.get_closest_marker("shared_processes"):
        yield
        return
    before = set(_children())
    yield
    _check_no_new_children(before)


@pytest.fixture(scope="module", autouse=True)
def no_leftover_children_per_module() -> Iterator[None]:
    before = set(_children())
    yield
    _check_no_new_children(before)


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """A Docker engine with the tests' base images; its URL is also put in $DOCKER_HOST.
    Skips without one, unless SPACERUNNER_REQUIRE_DOCKER is set (CI), where it fails."""
    import os

    from docker_support import ensure_base_images, remove_leftovers, start_engine

    engine, why = start_engine()
    if engine is None:
        if os.environ.get("SPACERUNNER_REQUIRE_DOCKER"):
            pytest.fail(f"a Docker engine is required here: {why}")
        pytest.skip(why)
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.url
    try:
        client = engine.client()
        try:
            if engine.process is not None:
                remove_leftovers(client)
            ensure_base_images(client)
        finally:
            client.close()
        yield engine.url
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before
        engine.stop()
