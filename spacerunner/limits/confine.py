"""Everything that limits one run of an app: its cgroup, its scratch disk, what is only watched,
and the setup its process does between fork and exec. The local backend holds one per run."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from spacerunner.limits import cgroups
from spacerunner.limits.cgroups import AppCgroup
from spacerunner.limits.disk import Scratch
from spacerunner.limits.model import Limits, LimitsMode
from spacerunner.limits.watchdog import Watchdog
from spacerunner.units import format_size

_PR_SET_PDEATHSIG = 1


CPU_WINDOW = 1.0
"""Seconds a CPU percentage is measured over, at least."""


@dataclass
class Confinement:
    limits: Limits | None
    cgroup: AppCgroup | None = None
    scratch: Scratch | None = None
    watched: set[str] = field(default_factory=set)
    """Limits spacerunner watches itself (nothing in the kernel enforces them here)."""
    affinity: set[int] | None = None
    report: list[str] = field(default_factory=list)
    """One line per limit: its value and how it is enforced or watched."""
    _cpu_sample: tuple[float, float] | None = None
    _cpu_percent: float | None = None

    def run_dir(self, scratch_root: Path | None) -> Path:
        """A folder of this run's own, bound writable into a sandbox (its scratch space)."""
        if self.scratch is None:
            root = scratch_root or Path(tempfile.gettempdir()) / "spacerunner-scratch"
            self.scratch = Scratch.create(root, "run", None)
        return self.scratch.path

    def env(self) -> dict[str, str]:
        return self.scratch.env() if self.scratch is not None else {}

    def preexec(self) -> Callable[[], None]:
        """Runs in the child between fork and exec: nothing the app runs escapes the limits."""
        procs = self.cgroup.procs_files if self.cgroup is not None else []
        nofile = self.limits.nofile if self.limits is not None else None
        affinity = self.affinity

        def setup() -> None:  # pragma: no cover - runs in the child
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            pid = str(os.getpid())
            for path in procs:
                with open(path, "w") as handle:  # failing here fails the start: never unlimited
                    handle.write(pid)
            if nofile is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                cap = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
                resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))
            if affinity:
                os.sched_setaffinity(0, affinity)

        return setup

    def watchdog(self, pid: int, breach: Callable[[str], None]) -> Watchdog | None:
        """What watches the limits nothing in the kernel enforces here for the process tree
        of ``pid`` (``breach`` is called with the reason); ``None`` when there are none."""
        if not self.watched or self.limits is None:
            return None
        return Watchdog(pid, self.limits, self.watched, self.scratch, breach)

    def limit_reason(self) -> str | None:
        """Why the app ended, if a limit ended it (memory OOM, full disk)."""
        limits = self.limits
        if limits is None:
            return None
        if self.cgroup is not None and limits.memory is not None and self.cgroup.oom_kills():
            return f"Memory limit exceeded ({format_size(limits.memory)})"
        if self.scratch is not None and limits.disk is not None and self.scratch.full():
            return f"Disk limit exceeded ({format_size(limits.disk)})"
        return None

    def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill()

    def cleanup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.scratch is not None:
            self.scratch.wipe()

    def usage(self, pid: int | None, peak_rss: int = 0) -> dict[str, Any]:
        """Memory (current, peak), CPU (seconds, and % over the last window of at least
        :data:`CPU_WINDOW`: the gallery, ``ps``, metrics and the history all ask, at their own
        pace, and each gets a percentage over a real stretch of time), disk of the run."""
        memory = peak = cpu = None
        if self.cgroup is not None:
            used = self.cgroup.usage()
            memory, peak, cpu = used.memory, used.memory_peak, used.cpu_seconds
        if (memory is None or cpu is None) and pid is not None:
            tree_memory, tree_cpu = _tree_usage(pid)
            memory = tree_memory if memory is None else memory
            cpu = tree_cpu if cpu is None else cpu
            peak = max(peak or 0, peak_rss, memory or 0)
        now = time.monotonic()
        sample = self._cpu_sample
        if cpu is not None and (sample is None or now - sample[0] >= CPU_WINDOW):
            if sample is not None:
                self._cpu_percent = 100 * (cpu - sample[1]) / (now - sample[0])
            self._cpu_sample = (now, cpu)
        percent = self._cpu_percent
        disk = self.scratch.used() if self.scratch is not None else None
        limits = self.limits
        return {
            "memory": memory,
            "memory_peak": peak,
            "cpu_seconds": cpu,
            "cpu_percent": round(percent, 1) if percent is not None else None,
            "disk": disk,
            "limits": {
                "memory": limits.memory,
                "cpus": limits.cpus,
                "disk": limits.disk,
                "pids": limits.pids,
            }
            if limits
            else None,
            "enforcement": self.report,
        }


