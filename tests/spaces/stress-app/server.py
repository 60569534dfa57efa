"""Asks for resources on request: /alloc?mb=, /spin?procs=, /fork?n=, /write?mb=&where=, /files."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

held = []
children = []


def where(name: str) -> str:
    if name == "cwd":
        return os.getcwd()
    return os.environ["HOME"] if name == "home" else os.environ["SPACERUNNER_DATA_DIR"]


def forker(n: int) -> None:
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as exc:
            print(f"fork failed: {exc.strerror}", flush=True)
            return
        if pid == 0:
            import time

            time.sleep(60)
            os._exit(0)


class Handler(BaseHTTPRequestHandler):
    def answer(self, data: object, code: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/alloc":
            block = bytearray(int(q["mb"]) * 2**20)
            block[::4096] = b"x" * len(block[::4096])  # touch every page
            held.append(block)
            return self.answer({"held_mb": sum(len(b) for b in held) // 2**20})
        if url.path == "/spin":
            for _ in range(int(q.get("procs", "4"))):
                children.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            return self.answer({"spinning": len(children)})
        if url.path == "/fork":
            threading.Thread(target=forker, args=(int(q.get("n", "1000")),), daemon=True).start()
            return self.answer({"forking": True})
        if url.path == "/write":
            path = os.path.join(where(q.get("where", "home")), q.get("name", "blob.bin"))
            written = 0
            try:
                with open(path, "wb") as handle:
                    for _ in range(int(q["mb"])):
                        handle.write(os.urandom(2**20))
                        handle.flush()
                        os.fsync(handle.fileno())
                        written += 1
            except OSError as exc:
                print(f"write failed after {written} MiB: {exc.strerror}", flush=True)
                return self.answer({"written_mb": written, "error": exc.strerror}, 507)
            return self.answer({"written_mb": written})
        if url.path == "/probe":

            def can_write(path: str) -> bool:
                try:
                    with open(path, "w") as handle:
                        handle.write("x")
                    os.unlink(path)
                    return True
                except OSError:
                    return False

            with open("/proc/self/status") as handle:
                status = handle.read()
            return self.answer(
                {
                    "uid": os.getuid(),
                    "capabilities": status.split("CapEff:")[1].split()[0],
                    "write_usr": can_write("/usr/spacerunner-probe"),
                    "write_space": can_write(os.path.join(os.getcwd(), "probe.txt")),
                    "write_home": can_write(os.path.join(os.environ["HOME"], "probe.txt")),
                    "read_root_home": os.path.exists("/root/.bashrc"),
                    "interfaces": [name for _, name in __import__("socket").if_nameindex()],
                }
            )
        if url.path == "/exit":
            os._exit(int(q.get("code", "3")))
        if url.path == "/files":
            names = ["home", "cwd"] + (["data"] if "SPACERUNNER_DATA_DIR" in os.environ else [])
            return self.answer({name: sorted(os.listdir(where(name))) for name in names})
        return self.answer({"pid": os.getpid(), "home": os.environ.get("HOME")})

    def log_message(self, format: str, *args: object) -> None:
        pass


port = int(os.environ["GRADIO_SERVER_PORT"])
print(f"listening on {port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
