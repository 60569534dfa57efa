"""The console, metrics and history of a server, against a supervisor with a fake backend."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from fakes import FakeBackend, fake_supervisor, until
from helpers import metric, parse_metrics
from starlette.testclient import TestClient

from spacerunner.auth import TeamFiles
from spacerunner.auth.gate import Gate
from spacerunner.backends.logs import LogKind
from spacerunner.cli.console import Console, Verbosity, describe
from spacerunner.proxy.routes import LATENCY_BUCKETS, RouteStats
from spacerunner.server.app import _log_lines, build_app
from spacerunner.server.history import History
from spacerunner.server.metrics import ServerMetrics
from spacerunner.supervisor import Supervisor
from spacerunner.supervisor.events import Lifecycle, SpaceEvent, Trigger


def served(
    tmp_path: Path, names: tuple[str, ...] = ("demo", "other")
) -> tuple[Supervisor, FakeBackend]:
    spaces = tmp_path / "spaces"
    for name in names:
        (spaces / name).mkdir(parents=True)
        (spaces / name / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
        (spaces / name / "app.py").write_text("")
    supervisor, backend = fake_supervisor(spaces, tmp_path)
    supervisor.scan()
    return supervisor, backend


# --- the console ---


def test_console_lines_name_the_step_and_its_time() -> None:
    lines: list[str] = []
    console = Console(write=lines.append, clock=lambda: 0.0)
    console(SpaceEvent("demo", Lifecycle.BUILT, seconds=5.43))
    console(SpaceEvent("demo", Lifecycle.STARTING, trigger=Trigger.VISIT))
    console(SpaceEvent("demo", Lifecycle.READY, seconds=2.31, trigger=Trigger.VISIT))
    console(SpaceEvent("demo", Lifecycle.CRASHED, seconds=125, detail="exited with code 1: E"))
    console(SpaceEvent("demo", Lifecycle.SLEEPING, seconds=3700, detail="idle for 30m"))
    assert [line.split(" ", 1)[1].split(None, 1)[1] for line in lines] == [
        "built in 5.4s",
        "starting (a visit)",
        "ready in 2.3s",
        "crashed after 2m 05s: exited with code 1: E",
        "sleeping (idle for 30m) after running 1h 01m",
    ]
    assert lines[0].split()[1] == "demo"


def test_quiet_consoles_say_only_problems_or_nothing() -> None:
    events = [
        SpaceEvent("a", Lifecycle.READY, seconds=1.0),
        SpaceEvent("a", Lifecycle.BUILD_FAILED, seconds=3.0, detail="pip: no torch==9"),
        SpaceEvent("a", Lifecycle.FAILED, detail="pip: no torch==9"),
        SpaceEvent("a", Lifecycle.CRASHED, detail="exited with code 1"),
    ]
    problems: list[str] = []
    silent: list[str] = []
    for event in events:
        Console(Verbosity.PROBLEMS, write=problems.append)(event)
        Console(Verbosity.NONE, write=silent.append)(event)
    assert [line.split(None, 2)[2] for line in problems] == [
        "build failed after 3.0s: pip: no torch==9",
        "error: pip: no torch==9",
        "crashed: exited with code 1",
    ]
    assert silent == []
    # one console says a failure once: the error that a build failure caused is not repeated
    said: list[str] = []
    console = Console(write=said.append)
    for event in events[1:3]:
        console(event)
    assert len(said) == 1


def test_every_lifecycle_step_has_words() -> None:
    for kind in Lifecycle:  # (describe ends in assert_never: a step without words raises)
        assert describe(SpaceEvent("a", kind, seconds=1.0, detail="why"))


# --- metrics ---


def test_metrics_count_starts_crashes_restarts_sleeps_and_builds(tmp_path: Path) -> None:
    async def main() -> None:
        supervisor, backend = served(tmp_path)
        metrics = ServerMetrics(supervisor)
        demo = supervisor.spaces["demo"]
        backend.needs_build.add("demo")
        await demo.wake()
        backend.latest.crash(1)
        await until(lambda: demo.state.value == "running" and demo.restarts == 1)
        await demo.stop(sleep=True, why="idle")
        await supervisor.spaces["other"].wake()
        demo.route.stats.record(200, 0.02)
        demo.route.stats.record(503, 0.3)
        demo.route.stats.record(101, 30.0)
        scrape = parse_metrics(metrics.exposition().decode())
        assert metric(scrape, "spacerunner_space_starts_total", space="demo") == 2
        assert metric(scrape, "spacerunner_space_crashes_total", space="demo") == 1
        assert metric(scrape, "spacerunner_space_restarts_total", space="demo") == 1
        assert metric(scrape, "spacerunner_space_sleeps_total", space="demo") == 1
        assert metric(scrape, "spacerunner_space_builds_total", space="demo", outcome="done") == 1
        assert metric(scrape, "spacerunner_space_start_seconds_count", space="demo") == 2
        assert metric(scrape, "spacerunner_space_wake_seconds_count", space="demo") == 1
        assert metric(scrape, "spacerunner_space_starts_total", space="other") == 1
        assert metric(scrape, "spacerunner_space_state", space="demo", state="sleeping") == 1
        assert metric(scrape, "spacerunner_space_state", space="demo", state="running") == 0
        assert metric(scrape, "spacerunner_space_state", space="other", state="running") == 1
        assert metric(scrape, "spacerunner_requests_total", space="demo", code="2xx") == 1
        assert metric(scrape, "spacerunner_requests_total", space="demo", code="5xx") == 1
        assert metric(scrape, "spacerunner_requests_total", space="demo", code="1xx") == 1
        # the WebSocket's half minute is not a request's latency
        assert metric(scrape, "spacerunner_request_duration_seconds_count", space="demo") == 2
        assert (
            metric(scrape, "spacerunner_request_duration_seconds_bucket", space="demo", le="0.025")
            == 1
        )
        assert (
            metric(scrape, "spacerunner_request_duration_seconds_bucket", space="demo", le="+Inf")
            == 2
        )
        # a Space that goes takes its series along
        metrics.observe(SpaceEvent("demo", Lifecycle.REMOVED))
        scrape = parse_metrics(metrics.exposition().decode())
        assert metric(scrape, "spacerunner_space_starts_total", space="demo") is None
        assert metric(scrape, "spacerunner_space_starts_total", space="other") == 1
        await supervisor.close()

    asyncio.run(main())


def test_route_stats_count_by_status_class_and_bucket() -> None:
    stats = RouteStats()
    stats.record(200, 0.001)
    stats.record(404, 0.2)
    stats.record(0, 1.0)  # the client left before an answer
    stats.record(200, 1000.0)
    assert stats.by_class == [1, 0, 2, 0, 1, 0]
    assert stats.requests == 4
    assert stats.buckets[0] == 1 and stats.buckets[-1] == 1
    assert sum(stats.buckets) == 4 and len(stats.buckets) == len(LATENCY_BUCKETS) + 1


def test_metrics_are_for_admins_on_the_servers_port(tmp_path: Path) -> None:
    supervisor, _ = served(tmp_path)
    gate = Gate.of(TeamFiles(tmp_path / "state"), "t0ken")
    gate.accounts.add("mia", "correct horse battery staple")
    token = gate.accounts.create_token("mia")
    app = build_app(supervisor, metrics=ServerMetrics(supervisor), gate=gate, port=8000)
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    answer = client.get("/metrics", headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'spacerunner_space_state{space="demo",state="sleeping"} 1.0' in answer.text


# --- history ---


def test_history_keeps_an_hour_of_samples_per_space(tmp_path: Path) -> None:
    async def main() -> None:
        supervisor, _ = served(tmp_path)
        history = History(supervisor, keep=3)
        demo = supervisor.spaces["demo"]
        await demo.wake()
        for step in range(5):
            for _ in range(step * 10):
                demo.route.stats.record(200, 0.01)
            history.sample(now=1000.0 + 10 * step, monotonic=10.0 * step)
        kept = history.of("demo")
        assert len(kept["samples"]) == 3  # bounded
        assert [s[0] for s in kept["samples"]] == [1020.0, 1030.0, 1040.0]
        assert [s[3] for s in kept["samples"]] == [2.0, 3.0, 4.0]  # requests per second
        other = history.of("other")["samples"]
        assert other[-1][1] is None  # not running: no memory, a gap in its chart
        shutil.rmtree(tmp_path / "spaces" / "other")
        supervisor.scan()
        history.sample(now=2000.0, monotonic=100.0)
        assert history.of("other")["samples"] == []
        await supervisor.close()

    asyncio.run(main())


# --- following logs ---


def test_following_a_log_before_the_app_starts_shows_its_first_lines(tmp_path: Path) -> None:
    """``logs -f`` attached while a Space builds (no run log yet) sees the start-up notes the
    backend wrote before the app was handed to the supervisor, and every line after."""

    async def main() -> None:
        supervisor, backend = served(tmp_path)
        demo = supervisor.spaces["demo"]
        backend.on_start = lambda instance: instance.log.note("limit: memory 200M: enforced")
        seen: list[str] = []

        async def follow() -> None:
            async for line in _log_lines(demo, supervisor, LogKind.RUN, 200, True):
                seen.append(line)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.01)
        await demo.wake()
        assert demo.log is not None
        demo.log.feed(b"Running on local URL: http://127.0.0.1:7860\n")
        await until(lambda: any("Running on" in line for line in seen), lambda: str(seen))
        assert seen[0] == "[spacerunner] limit: memory 200M: enforced"
        # and the next run's log from its first line, too
        await demo.restart()
        await until(lambda: sum("limit: memory" in line for line in seen) == 2, lambda: str(seen))
        await supervisor.close()
        await asyncio.wait_for(task, 5)  # the server stopping ends the stream

    asyncio.run(main())
