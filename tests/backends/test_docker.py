"""The Docker backend against a real engine: sdk: docker Spaces and Gradio in containers through
the proxy, limits read back from the engine and enforced, image reuse, clear failures, and no
leftovers."""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from docker_support import leftovers
from gradio_client import Client
from helpers import SPACES, LoopThread, start_run

from spacerunner.backends.docker import DockerBackend, images
from spacerunner.backends.docker.engine import LABEL, LABEL_OWNER, LABEL_PID, owner_key
from spacerunner.backends.kind import BackendKind
from spacerunner.config import load_space
from spacerunner.errors import BackendError
from spacerunner.launch import ContainerPlan, LaunchOptions, build_plan
from spacerunner.launch.ports import free_port
from spacerunner.launcher import SpaceSettings
from spacerunner.limits import LimitSettings
from spacerunner.runner import RunOptions, SpaceRun

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).parents[2] / "spaces"


@pytest.fixture(scope="module")
def client(docker_engine: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_engine)
    yield client
    # what the tests built goes; nothing of spacerunner's may be left running or dangling
    for image in client.images.list(filters={"label": f"{LABEL}=1"}):
        client.images.remove(image.id, force=True)
    client.images.prune(filters={"dangling": True})
    assert leftovers(client) == []
    client.close()


