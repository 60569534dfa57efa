"""``--sandbox``: the app inside bubblewrap, for a server shared with people you do not fully trust.

What it protects against, each part on its own:
- an unprivileged user: the app runs as uid 1000 in a user namespace with no capabilities, so even
  when spacerunner runs as root the app cannot mount, load modules, change other users' files or
  signal other processes;
- a read-only view of the system: only /usr, /etc and the app's own folders (its Space, its Python
  environment) are there, read-only; its ephemeral disk and persistent storage are the only
  writable places, so it cannot change the machine, other Spaces or spacerunner's files, nor read
  home folders and keys that are not bound in;
- no network but loopback: the app has its own network namespace, so it cannot reach the
  internet or the local network (no exfiltration, no scanning); the proxy reaches it through a
  unix socket in its run folder, which a small forwarder inside the sandbox relays to the app's
  port on its private loopback.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from spacerunner.errors import BackendError

SANDBOX_UID = 1000
SOCKET_NAME = "app.sock"

# Runs inside the sandbox with the app's own Python (standard library only): it starts the app,
# relays the unix socket to the app's port on the private loopback, passes signals on, and exits
# the way the app exits.
FORWARDER = r"""
import os, signal, socket, sys, threading
path, port, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda s, f: os.kill(pid, s))
def pump(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def handle(client):
    try:
        app = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, app), daemon=True).start()
    pump(app, client)
    client.close()
    app.close()
def serve():
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(512)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
os._exit(code)
"""


def bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise BackendError(
            "--sandbox needs bubblewrap, which is not installed. "
            "Fix: apt-get install bubblewrap (or run without --sandbox)."
        )
    return found


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


def wrap(
    command: tuple[str, ...],
    *,
    cwd: Path,
    port: int,
    run_dir: Path,
    readable: list[Path],
    writable: list[Path],
) -> list[str]:
    """``command`` inside bubblewrap, reachable at ``run_dir/app.sock``."""
    args = [
        bwrap(), "--die-with-parent",
        "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--unshare-ipc", "--unshare-uts", "--unshare-net",
        "--tmpfs", "/",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
        "--ro-bind", "/etc", "/etc",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    ]  # fmt: skip
    python = command[0]
    seen: set[Path] = set()
    for path in [*python_roots(python), *readable]:
        if path.exists() and path not in seen and not any(path.is_relative_to(s) for s in seen):
            seen.add(path)
            args += ["--ro-bind", str(path), str(path)]
    for path in [run_dir, *writable]:
        args += ["--bind", str(path), str(path)]
    args += [
        "--remount-ro",
        "/",
        "--chdir",
        str(cwd),
        "--",
        python,
        "-c",
        FORWARDER,
        str(run_dir / SOCKET_NAME),
        str(port),
        *command,
    ]
    return args
