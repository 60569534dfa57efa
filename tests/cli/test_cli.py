"""The spacerunner command as a user runs it, in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from helpers import SPACES

from spacerunner.launch.ports import free_port
from spacerunner.limits import cgroups
from spacerunner.limits.disk import sweep

CLI = [sys.executable, "-m", "spacerunner"]
STATE = Path(tempfile.mkdtemp(prefix="spacerunner-cli-tests-"))


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPACERUNNER_STATE_DIR": str(STATE)}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, env=env, **kwargs
    )


class Running:
    def __init__(self, *args: str, env: dict[str, str] | None = None, log_dir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*CLI, "run", *args, "--port", str(self.port), "--log-dir", str(log_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "SPACERUNNER_STATE_DIR": str(log_dir / "state"), **(env or {})},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str = "/") -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, body = self.get("/env")
                if status == 200:
                    return json.loads(body)
            except OSError:
                pass
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.1)
        raise AssertionError("not ready")

    def finish(self, timeout: float = 20) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: list[int], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(running(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_check_ok() -> None:
    result = cli("check", str(SPACES / "gradio-interface"))
    assert result.returncode == 0
    assert "sdk                       gradio" in result.stdout
    assert result.stderr.strip().endswith("README.md: OK (gradio)")


def test_check_json() -> None:
    result = cli("check", "--json", str(SPACES / "static-site"))
    data = json.loads(result.stdout)
    assert data["sdk"] == "static"
    assert data["app_file"] == "index.html"
    assert data["custom_headers"] == {"cross-origin-opener-policy": "same-origin"}


def test_check_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nsdk: gradi\napp_port: x\n---\n")
    result = cli("check", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith(
        "README.md:2: error: sdk: expected one of gradio, streamlit, static, "
        "docker, found the string 'gradi'. Fix: set 'sdk:' to one of "
        "gradio, streamlit, static, docker."
    )
    assert "README.md:3: error: app_port: expected a port number" in lines[1]
    assert lines[-1] == "2 problems found."


def test_a_missing_space_folder_is_named_as_missing(tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    for args in (("run", str(tmp_path / "spaces" / "does-not-exist")), ("check", "nowhere/x")):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode != 0
        assert "no such folder" in result.stderr, result.stderr
        assert "README.md" not in result.stderr.split("Fix:")[0]  # not "create a README.md"


def test_check_strict_fails_on_warnings(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nsdk: static\ncolorFrom: orange\n---\n")
    (tmp_path / "index.html").write_text("x")
    assert cli("check", str(tmp_path)).returncode == 0
    strict = cli("check", "--strict", str(tmp_path))
    assert strict.returncode == 1
    assert "warning: colorFrom" in strict.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_and_stops_everything_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("MY_SECRET=top-secret-value\n")
    run = Running(
        str(SPACES / "http-app"),
        "--env-file",
        str(env_file),
        env={"CHILDREN": "1"},
        log_dir=tmp_path,
    )
    data = run.wait_ready()
    assert data["env"]["MY_SECRET"] == "top-secret-value"
    assert data["env"]["SPACE_HOST"] == f"127.0.0.1:{run.port}"
    app_pids = [psutil.Process(run.proc.pid).children()[0].pid, *data["children"]]
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert code == 0, err
    assert "stopping" in err
    assert gone(app_pids), "app processes survived spacerunner"
    assert "top-secret-value" not in out + err
    assert "top-secret-value" not in (tmp_path / "http-app.log").read_text()


def test_app_dies_with_a_killed_spacerunner(tmp_path: Path) -> None:
    run = Running(str(SPACES / "http-app"), log_dir=tmp_path)
    run.wait_ready()
    app = psutil.Process(run.proc.pid).children()[0]
    scratch = tmp_path / "state" / "scratch"
    run.proc.kill()
    run.finish()
    assert gone([app.pid]), "the app outlived a SIGKILLed spacerunner"
    # nothing cleaned its scratch disk up; the next spacerunner to start does
    left = [p for p in scratch.iterdir() if not p.name.startswith(".")]
    assert len(left) == 1
    assert [p.name for p in sweep(scratch)] == [left[0].name]
    assert not os.path.ismount(left[0])
    assert list(scratch.iterdir()) == []
    stale = list((Path("/sys/fs/cgroup/pids")).glob(f"spacerunner-*-{run.proc.pid}-*"))
    if stale:  # its cgroups too (where cgroup v1 pids is used)
        cgroups.sweep()
        assert not [p for p in stale if p.exists()]


def test_run_reports_a_crash(tmp_path: Path) -> None:
    result = cli(
        "run",
        str(SPACES / "crash-app"),
        "--port",
        str(free_port()),
        "--log-dir",
        str(tmp_path),
        "--quiet",
    )
    assert result.returncode == 1
    assert "crash-app: exited with code 1 while starting" in result.stderr
    assert "RuntimeError: model weights not found" in result.stderr


def test_run_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli(
            "run", str(SPACES / "http-app"), "--port", str(port), "--log-dir", str(tmp_path)
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert not (tmp_path / "http-app.log").exists()  # nothing was started


def test_run_refuses_a_broken_space(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no header\n")
    result = cli("run", str(tmp_path), "--port", str(free_port()))
    assert result.returncode == 1
    assert "no YAML header" in result.stderr


def test_starting_page_while_the_app_boots(tmp_path: Path) -> None:
    space = tmp_path / "slow"
    space.mkdir()
    (space / "README.md").write_text("---\nsdk: gradio\napp_file: server.py\n---\n")
    server = (SPACES / "http-app" / "server.py").read_text()
    (space / "server.py").write_text("import time\ntime.sleep(3)\n" + server)
    run = Running(str(space), log_dir=tmp_path / "logs")
    try:
        deadline = time.monotonic() + 10
        status, body = 0, b""
        while time.monotonic() < deadline:
            try:
                status, body = run.get("/")
                break
            except OSError:
                time.sleep(0.05)
        assert status == 503
        assert b"is starting" in body
        assert b'http-equiv="refresh"' in body
        assert run.wait_ready()["path"] == "/env"
    finally:
        run.proc.send_signal(signal.SIGINT)
        run.finish()
