"""A new revision takes over with no request lost: real apps (an HTTP + WebSocket app on
uvicorn, in their sandboxes), real proxy, the folder's watcher; a client asks all along."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.sync.client import connect

from spacerunner.supervisor import Policy

pytestmark = pytest.mark.slow

APP = """
import os, time
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

REVISION = "{revision}"
{breakage}

async def rev(request):
    return PlainTextResponse(REVISION)

async def echo(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{{REVISION}}:{{text}}")

time.sleep(1.0)  # a start that takes a while: the old revision serves meanwhile
app = Starlette(routes=[Route("/rev", rev), WebSocketRoute("/ws", echo)])
uvicorn.run(app, host=os.environ["GRADIO_SERVER_NAME"], port=int(os.environ["GRADIO_SERVER_PORT"]),
            log_level="warning")
"""


def write_app(folder: Path, revision: str, breakage: str = "") -> None:
    (folder / "app.py").write_text(APP.format(revision=revision, breakage=breakage))


class Client(threading.Thread):
    """Asks for the revision again and again, on fresh and kept-alive connections."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as kept:
            while not self.halt.is_set():
                for client in (kept, None):
                    try:
                        response = (client or httpx).get(self.url, timeout=30)
                    except httpx.HTTPError as exc:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                        continue
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                    else:
                        self.answers.append(response.text)

    def stop(self) -> None:
        self.halt.set()
        self.join(30)


def test_a_new_revision_takes_over_with_no_request_lost(make_server, tmp_path: Path) -> None:
    folder = tmp_path / "spaces" / "live"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("---\ntitle: Live\nsdk: gradio\napp_file: app.py\n---\n")
    write_app(folder, "1")
    server = make_server(Policy(health_interval=0, watch_debounce_ms=50, stop_grace=2))
    url = f"{server.base}/spaces/live/rev"
    assert httpx.get(url, timeout=60).text == "1"
    old_pid = server.facts("live")["pid"]
    socket = connect(server.base.replace("http://", "ws://") + "/spaces/live/ws")
    socket.send("before")
    assert socket.recv(timeout=10) == "1:before"

    client = Client(url)
    client.start()
    try:
        time.sleep(0.5)
        write_app(folder, "2")
        server.wait_for(lambda: client.answers[-1:] == ["2"], timeout=60)
        time.sleep(0.5)
    finally:
        client.stop()
    assert client.failures == []
    assert client.answers.count("1") > 0 and client.answers.count("2") > 0
    switched = client.answers.index("2")
    assert set(client.answers[switched:]) == {"2"}  # new requests only go to the new one
    facts = server.facts("live")
    assert facts["state"] == "running" and facts["pid"] != old_pid
    assert facts["build"]["state"] == "done"

    # the WebSocket opened before the switch is still answered by the old revision ...
    assert psutil.pid_exists(old_pid)
    socket.send("after")
    assert socket.recv(timeout=10) == "1:after"
    # ... until it closes; then the old revision stops
    socket.close()
    server.wait_for(lambda: not psutil.pid_exists(old_pid), timeout=30)

    # a revision that cannot start leaves the one serving in place
    new_pid = facts["pid"]
    client = Client(url)
    client.start()
    try:
        write_app(folder, "3", breakage="raise SystemExit('broken on purpose')")
        server.wait_for(
            lambda: (server.facts("live")["build"] or {}).get("state") == "failed", timeout=60
        )
        time.sleep(0.3)
    finally:
        client.stop()
    assert client.failures == [] and set(client.answers) == {"2"}
    facts = server.facts("live")
    assert facts["pid"] == new_pid and facts["state"] == "running"
    assert "exited with code 1 while starting" in facts["build"]["error"]
    run_log = httpx.get(f"{server.base}/api/spaces/live/logs/run", headers=server.admin()).text
    assert "the new revision failed" in run_log and "this one serves on" in run_log
    build_log = httpx.get(f"{server.base}/api/spaces/live/logs/build", headers=server.admin())
    assert build_log.status_code == 200
    assert (
        httpx.get(f"{server.base}/api/spaces/live/logs/nope", headers=server.admin()).status_code
        == 404
    )
