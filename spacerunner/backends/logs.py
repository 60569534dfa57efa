"""An app's log: kept in a file (readable after a crash), the tail in memory, live to followers."""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path


class LogKind(StrEnum):
    """A Space's two logs, as Spaces keeps them (``logs/run`` and ``logs/build``)."""

    RUN = "run"
    """What the app printed (and spacerunner's notes about starts and exits)."""
    BUILD = "build"
    """Building its environment or image."""


class AppLog:
    """Lines an app printed, written through to ``path`` as they arrive."""

    def __init__(self, path: Path, *, keep: int = 2000) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=0)
        self._lines: deque[str] = deque(maxlen=keep)
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._followers: set[asyncio.Queue[str | None]] = set()
        self.closed = False

    def feed(self, data: bytes) -> None:
        """Take raw output: to the file at once, complete lines to the tail and followers."""
        if not self._file.closed:
            self._file.write(data)
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._add(line.rstrip("\r"))

    def note(self, message: str) -> None:
        """A line of spacerunner's own about the app (start, exit, stop)."""
        self.feed(f"[spacerunner] {message}\n".encode())

    def _add(self, line: str) -> None:
        if "\r" in line:  # progress bars redraw with \r: keep what was last drawn
            line = line.rsplit("\r", 1)[-1]
        self._lines.append(line)
        for queue in self._followers:
            queue.put_nowait(line)

    def tail(self, n: int = 40) -> list[str]:
        lines = [*self._lines, self._partial] if self._partial else list(self._lines)
        return lines[-n:] if n > 0 else []

    async def follow(self, *, history: int | None = 0) -> AsyncIterator[str]:
        """The last ``history`` lines (None: every line kept), then every new line until the
        log closes."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        kept = list(self._lines)
        for line in kept if history is None else kept[-history:] if history else []:
            queue.put_nowait(line)
        if self.closed:
            queue.put_nowait(None)
        self._followers.add(queue)
        try:
            while (line := await queue.get()) is not None:
                yield line
        finally:
            self._followers.discard(queue)

    def close(self) -> None:
        if self.closed:
            return
        if self._partial:
            self._add(self._partial)
            self._partial = ""
        self._file.close()
        self.closed = True
        for queue in self._followers:
            queue.put_nowait(None)


LOG_ROTATE_BYTES = 8 * 1024 * 1024
"""A log file larger than this is moved to ``<name>.log.1`` when the next run starts."""


def log_path(log_dir: Path, name: str, kind: LogKind = LogKind.RUN) -> Path:
    """Where Space ``name`` keeps its ``kind`` of log: ``<name>.log``, ``<name>.build.log``."""
    return log_dir / (f"{name}.log" if kind is LogKind.RUN else f"{name}.{kind.value}.log")


def open_log(log_dir: Path, name: str, kind: LogKind = LogKind.RUN) -> AppLog:
    """The ``kind`` log of Space ``name`` for a new run or build (the previous one rotated
    when large)."""
    path = log_path(log_dir, name, kind)
    try:
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_suffix(".log.1"))
    except OSError:
        pass
    return AppLog(path)