def space_copy(tmp_path: Path, source: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def start(
    loop_thread: LoopThread, folder: Path, tmp_path: Path, *, backend: str = "auto", **options
) -> SpaceRun:
    return start_run(loop_thread, folder, tmp_path, ready=None, backend=backend, **options)


def test_a_docker_space_builds_runs_and_answers_through_the_proxy(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "web")
    run = start(
        loop_thread,
        folder,
        tmp_path,
        variables={"API_KEY": "hf_secret_value"},
        limits=LimitSettings(memory="300M", cpus="0.5", pids="64"),
    )
    try:
        loop_thread.run(run.wait_ready(60))
        facts = httpx.get(run.url + "some/path?x=1").json()
        assert facts == {
            "path": "/some/path?x=1",
            "space_id": "local/web",
            "port": "8080",  # app_port, as Spaces sets it
            "uid": 1000,
            "secret": "set",
        }
        (container,) = client.containers.list(filters={"label": "spacerunner.space=web"})
        host = container.attrs["HostConfig"]
        assert host["Memory"] == host["MemorySwap"] == 300 * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000  # read back: the engine's CPU quota
        assert host["PidsLimit"] == 64
        assert container.labels[LABEL_OWNER] == owner_key(tmp_path / "state")
        env = container.attrs["Config"]["Env"]
        assert "API_KEY=hf_secret_value" in env
        image = client.images.get(container.attrs["Config"]["Image"])
        history = str(image.history()) + str(image.attrs)
        assert "hf_secret_value" not in history  # secrets never reach an image layer
        deadline = time.monotonic() + 15
        while not (run.instance.usage() or {}).get("memory"):
            assert time.monotonic() < deadline, "no usage reported"
            time.sleep(0.2)
        assert 1 << 20 < run.instance.usage()["memory"] < 300 << 20
        log = "\n".join(run.instance.log.tail(200))
        assert "limit: memory 300.0M: enforced" in log
        assert "hf_secret_value" not in log
    finally:
        loop_thread.run(run.close())
    assert client.containers.list(all=True, filters={"label": "spacerunner.space=web"}) == []


def test_an_unchanged_space_is_not_rebuilt(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "again")
    tags = []
    for round_ in range(3):
        if round_ == 2:
            (folder / "extra.txt").write_text("changed\n")  # a changed Space is rebuilt
        run = start(loop_thread, folder, tmp_path / str(round_))
        try:
            loop_thread.run(run.wait_ready(60))
            build_log = tmp_path / str(round_) / "logs" / "again.build.log"
            log = build_log.read_text() if build_log.exists() else ""
            tags.append(run.instance.container.attrs["Config"]["Image"])
            assert ("[spacerunner] building spacerunner/again" in log) == (round_ != 1), log
        finally:
            loop_thread.run(run.close())
    assert tags[0] == tags[1] != tags[2]
    # the image of the earlier version was dropped when the new one was built
    assert [i.tags for i in client.images.list(filters={"label": "spacerunner.space=again"})] == [
        [tags[2]]
    ]


def test_gradio_in_a_container_answers_gradio_client(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    run = start(loop_thread, EXAMPLES / "hello-gradio", tmp_path, backend="docker")
    try:
        loop_thread.run(run.wait_ready(120))
        assert isinstance(run.plan, ContainerPlan)
        assert run.plan.dockerfile is not None and "FROM python:3.11-slim" in run.plan.dockerfile
        result = Client(run.url, verbose=False).predict("Ada", 2, False, api_name="/greet")
        assert result == "Hello, Ada!!"
    finally:
        loop_thread.run(run.close())


def test_a_container_over_its_memory_limit_is_killed_and_reported(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "hungry")
    run = start(loop_thread, folder, tmp_path, limits=LimitSettings(memory="96M"))
    try:
        loop_thread.run(run.wait_ready(60))
        try:
            answer: int | None = httpx.get(run.url + "eat", timeout=60).status_code
        except httpx.HTTPError:
            answer = None
        assert answer is None or answer >= 500  # the proxy's error page, or a cut connection
        status = loop_thread.run(run.wait(), timeout=60)
        assert status.limit_exceeded == "Memory limit exceeded (96.0M)"
        assert status.reason == "Memory limit exceeded (96.0M): killed by SIGKILL"
    finally:
        loop_thread.run(run.close())


def test_persistent_storage_is_a_named_volume_at_data(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "keeper")
    counts = []
    for _ in range(2):
        run = start(loop_thread, folder, tmp_path, limits=LimitSettings(persistent=True))
        try:
            loop_thread.run(run.wait_ready(60))
            counts.append(httpx.get(run.url + "count").json()["count"])
        finally:
            loop_thread.run(run.close())
    assert counts == [1, 2]  # /data outlived the container
    (volume,) = client.volumes.list(filters={"label": "spacerunner.space=keeper"})
    volume.remove()


def test_build_failures_name_the_step(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "broken")
    (folder / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN echo preparing && echo 'no such tool' >&2 && exit 3\n"
    )
    with pytest.raises(BackendError) as info:
        start(loop_thread, folder, tmp_path)
    message = str(info.value)  # BuildKit's words for the step, as Spaces' build log has them
    assert "broken: the image build failed at [2/2] RUN echo preparing" in message
    assert "exit code: 3" in message
    assert "| no such tool" in message
    (folder / "Dockerfile").write_text("FROM nowhere.invalid/base:1\nCMD true\n")
    with pytest.raises(BackendError, match=r"base image nowhere\.invalid/base:1 is not on this"):
        start(loop_thread, folder, tmp_path)
    client.images.prune(filters={"dangling": True})


def test_a_dockerfile_that_needs_buildkit_builds_with_its_secret_and_network(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    """COPY of several files to ``.``, ``RUN --mount=type=secret`` and ``RUN pip install``: the
    engine's BuildKit builds it (through the docker CLI), the Space's secret reaches the build
    and no layer, and the RUN step reaches the package index on an engine with no bridge."""
    folder = space_copy(tmp_path, SPACES / "docker-buildkit", "kit")
    token = f"tok-{uuid.uuid4().hex}"
    run = start(loop_thread, folder, tmp_path, backend="docker", variables={"BUILD_TOKEN": token})
    try:
        loop_thread.run(run.wait_ready(60))
        facts = httpx.get(run.url).json()
        assert facts == {
            "token_sha": hashlib.sha256(token.encode()).hexdigest()[:16],
            "six": "1.16.0",
            "facts": {"copied": True},
        }
        (build_log,) = (tmp_path / "logs").glob("kit*build*")
        log = build_log.read_text()
        assert "(DOCKER_BUILDKIT=1)" in log or "buildx" in log
        assert "RUN pip install --no-cache-dir six==1.16.0" in log
        assert token not in log + "\n".join(run.instance.log.tail(400))
        (container,) = client.containers.list(filters={"label": "spacerunner.space=kit"})
        image = client.images.get(container.attrs["Config"]["Image"])
        assert token not in str(image.history()) + str(image.attrs)
    finally:
        loop_thread.run(run.close())
    # a new value of a secret the build mounts makes a new image (BuildKit alone would keep the
    # step that read the old one cached)
    token = f"tok-{uuid.uuid4().hex}"
    run = start(loop_thread, folder, tmp_path, backend="docker", variables={"BUILD_TOKEN": token})
    try:
        loop_thread.run(run.wait_ready(60))
        assert (
            httpx.get(run.url).json()["token_sha"]
            == hashlib.sha256(token.encode()).hexdigest()[:16]
        )
    finally:
        loop_thread.run(run.close())


def test_without_buildkit_the_failure_says_what_it_needs(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-buildkit", "legacy")
    plan = build_plan(load_space(folder), LaunchOptions(container=True))
    assert isinstance(plan, ContainerPlan)
    output: list[bytes] = []
    with pytest.raises(BackendError) as info:
        images.build(client, plan, output.append, network_mode="host", buildkit=None)
    message = str(info.value)
    assert "legacy: the image build failed at Step 4/" in message
    assert "needs BuildKit" in message and "docker-buildx" in message
    assert b"BuildKit is not reachable here" in b"".join(output)
    client.images.prune(filters={"dangling": True})


def test_no_engine_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"no Docker engine answers at unix:///nonexistent"):
        DockerBackend(tmp_path, owner="x", base_url="unix:///nonexistent/docker.sock")


def test_local_backend_refuses_container_plans_clearly(tmp_path: Path) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "web")
    plan = build_plan(load_space(folder), LaunchOptions())
    assert isinstance(plan, ContainerPlan) and plan.port == 8080
    run = SpaceRun(
        load_space(folder),
        RunOptions(
            port=free_port(),
            log_dir=tmp_path,
            state_dir=tmp_path,
            space=SpaceSettings(backend=BackendKind.LOCAL),
        ),
    )

    import asyncio

    async def go() -> None:
        try:
            await run.start()
        finally:
            await run.close()

    with pytest.raises(BackendError, match=r"the local backend cannot start\. Fix: use --backend"):
        asyncio.run(go())


def test_leftovers_of_a_crashed_server_are_removed_and_others_kept(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    mine, other = owner_key(tmp_path / "mine"), owner_key(tmp_path / "other")
    dead_pid = "999999999"
    made = {}
    for name, owner in [("orphan", mine), ("foreign", other)]:
        made[name] = client.containers.create(
            "python:3.11-slim",
            ["sleep", "600"],
            name=f"test-{name}-{uuid.uuid4().hex[:6]}",
            labels={LABEL: "1", LABEL_OWNER: owner, LABEL_PID: dead_pid},
        )
    unrelated = client.containers.create("python:3.11-slim", ["true"], name="not-ours")
    try:
        backend = DockerBackend(tmp_path / "logs", owner=mine)
        names = {c.name for c in client.containers.list(all=True)}
        assert made["orphan"].name not in names
        assert made["foreign"].name in names and "not-ours" in names
        import asyncio

        asyncio.run(backend.close())
    finally:
        made["foreign"].remove(force=True)
        unrelated.remove(force=True)


def test_a_container_over_its_disk_limit_is_stopped_and_reported(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = space_copy(tmp_path, SPACES / "docker-http", "filler")
    run = start(loop_thread, folder, tmp_path, limits=LimitSettings(disk="32M"))
    try:
        loop_thread.run(run.wait_ready(60))
        log = "\n".join(run.instance.log.tail(100))
        assert "limit: disk 32.0M: WATCHED ONLY" in log  # overlay2 on ext4 here: no quota
        httpx.get(run.url + "fill", timeout=30)
        status = loop_thread.run(run.wait(), timeout=30)
        assert status.limit_exceeded == "Disk limit exceeded (32.0M)"
    finally:
        loop_thread.run(run.close())


def test_serve_runs_docker_spaces_beside_local_ones(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    from spacerunner.envs import EnvMode
    from spacerunner.launcher import SpaceSettings
    from spacerunner.server.serve import Portfolio, ServeOptions
    from spacerunner.supervisor import Policy

    spaces = tmp_path / "spaces"
    space_copy(spaces, SPACES / "docker-http", "web")
    space_copy(spaces, SPACES / "http-app", "local-app")
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            state_dir=tmp_path / "state",
            policy=Policy(watch=False, health_interval=0),
            spaces=SpaceSettings(env_mode=EnvMode.CURRENT),
        )
    )
    loop_thread.run(portfolio.start())
    try:
        web = httpx.get(f"{portfolio.url}/spaces/web/hello", timeout=120)
        assert web.json()["path"] == "/hello"  # the prefix is stripped for docker apps
        host = httpx.get(
            f"{portfolio.url}/hello", headers={"Host": f"web.localhost:{portfolio.proxy.port}"}
        )
        assert host.json()["space_id"] == "local/web"
        assert httpx.get(f"{portfolio.url}/spaces/local-app/", timeout=60).status_code == 200
        facts = httpx.get(f"{portfolio.url}/api/spaces/web").json()
        assert facts["state"] == "running"
    finally:
        loop_thread.run(portfolio.close(), timeout=60)
    assert client.containers.list(all=True, filters={"label": "spacerunner.space=web"}) == []


def test_the_docker_template_builds_and_answers(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    from spacerunner.scaffold import find_templates, scaffold

    folder = scaffold(find_templates()["docker"], "api", tmp_path)
    run = start(loop_thread, folder, tmp_path)
    try:
        loop_thread.run(run.wait_ready(120))
        assert "<h1>Api</h1>" in httpx.get(run.url).text
        stats = httpx.post(run.url + "api/stats", json={"text": "three small words"})
        assert stats.json() == {"words": 3, "characters": 17}
        (container,) = client.containers.list(filters={"label": "spacerunner.space=api"})
        assert container.attrs["Config"]["User"] == "user"  # the template's non-root user
    finally:
        loop_thread.run(run.close())


def test_streamlit_and_static_spaces_with_the_docker_backend(
    loop_thread: LoopThread, client: docker.DockerClient, tmp_path: Path
) -> None:
    """--backend docker works for every SDK: streamlit in its generated image (its WebSocket
    through the proxy), static files served by spacerunner itself."""
    from helpers import streamlit_session

    run = start(loop_thread, SPACES / "streamlit-app", tmp_path / "st", backend="docker")
    try:
        loop_thread.run(run.wait_ready(120))
        assert isinstance(run.plan, ContainerPlan)
        assert httpx.get(run.url + "_stcore/health").text == "ok"
        ws = run.url.replace("http://", "ws://") + "_stcore/stream"
        kinds, text = streamlit_session(ws, timeout=60)
        assert "script_finished" in kinds and "Streamlit through spacerunner" in text
    finally:
        loop_thread.run(run.close())
    run = start(loop_thread, SPACES / "static-site", tmp_path / "static", backend="docker")
    try:
        loop_thread.run(run.wait_ready(10))
        assert httpx.get(run.url).status_code == 200
    finally:
        loop_thread.run(run.close())
