"""A served folder of Spaces for tests: a real Portfolio (proxy, supervisor, control app) on
a free port, its apps plain HTTP servers run with spacerunner's own Python."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from helpers import SPACES, LoopThread

from spacerunner.envs import EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.limits import LimitSettings
from spacerunner.server.serve import Portfolio

CURRENT = SpaceSettings(
    env_mode=EnvMode.CURRENT, limits=LimitSettings(memory="200M", cpus="1", disk="64M")
)

HTTP_APP = (SPACES / "http-app" / "server.py").read_text()


def http_space(root: Path, name: str, *, title: str | None = None, prelude: str = "") -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "README.md").write_text(
        f"---\ntitle: {title or name}\nemoji: 🧪\ncolorFrom: green\ncolorTo: blue\n"
        "sdk: gradio\napp_file: server.py\n---\n"
    )
    (path / "server.py").write_text(prelude + HTTP_APP)
    return path


class Server:
    def __init__(self, loop: LoopThread, portfolio: Portfolio) -> None:
        self.loop = loop
        self.portfolio = portfolio
        loop.run(portfolio.start())
        self.base = portfolio.url
        self.token = portfolio.token

    @property
    def supervisor(self):
        assert self.portfolio.supervisor is not None
        return self.portfolio.supervisor

    def facts(self, name: str) -> dict:
        return httpx.get(f"{self.base}/api/spaces/{name}").json()

    def wait_for(self, check: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.05)

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def close(self) -> None:
        self.loop.run(self.portfolio.close())
