"""cgroups for one app: v2 where the host delegates it, v1 where it has that, found at run time.

Each app gets a child of the cgroup spacerunner runs in; the app's process joins it between fork
and exec (so nothing it runs escapes), and it is removed after the app is gone. Controllers that
cannot be used are reported, never ignored: the caller watches those limits instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.limits.model import Limits

ROOT = Path("/sys/fs/cgroup")
_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupUsage:
    memory: int | None
    memory_peak: int | None
    cpu_seconds: float | None


@dataclass
class AppCgroup:
    """The cgroup(s) of one app: one directory (v2) or one per controller (v1)."""

    version: int
    name: str
    dirs: dict[str, Path]
    """controller -> directory ('unified' for v2)."""
    enforced: set[str] = field(default_factory=set)
    """Which of memory, cpus, pids are enforced by this cgroup."""
    problems: list[str] = field(default_factory=list)

    @property
    def procs_files(self) -> list[str]:
        """Files the app's process writes its pid to before it runs the app."""
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def _read(self, controller: str, name: str) -> str | None:
        directory = self.dirs.get(controller)
        if directory is None:
            return None
        try:
            return (directory / name).read_text()
        except OSError:
            return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def usage(self) -> CgroupUsage:
        if self.version == 2:
            current = self._read("unified", "memory.current")
            peak = self._read("unified", "memory.peak")
            cpu = None
            stat = self._read("unified", "cpu.stat") or ""
            for line in stat.splitlines():
                if line.startswith("usage_usec "):
                    cpu = int(line.split()[1]) / 1e6
            return CgroupUsage(_int(current), _int(peak), cpu)
        cpu_ns = _int(self._read("cpuacct", "cpuacct.usage"))
        return CgroupUsage(
            _int(self._read("memory", "memory.usage_in_bytes")),
            _int(self._read("memory", "memory.max_usage_in_bytes")),
            cpu_ns / 1e9 if cpu_ns is not None else None,
        )

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the memory limit."""
        text = (
            self._read("unified", "memory.events")
            if self.version == 2
            else self._read("memory", "memory.oom_control")
        ) or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        failcnt = _int(self._read("memory", "memory.failcnt")) if self.version == 1 else None
        under = "under_oom 1" in text
        return 1 if under and failcnt else 0

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (frozen first on v1, so none can fork away)."""
        if self.version == 2 and (self.dirs["unified"] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.dirs["unified"] / "cgroup.kill").write_text("1")
            return
        freezer = self.dirs.get("freezer")
        if freezer is not None:
            with contextlib.suppress(OSError):
                (freezer / "freezer.state").write_text("FROZEN")
        for _ in range(20):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if freezer is not None:
                with contextlib.suppress(OSError):
                    (freezer / "freezer.state").write_text("THAWED")
            time.sleep(0.01)
        if freezer is not None:
            with contextlib.suppress(OSError):
                (freezer / "freezer.state").write_text("THAWED")

    def remove(self, timeout: float = 5.0) -> None:
        """Delete the cgroup once it is empty (killing what is left)."""
        deadline = time.monotonic() + timeout
        for directory in {d.resolve() for d in self.dirs.values() if d.exists()}:
            while True:
                try:
                    directory.rmdir()
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOENT or time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.02)


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None and text.strip() != "max" else None
    except ValueError:
        return None


