"""One preloader: an interpreter of one environment, in a sandbox of its own, that has imported
an SDK and the modules its Spaces import, and forks apps into their sandboxes.

Identity. The preloader runs as a host uid of its own (never root, never a Space's), as uid 0
of a user namespace whose map spacerunner writes: that uid, plus the host uid of every Space it
may start (each mapped to itself). A Space's sandbox is then made *inside* that namespace (the
same setpriv, pasta and bubblewrap as always, entered with ``nsenter``), so its namespaces are
the preloader's descendants: a fork of the preloader may join them, become the Space's uid 1000
there, and be what a fresh start would have been. The preloader holds rights only over the
sandboxes of the Spaces of its own environment (code those Spaces run anyway); it sees no
files but the system, its interpreter and empty ``/home/user`` and ``/tmp``, and has no network.

Imports are made with the environment the apps share (the Space's own variables and names left
out); which variables the imported modules looked up is recorded, and an app whose value of one
of them differs is started fresh (:meth:`Preloader.mismatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from spacerunner.errors import BackendError
from spacerunner.limits import sandbox

CHILD = Path(__file__).parent / "child"
"""The folder of the preloader's own program (shown read-only in its sandbox)."""
CHILD_IN_SANDBOX = "/opt/spacerunner-preload"
PROGRAM = "spacerunner_zygote.py"
MAX_UIDS = 300
"""Space uids one preloader maps (the kernel takes 340 lines a map)."""
READY_TIMEOUT = 300.0
SPACE_OWN = frozenset(
    {
        "SPACE_ID",
        "SPACE_AUTHOR_NAME",
        "SPACE_REPO_NAME",
        "SPACE_TITLE",
        "SPACE_HOST",
        "GRADIO_ROOT_PATH",
        "SPACERUNNER_DATA_DIR",
    }
)
"""Variables one Space's apps have and another's differ in (besides its own variables and
secrets): left out of what the preloader imports with."""
_HANDLED = frozenset({"PYTHONDONTWRITEBYTECODE"})
"""Interpreter settings the preloader's child sets itself for each app."""


class PreloadError(BackendError):
    """A preloaded start could not be made (the caller starts a fresh interpreter)."""


@dataclass(frozen=True)
class Channel:
    """A start's own line to the preloader's child that forked its app: lines both ways."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def line(self) -> str:
        """The next line ('' once the child is gone)."""
        return (await self.reader.readline()).decode(errors="replace").strip()

    async def send(self, text: str) -> None:
        self.writer.write(text.encode() + b"\n")
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Ready:
    """What the preloader reported after importing."""

    reads: dict[str, str | None]
    """Variables the imports looked up by name, with the value they saw."""
    walks: tuple[str, ...]
    """Where the imports walked the whole environment (file:function)."""
    failed: dict[str, str]
    modules: int
    seconds: float


def shared_environment(env: dict[str, str], own: frozenset[str]) -> dict[str, str]:
    """What of an app's environment every Space of its environment has alike."""
    return {k: v for k, v in env.items() if k not in own and k not in SPACE_OWN}


