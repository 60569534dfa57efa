import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/eat":
            hoard = []
            while True:
                hoard.append(bytearray(16 << 20))
        if self.path == "/fill":
            with open("/tmp/filler", "wb") as out:
                for _ in range(64):
                    out.write(b"x" * (1 << 20))
        if self.path == "/count":
            counter = Path("/data/count")
            count = int(counter.read_text()) + 1 if counter.exists() else 1
            counter.write_text(str(count))
            body = {"count": count}
        else:
            body = {
                "path": self.path,
                "space_id": os.environ.get("SPACE_ID"),
                "port": os.environ.get("PORT"),
                "uid": os.getuid(),
                "secret": "set" if os.environ.get("API_KEY") else "unset",
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


print("listening on 8080", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
