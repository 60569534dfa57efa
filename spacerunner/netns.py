"""TCP connections into another network namespace (a container's own loopback), made by this
process: no relay, no published port.

A namespace is registered under a name with the PID of a process inside it; its file descriptor
is opened at once and kept, so the name keeps meaning that namespace even if the PID is reused.
Sockets are created by one thread per namespace that has entered it (``setns`` changes only the
calling thread), and then connected and used from the event loop like any other socket.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000


@dataclass
class _Namespace:
    fd: int
    executor: ThreadPoolExecutor


_namespaces: dict[str, _Namespace] = {}


def _enter(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def register(name: str, pid: int) -> None:
    """Remember the network namespace of process ``pid`` as ``name``. Blocking (it starts the
    namespace's thread); raises :class:`OSError` when the namespace cannot be entered."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    executor = ThreadPoolExecutor(1, f"netns-{name}", initializer=_enter, initargs=(fd,))
    try:
        executor.submit(int).result()  # the thread starts and enters now, or fails here
    except BrokenExecutor as exc:
        executor.shutdown(wait=False)
        os.close(fd)
        raise OSError(f"cannot enter the network namespace of process {pid} (setns)") from exc
    old = _namespaces.pop(name, None)
    _namespaces[name] = _Namespace(fd, executor)
    if old is not None:
        _close(old)


def release(name: str) -> None:
    """Forget ``name``: its thread ends and the namespace is no longer held."""
    namespace = _namespaces.pop(name, None)
    if namespace is not None:
        _close(namespace)


def _close(namespace: _Namespace) -> None:
    namespace.executor.shutdown(wait=False)
    os.close(namespace.fd)


async def connect(name: str, host: str, port: int) -> socket.socket:
    """A TCP socket connected to ``host:port`` inside the namespace ``name``."""
    namespace = _namespaces.get(name)
    if namespace is None:
        raise ConnectionRefusedError(f"network namespace {name!r} is gone")
    loop = asyncio.get_running_loop()
    try:
        sock = await loop.run_in_executor(
            namespace.executor, socket.socket, socket.AF_INET, socket.SOCK_STREAM
        )
    except RuntimeError as exc:  # the executor was shut down, or its setns failed
        raise ConnectionRefusedError(f"network namespace {name!r}: {exc}") from exc
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock
