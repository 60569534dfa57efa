"""A preloader: an interpreter of one Space environment that has imported its SDK and the heavy
modules its Spaces import, and starts apps from that state by forking.

It runs in the environment's own interpreter (standard library only: spacerunner is not
installed there), in a sandbox of its own (see ``spacerunner.preload.preloader``), and speaks
to spacerunner over the SOCK_SEQPACKET socket whose number is its one argument: JSON messages,
the file descriptors of a start passed alongside (SCM_RIGHTS).

Messages in: ``{"op": "preload", "env": {...}, "modules": [...]}`` (once, first), ``{"op":
"import", "modules": [...]}``, ``{"op": "start", ...}`` with descriptors: the namespaces to
enter (in the order given), the app's output, and the start's own channel. Out: one answer per
preload and import (``ready``), nothing per start: the child of a start reports on its channel
(``pid N``, then ``exit N``; spacerunner answers ``go`` in between, once the app's process is
in its cgroup).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import re
import signal
import socket
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

CLONE = {
    "ipc": 0x08000000,
    "uts": 0x04000000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "mnt": 0x00020000,
    "cgroup": 0x02000000,
    "user": 0x10000000,
}
PR_SET_NO_NEW_PRIVS = 38
_CAPABILITY_V3 = 0x20080522
MAX_MESSAGE = 1 << 20
NAME = re.compile(r"^(?=.{1,200}$)[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", re.ASCII)
LEARN_SECONDS = 60.0
"""How long after its start the modules an app imports are reported (its import phase)."""

_libc = ctypes.CDLL(None, use_errno=True)
_STARTUP = frozenset(name.partition(".")[0] for name in sys.modules)
"""Modules of the interpreter's own startup (this program's imports are few and standard)."""


_MAPPING_CODE = frozenset(
    {
        "<frozen _collections_abc>",
        "<frozen os>",
        getattr(sys.modules["_collections_abc"], "__file__", ""),
        getattr(os, "__file__", ""),
    }
)
"""Where the mapping methods of ``os.environ`` live (frozen since Python 3.11): a lookup is
charged to the code that called them."""


class _Recording(os._Environ):  # type: ignore[name-defined,misc]
    """``os.environ`` while the preloader imports: which variables were looked up by name
    (those an SDK read at import, compared with each app's), and where the whole environment
    was walked."""

    def __init__(self, base: os._Environ[str]) -> None:
        super().__init__(
            base._data, base.encodekey, base.decodekey, base.encodevalue, base.decodevalue
        )
        self.reads: set[str] = set()
        self.walks: set[str] = set()
        self.recording = True
        self._walking: set[int] = set()

    def _caller(self) -> types.FrameType | None:
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename in _MAPPING_CODE:
            frame = frame.f_back
        return frame

    def __getitem__(self, key: str) -> str:
        if self.recording:
            frame = self._caller()
            if frame is None or id(frame) not in self._walking:
                self.reads.add(key)
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        if self.recording:
            frame = self._caller()
            if frame is not None:
                self._walking.add(id(frame))
                code = frame.f_code
                self.walks.add(f"{os.path.basename(code.co_filename)}:{code.co_name}")
        return super().__iter__()


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def _import(names: list[str], failed: dict[str, str]) -> None:
    for name in names:
        if name in sys.modules or name in failed or not NAME.match(name):
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:  # any failure only leaves it out
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]


def _ready(environ: _Recording, failed: dict[str, str], began: float) -> dict[str, Any]:
    # what is imported stays: keep the collector from writing to it in every forked app (a
    # write is a page copied out of what they share)
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    return {
        "op": "ready",
        "reads": {key: environ.get(key) for key in sorted(environ.reads)},
        "walks": sorted(environ.walks),
        "failed": failed,
        "modules": len(sys.modules),
        "seconds": round(time.monotonic() - began, 3),
        "loop": _has_loop(),
        "threads": sys.modules["threading"].active_count() if "threading" in sys.modules else 1,
    }


def _has_loop() -> bool:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    policy = asyncio.events._event_loop_policy
    local = getattr(policy, "_local", None)
    return asyncio.events._get_running_loop() is not None or (
        local is not None and getattr(local, "_loop", None) is not None
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _enter(order: list[str], fds: list[int], uid: int, gid: int) -> None:
    """Join the sandbox's namespaces (the user namespace last: joining it gives up the
    rights in the others), then become its user, with no way back to privileges."""
    if order and os.getgroups():
        os.setgroups([])
    for name, fd in zip(order, fds):  # noqa: B905 - runs on Pythons before 3.10
        _check(_libc.setns(fd, CLONE[name]), f"setns({name})")
        os.close(fd)
    if order:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # joining a user namespace gives every capability in it, and these uids were never 0
        # there (the kernel drops capabilities only when leaving uid 0): drop them all
        header = (ctypes.c_uint32 * 2)(_CAPABILITY_V3, 0)
        data = (ctypes.c_uint32 * 6)()
        _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


class _Learner:
    """Reports the modules an app imports during its first seconds (what its next start can
    find preloaded: the app's own, its server's lazy imports). Finds nothing itself."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = set(sys.modules)
        self.until = time.monotonic() + LEARN_SECONDS

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname not in self.seen:
            self.seen.add(fullname)
            if time.monotonic() < self.until:
                with contextlib.suppress(OSError):
                    os.write(self.fd, (fullname + "\n").encode())