def own_cgroups() -> dict[str, str]:
    """controller -> path of this process's cgroup ('' for the v2 unified hierarchy)."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            found[""] = path
        for controller in controllers.split(","):
            if controller:
                found[controller] = path
    return found


SUPERVISOR_LEAF = "spacerunner-supervisor"
"""cgroup v2: the leaf spacerunner moves itself into so that its own cgroup may have
controllers for its children (see :func:`_enable_controllers`)."""


def _v2_base() -> Path | None:
    """The v2 cgroup app cgroups are made under: spacerunner's own, or the one above its
    supervisor leaf once it has moved there (never the leaf: that would nest each start deeper)."""
    own = own_cgroups().get("")
    if own is None:
        return None
    if own.rstrip("/").endswith("/" + SUPERVISOR_LEAF):
        own = own.rstrip("/").removesuffix("/" + SUPERVISOR_LEAF) or "/"
    for mount in (ROOT, ROOT / "unified"):
        if (mount / "cgroup.controllers").exists():
            base = mount / own.lstrip("/")
            controllers = (
                (base / "cgroup.controllers").read_text().split()
                if (base / "cgroup.controllers").exists()
                else []
            )
            if "memory" in controllers:
                return base
    return None


def detect() -> str:
    """'v2', 'v1' or 'none': which cgroup hierarchy can limit memory for our children."""
    if _v2_base() is not None:
        return "v2"
    own = own_cgroups()
    if "memory" in own and (ROOT / "memory").is_dir():
        return "v1"
    return "none"


def create(name: str, limits: Limits, version: str | None = None) -> AppCgroup | None:
    """A new cgroup for one app with ``limits`` applied; ``None`` when no hierarchy is usable."""
    version = version or detect()
    if version == "v2":
        return _create_v2(name, limits)
    if version == "v1":
        return _create_v1(name, limits)
    return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _create_v1(name: str, limits: Limits) -> AppCgroup | None:
    own = own_cgroups()
    wanted = {
        "memory": limits.memory is not None,
        "cpu": limits.cpus is not None,
        "cpuacct": True,
        "pids": limits.pids is not None,
        "freezer": True,
    }
    cgroup = AppCgroup(1, name, {})
    for controller, needed in wanted.items():
        if not needed or controller not in own or not (ROOT / controller).is_dir():
            continue
        directory = ROOT / controller / own[controller].lstrip("/") / name
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            cgroup.problems.append(
                f"cgroup v1 {controller}: cannot create {directory}: {exc.strerror}"
            )
            continue
        cgroup.dirs[controller] = directory
    if "memory" not in cgroup.dirs and "cpuacct" not in cgroup.dirs:
        cgroup.remove()
        return None
    settings: list[tuple[str, str, str, str]] = []
    if limits.memory is not None:
        settings += [("memory", "memory.limit_in_bytes", str(limits.memory), "memory")]
    if limits.cpus is not None:
        settings += [
            ("cpu", "cpu.cfs_period_us", str(_PERIOD_US), "cpus"),
            ("cpu", "cpu.cfs_quota_us", str(int(limits.cpus * _PERIOD_US)), "cpus"),
        ]
    if limits.pids is not None:
        settings += [("pids", "pids.max", str(limits.pids), "pids")]
    failed: set[str] = set()
    for controller, filename, value, limit in settings:
        directory = cgroup.dirs.get(controller)
        if directory is None:
            failed.add(limit)
            continue
        try:
            _write(directory / filename, value)
        except OSError as exc:
            failed.add(limit)
            cgroup.problems.append(f"cgroup v1 {filename}: {exc.strerror}")
    if limits.memory is not None and "memory" in cgroup.dirs:
        with contextlib.suppress(OSError):  # no swap either (only where swap accounting is on)
            _write(cgroup.dirs["memory"] / "memory.memsw.limit_in_bytes", str(limits.memory))
    cgroup.enforced = {limit for *_, limit in settings} - failed
    return cgroup


def _create_v2(name: str, limits: Limits) -> AppCgroup | None:
    base = _v2_base()
    if base is None:
        return None
    cgroup = AppCgroup(2, name, {})
    wanted = ["memory", "cpu", "pids"]
    try:
        _enable_controllers(base, wanted)
        directory = base / name
        directory.mkdir(exist_ok=True)
    except OSError as exc:
        cgroup.problems.append(f"cgroup v2 at {base}: {exc.strerror}")
        return None
    cgroup.dirs["unified"] = directory
    settings: list[tuple[str, str, str]] = []
    if limits.memory is not None:
        settings += [("memory.max", str(limits.memory), "memory")]
    if limits.cpus is not None:
        settings += [("cpu.max", f"{int(limits.cpus * _PERIOD_US)} {_PERIOD_US}", "cpus")]
    if limits.pids is not None:
        settings += [("pids.max", str(limits.pids), "pids")]
    failed: set[str] = set()
    for filename, value, limit in settings:
        try:
            _write(directory / filename, value)
        except OSError as exc:
            failed.add(limit)
            cgroup.problems.append(f"cgroup v2 {filename}: {exc.strerror}")
    if limits.memory is not None:
        with contextlib.suppress(OSError):
            _write(directory / "memory.swap.max", "0")
    cgroup.enforced = {limit for *_, limit in settings} - failed
    return cgroup


def _enable_controllers(base: Path, wanted: list[str]) -> None:
    """Let ``base``'s children use the controllers. cgroup v2 forbids processes in a cgroup whose
    children have controllers, so spacerunner first moves itself into a leaf of its own."""
    enabled = (base / "cgroup.subtree_control").read_text().split()
    missing = [c for c in wanted if c not in enabled]
    if not missing:
        return
    request = " ".join(f"+{c}" for c in missing)
    try:
        _write(base / "cgroup.subtree_control", request)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        leaf = base / SUPERVISOR_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in (base / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                _write(leaf / "cgroup.procs", pid)
        _write(base / "cgroup.subtree_control", request)


def sweep() -> list[str]:
    """Remove app cgroups whose spacerunner is gone (named ``spacerunner-<space>-<pid>-<id>``):
    what a spacerunner killed with SIGKILL could not remove itself. Processes still in them are
    killed first."""
    own = own_cgroups()
    bases: list[tuple[int, str, Path]] = [
        (1, controller, ROOT / controller / own[controller].lstrip("/"))
        for controller in ("memory", "cpu", "cpuacct", "pids", "freezer")
        if controller in own
    ]
    if (v2 := _v2_base()) is not None:
        bases.append((2, "unified", v2))
    removed: list[str] = []
    for version, controller, base in bases:
        for directory in base.glob("spacerunner-*") if base.is_dir() else ():
            parts = directory.name.rsplit("-", 2)
            if len(parts) != 3 or not parts[1].isdigit() or pid_alive(int(parts[1])):
                continue  # the supervisor leaf, or an app cgroup of a live spacerunner
            stale = AppCgroup(version, directory.name, {controller: directory})
            stale.kill()
            stale.remove(timeout=1.0)
            if not directory.exists():
                removed.append(str(directory))
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with that pid exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
