"""A preloaded app in its seat: the sandbox of a Space is made as always around a seat (a
shell that holds its namespaces and ends with the app's exit code); the app is forked from a
preloader into it (:func:`fork_into`), and followed as :class:`PreloadedApp`: its host pid, and
the channel on which the preloader's child reports what it imports and how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from spacerunner.preload.preloader import Channel, Preloader

SEAT = ("/bin/sh", "-c", 'trap "" TERM INT HUP; read code; exit "${code:-1}"', "spacerunner-seat")
"""What a preloaded app's sandbox runs: it holds the namespaces the app is forked into, and
ends with the app's exit code, written to it by spacerunner (so the sandbox ends as usual)."""
NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt", "user")
"""The namespaces a preloaded app joins, in order (the user namespace last)."""

LOST = 1
"""The code a seat ends with when the preloader's child was lost before it reported one."""


@dataclass
class PreloadedApp:
    pid: int
    """The app's process on this machine (in a session of its own)."""
    channel: Channel
    preloader: Preloader
    learn: Callable[[str], None]

    async def relay(self, seat: asyncio.subprocess.Process) -> None:
        """Until the app ends: pass on the modules it imports, then end its seat with its
        exit code (128 + N for signal N, as a shell reports it)."""
        code: int | None = None
        try:
            while code is None:
                line = await self.channel.line()
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


async def fork_into(
    chain: int,
    preloader: Preloader,
    request: dict[str, object],
    cgroup_procs: list[str],
    learn: Callable[[str], None],
) -> PreloadedApp:
    """Fork an app (``request``: its command, variables, identity) from ``preloader`` into
    the sandbox whose chain of processes starts at ``chain``, its output the seat's, write it
    into ``cgroup_procs`` before it runs a line of its own, and let it run. Raises
    :class:`OSError` or :class:`~spacerunner.preload.preloader.PreloadError`."""
    seat = await _find(chain, list(SEAT))
    flags = os.O_RDONLY | os.O_CLOEXEC
    fds: list[tuple[str, int]] = []
    try:
        for name in NAMESPACES:
            fds.append((name, os.open(f"/proc/{seat}/ns/{name}", flags)))
        out = _take_fd(seat, 1)  # its output: a socket, which /proc cannot reopen
        try:
            channel, app = await preloader.launch(request, fds, out)
        finally:
            os.close(out)
    finally:
        for _, fd in fds:
            os.close(fd)
    try:
        for path in cgroup_procs:  # failing here fails the start: never unlimited
            await asyncio.to_thread(Path(path).write_text, str(app))
        await channel.send("go")
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(app, signal.SIGKILL)
        channel.close()
        raise
    return PreloadedApp(app, channel, preloader, learn)


_PIDFD_GETFD = 438
"""The system call's number (one table for every architecture since Linux 5.6)."""


def _take_fd(pid: int, fd: int) -> int:
    """A copy of process ``pid``'s descriptor ``fd`` (pidfd_getfd(2); close-on-exec)."""
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        copy = int(libc.syscall(_PIDFD_GETFD, pidfd, fd, 0))
        if copy < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"pidfd_getfd: {os.strerror(error)}")
        return copy
    finally:
        os.close(pidfd)


async def _find(pid: int, cmdline: list[str], timeout: float = 10.0) -> int:
    """The process of ``pid``'s tree whose command line is ``cmdline`` (once it is there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if proc.cmdline() == cmdline:
                        return proc.pid
        await asyncio.sleep(0.005)
    raise OSError(f"the sandbox's seat did not start in {timeout:g} s")
