from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import LoopThread
from serving import CURRENT, Server

from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy


@pytest.fixture
def make_server(loop_thread: LoopThread, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(policy: Policy | None = None, dirs: list[Path] | None = None, **extra) -> Server:
        options = ServeOptions(
            dirs=tuple(dirs or [tmp_path / "spaces"]),
            port=0,
            policy=policy or Policy(health_interval=0, watch=False),
            state_dir=tmp_path / "state",
            spaces=CURRENT,
            **extra,
        )
        server = Server(loop_thread, Portfolio(options))
        servers.append(server)
        return server

    (tmp_path / "spaces").mkdir(exist_ok=True)
    yield make
    for server in servers:
        server.close()
