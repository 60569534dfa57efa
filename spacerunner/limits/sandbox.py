"""Isolation of a Space's processes, as Spaces gives each Space a container of its own.

With ``full`` isolation (the default) an app runs:
- as an unprivileged host uid of its Space's own (never root; two Spaces never share one), seen
  inside as uid 1000, in a user namespace without capabilities;
- in its own PID namespace (it sees and signals only its own processes) and mount namespace: a
  read-only system (``/usr``, ``/etc``) and Python, its working copy at ``/home/user/app``,
  ``HOME=/home/user`` and ``/tmp`` on its limited disk, its persistent storage at ``/data``;
  nothing of other Spaces, of spacerunner's state or of the user's home;
- in its own network namespace with outbound internet through ``pasta`` (user-mode networking)
  and no way to the host's loopback: the proxy connects into the namespace itself
  (:mod:`spacerunner.netns`), so every app may listen on 7860;
- with only its own environment (:func:`allowed_environment`).

``offline`` is the same without any network but the app's own loopback (``--sandbox``);
``none`` runs the app as spacerunner's own child, as on a developer's machine.

Host paths may sit where the app's uid cannot reach them (``/root/...``): the process first
enters a private mount namespace as root and binds every path the sandbox needs under
:data:`STAGE`, where bubblewrap, already running as the app's uid, picks them up. Those mounts
live only in that namespace and end with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import sys
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

SPACE_UID = 1000
"""The uid (and gid) an app has inside its sandbox, as in Spaces' images."""
APP_HOME = "/home/user"
APP_DIR = f"{APP_HOME}/app"
APP_DATA = "/data"
STAGE = Path("/run/spacerunner-stage")
"""Where the private mount namespace of a run lays out what its sandbox binds."""
UID_BASE = 200_000
"""Host uids of Spaces are taken from here upwards, one per Space name, kept across runs."""

_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE, _MS_RDONLY, _MS_REMOUNT = 4096, 16384, 1 << 18, 1, 32


class Isolation(StrEnum):
    FULL = "full"
    """Own uid, PID, mount and network namespaces; outbound internet (the default)."""
    OFFLINE = "offline"
    """The same with no network but the app's own loopback."""
    NONE = "none"
    """spacerunner's own child: shares the machine's users, processes, files and network."""


LOST_WITHOUT = (
    "every Space runs as spacerunner's own user with its environment: Spaces can read each "
    "other's files and secrets, signal each other and spacerunner, and reach each other's ports"
)


@dataclass(frozen=True)
class HostLayers:
    """What this host offers for isolation."""

    bwrap: str | None
    pasta: str | None
    setpriv: str | None
    root: bool
    nsenter: str | None = None

    def missing(self, isolation: Isolation) -> list[str]:
        """One line per layer ``isolation`` asks for that this host lacks."""
        if isolation is Isolation.NONE:
            return []
        lines = []
        if self.bwrap is None:
            lines.append(
                "namespaces: bubblewrap is not installed (apt-get install bubblewrap), so the "
                "app shares this machine's processes, files and network"
            )
        if not self.root:
            lines.append(
                "namespaces and per-Space uid: spacerunner does not run as root, so apps run "
                "as its own user, unisolated"
            )
        elif self.setpriv is None:
            lines.append("per-Space uid: setpriv (util-linux) is missing; apps run as root")
        if isolation is Isolation.FULL and self.pasta is None:
            lines.append(
                "network: pasta is not installed (apt-get install passt), so the app has no "
                "outbound network, only its own loopback"
            )
        return lines

    def effective(self, isolation: Isolation) -> Isolation:
        """The isolation this host can give for ``isolation``."""
        if isolation is Isolation.NONE or self.bwrap is None or not self.root:
            return Isolation.NONE
        if isolation is Isolation.FULL and self.pasta is None:
            return Isolation.OFFLINE
        return isolation


@cache
def host_layers() -> HostLayers:
    return HostLayers(
        bwrap=shutil.which("bwrap"),
        pasta=shutil.which("pasta"),
        setpriv=shutil.which("setpriv"),
        root=os.geteuid() == 0,
        nsenter=shutil.which("nsenter"),
    )


_ENV_ALLOWED = {
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PYTHONDONTWRITEBYTECODE",
    "NODE_EXTRA_CA_CERTS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
}
_ENV_ALLOWED_PREFIXES = ("LC_", "PIP_", "UV_", "NPM_CONFIG_", "npm_config_")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def allowed_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """What an isolated app may see of spacerunner's environment: locale, time zone, proxy and
    certificate settings, package-index settings of pip, uv and npm (installs keep working),
    and nothing else."""
    kept = {
        key: value
        for key, value in environ.items()
        if key in _ENV_ALLOWED or key.startswith(_ENV_ALLOWED_PREFIXES)
    }
    kept["PATH"] = SANDBOX_PATH
    return kept


def python_roots(python: str) -> list[Path]:
    """What an interpreter needs to run: its venv (if any) and its installation."""
    roots = []
    exe = Path(python)
    venv = exe.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        roots.append(venv)
    real = exe.resolve()
    roots.append(real.parent.parent)
    if Path(sys.prefix) == venv:
        roots.append(Path(sys.base_prefix))
    return roots


