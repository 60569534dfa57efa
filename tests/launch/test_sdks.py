from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from helpers import SPACES

from spacerunner.config import load_space
from spacerunner.errors import EnvFileError, LaunchError, PortInUseError
from spacerunner.launch import (
    ContainerPlan,
    LaunchOptions,
    ProcessPlan,
    StaticPlan,
    build_plan,
)
from spacerunner.launch.envfile import read_env_file
from spacerunner.launch.ports import free_port
from spacerunner.proxy.routes import Router
from spacerunner.proxy.server import ProxyServer


def test_gradio_plan() -> None:
    config = load_space(SPACES / "gradio-interface")
    plan = build_plan(
        config,
        LaunchOptions(
            python="/py",
            port=9999,
            mount="/spaces/g/",
            public_host="example.test:8000",
            author="ann",
        ),
    )
    assert isinstance(plan, ProcessPlan)
    assert plan.command == ("/py", "app.py")
    assert plan.cwd == config.path
    assert plan.port == 9999
    assert plan.mount == "/spaces/g"
    assert plan.strip_prefix is True
    assert plan.probe.path == "/"
    env = dict(plan.env)
    assert env["GRADIO_SERVER_PORT"] == "9999"
    assert env["GRADIO_SERVER_NAME"] == "127.0.0.1"
    assert env["GRADIO_ROOT_PATH"] == "/spaces/g"
    assert env["SYSTEM"] == "spaces"
    assert env["SPACE_ID"] == "ann/gradio-interface"
    assert env["SPACE_AUTHOR_NAME"] == "ann"
    assert env["SPACE_REPO_NAME"] == "gradio-interface"
    assert env["SPACE_HOST"] == "example.test:8000"
    assert env["PORT"] == "9999"


def test_gradio_at_root_has_no_root_path() -> None:
    plan = build_plan(load_space(SPACES / "gradio-interface"), LaunchOptions(port=9000))
    assert isinstance(plan, ProcessPlan)
    assert "GRADIO_ROOT_PATH" not in plan.env


def test_streamlit_plan_keeps_prefix() -> None:
    plan = build_plan(
        load_space(SPACES / "streamlit-app"),
        LaunchOptions(python="/py", port=8501, mount="/spaces/st"),
    )
    assert isinstance(plan, ProcessPlan)
    assert plan.command == (
        "/py",
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        "8501",
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.baseUrlPath",
        "spaces/st",
    )
    assert plan.strip_prefix is False
    assert plan.probe.path == "/spaces/st/"


def test_static_plan() -> None:
    plan = build_plan(load_space(SPACES / "static-site"))
    assert isinstance(plan, StaticPlan)
    assert plan.index == "index.html"


def test_docker_spaces_get_a_container_plan(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nsdk: docker\napp_port: 8080\n---\n")
    with pytest.raises(LaunchError, match=r"sdk: docker needs a Dockerfile beside README\.md"):
        build_plan(load_space(tmp_path))
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    plan = build_plan(load_space(tmp_path), LaunchOptions(variables={"TOKEN": "x"}))
    assert isinstance(plan, ContainerPlan)
    assert (plan.port, plan.dockerfile, plan.command) == (8080, None, None)
    assert plan.env["PORT"] == "8080" and plan.env["TOKEN"] == "x"


def test_gradio_in_a_container_gets_a_spaces_like_dockerfile() -> None:
    config = load_space(SPACES / "gradio-interface")
    plan = build_plan(config, LaunchOptions(container=True, mount="/spaces/g"))
    assert isinstance(plan, ContainerPlan)
    assert plan.command == ("python", config.app_file)
    assert plan.env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    assert plan.env["GRADIO_SERVER_PORT"] == str(plan.port)
    assert plan.env["GRADIO_ROOT_PATH"] == "/spaces/g"
    assert "SPACERUNNER_PORT" not in plan.env and "PYTHONPATH" not in plan.env  # own ports
    process = build_plan(config, LaunchOptions())
    assert process.env["SPACERUNNER_PORT_ALIASES"] == "7860"  # a process shares the host's
    dockerfile = plan.dockerfile or ""
    assert dockerfile.startswith("# Written by spacerunner")
    assert config.sdk_version is None and config.python_version == "3.10"
    assert "FROM python:3.10-slim" in dockerfile
    assert "RUN printf '%s\\n' 'setuptools<81' > /tmp/compat.txt" in dockerfile
    install = "uv pip install --system --no-cache -c /tmp/compat.txt gradio pip setuptools wheel"
    assert f"{install} spaces" in dockerfile
    assert "--exclude-newer" not in dockerfile  # (a folder of this repository: today)
    assert "USER user" in dockerfile and "useradd -m -u 1000 user" in dockerfile


def test_port_is_assigned_when_not_given() -> None:
    plan = build_plan(load_space(SPACES / "http-app"))
    assert isinstance(plan, ProcessPlan)
    assert 1024 < plan.port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", plan.port))  # nothing listens there


def test_secrets_are_set_but_not_shown() -> None:
    plan = build_plan(
        load_space(SPACES / "http-app"), LaunchOptions(variables={"HF_TOKEN": "hf_supersecret"})
    )
    assert plan.env["HF_TOKEN"] == "hf_supersecret"
    assert "hf_supersecret" not in repr(plan)
    assert plan.secret_names == frozenset({"HF_TOKEN"})


def test_env_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# comment\nexport A=1\nB='two words'\nC=\"x=y\"\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}


def test_env_file_errors_never_show_values(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="no such file"):
        read_env_file(tmp_path / "missing.env")
    path = tmp_path / "bad.env"
    path.write_text("TOKEN=hf_value\nLONELY\n")
    with pytest.raises(EnvFileError) as info:
        read_env_file(path)
    assert "LONELY has no '='" in str(info.value)
    assert "hf_value" not in str(info.value)


def test_free_port_and_port_in_use() -> None:
    async def start(port: int) -> None:
        proxy = ProxyServer(Router())
        try:
            await proxy.start("127.0.0.1", port)
        finally:
            await proxy.close()

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            asyncio.run(start(port))
