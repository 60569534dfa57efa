"""A real Streamlit app through the proxy: page, health endpoint and its WebSocket."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from helpers import SPACES, LoopThread, Served, close, serve
from websockets.sync.client import connect

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
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    url = f"ws://127.0.0.1:{streamlit.proxy.port}/spaces/st/_stcore/stream"
    texts: list[str] = []
    kinds: list[str] = []
    with connect(url, subprotocols=["streamlit"]) as ws:
        assert ws.subprotocol == "streamlit"
        ws.send(rerun.SerializeToString())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=20))
            kind = message.WhichOneof("type")
            kinds.append(kind)
            if kind == "delta":
                texts.append(str(message.delta))
            if kind == "script_finished":
                break
    assert kinds[0] == "new_session"
    assert "script_finished" in kinds
    joined = "\n".join(texts)
    assert "Streamlit through spacerunner" in joined
    assert "space id: local/streamlit-app" in joined