@dataclass(frozen=True)
class Bind:
    source: Path
    dest: str
    writable: bool = False


def binds(*, app: Path, home: Path, tmp: Path, data: Path | None, tools: list[Path]) -> list[Bind]:
    """What a Space's sandbox sees besides the system, outermost first: its folders, and the
    ``tools`` it runs with (its interpreter's :func:`python_roots`, a Node.js) read-only."""
    found = [Bind(home, APP_HOME, True), Bind(app, APP_DIR, True), Bind(tmp, "/tmp", True)]
    if data is not None:
        found.append(Bind(data, APP_DATA, True))
    return found + tool_binds(tools)


def tool_binds(tools: list[Path]) -> list[Bind]:
    """``tools`` (folders a sandbox runs with) read-only at their own paths: those that exist,
    each only once (not inside another)."""
    found: list[Bind] = []
    for path in tools:
        if path.exists() and not any(path.is_relative_to(b.source) for b in found):
            found.append(Bind(path, str(path)))
    return found


SYSTEM = (
    "--tmpfs", "/",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
    "--ro-bind", "/etc", "/etc", "--dev", "/dev",
)  # fmt: skip
"""What every sandbox (a Space's, a preloader's) sees of the system, for bubblewrap: an empty
root with the system read-only."""


def staged(mounts: list[Bind]) -> list[str]:
    """bubblewrap's arguments for ``mounts``, staged by :func:`stage` in the child."""
    found: list[str] = []
    for index, bind in enumerate(mounts):
        found += ["--bind" if bind.writable else "--ro-bind", str(STAGE / str(index)), bind.dest]
    return found


def command(
    argv: tuple[str, ...],
    *,
    layers: HostLayers,
    isolation: Isolation,
    uid: int | None,
    mounts: list[Bind],
    host_ports: tuple[int, ...] = (),
    userns: str | None = None,
) -> list[str]:
    """``argv`` inside its sandbox (see the module's description); the mounts are staged by
    :func:`stage` in the child before this command runs. ``userns``: the user namespace (a
    preloader's, :mod:`spacerunner.preload`) the sandbox is made in, instead of the host's."""
    assert layers.bwrap is not None and isolation is not Isolation.NONE
    outer: list[str] = []
    if userns is not None:
        assert layers.nsenter is not None
        outer = [layers.nsenter, f"--user={userns}", "--"]
    if uid is not None and layers.setpriv is not None:
        outer += [layers.setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]
        outer += ["--inh-caps=-all", "--bounding-set=-all", "--pdeathsig", "SIGKILL"]
    if isolation is Isolation.FULL:
        assert layers.pasta is not None
        outer += [layers.pasta, "--config-net", "--quiet", "--no-map-gw"]
        to_host = ",".join(str(p) for p in host_ports) or "none"
        outer += ["-t", "none", "-u", "none", "-T", to_host, "-U", "none", "--"]
    inner = [
        layers.bwrap, "--die-with-parent",
        "--unshare-user", "--uid", str(SPACE_UID), "--gid", str(SPACE_UID),
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "spaces",
        *SYSTEM, "--proc", "/proc",
    ]  # fmt: skip
    if isolation is Isolation.OFFLINE:
        inner.append("--unshare-net")
    inner += staged(mounts)
    inner += ["--remount-ro", "/", "--chdir", APP_DIR, "--", *argv]
    return outer + inner


def stage(mounts: list[Bind]) -> None:  # pragma: no cover - runs in the child, before exec
    """In the child, as root: a private mount namespace with ``mounts`` bound under
    :data:`STAGE` (a tmpfs there, reachable by any uid)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"{what}: {os.strerror(error)}")

    check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc.mount(b"tmpfs", bytes(STAGE), b"tmpfs", 0, b"mode=0755,size=64k"), "stage tmpfs")
    for index, bind in enumerate(mounts):
        target = STAGE / str(index)
        if bind.source.is_dir():
            target.mkdir()
        else:
            target.touch()
        check(
            libc.mount(bytes(bind.source), bytes(target), None, _MS_BIND | _MS_REC, None),
            f"bind {bind.source}",
        )


def prepare_stage() -> None:
    """The (empty) mount point of the stage, made once on the host."""
    STAGE.mkdir(mode=0o755, parents=True, exist_ok=True)


def chown_tree(path: Path, uid: int) -> None:
    """Give ``path`` and everything in it to ``uid`` (links themselves, never followed)."""
    os.lchown(path, uid, uid)
    for dirpath, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                os.lchown(os.path.join(dirpath, name), uid, uid)


class UidMap:
    """The host uid of each Space, kept in a file so a Space keeps its uid (and so owns its
    persistent files) across runs, and two Spaces never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def uid(self, name: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                taken: dict[str, int] = json.loads(self.path.read_text())
            except (OSError, ValueError):
                taken = {}
            if name not in taken:
                taken[name] = max([UID_BASE - 1, *taken.values()]) + 1
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(taken, indent=1))
                os.replace(tmp, self.path)
            return int(taken[name])
