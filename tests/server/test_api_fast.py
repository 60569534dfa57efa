"""The control app's API against a supervisor with a fake backend (no processes)."""

from __future__ import annotations

from pathlib import Path

from fakes import FakeBackend
from starlette.testclient import TestClient

from spacerunner.envs import EnvMode
from spacerunner.launcher import Launcher, SpaceSettings
from spacerunner.proxy.routes import Router
from spacerunner.server.app import build_app
from spacerunner.supervisor import Policy, Supervisor
from spacerunner.supervisor.state import StateFile


def test_logs_tail_that_is_not_a_number_is_a_400(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    (spaces / "demo").mkdir(parents=True)
    (spaces / "demo" / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
    (spaces / "demo" / "app.py").write_text("")
    supervisor = Supervisor(
        [spaces],
        Launcher(SpaceSettings(env_mode=EnvMode.CURRENT), FakeBackend(tmp_path / "logs")),
        Router(),
        state=StateFile(tmp_path / "state.json"),
        public_port=8000,
        policy=Policy(watch=False),
    )
    supervisor.scan()
    client = TestClient(build_app(supervisor, token="t0ken", port=8000))
    auth = {"Authorization": "Bearer t0ken"}
    answer = client.get("/api/spaces/demo/logs?tail=abc", headers=auth)
    assert answer.status_code == 400
    assert "whole number" in answer.json()["error"]
    assert client.get("/api/spaces/demo/logs?tail=5", headers=auth).status_code == 200
    assert client.get("/api/spaces/demo/logs?tail=abc").status_code == 401
