"""A real Streamlit app through the proxy: page, health endpoint and its WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from helpers import SPACES, LoopThread, Served, close, serve, streamlit_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def streamlit(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    served = loop_thread.run(
        serve(
            {"st": SPACES / "streamlit-app"},
            tmp_path_factory.mktemp("l"),
            mounts={"st": "/spaces/st"},
        )
    )
    yield served
    loop_thread.run(close(served))


def test_page_and_health(streamlit: Served) -> None:
    page = httpx.get(f"{streamlit.base}/spaces/st/")
    assert page.status_code == 200
    assert "<title>Streamlit</title>" in page.text
    health = httpx.get(f"{streamlit.base}/spaces/st/_stcore/health")
    assert (health.status_code, health.text) == (200, "ok")


def test_websocket_runs_the_script(streamlit: Served) -> None:
    url = f"ws://127.0.0.1:{streamlit.proxy.port}/spaces/st/_stcore/stream"
    kinds, joined = streamlit_session(url)
    assert kinds[0] == "new_session"
    assert "script_finished" in kinds
    assert "Streamlit through spacerunner" in joined
    assert "space id: local/streamlit-app" in joined
