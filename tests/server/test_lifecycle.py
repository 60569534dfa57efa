"""`serve` lifecycle on real processes: start on first request, sleep, wake, crash, restart,
follow the folder, tokens, state across restarts. Apps here are plain HTTP servers that start in
milliseconds, so the policy is what is being tested."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from helpers import SPACES, LoopThread
from serving import CURRENT, HTTP_APP, Server, http_space

from spacerunner.launch.ports import free_port
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy


def dead(pid: int) -> bool:
    """The process is gone (or a zombie), however the question races with its end."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ten_concurrent_first_requests_start_the_app_once(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server()
    assert server.facts("app")["state"] == "sleeping"
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda i: httpx.get(f"{server.base}/spaces/app/env?{i}", timeout=30), range(10)
            )
        )
    assert [a.status_code for a in answers] == [200] * 10  # held, not failed
    assert len({a.json()["env"]["PORT"] for a in answers}) == 1
    log = server.supervisor.spaces["app"].log
    assert log is not None
    assert sum("starting " in line for line in log.tail(500)) == 1
    assert server.facts("app")["state"] == "running"


def test_browser_visit_gets_a_starting_page_then_the_app(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app", prelude="import time\ntime.sleep(1)\n")
    server = make_server()
    page = httpx.get(f"{server.base}/spaces/app/", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert 'http-equiv="refresh"' in page.text
    assert "waking up" in page.text
    server.wait_for(lambda: server.facts("app")["state"] == "running")
    assert (
        httpx.get(f"{server.base}/spaces/app/", headers={"Accept": "text/html"}).status_code == 200
    )


def test_idle_sleep_then_wake(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server(Policy(idle_timeout=1.0, health_interval=0, watch=False))
    first = httpx.get(f"{server.base}/spaces/app/env", timeout=30).json()
    pid = server.facts("app")["pid"]
    assert psutil.pid_exists(pid)
    server.wait_for(lambda: server.facts("app")["state"] == "sleeping", timeout=10)
    server.wait_for(lambda: dead(pid))
    second = httpx.get(f"{server.base}/spaces/app/env", timeout=30).json()
    assert second["env"]["SPACE_ID"] == first["env"]["SPACE_ID"]
    assert server.facts("app")["state"] == "running"
    assert server.facts("app")["pid"] != pid


def test_an_open_websocket_or_stream_keeps_a_space_awake(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server(Policy(idle_timeout=0.5, health_interval=0, watch=False))
    httpx.get(f"{server.base}/spaces/app/env", timeout=30)
    route = server.supervisor.spaces["app"].route
    route.open_tunnels += 1  # what an open WebSocket does to the route
    try:
        time.sleep(1.5)
        assert server.facts("app")["state"] == "running"
    finally:
        route.open_tunnels -= 1
    server.wait_for(lambda: server.facts("app")["state"] == "sleeping", timeout=10)


def test_kill_9_restarts_the_app(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server(Policy(restart_backoff=0.2, health_interval=0, watch=False))
    httpx.get(f"{server.base}/spaces/app/env", timeout=30)
    pid = server.facts("app")["pid"]
    os.kill(pid, signal.SIGKILL)
    server.wait_for(
        lambda: (
            server.facts("app")["state"] == "running"
            and server.facts("app")["pid"] not in (None, pid)
        )
    )
    facts = server.facts("app")
    assert facts["restarts"] == 1
    assert facts["last_exit"] == "killed by SIGKILL"
    assert httpx.get(f"{server.base}/spaces/app/env", timeout=30).status_code == 200


def test_a_space_that_keeps_crashing_ends_in_error(make_server, tmp_path: Path) -> None:
    crash_soon = (
        "import os, threading\n"
        "threading.Timer(0.4, lambda: (print('dying', flush=True), os._exit(7))).start()\n"
    )
    http_space(tmp_path / "spaces", "flaky", prelude=crash_soon)
    server = make_server(Policy(restart_backoff=0.1, max_crashes=2, health_interval=0, watch=False))
    httpx.get(f"{server.base}/spaces/flaky/env", timeout=30)
    server.wait_for(lambda: server.facts("flaky")["state"] == "error", timeout=20)
    facts = server.facts("flaky")
    assert "exited with code 7" in facts["reason"]
    assert "crashed 3 times" in facts["reason"]
    page = httpx.get(f"{server.base}/spaces/flaky/", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert "crashed 3 times" in page.text
    assert 'http-equiv="refresh"' not in page.text
    logs = httpx.get(f"{server.base}/api/spaces/flaky/logs", headers=server.admin()).text
    assert "dying" in logs
    assert "exited with code 7" in logs


def test_a_space_that_fails_to_start_shows_why(make_server, tmp_path: Path) -> None:
    shutil.copytree(SPACES / "crash-app", tmp_path / "spaces" / "broken")
    server = make_server()
    response = httpx.get(f"{server.base}/spaces/broken/anything", timeout=30)
    assert response.status_code == 503
    assert "exited with code 1 while starting" in response.text
    assert server.facts("broken")["state"] == "error"
    logs = httpx.get(f"{server.base}/api/spaces/broken/logs", headers=server.admin()).text
    assert "RuntimeError: model weights not found" in logs


def test_a_broken_header_is_listed_as_an_error(make_server, tmp_path: Path) -> None:
    path = tmp_path / "spaces" / "bad"
    path.mkdir()
    (path / "README.md").write_text("---\nsdk: flask\n---\n")
    server = make_server()
    facts = server.facts("bad")
    assert facts["state"] == "error"
    assert "sdk: expected one of gradio" in facts["reason"]
    assert httpx.get(f"{server.base}/").status_code == 200


def test_management_needs_the_token(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server()
    for method, path in [
        ("POST", "/api/spaces/app/start"),
        ("POST", "/api/spaces/app/stop"),
        ("POST", "/api/spaces/app/restart"),
        ("GET", "/api/spaces/app/logs"),
    ]:
        assert httpx.request(method, server.base + path).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.request(method, server.base + path, headers=wrong).status_code == 401
    started = httpx.post(f"{server.base}/api/spaces/app/start", headers=server.admin(), timeout=30)
    assert started.json()["state"] == "running"
    stopped = httpx.post(f"{server.base}/api/spaces/app/stop", headers=server.admin(), timeout=30)
    assert stopped.json()["state"] == "stopped"
    assert httpx.get(f"{server.base}/spaces/app/env").status_code == 503  # stays stopped
    login = httpx.get(f"{server.base}/login?token={server.token}")
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("spacerunner_session=")
    assert "Path=/;" in cookie  # the whole site: Space pages show the admin tools too
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert server.token not in cookie  # a signed session, not the token itself
    session = {"spacerunner_session": login.cookies["spacerunner_session"]}
    page = httpx.get(f"{server.base}/space/app", cookies=session).text
    assert 'data-action="restart"' in page
    assert 'data-action="restart"' not in httpx.get(f"{server.base}/space/app").text


def test_the_server_follows_its_folder(make_server, tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    http_space(spaces, "first")
    server = make_server(Policy(health_interval=0, watch_debounce_ms=50))
    names = lambda: {s["name"] for s in httpx.get(f"{server.base}/api/spaces").json()["spaces"]}  # noqa: E731
    assert names() == {"first"}
    # add
    http_space(spaces, "second")
    server.wait_for(lambda: names() == {"first", "second"})
    assert httpx.get(f"{server.base}/spaces/second/env", timeout=30).status_code == 200
    # edit the app while it runs: restarted
    pid = server.facts("second")["pid"]
    (spaces / "second" / "server.py").write_text("# edited\n" + HTTP_APP)
    server.wait_for(
        lambda: (
            server.facts("second")["pid"] not in (None, pid)
            or server.facts("second")["state"] == "sleeping"
        )
    )
    # edit the header: the new title shows
    readme = spaces / "first" / "README.md"
    readme.write_text(readme.read_text().replace("title: first", "title: First, renamed"))
    server.wait_for(lambda: server.facts("first")["title"] == "First, renamed")
    # delete: gone, and its app stopped
    httpx.get(f"{server.base}/spaces/second/env", timeout=30)
    pid = server.facts("second")["pid"]
    shutil.rmtree(spaces / "second")
    server.wait_for(lambda: names() == {"first"})
    server.wait_for(lambda: dead(pid))
    assert httpx.get(f"{server.base}/spaces/second/env").status_code == 404


def test_state_survives_a_restart_and_orphans_are_ended(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    http_space(tmp_path / "spaces", "kept-stopped")
    http_space(tmp_path / "spaces", "app")
    options = ServeOptions(
        dirs=(tmp_path / "spaces",),
        port=free_port(),
        policy=Policy(health_interval=0, watch=False),
        state_dir=tmp_path / "state",
        spaces=CURRENT,
    )
    server = Server(loop_thread, Portfolio(options))
    httpx.post(f"{server.base}/api/spaces/kept-stopped/stop", headers=server.admin())
    httpx.get(f"{server.base}/spaces/app/env", timeout=30)
    server.close()
    # a leftover of a server that was killed: recorded in the state file, still running
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    state_file = tmp_path / "state" / "serve" / str(options.port) / "state.json"
    data = json.loads(state_file.read_text())
    data["spaces"]["app"]["pids"] = [[orphan.pid, psutil.Process(orphan.pid).create_time()]]
    state_file.write_text(json.dumps(data))
    again = Server(loop_thread, Portfolio(options))
    try:
        assert orphan.wait(5) == -signal.SIGKILL
        assert again.facts("kept-stopped")["state"] == "stopped"
        assert again.facts("app")["state"] == "sleeping"
    finally:
        again.close()


def test_cli_talks_to_a_running_server(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    make_server()
    env = {**os.environ, "SPACERUNNER_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "spacerunner", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    ps = cli("ps")
    assert ps.returncode == 0, ps.stderr
    assert "app" in ps.stdout
    assert "sleeping" in ps.stdout
    started = cli("start", "app")
    assert started.stdout.strip() == "app: running"
    logs = cli("logs", "app")
    assert "ready on 127.0.0.1" in logs.stdout
    restarted = cli("restart", "app")
    assert restarted.stdout.strip() == "app: running"
    assert cli("stop", "app").stdout.startswith("app: stopped")
    missing = cli("stop", "nope")
    assert missing.returncode == 1
    assert "404 No Space named 'nope'" in missing.stderr


def test_an_app_that_stops_answering_is_restarted(make_server, tmp_path: Path) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server(
        Policy(
            health_interval=0.3, health_failures=2, stop_grace=0.5, restart_backoff=0.1, watch=False
        )
    )
    httpx.get(f"{server.base}/spaces/app/env", timeout=30)
    pid = server.facts("app")["pid"]
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in tree:  # the app and its sandbox: alive, but answering nothing
        proc.send_signal(signal.SIGSTOP)
    try:
        server.wait_for(
            lambda: (
                server.facts("app")["pid"] not in (None, pid)
                and server.facts("app")["state"] == "running"
            ),
            timeout=30,
        )
    finally:
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
    assert "stopped answering health checks" in server.facts("app")["last_exit"]
    assert httpx.get(f"{server.base}/spaces/app/env", timeout=30).status_code == 200


def test_serve_enforces_limits_and_reports_them(make_server, tmp_path: Path) -> None:
    shutil.copytree(SPACES / "stress-app", tmp_path / "spaces" / "hungry")
    server = make_server()
    facts = httpx.get(f"{server.base}/spaces/hungry/", timeout=30)
    assert facts.status_code == 200
    usage = server.facts("hungry")["usage"]
    assert usage["limits"] == {"memory": 200 * 2**20, "cpus": 1.0, "disk": 64 * 2**20, "pids": 4096}
    assert usage["memory"] > 0
    assert any(line.startswith("memory 200.0M:") for line in usage["enforcement"])
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{server.base}/spaces/hungry/alloc?mb=400", timeout=30)
    server.wait_for(
        lambda: (server.facts("hungry")["last_exit"] or "").startswith(
            "Memory limit exceeded (200.0M)"
        ),
        timeout=20,
    )
    logs = httpx.get(f"{server.base}/api/spaces/hungry/logs", headers=server.admin()).text
    assert "Memory limit exceeded (200.0M)" in logs
