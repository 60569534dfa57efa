"""`spacerunner serve` with a real Gradio, Streamlit and static Space, and a real browser."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from browser import ARTIFACTS, browser_page
from gradio_client import Client
from helpers import SPACES, LoopThread
from websockets.sync.client import connect

from spacerunner.envs import EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = [pytest.mark.slow, pytest.mark.shared_processes]


@dataclass
class Site:
    base: str
    port: int
    portfolio: Portfolio

    def host(self, name: str) -> dict[str, str]:
        return {"Host": f"{name}.localhost:{self.port}"}


@pytest.fixture(scope="module")
def site(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("portfolio")
    spaces = root / "spaces"
    for source, name in [
        ("gradio-interface", "gradio-demo"),
        ("streamlit-app", "streamlit-demo"),
        ("static-site", "static-demo"),
    ]:
        shutil.copytree(SPACES / source, spaces / name)
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            state_dir=root / "state",
            policy=Policy(watch=False),
            spaces=SpaceSettings(env_mode=EnvMode.CURRENT),  # environments: tests/envs
        )
    )
    loop_thread.run(portfolio.start())
    yield Site(portfolio.url, portfolio.proxy.port, portfolio)
    loop_thread.run(portfolio.close())


def test_gallery_lists_every_space_with_its_look(site: Site) -> None:
    page = httpx.get(site.base + "/")
    assert page.status_code == 200
    html = page.text
    for emoji, title in [
        ("🧪", "Test Gradio Interface"),
        ("📊", "Test Streamlit"),
        ("📄", "Test Static"),
    ]:
        assert emoji in html
        assert title in html
    assert "linear-gradient(135deg, #818cf8, #f472b6)" in html  # indigo -> pink
    assert "linear-gradient(135deg, #f87171, #facc15)" in html  # red -> yellow
    facts = {s["name"]: s for s in httpx.get(site.base + "/api/spaces").json()["spaces"]}
    assert facts["gradio-demo"]["sdk"] == "gradio"
    assert facts["streamlit-demo"]["host_url"] == f"http://streamlit-demo.localhost:{site.port}/"


def test_static_by_path_and_by_host(site: Site) -> None:
    by_path = httpx.get(site.base + "/spaces/static-demo/")
    by_host = httpx.get(site.base + "/", headers=site.host("static-demo"))
    assert by_path.status_code == by_host.status_code == 200
    assert "static root" in by_path.text
    assert by_path.text == by_host.text
    assert by_path.headers["cross-origin-opener-policy"] == "same-origin"


def test_gradio_by_path_and_by_host(site: Site) -> None:
    # the client's first request wakes the Space: a cold start can pass its 5 s default
    client = Client(
        site.base + "/spaces/gradio-demo/", verbose=False, httpx_kwargs={"timeout": 120}
    )
    assert client.predict("Ada", api_name="/greet") == "Hello, Ada! (from local/gradio-demo)"
    page = httpx.get(site.base + "/", headers=site.host("gradio-demo"), timeout=60)
    assert page.status_code == 200
    config = httpx.get(site.base + "/config", headers=site.host("gradio-demo")).json()
    root = config["root"]
    assert root == f"http://gradio-demo.localhost:{site.port}/spaces/gradio-demo"
    # the app's own URLs (with the prefix) answer by host name too
    again = httpx.get(site.base + "/spaces/gradio-demo/config", headers=site.host("gradio-demo"))
    assert again.json()["root"] == root


def test_streamlit_websocket_and_host_route(site: Site) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    health = httpx.get(site.base + "/spaces/streamlit-demo/_stcore/health", timeout=60)
    assert (health.status_code, health.text) == (200, "ok")
    by_host = httpx.get(site.base + "/_stcore/health", headers=site.host("streamlit-demo"))
    assert (by_host.status_code, by_host.text) == (200, "ok")
    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    texts = []
    url = f"ws://127.0.0.1:{site.port}/spaces/streamlit-demo/_stcore/stream"
    with connect(url, subprotocols=["streamlit"]) as ws:
        ws.send(rerun.SerializeToString())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=20))
            if message.WhichOneof("type") == "delta":
                texts.append(str(message.delta))
            if message.WhichOneof("type") == "script_finished":
                break
        route = site.portfolio.router.match(None, b"/spaces/streamlit-demo/")
        assert route is not None
        assert route[0].open_tunnels == 1  # an open WebSocket keeps the Space awake
    assert "space id: local/streamlit-demo" in "\n".join(texts)


def test_in_a_real_browser(site: Site) -> None:
    from playwright.sync_api import expect

    with browser_page() as page:
        page.goto(site.base + "/")
        expect(page.locator(".card")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "serve-gallery.png"))
        page.locator('.card[data-name="gradio-demo"]').click()
        page.wait_for_url(re.compile(r"/space/gradio-demo$"))
        frame = page.frame_locator("iframe#app")
        frame.get_by_label("name").fill("Browser")
        frame.get_by_role("button", name="Submit").click()
        expect(frame.get_by_label("output")).to_have_value(
            "Hello, Browser! (from local/gradio-demo)", timeout=30_000
        )
        page.screenshot(path=str(ARTIFACTS / "serve-gradio.png"))
        # the same app by host name: Chromium resolves *.localhost by itself
        page.goto(f"http://gradio-demo.localhost:{site.port}/")
        page.get_by_label("name").fill("Host")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_label("output")).to_have_value(
            "Hello, Host! (from local/gradio-demo)", timeout=30_000
        )
