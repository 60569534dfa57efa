"""Several ``spacerunner serve`` on one machine, as the client commands find them; and what
the serve console says, started and stopped as a user does (real subprocesses)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from helpers import SPACES

from spacerunner.launch.ports import free_port

CLI = [sys.executable, "-m", "spacerunner"]


class Serve:
    def __init__(self, spaces: Path, state: Path, *flags: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "SPACERUNNER_STATE_DIR": str(state)}
        self.proc = subprocess.Popen(
            [*CLI, "serve", str(spaces), "--port", str(self.port), "--no-watch", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                if httpx.get(f"{self.url}/api/spaces").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # the server file is written once the control app answers
        while not (state / "serve" / str(self.port) / "server.json").exists():
            time.sleep(0.05)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return err


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPACERUNNER_STATE_DIR": str(state)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_client_commands_find_each_of_two_servers(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first_spaces, second_spaces = tmp_path / "one", tmp_path / "two"
    shutil.copytree(SPACES / "static-site", first_spaces / "first-site")
    shutil.copytree(SPACES / "static-site", second_spaces / "second-site")
    first = Serve(first_spaces, state)
    second = Serve(second_spaces, state)
    try:
        both = cli(state, "ps")
        assert both.returncode == 0, both.stderr
        assert "second-site" in both.stdout  # the one started last
        assert f"ports {first.port}, {second.port}" in both.stderr  # and says there are two
        chosen = cli(state, "ps", "--port", str(first.port))
        assert "first-site" in chosen.stdout and "second-site" not in chosen.stdout
        missing = cli(state, "ps", "--port", "1")
        assert missing.returncode != 0 and "no 'spacerunner serve' on port 1" in missing.stderr
        err = second.stop()
        assert "Traceback" not in err
        alone = cli(state, "ps")
        assert alone.returncode == 0, alone.stderr
        assert "first-site" in alone.stdout and "servers run here" not in alone.stderr
        # --url alone finds that server's token (logs are for admins)
        logs = cli(state, "logs", "first-site", "--url", first.url)
        assert logs.returncode == 0, logs.stderr
        assert "serving files of" in logs.stdout
        stopped = cli(state, "stop", "first-site", "--port", str(first.port))
        assert stopped.returncode == 0 and "first-site: stopped" in stopped.stdout
    finally:
        for server in (first, second):
            if server.proc.poll() is None:
                server.stop()
    assert cli(state, "ps").returncode != 0  # none left: a clear error
    assert "no running 'spacerunner serve' found" in cli(state, "ps").stderr


def test_a_metrics_address_that_is_not_one_is_refused(tmp_path: Path) -> None:
    for given in ("9100", "localhost:", "127.0.0.1:99999"):
        refused = cli(tmp_path, "serve", str(tmp_path), "--metrics-address", given)
        assert refused.returncode != 0
        assert "expected HOST:PORT, e.g. 127.0.0.1:9100" in refused.stderr, refused.stderr


def test_serve_console_says_each_step_and_stops_cleanly(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    shutil.copytree(SPACES / "static-site", spaces / "site")
    shutil.copytree(SPACES / "crash-app", spaces / "crash")
    server = Serve(spaces, tmp_path / "state")
    events = httpx.Client(timeout=30)
    with events.stream("GET", f"{server.url}/api/events") as stream:
        assert httpx.get(f"{server.url}/spaces/crash/", timeout=60).status_code == 503
        err = server.stop()  # with the event stream still attached
        for _ in stream.iter_bytes():
            pass
    lines = [line.split(None, 1)[1] for line in err.splitlines() if line[:2].isdigit()]
    assert any(line.startswith("site") and "ready in" in line for line in lines), err
    crash = [line for line in lines if line.startswith("crash ")]
    assert any("starting (a visit)" in line for line in crash), err
    assert any("RuntimeError: model weights not found" in line for line in crash), err
    assert "Traceback" not in err and "CancelledError" not in err
    # -q: only what went wrong
    quiet = Serve(spaces, tmp_path / "state-quiet", "-q")
    assert httpx.get(f"{quiet.url}/spaces/crash/", timeout=60).status_code == 503
    said = [line for line in quiet.stop().splitlines() if line[:2].isdigit()]
    assert said and all("error:" in line for line in said), said
