"""The control app's API against a supervisor with a fake backend (no processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes import FakeBackend, fake_supervisor
from starlette.testclient import TestClient

from spacerunner.auth import TeamFiles
from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import SERVER_ADMIN
from spacerunner.auth.sessions import COOKIE
from spacerunner.server.app import build_app
from spacerunner.supervisor import Supervisor
from spacerunner.supervisor.secrets import SecretStore


def make_supervisor(tmp_path: Path) -> tuple[Supervisor, FakeBackend]:
    spaces = tmp_path / "spaces"
    for name in ("demo", "other"):
        (spaces / name).mkdir(parents=True)
        (spaces / name / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
        (spaces / name / "app.py").write_text("")
    supervisor, backend = fake_supervisor(
        spaces, tmp_path, variables={"SHARED": "1"}, secrets=SecretStore(tmp_path / "secrets")
    )
    supervisor.scan()
    return supervisor, backend


def gate(tmp_path: Path) -> Gate:
    return Gate.of(TeamFiles(tmp_path / "state"), "t0ken")


def app_for(supervisor: Supervisor, tmp_path: Path) -> TestClient:
    return TestClient(build_app(supervisor, gate=gate(tmp_path), port=8000))


def control(tmp_path: Path) -> TestClient:
    supervisor, _ = make_supervisor(tmp_path)
    return app_for(supervisor, tmp_path)


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
    client.cookies.set(COOKIE, gate(tmp_path).sessions.issue(SERVER_ADMIN))
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


def test_secrets_through_the_api_reach_only_their_space(tmp_path: Path) -> None:
    supervisor, backend = make_supervisor(tmp_path)
    client = app_for(supervisor, tmp_path)
    auth = {"Authorization": "Bearer t0ken"}
    url = "/api/spaces/demo/secrets"
    assert client.put(url + "/HF_TOKEN", content=b"hf_s3cret", headers=auth).json() == {
        "space": "demo",
        "names": ["HF_TOKEN"],
    }
    assert client.get(url, headers=auth).json()["names"] == ["HF_TOKEN"]  # names, no values
    assert "hf_s3cret" not in client.get(url, headers=auth).text
    assert client.put(url + "/HF_TOKEN", content=b"x").status_code == 401
    assert client.put(url + "/1BAD", content=b"x", headers=auth).status_code == 400
    stored = tmp_path / "secrets" / "demo.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700

    async def start_both() -> None:
        await supervisor.spaces["demo"].start()
        await supervisor.spaces["other"].start()

    asyncio.run(start_both())
    plans = {i.plan.name: i.plan for i in backend.started}
    assert plans["demo"].env["HF_TOKEN"] == "hf_s3cret"  # type: ignore[union-attr]
    assert "HF_TOKEN" not in plans["other"].env  # type: ignore[union-attr]
    assert plans["other"].env["SHARED"] == "1"  # type: ignore[union-attr]
    assert "HF_TOKEN" in plans["demo"].secret_names  # type: ignore[union-attr]
    assert client.delete(url + "/HF_TOKEN", headers=auth).json()["names"] == []
    assert client.delete(url + "/HF_TOKEN", headers=auth).status_code == 404


def test_missing_isolation_layers_are_in_the_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spacerunner.limits import sandbox

    no_pasta = sandbox.HostLayers(bwrap="/usr/bin/bwrap", pasta=None, setpriv="/x", root=True)
    monkeypatch.setattr(sandbox, "host_layers", lambda: no_pasta)
    monkeypatch.setattr("spacerunner.server.facts.host_layers", lambda: no_pasta)
    monkeypatch.setattr("spacerunner.launcher.host_layers", lambda: no_pasta)
    supervisor, backend = make_supervisor(tmp_path)
    client = app_for(supervisor, tmp_path)
    asyncio.run(supervisor.spaces["demo"].start())
    facts = client.get("/api/spaces/demo").json()
    assert facts["isolation"]["mode"] == "offline"  # what this host could give for 'full'
    assert backend.latest.plan.isolation is sandbox.Isolation.OFFLINE  # type: ignore[union-attr]
    assert facts["isolation"]["missing"] == [
        "network: pasta is not installed (apt-get install passt), so the app has no outbound "
        "network, only its own loopback"
    ]
