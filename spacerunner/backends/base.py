"""The contract every backend (local process, Docker, Kubernetes) implements.

A backend does mechanics only: start what a plan says, report what it sees, stop it. Policy
(when to restart, when to sleep, what counts as healthy) belongs to the supervisor above it.
Callers use only what is declared here: :class:`Backend` and :class:`Instance`, and the values
they return (:class:`Status`, endpoints, :class:`AppLog`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner.backends.logs import AppLog, LogKind, open_log
from spacerunner.envs import sites
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.errors import BackendError
from spacerunner.launch.plan import BuildJob, LaunchPlan, StaticPlan


class State(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    """Stopped because spacerunner asked it to."""
    EXITED = "exited"
    """Ended on its own (a crash, a clean exit, or a limit that killed it)."""


@dataclass(frozen=True)
class Upstream:
    """An HTTP server the proxy forwards to."""

    host: str
    port: int
    unix: str | None = None
    """A unix socket to connect to instead of host:port (a sandboxed app's way in)."""
    netns: str | None = None
    """The registered network namespace (spacerunner.netns) host:port is in, if not ours."""

    @property
    def key(self) -> tuple[str, int, str | None, str | None]:
        return (self.host, self.port, self.unix, self.netns)


@dataclass(frozen=True)
class StaticSite:
    """Files spacerunner serves itself."""

    root: Path
    index: str


Endpoint = Upstream | StaticSite


@dataclass(frozen=True)
class Status:
    state: State
    pid: int | None = None
    """The app's main process on this machine while it lives (``None`` in a container)."""
    returncode: int | None = None
    reason: str | None = None
    """Why it is not running, in words a person can act on."""
    started_at: float | None = None
    ended_at: float | None = None
    limit_exceeded: str | None = None
    """Set when a resource limit ended the app (e.g. 'Memory limit exceeded (16.0G)')."""

    @property
    def alive(self) -> bool:
        return self.state in (State.STARTING, State.RUNNING, State.STOPPING)


STOPPED_REASON = "stopped by spacerunner"


def exit_reason(returncode: int | None) -> str:
    """How an app ended, from its exit code (negative: the signal that killed it)."""
    if returncode is None:
        return "ended"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"


def signal_exit(code: int | None) -> int | None:
    """An exit code as a shell, an init or a sandbox reports it (128 + N for a process that
    signal N killed) turned into the form of :func:`exit_reason` (-N)."""
    if code is not None and 128 < code < 128 + 65:
        return -(code - 128)
    return code


class Instance(abc.ABC):
    """One started app, as a backend runs it.

    The base keeps the bookkeeping every backend shares: the state, the timestamps, how it
    ended (:meth:`_ended`) and waiting for that; subclasses do the mechanics.
    """

    def __init__(self, plan: LaunchPlan, endpoint: Endpoint, log: AppLog) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self.log = log
        self.created_at = time.time()
        self._state = State.STARTING
        self._reason: str | None = None
        self._returncode: int | None = None
        self._limit: str | None = None
        self._ended_at: float | None = None
        self._done = asyncio.Event()
        self._on_end: list[Callable[[Instance], None]] = []

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def _pid(self) -> int | None:
        """The main process on this machine, while it lives (``None``: not a local process)."""
        return None

    def status(self) -> Status:
        """What the app is doing now."""
        return Status(
            state=self._state,
            pid=None if self.ended else self._pid(),
            returncode=self._returncode,
            reason=self._reason,
            started_at=self.created_at,
            ended_at=self._ended_at,
            limit_exceeded=self._limit,
        )

    def usage(self) -> dict[str, object] | None:
        """Current resource use (memory, CPU, disk) while running; ``None`` if not known."""
        return None

    def _mark_stopping(self, message: str | None = None) -> bool:
        """Record that spacerunner is stopping the app; False if it already ended or was being
        stopped (``message`` goes to the log the first time)."""
        if self.ended or self._state is State.STOPPING:
            return False
        self._state = State.STOPPING
        if message:
            self.log.note(message)
        return True

    def _mark_ready(self, where: str = "") -> None:
        if self._state is State.STARTING:
            self._state = State.RUNNING
            self.log.note(f"ready{where} after {time.time() - self.created_at:.2f}s")

    def _ended(self, returncode: int | None, *, lost: str | None = None) -> None:
        """The app has ended: record how, in the words every backend uses, and wake waiters.
        ``lost``: the backend lost track of it (that is the reason then)."""
        was = self._state
        self._returncode = returncode
        self._ended_at = time.time()
        if was is State.STOPPING:
            self._state, self._reason = State.STOPPED, STOPPED_REASON
        else:
            self._state = State.EXITED
            how = lost or exit_reason(returncode)
            during = " while starting" if was is State.STARTING else ""
            self._reason = f"{self._limit}: {how}{during}" if self._limit else how + during
        self._done.set()
        for callback in self._on_end:
            callback(self)
        self._on_end.clear()

    def when_ended(self, callback: Callable[[Instance], None]) -> None:
        """Call ``callback(self)`` once the app has ended (at once if it already has)."""
        if self.ended:
            callback(self)
        else:
            self._on_end.append(callback)

    @abc.abstractmethod
    async def wait_ready(self, timeout: float | None = None) -> None:
        """Return once the app answers its readiness probe.

        Raises :class:`~spacerunner.errors.AppExitedError` if it ends first and
        :class:`~spacerunner.errors.StartupTimeoutError` after ``timeout`` seconds
        (the plan's startup timeout when ``None``).
        """

    async def healthy(self, timeout: float) -> bool:
        """One health check of a running app: does it answer its probe below 500?"""
        from spacerunner.backends.probe import http_status
        from spacerunner.launch.plan import ContainerPlan, ProcessPlan

        plan, endpoint = self.plan, self.endpoint
        if not isinstance(plan, ProcessPlan | ContainerPlan) or not isinstance(endpoint, Upstream):
            return not self.ended
        code = await http_status(endpoint, plan.probe.path, timeout=timeout)
        return code is not None and code < 500

    async def wait(self) -> Status:
        """Return when the app has ended, however it ended."""
        await self._done.wait()
        return self.status()

    @abc.abstractmethod
    async def stop(self, grace: float = 10.0) -> Status:
        """Stop the app and everything it started: ask, then force after ``grace`` seconds."""


class Backend(abc.ABC):
    """Starts launch plans as instances, and keeps the ones that live (ended ones are let go)."""

    name: str

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._live: set[Instance] = set()
        self._site_locks: dict[Path, asyncio.Lock] = {}

    @property
    def log_dir(self) -> Path:
        """Where the logs of this backend's apps are kept (see :func:`log_path`)."""
        return self._log_dir

    def open_log(self, name: str, kind: LogKind = LogKind.RUN) -> AppLog:
        """A new log of Space ``name``: its run's, or its build's."""
        return open_log(self.log_dir, name, kind)

    @property
    def instances(self) -> frozenset[Instance]:
        """The instances started here that have not ended yet."""
        return frozenset(self._live)

    def _track(self, instance: Instance) -> Instance:
        self._live.add(instance)
        instance.when_ended(self._live.discard)
        return instance

    async def prepare(
        self, plan: LaunchPlan, output: Output, slot: BuildSlot | None = None
    ) -> None:
        """Make ahead what starting ``plan`` needs beyond its environment (an image, a built
        static site), so a start only starts; a build runs inside ``slot()`` with its output
        to ``output``. Raises :class:`~spacerunner.errors.BackendError` when the build fails.
        The base builds static sites (:meth:`run_job`) once per output folder; a local
        process needs only its environment."""
        if not isinstance(plan, StaticPlan) or plan.build is None:
            return
        job = plan.build
        lock = self._site_locks.setdefault(job.output, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(sites.is_built, job.output):
                return
            async with slot() if slot is not None else contextlib.nullcontext():
                await self.run_job(job, output)

    async def run_job(self, job: BuildJob, output: Output) -> None:
        """Run ``job`` to its end in the Space's sandbox and limits, its output to
        ``output``, and keep what it made at ``job.output``; raises
        :class:`~spacerunner.errors.BackendError` when it fails."""
        raise BackendError(
            f"{job.name}: the {self.name} backend cannot run a static Space's build "
            f"({job.command[-1]!r}). Fix: serve it with --backend auto or local."
        )

    def side_by_side(self, plan: LaunchPlan) -> bool:
        """Whether ``plan`` can start while another instance of its Space runs (a new
        revision started before the old one stops): not when both would take one port."""
        return True

    @abc.abstractmethod
    async def start(self, plan: LaunchPlan) -> Instance:
        """Start ``plan``; returns once it is started (not necessarily ready)."""

    def helpers(self) -> list[dict[str, object]]:
        """Processes the backend keeps besides apps (an environment's preloader), each with
        what it is, its ``pid`` and its memory (``rss``, ``pss`` bytes)."""
        return []

    async def close(self) -> None:
        """Stop every instance this backend started."""
        live = list(self._live)  # ended ones have already left
        await asyncio.gather(*(i.stop(grace=5.0) for i in live), return_exceptions=True)
        self._live.clear()
