"""Watching what no kernel mechanism enforces: memory and processes of the app's tree (psutil)
and the size of its scratch folder. A breach ends the app with the reason."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import psutil

from spacerunner.limits.disk import Scratch
from spacerunner.limits.model import Limits
from spacerunner.units import format_size


class Watchdog:
    def __init__(
        self,
        pid: int,
        limits: Limits,
        watched: set[str],
        scratch: Scratch | None,
        breach: Callable[[str], None],
        interval: float = 0.2,
    ) -> None:
        self.pid = pid
        self.limits = limits
        self.watched = watched
        self.scratch = scratch
        self.breach = breach
        self.interval = interval
        self.peak_rss = 0
        self.disk_full_noted = False

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def rss(self) -> int:
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, total)
        return total

    async def run(self) -> None:
        ticks = 0
        limits = self.limits
        while True:
            await asyncio.sleep(self.interval)
            ticks += 1
            if "memory" in self.watched and limits.memory is not None:
                used = self.rss()
                if used > limits.memory:
                    self.breach(
                        f"Memory limit exceeded ({format_size(limits.memory)}; "
                        f"watched: {format_size(used)} in use)"
                    )
                    return
            if "pids" in self.watched and limits.pids is not None:
                count = 0
                for proc in self.tree():
                    with contextlib.suppress(psutil.Error):
                        count += proc.num_threads()
                if count > limits.pids:
                    self.breach(f"Process limit exceeded ({limits.pids}; watched: {count})")
                    return
            check_disk = "disk" in self.watched and self.scratch is not None and ticks % 5 == 0
            if check_disk and await asyncio.to_thread(self.scratch.full):  # type: ignore[union-attr]
                assert limits.disk is not None
                self.breach(f"Disk limit exceeded ({format_size(limits.disk)})")
                return
