"""Answers GET / with what this process sees; /exit/N exits with N; /alloc/MB allocates."""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEFORE = sorted(sys.modules)
PRELOADED = "gradio" in sys.modules

if os.environ.get("PROBE_FAIL_WHEN_PRELOADED") and PRELOADED:
    raise ImportError("a library that cannot be used after fork (simulated)")

import email.mime.text  # noqa: E402 - after the snapshot on purpose
import poplib  # noqa: E402 - imported by no SDK: what a preloader learns from this app

import httpx  # noqa: E402 - the Space's own module (httpx.py beside this file)

MIME = email.mime.text.MIMEText
POP = poplib.POP3

OWN_IMPORTS = ("email.mime.text", "httpx", "json", "poplib", "socket", "threading")
HOLD: list[bytearray] = []


def status_field(name: str) -> str:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def facts() -> dict[str, object]:
    main = sys.modules["__main__"]
    return {
        "preloaded": PRELOADED,
        "name": __name__,
        "file": main.__file__,
        "main_spec": repr(main.__spec__),
        "argv": sys.argv,
        "orig_argv_tail": sys.orig_argv[1:],
        "path0": sys.path[0],
        "cwd": os.getcwd(),
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
        "env": dict(os.environ),
        "hostname": socket.gethostname(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "httpx": httpx.ORIGIN,
        "own_modules": {m: getattr(sys.modules[m], "__file__", None) for m in OWN_IMPORTS},
        "threads": threading.active_count(),
        "cap_eff": status_field("CapEff"),
        "cap_bnd": status_field("CapBnd"),
        "no_new_privs": status_field("NoNewPrivs"),
        "cgroup": open("/proc/self/cgroup").read(),
        "stdin": os.readlink("/proc/self/fd/0"),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE),
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "exit":
            os._exit(int(parts[1]))
        if parts[0] == "alloc":
            HOLD.append(bytearray(int(parts[1]) * 2**20))
            HOLD[-1][::4096] = b"x" * len(HOLD[-1][::4096])
        body = json.dumps(facts()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


print("probe: preloaded" if PRELOADED else "probe: fresh", flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
