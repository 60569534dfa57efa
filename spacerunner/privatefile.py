"""Files only spacerunner's user may read (secrets, accounts, keys): written whole, atomically,
mode 0600 in a folder of mode 0700; read back as JSON, missing or unreadable as empty."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (readers see the old or the new file, never a part)."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write_private_json(path: Path, value: Any) -> None:
    write_private(path, json.dumps(value, indent=1, sort_keys=True).encode())


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when it is missing or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class JsonFile:
    """A private JSON object file that several processes change (the server, the CLI): read
    again only when it changed on disk, changed whole under its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._data: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        """What the file holds now (``{}`` when it is missing); do not change the result."""
        try:
            st = self.path.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key is None or key != self._seen:
            self._data = read_json_object(self.path)
            self._seen = key
        return self._data

    @property
    def version(self) -> tuple[int, int] | None:
        """Changes whenever the file does (for caches of what it says)."""
        self.read()
        return self._seen

    @contextlib.contextmanager
    def change(self) -> Iterator[dict[str, Any]]:
        """The file's object, read under its lock, written back when the block ends without
        an error."""
        with locked(self.path):
            data = read_json_object(self.path)
            yield data
            write_private_json(self.path, data)
            self._seen = None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively: one read-modify-write at a time, across processes
    (the server and the ``spacerunner users`` command both change the same files)."""
    private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
