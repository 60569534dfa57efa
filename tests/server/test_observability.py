"""What a server tells about its Spaces, on real processes: metrics scraped while Spaces start,
crash and sleep; the console's lines; streams attached while the server stops."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest
from helpers import LoopThread, Scrape, metric, parse_metrics
from serving import CURRENT, Server, http_space

from spacerunner.cli.console import Console
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy


def scrape(server: Server, url: str | None = None) -> Scrape:
    return parse_metrics(httpx.get(url or f"{server.base}/metrics", headers=server.admin()).text)


def test_metrics_count_real_starts_crashes_and_sleeps(loop_thread: LoopThread, tmp_path: Path):
    spaces = tmp_path / "spaces"
    http_space(spaces, "app")
    broken = http_space(spaces, "broken")
    (broken / "server.py").write_text(
        "print('loading the model...', flush=True)\nraise RuntimeError('model weights not found')\n"
    )
    lines: list[str] = []
    options = ServeOptions(
        dirs=(spaces,),
        port=0,
        policy=Policy(health_interval=0, watch=False, max_crashes=0),
        state_dir=tmp_path / "state",
        spaces=CURRENT,
        metrics_address=("127.0.0.1", 0),
    )
    server = Server(loop_thread, Portfolio(options, listeners=(Console(write=lines.append),)))
    try:
        assert httpx.get(f"{server.base}/spaces/app/env", timeout=30).status_code == 200
        assert httpx.get(f"{server.base}/spaces/broken/", timeout=30).status_code == 503
        died = httpx.get(f"{server.base}/spaces/app/crash", timeout=30)  # it dies answering
        assert died.status_code == 502
        server.wait_for(lambda: server.facts("app")["state"] == "error")
        assert httpx.post(f"{server.base}/api/spaces/app/start", headers=server.admin()).is_success
        assert httpx.post(f"{server.base}/api/spaces/app/sleep", headers=server.admin()).is_success
        metrics = scrape(server)
        assert metric(metrics, "spacerunner_space_starts_total", space="app") == 2
        assert metric(metrics, "spacerunner_space_crashes_total", space="app") == 1
        assert metric(metrics, "spacerunner_space_failures_total", space="app") == 1  # max 0
        assert metric(metrics, "spacerunner_space_sleeps_total", space="app") == 1
        assert metric(metrics, "spacerunner_space_wake_seconds_count", space="app") == 1
        assert metric(metrics, "spacerunner_space_start_seconds_count", space="app") == 2
        assert metric(metrics, "spacerunner_space_failures_total", space="broken") == 1
        assert metric(metrics, "spacerunner_space_state", space="broken", state="error") == 1
        assert metric(metrics, "spacerunner_space_state", space="app", state="sleeping") == 1
        assert metric(metrics, "spacerunner_requests_total", space="app", code="2xx") == 1
        assert metric(metrics, "spacerunner_requests_total", space="app", code="5xx") == 1
        assert metric(metrics, "spacerunner_requests_total", space="broken", code="5xx") == 1
        # the same metrics on their own address, to anyone reaching it
        url = server.portfolio.metrics_url
        assert url is not None
        own = scrape(server, url)
        assert metric(own, "spacerunner_space_starts_total", space="app") == 2
        # while running, memory and CPU against its limits
        assert httpx.get(f"{server.base}/spaces/app/env", timeout=30).status_code == 200
        metrics = scrape(server)
        assert (metric(metrics, "spacerunner_space_memory_bytes", space="app") or 0) > 1_000_000
        assert metric(metrics, "spacerunner_space_memory_limit_bytes", space="app") == 200 << 20
        assert metric(metrics, "spacerunner_space_cpu_limit_cores", space="app") == 1
        assert metric(metrics, "spacerunner_space_cpu_seconds_total", space="app") is not None
        # anonymous visitors get no metrics on the server's port
        assert httpx.get(f"{server.base}/metrics").status_code == 401
    finally:
        server.close()
    said = [line.split(None, 1)[1] for line in lines]  # without the time
    app = [" ".join(line.split()[1:]) for line in said if line.startswith("app ")]
    assert app[0] == "starting (a visit)"
    assert app[1].startswith("started in ") and app[2].startswith("ready in ")
    assert any(line.startswith("crashed after") and "exited with code 3" in line for line in app), (
        app
    )
    assert "starting (an admin)" in app
    assert any(line.startswith("sleeping (an admin asked)") for line in app), app
    broken_lines = [line for line in said if line.startswith("broken ")]
    assert any("RuntimeError: model weights not found" in line for line in broken_lines)


def test_stopping_with_streams_attached_is_clean(
    make_server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http_space(tmp_path / "spaces", "app")
    server = make_server()
    assert httpx.get(f"{server.base}/spaces/app/env", timeout=30).status_code == 200
    ended: list[str] = []
    opened = threading.Barrier(5)

    def attach(path: str) -> None:
        with httpx.stream("GET", server.base + path, headers=server.admin(), timeout=60) as r:
            opened.wait()
            for _ in r.iter_bytes():
                pass
        ended.append(path)

    paths = [
        "/api/events",
        "/api/events",
        "/api/spaces/app/logs/run?follow=1",
        "/api/spaces/app/logs/build?follow=1&format=sse",
    ]
    threads = [threading.Thread(target=attach, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    opened.wait(timeout=30)
    with caplog.at_level(logging.WARNING):
        server.close()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(ended) == sorted(paths)  # each response ended, none hung
    noise = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in noise if "Cancel" in m or "Exception in ASGI" in m], noise


def test_a_metrics_address_in_use_fails_before_anything_starts(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    import socket

    from spacerunner.errors import PortInUseError

    http_space(tmp_path / "spaces", "app")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    portfolio = Portfolio(
        ServeOptions(
            dirs=(tmp_path / "spaces",),
            port=0,
            state_dir=tmp_path / "state",
            spaces=CURRENT,
            metrics_address=("127.0.0.1", port),
        )
    )
    try:
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            loop_thread.run(portfolio.start())
        assert portfolio.supervisor is None  # no Space registered, nothing built
    finally:
        loop_thread.run(portfolio.close())
        taken.close()
