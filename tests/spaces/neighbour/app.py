"""The neighbour: answers /env with its name, keeps a file in its persistent storage."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

data = os.environ.get("SPACERUNNER_DATA_DIR")
if data:
    with open(os.path.join(data, "kept.txt"), "w") as handle:
        handle.write("the neighbour's data")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"space": os.environ.get("SPACE_REPO_NAME")}).encode()
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
