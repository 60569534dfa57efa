"""A tiny HTTP app for tests: /env reports Space variables; CHILDREN=n spawns sleeping children."""

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

children = []
for _ in range(int(os.environ.get("CHILDREN", "0"))):
    # A grandchild that starts its own session, as daemons do: it must still be cleaned up.
    children.append(
        subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(600)"])
    )
    children.append(subprocess.Popen(["sleep", "600"]))
print("children:", " ".join(str(c.pid) for c in children), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/crash":
            print("crashing on request", flush=True)
            os._exit(3)
        names = [
            "SYSTEM",
            "SPACE_ID",
            "SPACE_AUTHOR_NAME",
            "SPACE_REPO_NAME",
            "SPACE_HOST",
            "SPACE_TITLE",
            "PORT",
            "GRADIO_SERVER_PORT",
            "GRADIO_SERVER_NAME",
            "MY_SECRET",
        ]
        body = json.dumps(
            {
                "path": self.path,
                "env": {n: os.environ.get(n) for n in names},
                "children": [c.pid for c in children],
                "cwd": os.getcwd(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("request:", format % args, flush=True)


port = int(os.environ["GRADIO_SERVER_PORT"])
print(f"listening on {port}", flush=True)
ThreadingHTTPServer(
    (os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), port), Handler
).serve_forever()
