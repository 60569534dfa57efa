"""One Space under supervision: its state machine and the policy that drives it.

    sleeping --first request--> starting --ready--> running --idle--> sleeping
                                   |                   |crash
                                   |failed             v
                                   v              restarting --backoff--> starting
                                 error <--too many crashes--'
    any --admin stop--> stopped --admin start--> starting

What a start needs is built ahead: when the Space is registered and when its files change
(``building`` while nothing runs). A running Space whose files change keeps serving while the new
revision builds and starts beside it (its :class:`BuildStatus`); the new one then takes new
requests and the old one stops once the requests and WebSockets it had have ended. A failed
build or start of a new revision leaves the old one serving.

The backend only starts, watches and stops processes; every decision above is made here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path

from spacerunner.backends.base import Endpoint, Instance
from spacerunner.backends.logs import AppLog, LogKind
from spacerunner.config import SpaceConfig, load_space
from spacerunner.config.header import README
from spacerunner.config.model import Sdk
from spacerunner.errors import (
    AppExitedError,
    ConfigError,
    SpacerunnerError,
    StartupTimeoutError,
    cause,
    summary,
)
from spacerunner.launch.plan import LaunchPlan
from spacerunner.launcher import Placement
from spacerunner.proxy.routes import Route
from spacerunner.supervisor.builds import BuildState, BuildStatus
from spacerunner.supervisor.context import SpaceContext
from spacerunner.supervisor.events import Lifecycle, SpaceEvent, Trigger
from spacerunner.supervisor.revision import fingerprint, git_revision
from spacerunner.supervisor.state import process_identity
from spacerunner.urls import space_host, space_mount

DRAIN_POLL = 0.1
"""Seconds between looks at whether a replaced app still answers anything."""


class SpaceState(StrEnum):
    SLEEPING = "sleeping"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"


_BEFORE_RUNNING = frozenset({SpaceState.SLEEPING, SpaceState.BUILDING, SpaceState.STARTING})
"""States in which a build under way is what the Space is doing."""


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
        """The configuration of the revision that runs (or runs next)."""
        self.name_problem = problem
        self.state = SpaceState.SLEEPING
        self.reason: str | None = None
        self.instance: Instance | None = None
        self.log: AppLog | None = None
        """The log of the latest run (kept after the app ends)."""
        self.build_log: AppLog | None = None
        """The log of the latest build (kept after it ends)."""
        self.build: BuildStatus | None = None
        """The latest build, or update of the running revision."""
        self.revision: str | None = None
        """The git commit the running app was started from (when the Space is a work tree)."""
        self.crashes: deque[float] = deque()
        self.restarts = 0
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self.last_exit: str | None = None
        self.route = Route(name, prefix=space_mount(name), host=space_host(name))
        self._lock = asyncio.Lock()
        self._build_lock = asyncio.Lock()
        self._start_task: asyncio.Task[Endpoint] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._prebuild_task: asyncio.Task[None] | None = None
        self._update_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[Instance] = set()
        """Replaced apps finishing what they were answering."""
        self._exit_reason: str | None = None
        self._expected_exit = False
        self._files: str | None = None
        """The fingerprint of the files the running app was started from."""
        self._early_output: list[bytes] = []
        self._next_revision: str | None = None
        """The git commit being built or started."""
        context.router.add(self.route)
        self.reload()

    # --- configuration ---

    def _read(self) -> tuple[SpaceConfig | None, str | None]:
        """The configuration in the README now, or why there is none."""
        try:
            return load_space(self.path), self.name_problem
        except ConfigError as exc:
            return None, str(exc)
        except Exception as exc:  # whatever a hostile folder does, it is this Space's error
            return None, f"{README} could not be read: {type(exc).__name__}: {exc}"[:500]

    def reload(self) -> None:
        """Read the README again (a broken one is the Space's error)."""
        self.config, problem = self._read()
        if problem is not None:
            self.config = None
            self._set(SpaceState.ERROR, problem)
        elif self.state is SpaceState.ERROR and self.instance is None:
            self._set(SpaceState.SLEEPING, None)  # fixed files clear an error
        else:
            self._set(self.state, self.reason)

    @property
    def always_on(self) -> bool:
        """Whether it serves from registration and never sleeps: a static Space, whose files
        the proxy serves (no process, nothing to save by sleeping), as on Spaces."""
        return self.config is not None and self.config.sdk is Sdk.STATIC

    @property
    def title(self) -> str:
        return self.config.title if self.config is not None else self.name

    def mark_stopped(self) -> None:
        """Stopped by an admin (in an earlier server): stays down until an admin starts it."""
        if self.config is not None and self.instance is None:
            self._set(SpaceState.STOPPED, "stopped by an admin")

    def log_of(self, kind: LogKind) -> AppLog | None:
        """The latest log of that kind this server has (None: read its file)."""
        return self.log if kind is LogKind.RUN else self.build_log

    def _emit(
        self,
        kind: Lifecycle,
        *,
        seconds: float | None = None,
        detail: str | None = None,
        trigger: Trigger | None = None,
    ) -> None:
        self.ctx.events.emit(SpaceEvent(self.name, kind, seconds, detail, trigger))

    def _set(self, state: SpaceState, reason: str | None) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self.ctx.changed()  # at once: pages, the gallery and ps follow every change
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

    # --- building ---

    def _building(self, state: BuildState, error: str | None = None) -> None:
        now = self.ctx.clock.time()
        build = self.build
        if build is None or state is BuildState.QUEUED or build.state is BuildState.DONE:
            started = now  # a new build (or update)
        else:
            started = build.started_at
        if state is BuildState.FAILED and (build is None or build.state is not BuildState.FAILED):
            self._emit(Lifecycle.BUILD_FAILED, seconds=now - started, detail=error)
        self.build = BuildStatus(
            state=state,
            revision=self._next_revision,
            since=now,
            started_at=started,
            error=error,
        )
        self.ctx.changed()

    @contextlib.asynccontextmanager
    async def _place(self) -> AsyncIterator[None]:
        """A build's place in the server's queue: it shows as this Space's build, with its log
        from the moment its turn comes (notes written before it go first)."""
        self._building(BuildState.QUEUED)
        if self.instance is None and self.state in _BEFORE_RUNNING:
            self._set(SpaceState.BUILDING, "waiting for another Space's build to finish")

        def turn() -> None:
            log = self.build_log = self.ctx.launcher.backend.open_log(self.name, LogKind.BUILD)
            for data in self._early_output:
                log.feed(data)
            self._early_output.clear()
            self._building(BuildState.BUILDING)
            self._emit(Lifecycle.BUILDING, detail=_short(self._next_revision))
            if self.instance is None and self.state in _BEFORE_RUNNING:
                self._set(SpaceState.BUILDING, None)

        async with self.ctx.builds.place(turn):
            yield

    def _output(self, data: bytes) -> None:
        log = self.build_log
        if log is not None and not log.closed:
            log.feed(data)
        else:
            self._early_output.append(data)

    async def _prepare(self, config: SpaceConfig) -> LaunchPlan:
        """The plan of a start of ``config``, building first what is missing (in the queue,
        shown as this Space's build). One at a time per Space."""
        async with self._build_lock:
            self._next_revision = await asyncio.to_thread(git_revision, self.path)
            self._early_output.clear()
            try:
                plan = await self.ctx.launcher.prepare(
                    config, self._placement(config), self._output, self._place
                )
            except (SpacerunnerError, OSError) as exc:
                if self.build_log is not None and not self.build_log.closed:
                    self.build_log.note(str(exc))
                self._building(BuildState.FAILED, summary(exc))
                raise
            finally:
                self._early_output.clear()
                if self.build_log is not None:
                    self.build_log.close()
            build = self.build
            if build is not None and build.state is BuildState.BUILDING:
                self._building(BuildState.DONE)
                took = self.ctx.clock.time() - build.since  # since its turn came
                self._emit(Lifecycle.BUILT, seconds=took, detail=_short(self._next_revision))
            return plan

    def prebuild(self) -> None:
        """Build what the next start needs now (the Space was registered or changed), so the
        first visit only waits for the app."""
        if self.config is None or self.instance is not None:
            return
        if self.state not in (SpaceState.SLEEPING, SpaceState.BUILDING):
            return
        if self._prebuild_task is not None and not self._prebuild_task.done():
            self._prebuild_task.cancel()  # the files changed under it: build the new ones
        self._prebuild_task = asyncio.create_task(self._prebuild(), name=f"build:{self.name}")

    async def _prebuild(self) -> None:
        config = self.config
        assert config is not None
        try:
            await self._prepare(config)
        except (SpacerunnerError, OSError) as exc:
            if self.instance is None and self.config is config:
                self._fail(summary(exc))
            return
        starting = self._start_task is not None and not self._start_task.done()
        if self.state is SpaceState.BUILDING and not starting:
            self._set(SpaceState.SLEEPING, None)
        if self.always_on and self.state is SpaceState.SLEEPING and not starting:
            # started, not awaited: a start waits for the build under way, which is this one
            self._start_task = asyncio.create_task(
                self._start(Trigger.REGISTERED), name=f"start:{self.name}"
            )
            self._start_task.add_done_callback(_retrieve)

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
        return await self.start(Trigger.VISIT)

    async def start(self, trigger: Trigger = Trigger.VISIT) -> Endpoint:
        """Start the Space, or join the start already under way (one start for many callers;
        ``trigger``: what asks for it, as reported)."""
        if self.state is SpaceState.ERROR and self.config is None:
            raise SpaceUnavailable(self.route.down_reason)
        if self._start_task is None or self._start_task.done():
            self._start_task = asyncio.create_task(self._start(trigger), name=f"start:{self.name}")
        return await asyncio.shield(self._start_task)

    def _placement(self, config: SpaceConfig) -> Placement:
        root, ctx = self.ctx.data_root, self.ctx
        variables = dict(ctx.secrets.get(self.name)) if ctx.secrets is not None else {}
        host_ports: tuple[int, ...] = ()
        if config.oauth.enabled and ctx.oauth is not None:
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

    async def _start(self, trigger: Trigger) -> Endpoint:
        prebuild = self._prebuild_task
        if prebuild is not None and not prebuild.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(prebuild)  # its build is this start's build
        async with self._lock:
            if self.state is SpaceState.RUNNING and self.route.endpoint is not None:
                return self.route.endpoint
            if self.state is SpaceState.ERROR:
                raise SpaceUnavailable(self.route.down_reason)
            config = self.config
            assert config is not None
            self._set(SpaceState.STARTING, None)
            self.started_at, self.ready_at = self.ctx.clock.time(), None
            began = self.ctx.clock.monotonic()
            self._emit(Lifecycle.STARTING, trigger=trigger)
            self._expected_exit = False
            self._exit_reason = None
            try:
                files = await asyncio.to_thread(fingerprint, self.path)
                plan = await self._prepare(config)
                self._set(SpaceState.STARTING, None)
                instance = await self.ctx.launcher.start(plan)
            except (SpacerunnerError, OSError) as exc:
                self._fail(summary(exc))
                raise SpaceUnavailable(self.route.down_reason) from exc
            self._emit(Lifecycle.STARTED, seconds=self.ctx.clock.monotonic() - began)
            self.route.apply(plan, config)
            self.instance = instance
            self.log = instance.log
            self._files, self.revision = files, self._next_revision
            self._set(SpaceState.STARTING, None)
            self._remember_pids()
            self.ctx.changed()
            try:
                await self._until_ready(instance, config)
            except BaseException as exc:
                self.instance = None
                self._remember_pids()
                if not isinstance(exc, AppExitedError | StartupTimeoutError):
                    raise
                self._fail(summary(exc))
                raise SpaceUnavailable(self.route.down_reason) from exc
            self._running(instance, trigger, self.ctx.clock.monotonic() - began)
            return instance.endpoint

    async def _until_ready(self, instance: Instance, config: SpaceConfig) -> None:
        """Wait until ``instance`` answers; one that does not (it ended, it timed out, or the
        wait was called off) is stopped before the error goes on."""
        try:
            await instance.wait_ready(config.startup_duration_timeout)
        except BaseException:
            await asyncio.shield(instance.stop(self.ctx.policy.stop_grace))
            raise

    def _running(self, instance: Instance, trigger: Trigger, took: float) -> None:
        """``instance`` is ready (``took`` seconds after its start began): it serves, and is
        watched from now on."""
        self.ready_at = self.ctx.clock.time()
        self.route.last_active = self.ctx.clock.monotonic()
        self._set(SpaceState.RUNNING, None)
        self._emit(Lifecycle.READY, seconds=took, trigger=trigger)
        self._spawn(self._watch(instance))
        if self.ctx.policy.health_interval > 0:
            self._spawn(self._health(instance))

    def _ran(self) -> float | None:
        """How long the app that served (or just ended) had been ready."""
        return self.ctx.clock.time() - self.ready_at if self.ready_at is not None else None

    def _fail(self, reason: str) -> None:
        self.last_exit = reason
        self._set(SpaceState.ERROR, reason)
        self._emit(Lifecycle.FAILED, detail=reason)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember_pids(self) -> None:
        """Record the app processes running now (the current one and replaced ones still
        finishing), for a next server to end if this one dies."""
        pids = []
        for instance in (self.instance, *self._retiring):
            pid = instance.status().pid if instance is not None else None
            identity = process_identity(pid) if pid is not None else None
            if identity is not None:
                pids.append(identity)
        record = self.ctx.state.record(self.name)
        if record.pids != pids:
            record.pids = pids
            self.ctx.state.save()

    # --- new revisions ---

    def update(self, why: str) -> None:
        """The Space's files changed (``why``: an edit, a push): a running Space builds and
        starts the new revision beside the one serving and switches when it is ready; one that
        does not run builds it for its next start. A newer change supersedes one under way."""
        if self._update_task is not None and not self._update_task.done():
            self._update_task.cancel()
        self._update_task = asyncio.create_task(self._update(why), name=f"update:{self.name}")

    async def wait_updated(self) -> None:
        """Return once the update under way (if any) has ended, however it ended."""
        task = self._update_task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)

    async def _update(self, why: str) -> None:
        starting = self._start_task
        if starting is not None and not starting.done():
            with contextlib.suppress(asyncio.CancelledError, SpacerunnerError):
                await asyncio.shield(starting)  # then it is the revision to replace, or not
        old = self.instance
        if old is None or self.state is not SpaceState.RUNNING:
            self.reload()
            self.prebuild()
            self.ctx.changed()
            return
        config, problem = self._read()
        files = await asyncio.to_thread(fingerprint, self.path)
        if config is not None and config == self.config and files == self._files:
            return  # the same revision noticed twice (a push and the folder's watcher)
        if config is None or problem is not None:
            self._next_revision = await asyncio.to_thread(git_revision, self.path)
            reason = problem or "no configuration"
            old.log.note(f"{why}, but the new revision cannot run: {reason}; this one serves on")
            self._building(BuildState.FAILED, reason)
            return
        old.log.note(f"{why}: building the new revision while this one serves")
        began = self.ctx.clock.monotonic()
        try:
            plan = await self._prepare(config)
            if not self.ctx.launcher.backend.side_by_side(plan):
                old.log.note("the new revision cannot start beside this one; restarting")
                self.config = config
                await self.restart()
                return
            new = await self._start_new(config, plan)
        except (SpacerunnerError, OSError) as exc:
            reason = summary(exc)
            old.log.note(f"the new revision failed: {reason}; this one serves on")
            self._building(BuildState.FAILED, reason)
            return
        self._switch(config, new, files, began)

    async def _start_new(self, config: SpaceConfig, plan: LaunchPlan) -> Instance:
        """Start ``plan`` beside the app that serves and wait until it is ready (stopped
        again when it is not, or when the update is called off)."""
        self._building(BuildState.STARTING)
        new = await self.ctx.launcher.start(plan)
        self._retiring.add(new)  # until it takes over: a stray to end if the server dies
        self._remember_pids()
        try:
            await self._until_ready(new, config)
        except BaseException as exc:
            serving = self.instance
            if serving is not None and not isinstance(exc, asyncio.CancelledError):
                serving.log.note("the new revision's last lines:")
                for line in new.log.tail(20):
                    serving.log.feed(f"  | {line}\n".encode())
            raise
        finally:
            self._retiring.discard(new)
            self._remember_pids()
        self.route.apply(plan, config)
        return new

    def _switch(self, config: SpaceConfig, new: Instance, files: str, began: float) -> None:
        """``new`` takes new requests and connections; the app it replaces finishes its own."""
        old = self.instance
        for task in (self._restart_task, self._start_task):
            if task is not None and not task.done():
                task.cancel()  # the old app crashed meanwhile: the new one is its restart
        self.config = config
        self.instance, self.log = new, new.log
        self._files, self.revision = files, self._next_revision
        self.started_at = new.created_at
        took = self.ctx.clock.monotonic() - began
        self._running(new, Trigger.REVISION, took)
        self._emit(Lifecycle.SWITCHED, seconds=took, detail=_short(self.revision))
        if old is not None and not old.ended:
            old.log.note("the new revision serves; finishing what this one answers, then stop")
            self._retiring.add(old)
            self._spawn(self._retire(old))
        self._remember_pids()
        self._building(BuildState.DONE)

    async def _retire(self, old: Instance) -> None:
        clock, policy = self.ctx.clock, self.ctx.policy
        deadline = clock.monotonic() + policy.drain_timeout
        try:
            while self.route.users(old.endpoint) > 0 and not old.ended:
                if clock.monotonic() >= deadline:
                    old.log.note(
                        f"still answering after {policy.drain_timeout:g}s; stopping it anyway"
                    )
                    break
                await clock.sleep(DRAIN_POLL)
            await old.stop(policy.stop_grace)
        finally:
            self._retiring.discard(old)
            self._remember_pids()

    # --- watching ---

    async def _watch(self, instance: Instance) -> None:
        status = await instance.wait()
        if self.instance is not instance or self._expected_exit:
            return
        self.instance = None
        self._remember_pids()
        reason = self._exit_reason or status.reason or "ended"
        if self._exit_reason is None and status.limit_exceeded is None:
            found = cause(instance.log.tail(40))  # what the app said as it ended
            reason = f"{reason}: {found}" if found else reason
        self.last_exit = reason
        policy = self.ctx.policy
        now = self.ctx.clock.monotonic()
        self._emit(Lifecycle.CRASHED, seconds=self._ran(), detail=reason)
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
        self._emit(Lifecycle.RESTARTING, seconds=delay)
        self._restart_task = asyncio.create_task(self._restart_after(delay))

    async def _restart_after(self, delay: float) -> None:
        await self.ctx.clock.sleep(delay)
        self.restarts += 1
        with contextlib.suppress(SpaceUnavailable):
            await self.start(Trigger.RESTART)

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

    async def stop(
        self, *, sleep: bool = False, remember: bool = True, why: str | None = None
    ) -> None:
        """Stop the app: asleep (wakes on the next request) or stopped (until an admin starts
        it). ``remember`` records that choice for the next server (a shutdown does not);
        ``why`` is reported (default: an admin asked)."""
        current = asyncio.current_task()
        for task in (self._update_task, self._prebuild_task, self._start_task, self._restart_task):
            if task is not None and not task.done() and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, SpacerunnerError):
                    await task
        self._restart_task = None
        async with self._lock:
            instance, was = self.instance, self.state
            grace = self.ctx.policy.stop_grace
            if instance is not None or self._retiring:
                self._expected_exit = True
                self._set(SpaceState.STOPPING, None)
                await asyncio.gather(
                    *(i.stop(grace) for i in (*filter(None, [instance]), *self._retiring))
                )
                self.instance = None
                self._remember_pids()
            if self.state is SpaceState.ERROR and self.config is None:
                return
            why = why or "an admin asked"
            if sleep:
                self._set(SpaceState.SLEEPING, f"asleep: {why}")
            else:
                self._set(SpaceState.STOPPED, "stopped by an admin")
            if instance is not None or (not sleep and was is not SpaceState.STOPPED):
                kind = Lifecycle.SLEEPING if sleep else Lifecycle.STOPPED
                ran = self._ran() if instance is not None else None
                self._emit(kind, seconds=ran, detail=why)
        record = self.ctx.state.record(self.name)
        if remember and record.stopped != (not sleep):
            record.stopped = not sleep
            self.ctx.state.save()

    async def admin_start(self) -> None:
        """An admin's start: clears a stop or an error and starts now."""
        record = self.ctx.state.record(self.name)
        if record.stopped:
            record.stopped = False
            self.ctx.state.save()
        if self.state in (SpaceState.STOPPED, SpaceState.ERROR) and self.config is not None:
            self.crashes.clear()
            self._set(SpaceState.SLEEPING, None)
        await self.start(Trigger.ADMIN)

    async def restart(self) -> None:
        await self.stop(sleep=True, why="restarting")
        await self.admin_start()

    def idle_for(self, now: float) -> float:
        route = self.route
        if route.active_requests > 0 or route.open_tunnels > 0:
            return 0.0
        return now - route.last_active

    async def close(self) -> None:
        await self.stop(sleep=True, remember=False, why="the server is stopping")
        for task in list(self._tasks):
            task.cancel()
        self.ctx.router.remove(self.name)


def _short(revision: str | None) -> str | None:
    """A git commit as people read it (its first 12 hex digits)."""
    return f"revision {revision[:12]}" if revision else None


def _retrieve(task: asyncio.Task[Endpoint]) -> None:
    """Take the outcome of a start nobody awaits (a failure is already the Space's state)."""
    if not task.cancelled():
        task.exception()
