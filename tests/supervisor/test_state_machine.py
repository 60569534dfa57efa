"""The supervisor's state machine against a fake backend and a fake clock: no processes, no
sleeping, each test a few milliseconds. The real-process layer is tests/server/."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fakes import FakeBackend, FakeClock, FakeInstance, until

from spacerunner.envs import EnvMode
from spacerunner.errors import BackendError
from spacerunner.launcher import Launcher, SpaceSettings
from spacerunner.limits import LimitSettings
from spacerunner.proxy.routes import Router
from spacerunner.supervisor.context import SpaceContext
from spacerunner.supervisor.events import Lifecycle, SpaceEvent, Trigger
from spacerunner.supervisor.policy import Policy
from spacerunner.supervisor.space import ManagedSpace, SpaceState, SpaceUnavailable
from spacerunner.supervisor.state import StateFile

README = "---\ntitle: Demo\nsdk: gradio\napp_file: app.py\n---\n"


class Harness:
    def __init__(self, tmp: Path, policy: Policy, *, auto_ready: bool = True) -> None:
        folder = tmp / "demo"
        folder.mkdir()
        (folder / "README.md").write_text(README)
        (folder / "app.py").write_text("print('never run: the backend is a fake')\n")
        self.backend = FakeBackend(tmp / "logs", auto_ready=auto_ready)
        self.clock = FakeClock()
        self.changes = 0
        self.seen: list[tuple[SpaceState, str | None]] = []
        """The state at each change the server was told of."""
        self.events: list[SpaceEvent] = []
        settings = SpaceSettings(env_mode=EnvMode.CURRENT, limits=LimitSettings(enabled=False))
        self.router = Router()
        self.context = SpaceContext(
            launcher=Launcher(settings, self.backend),
            router=self.router,
            state=StateFile(tmp / "state.json"),
            policy=policy,
            public_port=8000,
            changed=self._changed,
            clock=self.clock,
        )
        self.context.events.subscribe(self.events.append)
        self.space = ManagedSpace("demo", folder, self.context)

    def _changed(self) -> None:
        self.changes += 1
        space = getattr(self, "space", None)
        if space is not None:
            self.seen.append((space.state, space.reason))

    def kinds(self) -> list[Lifecycle]:
        return [event.kind for event in self.events]

    async def until(self, check: Callable[[], bool]) -> None:
        await until(check, lambda: f"state {self.space.state}: {self.space.reason}")

    async def crash_and_settle(self, instance: FakeInstance) -> None:
        instance.crash(1)
        await self.until(
            lambda: (
                self.space.state in (SpaceState.RUNNING, SpaceState.ERROR)
                and self.space.instance is not instance
            )
        )


POLICY = Policy(health_interval=0, watch=False, stop_grace=1)


def run(tmp_path: Path, test: Callable[[Harness], Awaitable[None]], **kwargs: object) -> None:
    async def main() -> None:
        harness = Harness(tmp_path, kwargs.pop("policy", POLICY), **kwargs)  # type: ignore[arg-type]
        try:
            await test(harness)
        finally:
            await harness.space.close()
            await harness.backend.close()

    asyncio.run(main())


def test_many_callers_share_one_start(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        assert h.space.state is SpaceState.SLEEPING
        waiters = [asyncio.ensure_future(h.space.wake()) for _ in range(10)]
        await h.until(lambda: len(h.backend.started) == 1)
        assert h.space.state is SpaceState.STARTING
        h.backend.latest.ready()
        endpoints = await asyncio.gather(*waiters)
        assert len(h.backend.started) == 1
        assert set(endpoints) == {h.backend.latest.endpoint}
        assert h.space.state is SpaceState.RUNNING
        assert h.space.route.endpoint == h.backend.latest.endpoint

    run(tmp_path, test, auto_ready=False)


def test_the_route_takes_its_facts_from_the_plan(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        plan = h.backend.latest.plan
        assert plan.mount == "/spaces/demo"
        assert h.space.route.prefix == plan.mount
        assert h.space.route.strip_prefix is True  # a Gradio plan strips its mount
        assert h.router.match(b"demo.localhost:8000", b"/") == (h.space.route, True)

    run(tmp_path, test)


def test_crashes_back_off_then_give_up_in_the_window(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        for crash in range(1, 6):
            await h.crash_and_settle(h.backend.latest)
            assert h.space.state is SpaceState.RUNNING, crash
        assert h.clock.sleeps == [1, 2, 4, 8, 16]  # 1 s, doubling
        assert h.space.restarts == 5
        await h.crash_and_settle(h.backend.latest)  # the sixth in ten minutes
        assert h.space.state is SpaceState.ERROR
        assert "crashed 6 times in 600s" in (h.space.reason or "")
        assert h.space.route.endpoint is None and h.space.route.retry is False
        assert h.clock.sleeps == [1, 2, 4, 8, 16]  # no further restart
        with pytest.raises(SpaceUnavailable):
            await h.space.wake()

    run(tmp_path, test)


def test_backoff_is_capped(tmp_path: Path) -> None:
    policy = Policy(
        health_interval=0, watch=False, max_crashes=20, restart_backoff_max=10, stop_grace=1
    )

    async def test(h: Harness) -> None:
        await h.space.wake()
        for _ in range(6):
            await h.crash_and_settle(h.backend.latest)
        assert h.clock.sleeps == [1, 2, 4, 8, 10, 10]

    run(tmp_path, test, policy=policy)


def test_crashes_outside_the_window_do_not_add_up(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        for _ in range(12):
            h.clock.advance(601)  # each crash more than the window after the last
            await h.crash_and_settle(h.backend.latest)
            assert h.space.state is SpaceState.RUNNING
        assert h.clock.sleeps == [1] * 12  # the back-off starts over each time

    run(tmp_path, test)


def test_health_failures_must_come_in_a_row(tmp_path: Path) -> None:
    policy = Policy(health_interval=15, health_failures=3, watch=False, stop_grace=1)

    async def test(h: Harness) -> None:
        first = h.backend.started

        def scripted(instance: FakeInstance) -> None:
            if len(first) == 1:
                instance.health = [False, False, True, False, False, False]

        h.backend.on_start = scripted
        await h.space.wake()
        app = h.backend.latest
        await h.until(lambda: len(h.backend.started) == 2)
        assert app.checks == 6  # two failures, a success, then three failures
        assert app.stops == 1
        assert "stopped answering health checks (3 in a row)" in (h.space.last_exit or "")
        assert h.clock.sleeps[:6] == [15] * 6 and h.clock.sleeps[6] == 1  # then the back-off
        await h.until(lambda: h.space.state is SpaceState.RUNNING)

    run(tmp_path, test, policy=policy)


def test_a_stop_during_a_start_stops_the_app(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        waiter = asyncio.ensure_future(h.space.wake())
        await h.until(lambda: len(h.backend.started) == 1)
        await h.space.stop(sleep=False)
        app = h.backend.latest
        assert app.ended and app.stops == 1
        assert h.space.state is SpaceState.STOPPED
        assert h.space.instance is None
        with pytest.raises((asyncio.CancelledError, SpaceUnavailable)):
            await waiter
        assert h.context.state.record("demo").stopped  # kept for the next server
        with pytest.raises(SpaceUnavailable, match="stopped by an admin"):
            await h.space.wake()

    run(tmp_path, test, auto_ready=False)


def test_a_wake_during_a_stop_waits_then_starts_afresh(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        old = h.backend.latest
        old.stop_gate = asyncio.Event()
        stopping = asyncio.ensure_future(h.space.stop(sleep=True))
        await h.until(lambda: h.space.state is SpaceState.STOPPING)
        waker = asyncio.ensure_future(h.space.wake())
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(h.backend.started) == 1  # nothing starts while the old app stops
        old.stop_gate.set()
        await stopping
        endpoint = await waker
        assert len(h.backend.started) == 2 and old.ended
        assert endpoint == h.backend.latest.endpoint != old.endpoint
        assert h.space.state is SpaceState.RUNNING

    run(tmp_path, test)


def test_an_app_that_exits_while_starting_is_an_error_with_its_reason(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        waiter = asyncio.ensure_future(h.space.wake())
        await h.until(lambda: len(h.backend.started) == 1)
        h.backend.latest.crash(3)
        with pytest.raises(SpaceUnavailable, match="exited with code 3 while starting"):
            await waiter
        assert h.space.state is SpaceState.ERROR
        assert h.space.instance is None
        assert h.clock.sleeps == []  # a failed start is not restarted

    run(tmp_path, test, auto_ready=False)


@pytest.mark.parametrize(
    "error",
    [BackendError("demo: cannot start 'python': no such file"), PermissionError(13, "denied")],
)
def test_a_failed_launch_is_an_error_not_a_start_forever(tmp_path: Path, error: Exception) -> None:
    async def test(h: Harness) -> None:
        h.backend.fail_with = error
        with pytest.raises(SpaceUnavailable):
            await h.space.wake()
        assert h.space.state is SpaceState.ERROR
        assert str(error).split("\n")[0] in (h.space.reason or "")
        await h.space.admin_start()  # an admin's start clears the error and tries again
        assert h.space.state is SpaceState.RUNNING

    run(tmp_path, test)


def test_sleep_then_wake_starts_a_new_instance(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        await h.space.stop(sleep=True)
        assert h.space.state is SpaceState.SLEEPING
        assert not h.context.state.record("demo").stopped
        assert h.space.route.waker is not None  # the next request wakes it
        await h.space.wake()
        assert len(h.backend.started) == 2
        assert h.space.state is SpaceState.RUNNING

    run(tmp_path, test)


def test_ended_instances_leave_the_backend(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        for _ in range(5):
            await h.crash_and_settle(h.backend.latest)
        assert len(h.backend.started) == 6
        assert h.backend.instances == {h.backend.latest}  # only the live one is kept

    run(tmp_path, test)


# --- events: every state change told at once, every step of a Space's life reported ---


def test_every_state_change_is_told_at_once(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.space.wake()
        instance = h.backend.latest
        await h.crash_and_settle(instance)
        await h.space.stop(sleep=True, why="idle for 30s")
        states = [state for state, _ in h.seen]
        # each state the Space went through was current when the server was told
        for state in ("starting", "running", "restarting", "stopping", "sleeping"):
            assert SpaceState(state) in states, states
        assert states[-1] is SpaceState.SLEEPING
        assert h.seen[-1][1] == "asleep: idle for 30s"

    run(tmp_path, test)


def test_a_start_crash_restart_and_sleep_are_reported_with_timings(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        h.backend.on_start = lambda _: h.clock.advance(1.5)  # the app takes 1.5 s to start
        await h.space.wake()
        assert h.kinds() == [Lifecycle.STARTING, Lifecycle.STARTED, Lifecycle.READY]
        starting, started, ready = h.events
        assert starting.trigger is Trigger.VISIT and ready.trigger is Trigger.VISIT
        assert started.seconds == pytest.approx(1.5) and ready.seconds == pytest.approx(1.5)
        h.events.clear()
        h.clock.advance(60)
        instance = h.backend.latest
        instance.log.feed(b'Traceback (most recent call last):\n  File "app.py"\n')
        instance.log.feed(b"ValueError: the model is gone\n")
        await h.crash_and_settle(instance)
        crashed = h.events[0]
        assert crashed.kind is Lifecycle.CRASHED
        assert crashed.seconds == pytest.approx(60)
        assert crashed.detail == "exited with code 1: ValueError: the model is gone"
        assert h.space.last_exit == crashed.detail  # the reason everywhere names the cause
        assert h.kinds()[1:] == [
            Lifecycle.RESTARTING,
            Lifecycle.STARTING,
            Lifecycle.STARTED,
            Lifecycle.READY,
        ]
        assert h.events[2].trigger is Trigger.RESTART
        h.events.clear()
        await h.space.stop(sleep=True, why="idle for 30m")
        assert [(e.kind, e.detail) for e in h.events] == [(Lifecycle.SLEEPING, "idle for 30m")]
        h.events.clear()
        await h.space.stop(sleep=False)
        assert [(e.kind, e.detail) for e in h.events] == [(Lifecycle.STOPPED, "an admin asked")]
        await h.space.stop(sleep=False)  # already stopped: nothing more to report
        assert len(h.events) == 1

    run(tmp_path, test)


def test_builds_and_failures_are_reported(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        h.backend.needs_build.add("demo")
        await h.space.wake()
        assert h.kinds()[:4] == [
            Lifecycle.STARTING,
            Lifecycle.BUILDING,
            Lifecycle.BUILT,
            Lifecycle.STARTED,
        ]
        await h.space.stop(sleep=True)
        h.events.clear()
        h.backend.needs_build.add("demo")
        h.backend.build_error = "pip could not find torch==9"
        with pytest.raises(SpaceUnavailable):
            await h.space.wake()
        failed = [e for e in h.events if e.kind is Lifecycle.BUILD_FAILED]
        assert len(failed) == 1 and "torch==9" in (failed[0].detail or "")
        assert h.kinds()[-1] is Lifecycle.FAILED
        assert h.space.state is SpaceState.ERROR

    run(tmp_path, test)
