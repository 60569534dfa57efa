"""Connections into another network namespace: a server on its own loopback, unreachable from
ours, answers through spacerunner.netns, the proxy's upstream pool and the readiness probe."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from spacerunner import netns
from spacerunner.backends.base import Upstream
from spacerunner.backends.probe import http_status
from spacerunner.launch.ports import free_port
from spacerunner.proxy import ProxyServer, Route, Router

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip to make a network namespace",
)


@pytest.fixture
def server_in_netns() -> Iterator[tuple[int, int]]:
    """An HTTP server on port P of a new network namespace's loopback; (its pid, P)."""
    port = free_port()
    proc = subprocess.Popen(
        ["unshare", "--net", "sh", "-c",
         f"ip link set lo up && exec {sys.executable} -m http.server {port} --bind 127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        ours = os.readlink("/proc/self/ns/net")
        while True:  # until it runs python, in a namespace of its own (not unshare or sh)
            with open(f"/proc/{proc.pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            in_own = os.readlink(f"/proc/{proc.pid}/ns/net") != ours
            if in_own and argv[0] == sys.executable.encode():
                break
            assert time.monotonic() < deadline, argv
            time.sleep(0.02)
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait()


def test_a_server_in_another_namespace_is_reached(server_in_netns: tuple[int, int]) -> None:
    pid, port = server_in_netns
    with socket.socket() as sock:  # not from here: it is on the other namespace's loopback
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    netns.register("test-ns", pid)

    async def go() -> None:
        deadline = time.monotonic() + 10
        inside = Upstream("127.0.0.1", port, netns="test-ns")
        while await http_status(inside, "/") != 200:
            assert time.monotonic() < deadline, "the server in the namespace never answered"
            await asyncio.sleep(0.05)
        router = Router()
        route = Route("ns", endpoint=inside)
        router.add(route)
        proxy = ProxyServer(router)
        await proxy.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200")
            assert b"Directory listing" in answer
        finally:
            await proxy.close()

    try:
        asyncio.run(go())
    finally:
        netns.release("test-ns")


def test_a_released_namespace_refuses() -> None:
    async def go() -> None:
        with pytest.raises(ConnectionRefusedError, match="is gone"):
            await netns.connect("never-registered", "127.0.0.1", 80)
        assert await http_status(Upstream("127.0.0.1", 80, netns="never-registered"), "/") is None

    asyncio.run(go())


def test_a_namespace_that_cannot_be_entered_is_an_error_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(FileNotFoundError):
        netns.register("no-such-process", 2**22 + 12345)
    fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="setns"):  # not a network namespace
            netns._enter(fd)
    finally:
        os.close(fd)

    def refuse(fd: int) -> None:
        raise OSError(1, "setns: Operation not permitted")

    monkeypatch.setattr(netns, "_enter", refuse)
    with pytest.raises(
        OSError, match=f"cannot enter the network namespace of process {os.getpid()}"
    ):
        netns.register("refused", os.getpid())
    with pytest.raises(ConnectionRefusedError, match="is gone"):
        asyncio.run(netns.connect("refused", "127.0.0.1", 80))  # nothing was registered
