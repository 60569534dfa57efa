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
import time
from collections import deque
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from spacerunner.backends.base import Endpoint, Instance, Upstream
from spacerunner.backends.local import LocalProcess, open_log
from spacerunner.backends.logs import AppLog
from spacerunner.backends.probe import http_status
from spacerunner.config import Sdk, SpaceConfig, load_space
from spacerunner.envs import Environment, environment_needed
from spacerunner.errors import (
    AppExitedError,
    BackendError,
    ConfigError,
    EnvBuildError,
    LaunchError,
    SpacerunnerError,
    StartupTimeoutError,
)
from spacerunner.launch.plan import ContainerPlan, ProcessPlan
from spacerunner.launch.sdks import build_plan, space_options
from spacerunner.proxy.routes import Route
from spacerunner.supervisor.state import process_identity

if TYPE_CHECKING:
    from spacerunner.supervisor.supervisor import Supervisor


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
        self, name: str, path: Path, supervisor: Supervisor, problem: str | None = None
    ) -> None:
        self.name = name
        self.path = path
        self.sup = supervisor
        self.config: SpaceConfig | None = None
        self.name_problem = problem
        self.state = SpaceState.SLEEPING
        self.reason: str | None = None
        self.instance: Instance | None = None
        self.log: AppLog | None = None
        """The log of the latest run (kept after the app ends)."""
        self.crashes: deque[float] = deque()
        self.restarts = 0
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self.last_exit: str | None = None
        self.route = Route(name, prefix=f"/spaces/{name}", host=f"{name}.localhost")
        self._lock = asyncio.Lock()
        self._start_task: asyncio.Task[Endpoint] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._exit_reason: str | None = None
        self._expected_exit = False
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
        config = self.config
        route = Route(
            self.name,
            prefix=f"/spaces/{self.name}",
            host=f"{self.name}.localhost",
            strip_prefix=config is not None and config.sdk in (Sdk.GRADIO, Sdk.DOCKER),
            response_headers=tuple((k.encode(), v.encode()) for k, v in config.custom_headers)
            if config is not None
            else (),
            endpoint=self.route.endpoint,
        )
        self.route = route
        self.sup.router.add(route)
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

    async def _start(self) -> Endpoint:
        async with self._lock:
            if self.state is SpaceState.RUNNING and self.route.endpoint is not None:
                return self.route.endpoint
            config = self.config
            assert config is not None
            self._set(SpaceState.STARTING, None)
            self.started_at, self.ready_at = time.time(), None
            self._expected_exit = False
            self._exit_reason = None
            try:
                env = await self._environment(config)
                self._set(SpaceState.STARTING, None)
                plan = build_plan(
                    config,
                    space_options(
                        config,
                        env=env,
                        python=self.sup.options.python,
                        settings=self.sup.options.limits,
                        data_dir=root / self.name if (root := self.sup.options.data_root) else None,
                        mount=f"/spaces/{self.name}",
                        public_host=f"{self.name}.localhost:{self.sup.public_port}",
                        author=self.sup.options.author,
                        variables=self.sup.options.variables,
                        container=self.sup.options.container,
                    ),
                )
                instance = await self.sup.backend.start(plan)
            except (LaunchError, BackendError, EnvBuildError) as exc:
                self._fail(str(exc).split("\n", 1)[0])
                raise SpaceUnavailable(self.route.down_reason) from exc
            self.instance = instance
            self.log = instance.log
            self._remember_pid(instance)
            try:
                await instance.wait_ready(config.startup_duration_timeout)
            except (AppExitedError, StartupTimeoutError) as exc:
                self._expected_exit = True
                await instance.stop(self.sup.policy.stop_grace)
                self.instance = None
                self._forget_pid()
                self._fail(str(exc).split("\n", 1)[0])
                raise SpaceUnavailable(self.route.down_reason) from exc
            except asyncio.CancelledError:
                self._expected_exit = True
                await asyncio.shield(instance.stop(self.sup.policy.stop_grace))
                self.instance = None
                self._forget_pid()
                raise
            self.ready_at = time.time()
            self.route.last_active = time.monotonic()
            self._set(SpaceState.RUNNING, None)
            self._spawn(self._watch(instance))
            if (
                isinstance(plan, ProcessPlan | ContainerPlan)
                and self.sup.policy.health_interval > 0
            ):
                self._spawn(self._health(instance, plan))
            return instance.endpoint

    async def _environment(self, config: SpaceConfig) -> Environment | None:
        """The Space's built environment, or ``None`` for spacerunner's own interpreter."""
        options = self.sup.options
        spec = None if options.container else environment_needed(config, options.env_mode)
        if spec is None:
            return None
        self._set(SpaceState.BUILDING, None)
        self.sup.changed()
        log_dir = getattr(self.sup.backend, "log_dir", None)
        where = log_dir if isinstance(log_dir, Path) else self.path
        build_log = open_log(where, f"{self.name}.build")
        self.log = build_log
        try:
            env = await self.sup.builder.ensure(spec, build_log.feed)
        except EnvBuildError as exc:
            build_log.note(str(exc))
            raise
        finally:
            build_log.close()
        return env

    def _fail(self, reason: str) -> None:
        self.last_exit = reason
        self._set(SpaceState.ERROR, reason)
        self.sup.changed()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember_pid(self, instance: Instance) -> None:
        if isinstance(instance, LocalProcess):
            identity = process_identity(instance.pid)
            self.sup.state.record(self.name).pids = [identity] if identity else []
            self.sup.state.save()

    def _forget_pid(self) -> None:
        self.sup.state.record(self.name).pids = []
        self.sup.state.save()

    # --- watching ---

    async def _watch(self, instance: Instance) -> None:
        status = await instance.wait()
        if self.instance is not instance or self._expected_exit:
            return
        self.instance = None
        self._forget_pid()
        reason = self._exit_reason or status.reason or "ended"
        self.last_exit = reason
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.sup.policy.crash_window:
            self.crashes.popleft()
        policy = self.sup.policy
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
        self.sup.changed()

    async def _restart_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.restarts += 1
        with contextlib.suppress(SpaceUnavailable):
            await self.start()

    async def _health(self, instance: Instance, plan: ProcessPlan | ContainerPlan) -> None:
        policy = self.sup.policy
        failures = 0
        endpoint = instance.endpoint
        assert isinstance(endpoint, Upstream)
        while self.instance is instance and self.state is SpaceState.RUNNING:
            await asyncio.sleep(policy.health_interval)
            if self.instance is not instance or self.state is not SpaceState.RUNNING:
                return
            timeout = min(5.0, max(0.5, policy.health_interval))
            code = await http_status(endpoint, plan.probe.path, timeout=timeout)
            failures = 0 if code is not None and code < 500 else failures + 1
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
                await instance.stop(self.sup.policy.stop_grace)
                self.instance = None
                self._forget_pid()
            if self.state is SpaceState.ERROR and self.config is None:
                return
            if sleep:
                self._set(SpaceState.SLEEPING, "asleep after being idle")
            else:
                self._set(SpaceState.STOPPED, "stopped by an admin")
        record = self.sup.state.record(self.name)
        if remember and record.stopped != (not sleep):
            record.stopped = not sleep
            self.sup.state.save()
        self.sup.changed()

    async def admin_start(self) -> None:
        """An admin's start: clears a stop or an error and starts now."""
        record = self.sup.state.record(self.name)
        if record.stopped:
            record.stopped = False
            self.sup.state.save()
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
        self.sup.router.remove(self.name)
