"""One Space under supervision: its state machine and the policy that drives it.

    sleeping --first request--> starting --ready--> running --idle--> sleeping
                                   |                   |crash
                                   |failed             v
                                   v              restarting --backoff--> starting
                                 error <--too many crashes--'
    any --admin stop--> stopped --admin start--> starting

The backend only starts, watches and stops processes; every decision above is made here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from enum import StrEnum
from pathlib import Path

from spacerunner.backends.base import Endpoint, Instance
from spacerunner.backends.logs import AppLog
from spacerunner.config import SpaceConfig, load_space
from spacerunner.config.header import README
from spacerunner.errors import (
    AppExitedError,
    ConfigError,
    SpacerunnerError,
    StartupTimeoutError,
)
from spacerunner.launcher import Placement
from spacerunner.proxy.routes import Route
from spacerunner.supervisor.context import SpaceContext
from spacerunner.supervisor.state import process_identity
from spacerunner.urls import space_host, space_mount


class SpaceState(StrEnum):
    SLEEPING = "sleeping"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"


class SpaceUnavailable(SpacerunnerError):
    """The Space cannot serve requests now; the message says why."""


class ManagedSpace:
    def __init__(
        self, name: str, path: Path, context: SpaceContext, problem: str | None = None
    ) -> None:
        self.name = name
        self.path = path
        self.ctx = context
        self.config: SpaceConfig | None = None
        self.name_problem = problem
        self.state = SpaceState.SLEEPING
        self.reason: str | None = None
        self.instance: Instance | None = None
        self.log: AppLog | None = None
        """The log of the latest build or run (kept after the app ends)."""
        self.crashes: deque[float] = deque()
        self.restarts = 0
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self.last_exit: str | None = None
        self.route = Route(name, prefix=space_mount(name), host=space_host(name))
        self._lock = asyncio.Lock()
        self._start_task: asyncio.Task[Endpoint] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._exit_reason: str | None = None
        self._expected_exit = False
        context.router.add(self.route)
        self.reload()

    # --- configuration ---

    def reload(self) -> bool:
        """Read the README again; returns whether the configuration changed."""
        before = self.config
        try:
            self.config = load_space(self.path)
            problem = self.name_problem
        except ConfigError as exc:
            self.config = None
            problem = str(exc)
        except Exception as exc:  # whatever a hostile folder does, it is this Space's error
            self.config = None
            problem = f"{README} could not be read: {type(exc).__name__}: {exc}"[:500]
        if problem is not None:
            self._set(SpaceState.ERROR, problem)
        elif self.state is SpaceState.ERROR and self.instance is None:
            self._set(SpaceState.SLEEPING, None)  # fixed files clear an error
        else:
            self._set(self.state, self.reason)
        return before != self.config

    @property
    def title(self) -> str:
        return self.config.title if self.config is not None else self.name

    def mark_stopped(self) -> None:
        """Stopped by an admin (in an earlier server): stays down until an admin starts it."""
        if self.config is not None and self.instance is None:
            self._set(SpaceState.STOPPED, "stopped by an admin")

    def _set(self, state: SpaceState, reason: str | None) -> None:
        self.state, self.reason = state, reason
        route = self.route
        if state is SpaceState.RUNNING and self.instance is not None:
            route.endpoint = self.instance.endpoint
            return
        route.endpoint = None
        if state in (SpaceState.ERROR, SpaceState.STOPPED):
            route.waker, route.retry = None, False
            route.down_reason = (
                f"{self.title} failed: {reason}"
                if state is SpaceState.ERROR
                else f"{self.title} was stopped by an admin."
            )
        else:
            route.waker, route.retry = self.wake, True
            if state is SpaceState.SLEEPING:
                route.down_reason = f"{self.title} is waking up."
            elif state is SpaceState.BUILDING:
                route.down_reason = f"{self.title} is building its environment."
            else:
                route.down_reason = (
                    f"{self.title} is starting; this page reloads until it is ready."
                )

    # --- starting ---

    async def wake(self) -> Endpoint:
        """The route's waker: the endpoint once the Space runs (starting it if needed)."""
        if self.state is SpaceState.RUNNING and self.route.endpoint is not None:
            return self.route.endpoint
        if self.state in (SpaceState.ERROR, SpaceState.STOPPED):
            raise SpaceUnavailable(self.route.down_reason)
        if self.state is SpaceState.RESTARTING and self._restart_task is not None:
            await asyncio.shield(self._restart_task)
            if self.route.endpoint is not None:
                return self.route.endpoint
        return await self.start()

    async def start(self) -> Endpoint:
        """Start the Space, or join the start already under way (one start for many callers)."""
        if self.state is SpaceState.ERROR and self.config is None:
            raise SpaceUnavailable(self.route.down_reason)
        if self._start_task is None or self._start_task.done():
            self._start_task = asyncio.create_task(self._start(), name=f"start:{self.name}")
        return await asyncio.shield(self._start_task)

    def _placement(self) -> Placement:
        root, ctx = self.ctx.data_root, self.ctx
        variables = dict(ctx.secrets.get(self.name)) if ctx.secrets is not None else {}
        host_ports: tuple[int, ...] = ()
        config = self.config
        if config is not None and config.oauth.enabled and ctx.oauth is not None:
            # Its sign-in goes through the server's OpenID provider, reached at the server's
            # own port of the app's loopback.
            variables.update(ctx.oauth(self.name, config.oauth))
            host_ports = (ctx.public_port,)
        return Placement(
            public_host=f"{space_host(self.name)}:{ctx.public_port}",
            mount=space_mount(self.name),
            data_dir=root / self.name if root is not None else None,
            variables=variables,
            host_ports=host_ports,
        )

    def _building(self, log: AppLog) -> None:
        self.log = log
        self._set(SpaceState.BUILDING, None)
        self.ctx.changed()

    async def _start(self) -> Endpoint:
        async with self._lock:
            if self.state is SpaceState.RUNNING and self.route.endpoint is not None:
                return self.route.endpoint
            config = self.config
            assert config is not None
            clock, grace = self.ctx.clock, self.ctx.policy.stop_grace
            self._set(SpaceState.STARTING, None)
            self.started_at, self.ready_at = clock.time(), None
            self._expected_exit = False
            self._exit_reason = None
            try:
                launched = await self.ctx.launcher.launch(
                    config, self._placement(), on_build=self._building
                )
            except (SpacerunnerError, OSError) as exc:
                self._fail(str(exc).split("\n", 1)[0])
                raise SpaceUnavailable(self.route.down_reason) from exc
            instance = launched.instance
            self.route.apply(launched.plan, config)
            self.instance = instance
            self.log = instance.log
            self._set(SpaceState.STARTING, None)
            self._remember_pid(instance)
            self.ctx.changed()
            try:
                await instance.wait_ready(config.startup_duration_timeout)
            except (AppExitedError, StartupTimeoutError) as exc:
                self._expected_exit = True
                await instance.stop(grace)
                self.instance = None
                self._forget_pid()
                self._fail(str(exc).split("\n", 1)[0])
                raise SpaceUnavailable(self.route.down_reason) from exc
            except asyncio.CancelledError:
                self._expected_exit = True
                await asyncio.shield(instance.stop(grace))
                self.instance = None
                self._forget_pid()
                raise
            self.ready_at = clock.time()
            self.route.last_active = clock.monotonic()
            self._set(SpaceState.RUNNING, None)
            self.ctx.changed()
            self._spawn(self._watch(instance))
            if self.ctx.policy.health_interval > 0:
                self._spawn(self._health(instance))
            return instance.endpoint

    def _fail(self, reason: str) -> None:
        self.last_exit = reason
        self._set(SpaceState.ERROR, reason)
        self.ctx.changed()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember_pid(self, instance: Instance) -> None:
        pid = instance.status().pid
        if pid is not None:
            identity = process_identity(pid)
            self.ctx.state.record(self.name).pids = [identity] if identity else []
            self.ctx.state.save()

    def _forget_pid(self) -> None:
        record = self.ctx.state.record(self.name)
        if record.pids:
            record.pids = []
            self.ctx.state.save()

    # --- watching ---

    async def _watch(self, instance: Instance) -> None:
        status = await instance.wait()
        if self.instance is not instance or self._expected_exit:
            return
        self.instance = None
        self._forget_pid()
        reason = self._exit_reason or status.reason or "ended"
        self.last_exit = reason
        policy = self.ctx.policy
        now = self.ctx.clock.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > policy.crash_window:
            self.crashes.popleft()
        if len(self.crashes) > policy.max_crashes:
            self._fail(
                f"{reason}; it crashed {len(self.crashes)} times in "
                f"{policy.crash_window:g}s, so it is not restarted again"
            )
            return
        delay = policy.backoff(len(self.crashes))
        self._set(SpaceState.RESTARTING, f"{reason}; restarting in {delay:g}s")
        instance.log.note(f"crashed ({reason}); restarting in {delay:g}s")
        self._restart_task = asyncio.create_task(self._restart_after(delay))
        self.ctx.changed()

    async def _restart_after(self, delay: float) -> None:
        await self.ctx.clock.sleep(delay)
        self.restarts += 1
        with contextlib.suppress(SpaceUnavailable):
            await self.start()

    async def _health(self, instance: Instance) -> None:
        policy = self.ctx.policy
        failures = 0
        timeout = min(5.0, max(0.5, policy.health_interval))
        while self.instance is instance and self.state is SpaceState.RUNNING:
            await self.ctx.clock.sleep(policy.health_interval)
            if self.instance is not instance or self.state is not SpaceState.RUNNING:
                return
            failures = 0 if await instance.healthy(timeout) else failures + 1
            if failures >= policy.health_failures:
                self._exit_reason = f"stopped answering health checks ({failures} in a row)"
                instance.log.note(self._exit_reason + "; restarting")
                await instance.stop(policy.stop_grace)
                return

    # --- stopping ---

    async def stop(self, *, sleep: bool = False, remember: bool = True) -> None:
        """Stop the app: asleep (wakes on the next request) or stopped (until an admin starts
        it). ``remember`` records that choice for the next server (a shutdown does not)."""
        for task in (self._start_task, self._restart_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, SpacerunnerError):
                    await task
        self._restart_task = None
        async with self._lock:
            instance = self.instance
            if instance is not None:
                self._expected_exit = True
                self._set(SpaceState.STOPPING, None)
                await instance.stop(self.ctx.policy.stop_grace)
                self.instance = None
                self._forget_pid()
            if self.state is SpaceState.ERROR and self.config is None:
                return
            if sleep:
                self._set(SpaceState.SLEEPING, "asleep after being idle")
            else:
                self._set(SpaceState.STOPPED, "stopped by an admin")
        record = self.ctx.state.record(self.name)
        if remember and record.stopped != (not sleep):
            record.stopped = not sleep
            self.ctx.state.save()
        self.ctx.changed()

    async def admin_start(self) -> None:
        """An admin's start: clears a stop or an error and starts now."""
        record = self.ctx.state.record(self.name)
        if record.stopped:
            record.stopped = False
            self.ctx.state.save()
        if self.state in (SpaceState.STOPPED, SpaceState.ERROR) and self.config is not None:
            self.crashes.clear()
            self._set(SpaceState.SLEEPING, None)
        await self.start()

    async def restart(self) -> None:
        await self.stop(sleep=True)
        await self.admin_start()

    def idle_for(self, now: float) -> float:
        route = self.route
        if route.active_requests > 0 or route.open_tunnels > 0:
            return 0.0
        return now - route.last_active

    async def close(self) -> None:
        await self.stop(sleep=True, remember=False)
        for task in list(self._tasks):
            task.cancel()
        self.ctx.router.remove(self.name)
