"""Fakes of the backend contract and of time, for testing the supervisor's state machine in
milliseconds (as JupyterHub's mock spawners and httpx's mock transport do): a backend whose
instances the test drives (ready, crash, exit while starting, health answers, slow stops) and
whose builds it holds or breaks, and
a clock whose sleeps take no time but are recorded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from spacerunner.backends.base import Backend, Instance, Status, Upstream
from spacerunner.backends.logs import AppLog
from spacerunner.envs import EnvMode
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.errors import AppExitedError, BackendError, StartupTimeoutError
from spacerunner.launch.plan import LaunchPlan
from spacerunner.launcher import Launcher, SpaceSettings
from spacerunner.proxy.routes import Router
from spacerunner.supervisor import Policy, Supervisor
from spacerunner.supervisor.context import Clock
from spacerunner.supervisor.secrets import SecretStore
from spacerunner.supervisor.state import StateFile


async def until(
    check: Callable[[], bool], what: Callable[[], str] = lambda: "", seconds: float = 5.0
) -> None:
    """Let the loop run until ``check()`` holds (bounded in real time: the supervisor's few
    blocking looks at a Space's files run in threads); ``what`` says what was seen instead."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached; {what()}")
        await asyncio.sleep(0.0005)


class FakeClock(Clock):
    """Starts at 0; ``sleep`` advances it at once (after letting other tasks run)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeInstance(Instance):
    """An app that does what the test says: :meth:`ready`, :meth:`crash`, answer health checks
    from :attr:`health` (healthy once it runs out), and stop at once or when
    :attr:`stop_gate` opens."""

    def __init__(self, plan: LaunchPlan, log: AppLog, backend: FakeBackend) -> None:
        super().__init__(plan, Upstream("127.0.0.1", backend.next_port()), log)
        self._ready = asyncio.get_running_loop().create_future()
        self.health: list[bool] = []
        self.checks = 0
        self.stop_gate: asyncio.Event | None = None
        self.stops = 0
        if backend.auto_ready:
            self.ready()

    def ready(self) -> None:
        if not self._ready.done():
            self._ready.set_result(None)

    def crash(self, code: int = 1) -> None:
        """The app ends on its own."""
        if not self.ended:
            self.log.note("crashing (fake)")
            self._ended(code)
            self.log.close()  # as real backends close an ended app's log

    async def wait_ready(self, timeout: float | None = None) -> None:
        ended = asyncio.ensure_future(self.wait())
        try:
            done, _ = await asyncio.wait(
                {self._ready, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
        if self._ready in done and not self.ended:
            self._mark_ready()
            return
        if not done:
            raise StartupTimeoutError(self.name, timeout or 0, "the fake's ready()", ())
        status = self.status()
        raise AppExitedError(self.name, status.returncode, status.reason or "ended", ())

    async def healthy(self, timeout: float) -> bool:
        self.checks += 1
        return self.health.pop(0) if self.health else True

    async def stop(self, grace: float = 10.0) -> Status:
        self.stops += 1
        if self._mark_stopping("stopping (fake)"):
            if self.stop_gate is not None:
                await self.stop_gate.wait()
            self._ended(-15)
            self.log.close()
        return await self.wait()


class FakeBackend(Backend):
    """Starts :class:`FakeInstance` s; ``fail_with`` makes the next start raise."""

    name = "fake"

    def __init__(self, log_dir: Path, *, auto_ready: bool = True) -> None:
        super().__init__(log_dir)
        self.auto_ready = auto_ready
        self.started: list[FakeInstance] = []
        self.fail_with: BaseException | None = None
        self.on_start: Callable[[FakeInstance], None] | None = None
        self.needs_build: set[str] = set()
        self.build_gate: asyncio.Event | None = None
        self.build_error: str | None = None
        self.builds: list[str] = []
        self.building = 0
        self.most_building = 0
        self._port = 40000

    async def prepare(
        self, plan: LaunchPlan, output: Output, slot: BuildSlot | None = None
    ) -> None:
        """Builds (in ``slot``) when the Space is in :attr:`needs_build`: waits for
        :attr:`build_gate` when set, fails with :attr:`build_error` when set."""
        if plan.name not in self.needs_build:
            output(b"[fake] nothing to build\n")
            return
        async with slot() if slot is not None else contextlib.nullcontext():
            self.building += 1
            self.most_building = max(self.most_building, self.building)
            self.builds.append(plan.name)
            try:
                output(b"[fake] building\n")
                if self.build_gate is not None:
                    await self.build_gate.wait()
                if self.build_error is not None:
                    output(b"[fake] the build broke\n")
                    raise BackendError(f"{plan.name}: {self.build_error}")
                self.needs_build.discard(plan.name)
            finally:
                self.building -= 1

    def next_port(self) -> int:
        self._port += 1
        return self._port

    async def start(self, plan: LaunchPlan) -> Instance:
        await asyncio.sleep(0)
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        instance = FakeInstance(plan, self.open_log(plan.name), self)
        self.started.append(instance)
        if self.on_start is not None:
            self.on_start(instance)
        return self._track(instance)

    @property
    def latest(self) -> FakeInstance:
        return self.started[-1]


def fake_supervisor(
    spaces: Path,
    tmp: Path,
    *,
    variables: dict[str, str] | None = None,
    secrets: SecretStore | None = None,
    policy: Policy | None = None,
) -> tuple[Supervisor, FakeBackend]:
    """A supervisor of the Space folders in ``spaces`` whose apps are fakes (nothing runs; no
    watching, no health checks); not scanned yet."""
    backend = FakeBackend(tmp / "logs")
    supervisor = Supervisor(
        [spaces],
        Launcher(SpaceSettings(env_mode=EnvMode.CURRENT, variables=variables or {}), backend),
        Router(),
        state=StateFile(tmp / "state.json"),
        public_port=8000,
        policy=policy or Policy(watch=False, health_interval=0),
        secrets=secrets,
    )
    return supervisor, backend
