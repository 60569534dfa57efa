"""The contract every backend (local process, Docker, Kubernetes) implements.

A backend does mechanics only: start what a plan says, report what it sees, stop it. Policy
(when to restart, when to sleep, what counts as healthy) belongs to the supervisor above it.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner.backends.logs import AppLog
from spacerunner.launch.plan import LaunchPlan


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


class Instance(abc.ABC):
    """One started app, as a backend runs it."""

    def __init__(self, plan: LaunchPlan, endpoint: Endpoint, log: AppLog) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self.log = log
        self.created_at = time.time()

    @property
    def name(self) -> str:
        return self.plan.name

    @abc.abstractmethod
    def status(self) -> Status:
        """What the app is doing now."""

    def usage(self) -> dict[str, object] | None:
        """Current resource use (memory, CPU, disk) while running; ``None`` if not known."""
        return None

    @abc.abstractmethod
    async def wait_ready(self, timeout: float | None = None) -> None:
        """Return once the app answers its readiness probe.

        Raises :class:`~spacerunner.errors.AppExitedError` if it ends first and
        :class:`~spacerunner.errors.StartupTimeoutError` after ``timeout`` seconds
        (the plan's startup timeout when ``None``).
        """

    @abc.abstractmethod
    async def wait(self) -> Status:
        """Return when the app has ended, however it ended."""

    @abc.abstractmethod
    async def stop(self, grace: float = 10.0) -> Status:
        """Stop the app and everything it started: ask, then force after ``grace`` seconds."""


class Backend(abc.ABC):
    """Starts launch plans as instances."""

    name: str

    @abc.abstractmethod
    async def start(self, plan: LaunchPlan) -> Instance:
        """Start ``plan``; returns once it is started (not necessarily ready)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every instance this backend started."""