def _unshadow(folder: str) -> None:
    """Forget preloaded modules the app's own folder has a module of the same name for: a
    fresh interpreter would import the app's (its folder comes first on ``sys.path``)."""
    try:
        own = set(os.listdir(folder))
    except OSError:
        return
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if top in _STARTUP:
            continue  # imported at startup: a fresh interpreter has it before the app too
        package = os.path.join(folder, top, "__init__.py")
        if top + ".py" in own or (top in own and os.path.isfile(package)):
            del sys.modules[name]


def _run_app(request: dict[str, Any], out: int, go: int, learn: int) -> None:
    """In the app's process: wait until spacerunner has put it in its cgroup, then become a
    fresh ``python ARGV...`` as far as the app can see, and run it."""
    if not os.read(go, 1):
        os._exit(70)
    os.close(go)
    os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    keep = {0, 1, 2, learn}
    for fd in (null, out):
        if fd not in keep:
            os.close(fd)
    os.set_inheritable(learn, False)
    os.closerange(3, learn)
    os.closerange(learn + 1, 1 << 16)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if request.get("nofile"):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = request["nofile"] if hard == resource.RLIM_INFINITY else min(request["nofile"], hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))
    if request.get("affinity"):
        os.sched_setaffinity(0, request["affinity"])
    os.chdir(request["cwd"])
    os.environ.recording = False
    os.environ.clear()
    os.environ.update(request["env"])
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:  # a fresh interpreter seeds numpy's global state anew
        numpy_random.seed()
    sys.meta_path.insert(0, _Learner(learn))
    argv = request["argv"]
    first = os.getcwd() if argv[0] == "-m" else os.path.dirname(os.path.abspath(argv[0]))
    _unshadow(first)
    sys.orig_argv = [sys.executable, *argv]
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = sys.modules["builtins"]
    sys.modules["__main__"] = main
    import runpy

    if argv[0] == "-m":
        # run as ``__main__`` only: a fresh ``python -m`` has no module of that name yet
        sys.modules.pop(argv[1] + ".__main__", None)
        sys.argv = [argv[1], *argv[2:]]
        sys.path[0] = first
        runpy._run_module_as_main(argv[1], alter_argv=True)
        return
    script = os.path.abspath(argv[0])
    sys.argv = list(argv)
    sys.path[0] = first
    from importlib.machinery import SourceFileLoader

    main.__file__ = script
    main.__loader__ = SourceFileLoader("__main__", script)
    main.__spec__ = None
    main.__cached__ = None
    main.__package__ = None
    with open(script, "rb") as handle:
        code = compile(handle.read(), script, "exec")
    exec(code, main.__dict__)


