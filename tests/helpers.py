"""Test harness: an event loop in a thread (so sync clients like gradio_client can be used),
and a served Space (backend + proxy) built the way spacerunner builds it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from spacerunner.backends.base import Instance
from spacerunner.backends.local import LocalBackend
from spacerunner.config import load_space
from spacerunner.launch.sdks import LaunchOptions, build_plan
from spacerunner.limits.sandbox import Isolation, host_layers
from spacerunner.proxy import ProxyServer, Route, Router
from spacerunner.runner import SpaceRun

T = TypeVar("T")
SPACES = Path(__file__).parent / "spaces"


needs_full_isolation = pytest.mark.skipif(
    host_layers().effective(Isolation.FULL) is not Isolation.FULL
    and not os.environ.get("SPACERUNNER_REQUIRE_ISOLATION"),
    reason="full isolation needs root, bubblewrap and pasta (apt-get install bubblewrap passt)",
)
"""For tests of isolated apps: skipped where this host cannot isolate, unless CI requires it."""


class LoopThread:
    """A uvloop event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@dataclass
class Served:
    proxy: ProxyServer
    router: Router
    backend: LocalBackend
    instances: dict[str, Instance]
    routes: dict[str, Route]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"


async def serve(
    spaces: dict[str, Path],
    log_dir: Path,
    *,
    mounts: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    ready: bool = True,
) -> Served:
    """Start each Space and route it through one proxy (mounted under a prefix when asked)."""
    router = Router()
    proxy = ProxyServer(router)
    await proxy.start("127.0.0.1", 0)
    backend = LocalBackend(log_dir)
    served = Served(proxy, router, backend, {}, {})
    for name, path in spaces.items():
        config = load_space(path)
        mount = (mounts or {}).get(name, "")
        plan = build_plan(
            config,
            LaunchOptions(
                mount=mount, variables=variables or {}, public_host=f"127.0.0.1:{proxy.port}"
            ),
        )
        instance = await backend.start(plan)
        route = Route(
            name=name,
            prefix=plan.mount,
            strip_prefix=getattr(plan, "strip_prefix", False),
            response_headers=tuple((k.encode(), v.encode()) for k, v in config.custom_headers),
        )
        router.add(route)
        served.instances[name] = instance
        served.routes[name] = route
    if ready:
        for name, instance in served.instances.items():
            await instance.wait_ready(90)
            served.routes[name].endpoint = instance.endpoint
    return served


async def close(served: Served) -> None:
    try:
        await served.backend.close()
    finally:
        await served.proxy.close()


def streamlit_session(
    url: str, timeout: float = 20, *, subprotocol: bool = True
) -> tuple[list[str], str]:
    """Open a Streamlit session on its WebSocket at ``url`` (``ws://.../_stcore/stream``; an
    old Streamlit's ``.../stream``, without the ``streamlit`` subprotocol), run the script once;
    return the kinds of messages received and the text of its deltas (messages today's
    protobufs cannot read, as some of an old Streamlit's, count as ``undecodable``)."""
    from google.protobuf.message import DecodeError
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    texts: list[str] = []
    kinds: list[str] = []
    with connect(url, subprotocols=["streamlit"] if subprotocol else None) as ws:
        assert ws.subprotocol == ("streamlit" if subprotocol else None)
        ws.send(rerun.SerializeToString())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = ForwardMsg()
            try:
                message.ParseFromString(ws.recv(timeout=timeout))
            except DecodeError:
                kinds.append("undecodable")
                continue
            kind = message.WhichOneof("type")
            kinds.append(kind)
            if kind == "delta":
                texts.append(str(message.delta))
            if kind == "script_finished":
                break
    return kinds, "\n".join(texts)


def start_run(
    loop_thread: LoopThread,
    folder: Path,
    tmp: Path,
    *,
    ready: float | None = 120,
    **options: Any,
) -> SpaceRun:
    """The Space at ``folder`` started as ``spacerunner run`` starts it (on a free port, its
    logs and state under ``tmp``), and ready within ``ready`` seconds unless that is None.
    Closed again when it cannot start."""
    from spacerunner.defaults import DEFAULTS
    from spacerunner.launch.ports import free_port
    from spacerunner.launcher import SpaceSettings
    from spacerunner.runner import RunOptions

    run = SpaceRun(
        load_space(folder),
        RunOptions(
            port=free_port(),
            log_dir=tmp / "logs",
            state_dir=tmp / "state",
            space=SpaceSettings(**{"env_mode": DEFAULTS.run_env_mode, **options}),
        ),
    )
    try:
        loop_thread.run(run.start(), timeout=600)
        if ready is not None:
            loop_thread.run(run.wait_ready(ready), timeout=ready + 10)
    except BaseException:
        loop_thread.run(run.close())
        raise
    return run


GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}
"""git as the tests run it: a fixed identity, no prompts, none of this machine's settings."""


def git(
    *args: str, cwd: Path | None = None, check: bool = True, when: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``git args`` in ``cwd``; ``when`` dates its commits (author and committer)."""
    dated = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {}
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**GIT_ENV, **dated},
        capture_output=True,
        text=True,
        check=check,
    )


def python_says(python: str, code: str) -> str:
    """What ``code`` prints under the interpreter ``python`` (it must succeed)."""
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Scrape:
    """Every sample of a ``/metrics`` answer, parsed by the Prometheus client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(scrape: Scrape, name: str, **labels: str) -> float | None:
    """The sample ``name`` with exactly ``labels`` (None when the scrape has none)."""
    return scrape.get((name, tuple(sorted(labels.items()))))
