"""Builds ahead and new revisions, against the fake backend: a Space is built when registered
(through a bounded queue), and a running Space keeps serving while a new revision builds and
starts beside it, then hands over; failures leave the old one serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fakes import FakeBackend, FakeInstance, fake_supervisor, until

from spacerunner.supervisor import Policy, Supervisor
from spacerunner.supervisor.builds import BuildState
from spacerunner.supervisor.space import ManagedSpace, SpaceState

README = "---\ntitle: {name}\nsdk: gradio\napp_file: app.py\n---\n"
POLICY = Policy(watch=False, health_interval=0, stop_grace=1, max_builds=1)


def make_spaces(root: Path, *names: str) -> None:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "README.md").write_text(README.format(name=name))
        (root / name / "app.py").write_text("print('a fake runs nothing')\n")


def run(
    tmp_path: Path,
    test: Callable[[Supervisor, FakeBackend], Awaitable[None]],
    *names: str,
    policy: Policy = POLICY,
) -> None:
    async def main() -> None:
        make_spaces(tmp_path / "spaces", *names)
        supervisor, backend = fake_supervisor(tmp_path / "spaces", tmp_path, policy=policy)
        backend.needs_build.update(names)
        try:
            await test(supervisor, backend)
        finally:
            await supervisor.close()

    asyncio.run(main())


def edit(space: ManagedSpace) -> None:
    (space.path / "app.py").write_text(f"print('revision {time.monotonic_ns()}')\n")


async def running(supervisor: Supervisor, name: str) -> tuple[ManagedSpace, FakeInstance]:
    supervisor.refresh()
    space = supervisor.spaces[name]
    await space.wake()
    assert isinstance(space.instance, FakeInstance)
    return space, space.instance


def test_spaces_are_built_when_registered_one_at_a_time(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        backend.build_gate = asyncio.Event()
        added = supervisor.refresh()
        assert sorted(added) == ["a", "b", "c"]
        states = lambda: sorted(s.build.state for s in supervisor.spaces.values() if s.build)  # noqa: E731
        await until(lambda: states() == ["building", "queued", "queued"])
        assert backend.building == 1
        building = next(s for s in supervisor.spaces.values() if s.state is SpaceState.BUILDING)
        assert building.route.down_reason.endswith("is building its environment.")
        backend.build_gate.set()
        await until(lambda: not backend.needs_build)
        await until(lambda: all(s.state is SpaceState.SLEEPING for s in supervisor.spaces.values()))
        assert backend.most_building == 1  # max_builds
        assert sorted(backend.builds) == ["a", "b", "c"]
        for space in supervisor.spaces.values():
            assert space.build is not None and space.build.state is BuildState.DONE
            assert space.build_log is not None
            assert "[fake] building" in space.build_log.tail()
        # the first visit starts the app; it builds nothing
        await supervisor.spaces["a"].wake()
        assert backend.builds.count("a") == 1
        assert supervisor.spaces["a"].state is SpaceState.RUNNING

    run(tmp_path, test, "a", "b", "c")


def test_a_first_visit_during_the_build_joins_it(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        backend.build_gate = asyncio.Event()
        supervisor.refresh()
        space = supervisor.spaces["demo"]
        await until(lambda: backend.building == 1)
        woken = asyncio.ensure_future(space.wake())
        await asyncio.sleep(0.01)
        assert not woken.done() and space.state is SpaceState.BUILDING
        backend.build_gate.set()
        await woken
        assert space.state is SpaceState.RUNNING
        assert backend.builds == ["demo"] and len(backend.started) == 1

    run(tmp_path, test, "demo")


def test_a_build_that_fails_ahead_is_the_spaces_error_with_its_log(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        backend.build_error = "installing requirements failed"
        supervisor.refresh()
        space = supervisor.spaces["demo"]
        await until(lambda: space.state is SpaceState.ERROR)
        assert space.reason == "demo: installing requirements failed"
        assert space.build is not None and space.build.state is BuildState.FAILED
        assert space.build_log is not None
        assert space.build_log.tail()[-2:] == [
            "[fake] the build broke",
            "[spacerunner] demo: installing requirements failed",
        ]
        assert not backend.started
        # fixed files build again, and clear the error
        backend.build_error = None
        space.update("files changed")
        # the error clears at once, the build follows: wait for its end
        await until(lambda: space.build is not None and space.build.state is BuildState.DONE)
        assert space.state is SpaceState.SLEEPING
        assert backend.builds == ["demo", "demo"]

    run(tmp_path, test, "demo")


def test_a_new_revision_builds_and_starts_beside_the_old_then_takes_over(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        route = space.route
        held = route.hold(old.endpoint)  # a request (or WebSocket) the old one is answering
        backend.needs_build.add("demo")
        backend.build_gate = asyncio.Event()
        edit(space)
        space.update("files changed")
        await until(lambda: backend.building == 1)
        assert space.state is SpaceState.RUNNING and route.endpoint == old.endpoint
        assert space.build is not None and space.build.state is BuildState.BUILDING
        backend.auto_ready = False
        backend.build_gate.set()
        await until(lambda: len(backend.started) == 2)
        new = backend.latest
        assert space.build.state is BuildState.STARTING
        assert route.endpoint == old.endpoint  # not ready yet: the old one serves
        new.ready()
        await until(lambda: route.endpoint == new.endpoint)
        assert space.instance is new and space.state is SpaceState.RUNNING
        assert space.build.state is BuildState.DONE
        await asyncio.sleep(0.3)
        assert not old.ended  # it still answers what it had
        route.release(held)
        await until(lambda: old.ended)
        assert old.status().reason == "stopped by spacerunner"
        assert not new.ended and space.restarts == 0 and not space.crashes
        assert any("the new revision serves" in line for line in old.log.tail())

    run(tmp_path, test, "demo")


def test_a_replaced_app_is_stopped_after_the_drain_timeout(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        space.route.hold(old.endpoint)  # a WebSocket that never closes
        edit(space)
        space.update("files changed")
        await until(lambda: old.ended)
        assert space.instance is backend.latest and backend.latest is not old
        assert any("stopping it anyway" in line for line in old.log.tail())

    policy = Policy(watch=False, health_interval=0, stop_grace=1, drain_timeout=0.2)
    run(tmp_path, test, "demo", policy=policy)


def test_a_failed_build_leaves_the_old_revision_serving(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        backend.needs_build.add("demo")
        backend.build_error = "No matching distribution found for nonexistent-package"
        edit(space)
        space.update("a new revision was pushed")
        await until(lambda: space.build is not None and space.build.state is BuildState.FAILED)
        assert space.build.error == "demo: No matching distribution found for nonexistent-package"
        assert space.state is SpaceState.RUNNING and space.instance is old
        assert space.route.endpoint == old.endpoint and len(backend.started) == 1
        assert any("this one serves on" in line for line in old.log.tail())

    run(tmp_path, test, "demo")


def test_a_new_revision_that_crashes_while_starting_leaves_the_old_serving(
    tmp_path: Path,
) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        backend.auto_ready = False
        backend.on_start = lambda instance: instance.crash(1)
        edit(space)
        space.update("files changed")
        await until(lambda: space.build is not None and space.build.state is BuildState.FAILED)
        assert "exited with code 1 while starting" in (space.build.error or "")
        assert space.instance is old and space.route.endpoint == old.endpoint
        assert not space.crashes  # the old one did not crash

    run(tmp_path, test, "demo")


def test_a_broken_header_in_a_new_revision_leaves_the_old_serving(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        (space.path / "README.md").write_text("---\nsdk: [not, a, sdk]\n---\n")
        space.update("files changed")
        await until(lambda: space.build is not None and space.build.state is BuildState.FAILED)
        assert "sdk" in (space.build.error or "")
        assert space.state is SpaceState.RUNNING and space.route.endpoint == old.endpoint
        assert space.config is not None and space.config.title == "demo"

    run(tmp_path, test, "demo")


def test_the_same_revision_noticed_twice_starts_nothing(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, _ = await running(supervisor, "demo")
        space.update("a new revision was pushed")  # nothing changed since the start
        await space.wait_updated()
        edit(space)
        space.update("a new revision was pushed")
        await space.wait_updated()
        space.update("files changed")  # the watcher, after the push
        await space.wait_updated()
        assert len(backend.started) == 2

    run(tmp_path, test, "demo")


def test_a_stop_during_an_update_stops_both_revisions(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        backend.auto_ready = False
        edit(space)
        space.update("files changed")
        await until(lambda: len(backend.started) == 2)
        new = backend.latest
        await space.stop()
        assert old.ended and new.ended
        assert space.state is SpaceState.STOPPED and space.instance is None
        assert supervisor.state.record("demo").pids == []

    run(tmp_path, test, "demo")


def test_a_sleeping_space_builds_its_new_revision_for_its_next_start(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        supervisor.refresh()
        space = supervisor.spaces["demo"]
        await until(lambda: "demo" not in backend.needs_build)
        backend.needs_build.add("demo")
        (space.path / "README.md").write_text(README.format(name="Renamed"))
        space.update("files changed")
        await until(lambda: backend.builds == ["demo", "demo"] and not backend.building)
        await until(lambda: space.state is SpaceState.SLEEPING)
        assert space.title == "Renamed" and not backend.started

    run(tmp_path, test, "demo")


def test_a_backend_that_cannot_run_two_at_once_restarts_instead(tmp_path: Path) -> None:
    async def test(supervisor: Supervisor, backend: FakeBackend) -> None:
        space, old = await running(supervisor, "demo")
        backend.side_by_side = lambda plan: False  # type: ignore[method-assign]
        (space.path / "README.md").write_text(README.format(name="Renamed"))
        space.update("files changed")
        await space.wait_updated()
        new = backend.latest
        assert new is not old and old.ended  # stopped before the new one started
        assert old.status().ended_at is not None and old.status().ended_at <= new.created_at
        assert space.instance is new and space.state is SpaceState.RUNNING
        assert space.title == "Renamed"
        assert any("cannot start beside this one" in line for line in old.log.tail())

    run(tmp_path, test, "demo")
