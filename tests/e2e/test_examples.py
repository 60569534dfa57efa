"""The example portfolio: `spacerunner serve spaces/` on the repository's own spaces/ folder
works out of the box, each Space in its own isolated environment, as `serve` runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import LoopThread

from spacerunner.config import load_space
from spacerunner.envs import EnvBuilder, EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = [pytest.mark.slow, pytest.mark.shared_processes]
EXAMPLES = Path(__file__).parents[2] / "spaces"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "README.md").is_file())


@pytest.fixture(scope="module")
def site(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("examples")
    portfolio = Portfolio(
        ServeOptions(
            dirs=(EXAMPLES,),
            port=0,
            state_dir=root / "state",
            policy=Policy(watch=False),
            spaces=SpaceSettings(env_mode=EnvMode.ISOLATED, builder=EnvBuilder(root / "cache")),
        )
    )
    loop_thread.run(portfolio.start())
    yield portfolio.url
    loop_thread.run(portfolio.close(), timeout=60)


def test_the_examples_are_a_handful_of_valid_spaces() -> None:
    assert len(NAMES) >= 5
    sdks = {load_space(EXAMPLES / name).sdk.value for name in NAMES}
    assert {"gradio", "streamlit", "static"} <= sdks


def test_the_gallery_lists_them(site: str) -> None:
    html = httpx.get(site + "/").text
    for name in NAMES:
        assert load_space(EXAMPLES / name).title in html
    assert html.index("Hello Gradio") < html.index("Random walks")  # pinned first


@pytest.mark.parametrize("name", NAMES)
def test_every_example_answers(site: str, name: str) -> None:
    response = httpx.get(f"{site}/spaces/{name}/", timeout=180)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    state = httpx.get(f"{site}/api/spaces/{name}").json()["state"]
    assert state == "running"


def test_the_gradio_example_through_gradio_client(site: str) -> None:
    client = Client(f"{site}/spaces/hello-gradio/", verbose=False)
    assert client.predict("Ada", 2, False, api_name="/greet") == "Hello, Ada!!"
