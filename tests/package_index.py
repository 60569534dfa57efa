"""A package index of the tests' own, served on loopback with the Simple API in JSON (PEP 691)
and upload times (PEP 700), as PyPI serves them: for resolutions that depend on a release's
day, with packages whose releases the tests choose."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Release:
    filename: str
    data: bytes
    uploaded: dt.datetime


def wheel(name: str, version: str, code: str) -> bytes:
    """A pure-Python wheel of one module ``name`` holding ``code``."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": code.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def sdist(name: str, version: str, setup_py: str) -> bytes:
    """A source distribution whose ``setup.py`` is ``setup_py``."""
    root = f"{name}-{version}"
    files = {
        f"{root}/setup.py": setup_py.encode(),
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class PackageIndex:
    """``{project: [Release]}`` at ``url`` (``.../simple``) while open."""

    def __init__(self, projects: dict[str, list[Release]]) -> None:
        self.projects = projects
        files = {r.filename: r for releases in projects.values() for r in releases}
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self, body: bool = True) -> None:
                parts = [p for p in self.path.split("/") if p]
                if len(parts) == 2 and parts[0] == "files" and parts[1] in files:
                    self._send(files[parts[1]].data, "application/octet-stream", body)
                elif len(parts) == 2 and parts[0] == "simple" and parts[1] in index.projects:
                    page = index.page(parts[1])
                    self._send(page, "application/vnd.pypi.simple.v1+json", body)
                else:
                    self.send_error(404)

            def do_HEAD(self) -> None:
                self.do_GET(body=False)

            def _send(self, data: bytes, kind: str, body: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def page(self, project: str) -> bytes:
        files = [
            {
                "filename": r.filename,
                "url": f"../../files/{r.filename}",
                "hashes": {"sha256": hashlib.sha256(r.data).hexdigest()},
                "upload-time": r.uploaded.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            }
            for r in self.projects[project]
        ]
        body = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
        return json.dumps(body).encode()

    def __enter__(self) -> PackageIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