def _tree_usage(pid: int) -> tuple[int | None, float | None]:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None, None
    memory, cpu = 0, 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            memory += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system
    return memory, cpu


def confine(
    name: str,
    limits: Limits | None,
    scratch_root: Path | None,
    *,
    mode: LimitsMode = LimitsMode.AUTO,
) -> Confinement:
    """Set up the limits of one run. ``mode``: 'auto' (cgroups where they work) or 'watchdog'
    (force the fallback, for tests and hosts where cgroups misbehave)."""
    if limits is None:
        return Confinement(None, report=["no limits (--no-limits)"])
    unique = f"spacerunner-{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    cgroup = cgroups.create(unique, limits) if mode is LimitsMode.AUTO else None
    confinement = Confinement(limits, cgroup)
    enforced = cgroup.enforced if cgroup is not None else set()
    how = f"cgroup v{cgroup.version}" if cgroup is not None else ""
    why = (
        "; ".join(cgroup.problems)
        if cgroup is not None and cgroup.problems
        else "forced by --limits watchdog"
        if mode is LimitsMode.WATCHDOG
        else _no_cgroup()
    )
    report = confinement.report
    if limits.memory is not None:
        if "memory" in enforced:
            report.append(f"memory {format_size(limits.memory)}: enforced ({how})")
        else:
            confinement.watched.add("memory")
            report.append(
                f"memory {format_size(limits.memory)}: WATCHED ONLY, not enforced "
                f"({why}); the app is stopped when its processes use more"
            )
    if limits.cpus is not None:
        if "cpus" in enforced:
            report.append(f"cpus {limits.cpus:g}: enforced ({how} CPU quota)")
        else:
            count = max(1, math.ceil(limits.cpus))
            available = sorted(os.sched_getaffinity(0))
            if count < len(available):
                confinement.affinity = set(available[:count])
                report.append(
                    f"cpus {limits.cpus:g}: CPU affinity to {count} core(s) only, "
                    f"not a quota ({why})"
                )
            else:
                report.append(
                    f"cpus {limits.cpus:g}: NOT ENFORCED ({why}; the machine has "
                    f"{len(available)} core(s))"
                )
    if limits.pids is not None:
        if "pids" in enforced:
            report.append(f"pids {limits.pids}: enforced ({how})")
        else:
            confinement.watched.add("pids")
            report.append(f"pids {limits.pids}: WATCHED ONLY, not enforced ({why})")
    if limits.nofile is not None:
        report.append(f"open files {limits.nofile}: enforced (rlimit)")
    if scratch_root is not None:
        scratch = Scratch.create(scratch_root, name, limits.disk, mount=mode is LimitsMode.AUTO)
        confinement.scratch = scratch
        if limits.disk is not None:
            if scratch.enforced:
                report.append(
                    f"disk {format_size(limits.disk)}: enforced (ext4 image mounted "
                    "as the app's HOME and TMPDIR; wiped at stop)"
                )
            else:
                confinement.watched.add("disk")
                report.append(
                    f"disk {format_size(limits.disk)}: WATCHED ONLY, not enforced "
                    f"({'; '.join(scratch.problems)}); HOME and TMPDIR are measured"
                )
    return confinement


def _no_cgroup() -> str:
    found = cgroups.detect()
    if found == "none":
        return "no cgroup hierarchy with a memory controller"
    return f"cgroup {found} found, but no child cgroup could be made beneath spacerunner's own"