def _receive(channel: socket.socket) -> dict[str, Any]:
    """The app's request: one JSON line on the start's channel (never through the
    preloader, whose memory every later fork inherits)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = channel.recv(65536)
        if not chunk or len(data) > MAX_MESSAGE:
            raise OSError("the start's request was cut short")
        data += chunk
    return json.loads(data)


def _start(order: list[str], fds: list[int], control: socket.socket) -> None:
    """In the forked child: enter the sandbox, fork the app, report it, wait for it."""
    count = len(order)
    ns_fds, out, chan = fds[:count], fds[count], fds[count + 1]
    control.close()
    os.setsid()  # ending the preloader's group must not end its starts
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    channel = socket.socket(fileno=chan)
    try:
        request = _receive(channel)
        _enter(order, ns_fds, request["uid"], request["gid"])
        go_r, go_w = os.pipe()
        learn_r, learn_w = os.pipe()
        app = os.fork()
        if app == 0:
            try:
                channel.close()
                os.close(go_w)
                os.close(learn_r)
                _run_app(request, out, go_r, learn_w)
            except SystemExit as exc:
                code = exc.code
                if code is None:
                    os._exit(0)
                if isinstance(code, int):
                    os._exit(code & 0xFF)
                print(code, file=sys.stderr)
                os._exit(1)
            except BaseException:  # the app's own error, as Python prints it
                import traceback

                traceback.print_exc()
                os._exit(1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(0)
        os.close(go_r)
        os.close(learn_w)
        os.close(out)
        channel.sendall(f"pid {app}\n".encode())
        if channel.recv(16) != b"go\n":
            os.kill(app, signal.SIGKILL)
        else:
            os.write(go_w, b"g")
        os.close(go_w)
        _wait(app, learn_r, channel)
    except BaseException as exc:  # reported to spacerunner, which starts the app fresh
        with contextlib.suppress(OSError):
            channel.sendall(f"error {type(exc).__name__}: {exc}\n".encode())
        os._exit(1)
    os._exit(0)


def _wait(app: int, learn: int, channel: socket.socket) -> None:
    """Forward the app's learned imports until it ends, then its exit status."""
    import select

    pidfd = os.pidfd_open(app)
    open_fds = [pidfd, learn]
    pending = b""
    while True:
        ready, _, _ = select.select(open_fds, [], [])
        if learn in ready:
            data = os.read(learn, 4096)
            if not data:
                open_fds.remove(learn)
            pending += data
            *lines, pending = pending.split(b"\n")
            pending = pending[-400:]
            for line in lines:
                name = line.decode(errors="replace")
                if NAME.match(name):
                    channel.sendall(f"learn {name}\n".encode())
        if pidfd in ready:
            _, status = os.waitpid(app, 0)
            code = os.waitstatus_to_exitcode(status)
            channel.sendall(f"exit {code}\n".encode())
            return


def _reap(signum: int, frame: object) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> None:
    signal.signal(signal.SIGCHLD, _reap)
    control = socket.socket(fileno=int(sys.argv[1]))
    environ = _Recording(os.environ)
    os.environ = environ  # noqa: B003 - the same variables, looked up through it
    failed: dict[str, str] = {}
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 16)
        except OSError:
            return
        if not message:
            return
        request = json.loads(message)
        op = request.get("op")
        if op == "preload":
            began = time.monotonic()
            os.environ.clear()
            os.environ.update(request["env"])
            environ.reads.clear()
            environ.walks.clear()
            _import(request["modules"], failed)
            _send(control, _ready(environ, failed, began))
        elif op == "import":
            began = time.monotonic()
            _import(request["modules"], failed)
            _send(control, _ready(environ, failed, began))
        elif op == "start":
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child == 0:
                _start(request["ns"], fds, control)
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    main()
