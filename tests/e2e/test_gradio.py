"""Real Gradio apps answering gradio_client through spacerunner's proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import SPACES, LoopThread, Served, close, serve

from spacerunner.config import load_space
from spacerunner.envs import EnvMode
from spacerunner.launch.ports import free_port
from spacerunner.launcher import SpaceSettings
from spacerunner.runner import RunOptions, SpaceRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blocks(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Gradio Blocks under a path prefix, the way `serve` mounts Spaces."""
    served = loop_thread.run(
        serve(
            {"blocks": SPACES / "gradio-blocks"},
            tmp_path_factory.mktemp("logs"),
            mounts={"blocks": "/spaces/blocks"},
        )
    )
    yield served
    loop_thread.run(close(served))


@pytest.fixture(scope="module")
def interface(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Gradio Interface at the root of its own port, as `spacerunner run` serves it."""
    run = SpaceRun(
        load_space(SPACES / "gradio-interface"),
        RunOptions(
            port=free_port(),
            log_dir=tmp_path_factory.mktemp("logs"),
            space=SpaceSettings(env_mode=EnvMode.AUTO, author="tester"),
        ),
    )

    async def start() -> None:
        await run.start()
        await run.wait_ready(90)

    loop_thread.run(start())
    yield run.url
    loop_thread.run(run.close())


def test_interface_answers_gradio_client(interface: str) -> None:
    client = Client(interface, verbose=False)
    assert client.predict("Ada", api_name="/greet") == "Hello, Ada! (from tester/gradio-interface)"


def test_interface_page_loads(interface: str) -> None:
    response = httpx.get(interface)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "gradio" in response.text.lower()


def test_blocks_under_a_prefix(blocks: Served) -> None:
    client = Client(f"{blocks.base}/spaces/blocks/", verbose=False)
    assert client.predict(2, 3, api_name="/add") == 5


def test_blocks_streaming_generator(blocks: Served) -> None:
    client = Client(f"{blocks.base}/spaces/blocks/", verbose=False)
    job = client.submit(4, api_name="/count")
    assert job.result(timeout=30) == "step 4 of 4"
    assert job.outputs() == [f"step {i} of 4" for i in range(1, 5)]


def test_blocks_page_and_config_know_their_prefix(blocks: Served) -> None:
    page = httpx.get(f"{blocks.base}/spaces/blocks/")
    assert page.status_code == 200
    config = httpx.get(f"{blocks.base}/spaces/blocks/config").json()
    assert config["root"] == f"{blocks.base}/spaces/blocks"


def test_gradio_log_is_kept(blocks: Served, tmp_path: Path) -> None:
    log = blocks.instances["blocks"].log
    assert any("ready on 127.0.0.1" in line for line in log.tail(200))
    assert log.path.is_file()
