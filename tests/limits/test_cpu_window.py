"""A run's CPU percentage is measured over at least a second, however often it is asked."""

from __future__ import annotations

from typing import Any

import pytest

from spacerunner.limits import confine
from spacerunner.limits.cgroups import CgroupUsage
from spacerunner.limits.confine import Confinement


class FakeCgroup:
    def __init__(self) -> None:
        self.cpu = 0.0

    def usage(self) -> CgroupUsage:
        return CgroupUsage(memory=1 << 20, memory_peak=1 << 20, cpu_seconds=self.cpu)


def test_many_callers_share_windows_of_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(confine.time, "monotonic", lambda: now[0])
    cgroup = FakeCgroup()
    run = Confinement(limits=None, cgroup=cgroup)  # type: ignore[arg-type]

    def percent_at(when: float, cpu: float) -> Any:
        now[0], cgroup.cpu = when, cpu
        return run.usage(None)["cpu_percent"]

    assert percent_at(100.0, 0.0) is None  # nothing measured yet
    assert percent_at(100.4, 0.3) is None  # a caller right after: not a window yet
    assert percent_at(101.0, 0.5) == 50.0  # the first whole second
    assert percent_at(101.01, 0.9) == 50.0  # another caller 10 ms later: the same window
    assert percent_at(103.0, 0.9) == 20.0  # (0.9 - 0.5) over 2 s
