"""The control app's API against a supervisor with a fake backend (no processes)."""

from __future__ import annotations

from pathlib import Path

from fakes import FakeBackend
from starlette.testclient import TestClient

from spacerunner.envs import EnvMode
from spacerunner.launcher import Launcher, SpaceSettings
from spacerunner.proxy.routes import Router
from spacerunner.server.app import COOKIE, build_app
from spacerunner.supervisor import Policy, Supervisor
from spacerunner.supervisor.state import StateFile


def control(tmp_path: Path) -> TestClient:
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
    return TestClient(build_app(supervisor, token="t0ken", port=8000))


def test_logs_tail_that_is_not_a_number_is_a_400(tmp_path: Path) -> None:
    client = control(tmp_path)
    auth = {"Authorization": "Bearer t0ken"}
    answer = client.get("/api/spaces/demo/logs?tail=abc", headers=auth)
    assert answer.status_code == 400
    assert "whole number" in answer.json()["error"]
    assert client.get("/api/spaces/demo/logs?tail=5", headers=auth).status_code == 200
    assert client.get("/api/spaces/demo/logs?tail=abc").status_code == 401


def test_actions_with_the_cookie_need_a_same_origin_request(tmp_path: Path) -> None:
    client = control(tmp_path)
    client.cookies.set(COOKIE, "t0ken")
    url = "/api/spaces/demo/stop"
    here = "http://testserver"
    for headers in (
        {},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
    ):
        answer = client.post(url, headers=headers)
        assert answer.status_code == 403, headers
        assert "cross-origin" in answer.json()["error"]
    assert client.post(url, headers={"Origin": here}).status_code == 200
    assert client.post(url, headers={"Referer": here + "/space/demo"}).status_code == 200
    client.cookies.clear()
    assert client.post(url, headers={"Origin": here}).status_code == 401
    bearer = {"Authorization": "Bearer t0ken", "Origin": "http://evil.example"}
    assert client.post(url, headers=bearer).status_code == 200  # a token is not ambient