@dataclass
class Preloader:
    """A preloader process (see the module's description)."""

    python: str
    modules: tuple[str, ...]
    env: dict[str, str]
    uid: int
    """Its host uid (never root, never a Space's)."""
    space_uids: frozenset[int]
    log_path: Path
    ready: Ready | None = None
    learned: set[str] = field(default_factory=set)
    last_used: float = field(default_factory=time.monotonic)
    _proc: subprocess.Popen[bytes] | None = None
    _sock: socket.socket | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pid: int | None = None
    """The preloader's own process (bubblewrap's child when isolated)."""

    async def start(self) -> Ready:
        """Start the process and wait until it has imported; raises :class:`PreloadError`."""
        await asyncio.to_thread(self._spawn)
        return await self._ask({"op": "preload", "env": self.env, "modules": self.modules})

    def _spawn(self) -> None:
        layers = sandbox.host_layers()
        assert layers.bwrap is not None and layers.setpriv is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        fd = theirs.fileno()
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        mounts = [
            *sandbox.tool_binds(sandbox.python_roots(self.python)),
            sandbox.Bind(CHILD, CHILD_IN_SANDBOX),
        ]
        command = [
            layers.setpriv, "--reuid", str(self.uid), "--regid", str(self.uid), "--clear-groups",
            layers.bwrap, "--die-with-parent",
            "--unshare-user", "--userns-block-fd", str(block_r), "--info-fd", str(info_w),
            "--uid", "0", "--gid", "0", "--cap-add", "ALL",
            "--unshare-net", "--unshare-ipc", "--unshare-uts", "--hostname", "spaces",
            *sandbox.SYSTEM,
            # its own empty HOME and /tmp first: what it runs (a venv under /tmp) goes on top
            "--tmpfs", sandbox.APP_HOME, "--tmpfs", "/tmp",
            *sandbox.staged(mounts),
            "--remount-ro", "/", "--chdir", sandbox.APP_HOME,
            "--", self.python, f"{CHILD_IN_SANDBOX}/{PROGRAM}", str(fd),
        ]  # fmt: skip

        def preexec() -> None:  # pragma: no cover - runs in the child
            sandbox.stage(mounts)

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(fd, info_w, block_r), start_new_session=True, env=self.env,
                    preexec_fn=preexec,
                )  # fmt: skip
        finally:  # the child's ends
            os.close(info_w)
            os.close(block_r)
            theirs.close()
        try:
            with os.fdopen(info_r, "rb") as info:
                child = int(json.loads(info.read())["child-pid"])
            lines = [f"0 {self.uid} 1"] + [f"{u} {u} 1" for u in sorted(self.space_uids)]
            for name in ("uid_map", "gid_map"):
                Path(f"/proc/{child}/{name}").write_text("\n".join(lines) + "\n")
            os.write(block_w, b"1")
        except (OSError, ValueError, KeyError) as exc:
            self._kill()
            raise PreloadError(f"the preloader's sandbox did not come up: {exc}") from exc
        finally:
            os.close(block_w)
        self.pid = child

    async def _ask(self, message: dict[str, object]) -> Ready:
        sock = self._sock
        assert sock is not None
        async with self._lock:
            loop = asyncio.get_running_loop()
            try:
                await loop.sock_sendall(sock, json.dumps(message).encode())
                async with asyncio.timeout(READY_TIMEOUT):
                    raw = await loop.sock_recv(sock, 1 << 20)
            except (OSError, TimeoutError) as exc:
                self._kill()
                raise PreloadError(f"the preloader did not answer: {exc!r}") from exc
        if not raw:
            code = self._proc.poll() if self._proc is not None else None
            self._kill()
            raise PreloadError(
                f"the preloader ended while importing (code {code}); see {self.log_path}"
            )
        answer = json.loads(raw)
        problem = self._unsafe(answer)
        if problem is not None:
            self._kill()
            raise PreloadError(problem)
        self.ready = Ready(
            reads=dict(answer["reads"]),
            walks=tuple(answer["walks"]),
            failed=dict(answer["failed"]),
            modules=int(answer["modules"]),
            seconds=float(answer["seconds"]),
        )
        return self.ready

    def _unsafe(self, answer: dict[str, object]) -> str | None:
        """Why forking from this state would not give what a fresh interpreter gives. Native
        threads (a BLAS pool) are let be: such libraries stop them around a fork (OpenBLAS
        does); one that does not fails the preloaded start, which then starts fresh."""
        if answer.get("loop"):
            return "an imported module set an asyncio event loop; a fork would inherit it"
        threads = answer.get("threads")
        if isinstance(threads, int) and threads > 1:
            return (
                f"an imported module started Python threads ({threads}); a fork keeps only "
                "the one that forks"
            )
        return None

    async def import_more(self, names: list[str]) -> Ready:
        """Import what the apps were seen importing (see :meth:`Preloaders.learn`)."""
        return await self._ask({"op": "import", "modules": names})

    async def launch(
        self, request: dict[str, object], ns: list[tuple[str, int]], out: int
    ) -> tuple[Channel, int]:
        """Fork an app: join the namespaces ``ns`` (name, fd), its output to ``out``. Returns
        the start's channel and the app's host pid (not yet running: it waits for ``go``).

        The preloader only forks; what the app is (``request``: its command, variables and
        secrets) goes to the fork alone, on the start's own channel, so nothing of one Space
        stays in the preloader's memory for the next fork to inherit."""
        sock = self._sock
        if sock is None or self.ready is None:
            raise PreloadError("the preloader is not ready")
        mine, child = socket.socketpair()
        fds = [fd for _, fd in ns] + [out, child.fileno()]
        message = {"op": "start", "ns": [name for name, _ in ns]}
        self.last_used = time.monotonic()
        try:
            async with self._lock:
                await asyncio.to_thread(socket.send_fds, sock, [json.dumps(message).encode()], fds)
        except OSError as exc:
            mine.close()
            raise PreloadError(f"cannot reach the preloader: {exc}") from exc
        finally:
            child.close()
        channel = Channel(*await asyncio.open_unix_connection(sock=mine))
        try:
            await channel.send(json.dumps(request))
            async with asyncio.timeout(10):
                line = await channel.line()
        except (OSError, TimeoutError) as exc:
            channel.close()
            raise PreloadError(f"the preloader's child did not report the app: {exc!r}") from exc
        if not line.startswith("pid "):
            channel.close()
            raise PreloadError(f"the preloader could not enter the sandbox: {line or 'no answer'}")
        return channel, int(line.split()[1])

    def memory(self) -> dict[str, int] | None:
        """Resident and proportional memory of the preloader process."""
        if self.pid is None:
            return None
        try:
            full = psutil.Process(self.pid).memory_full_info()
        except psutil.Error:
            return None
        return {"rss": full.rss, "pss": getattr(full, "pss", full.rss)}

    def mismatch(self, env: dict[str, str]) -> str | None:
        """Why an app with ``env`` would not see at import what the preloader saw: the
        variables its imports looked up and the interpreter's own settings."""
        ready = self.ready
        if ready is None:
            return "not ready"
        differ = sorted(k for k, v in ready.reads.items() if env.get(k) != v)
        # the interpreter's own settings, and the proxies the standard library reads by
        # walking the environment (an HTTP client made at import has them)
        settings = {
            k
            for k in (*env, *self.env)
            if (k.startswith("PYTHON") and k not in _HANDLED) or k.lower().endswith("_proxy")
        }
        differ += sorted(k for k in settings if env.get(k) != self.env.get(k) and k not in differ)
        if differ:
            return (
                "the preloaded modules read " + ", ".join(differ[:5])
                + (" ..." if len(differ) > 5 else "")
                + " at import, and this app's value differs"
            )  # fmt: skip
        return None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def stop(self) -> None:
        """End the preloader; apps it started run on (they are not its to end)."""
        await asyncio.to_thread(self._kill)
