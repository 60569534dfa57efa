"""A preloaded app as the local backend follows it: its host pid, and the channel on which the
preloader's child reports what it imports and how it ended, relayed to its seat (the process
its sandbox runs, which ends with the app's code)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from spacerunner.preload.preloader import Preloader, readline

LOST = 1
"""The code a seat ends with when the preloader's child was lost before it reported one."""


@dataclass
class PreloadedApp:
    pid: int
    """The app's process on this machine (in a session of its own)."""
    channel: socket.socket
    preloader: Preloader
    learn: Callable[[str], None]

    async def relay(self, seat: asyncio.subprocess.Process) -> None:
        """Until the app ends: pass on the modules it imports, then end its seat with its
        exit code (128 + N for signal N, as a shell reports it)."""
        loop = asyncio.get_running_loop()
        code: int | None = None
        try:
            while code is None:
                line = await readline(loop, self.channel)
                if not line:
                    break
                kind, _, value = line.partition(" ")
                if kind == "learn":
                    self.learn(value)
                elif kind == "exit":
                    with contextlib.suppress(ValueError):
                        code = int(value)
                    code = LOST if code is None else code
            while code is None and _running(self.pid):  # noqa: ASYNC110 - its waiter is gone
                await asyncio.sleep(0.2)  # and only the app's end is left to see
        finally:
            self.channel.close()
        status = LOST if code is None else (128 - code if code < 0 else code)
        if seat.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                seat.stdin.write(f"{status}\n".encode())
                await seat.stdin.drain()
                seat.stdin.close()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
