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


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    """Every test must leave no process of its own behind."""
    before = set(_children())
    yield
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


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()
