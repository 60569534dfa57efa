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


LOOP_NOISE_HEAD = "Exception ignored in: <function BaseEventLoop.__del__"
LOOP_NOISE_TAIL = "ValueError: Invalid file descriptor: -1"
LOOP_NOISE_NOTE = (
    "[spacerunner] (folded: Python's traceback for an event loop Gradio left to the garbage "
    "collector, 'Invalid file descriptor: -1'; harmless, and printed under Spaces too; the "
    "log file has it in full)"
)
"""Gradio's ``safe_get_lock`` replaces the thread's event loop without closing the old one;
when the collector finalizes its socket before it, ``BaseEventLoop.__del__`` prints a
17-line traceback. With ``SYSTEM=spaces`` and ``SPACE_ID`` (Spaces' own variables) Gradio
does more at launch (its Spaces reload server), which makes that order likely."""

NOISE_LINES = 40
"""The known block is 17 lines (Python 3.10-3.12); a little output of other threads may cut
into it."""

RELOAD_PORT_NOISE = "error while attempting to bind on address ('0.0.0.0', 7887)"
RELOAD_PORT_NOTE = (
    "[spacerunner] (Gradio's Spaces dev-mode reload server could not take port 7887: another "
    "app without a network of its own holds it. On Spaces, and here with full isolation, "
    "each app has its own network; the app itself is unaffected)"
)


class AppLog:
    """Lines an app printed, written through to ``path`` as they arrive.

    The file keeps every byte. What is read live and from the tail folds known noise that
    says nothing about the app into one line each (see :data:`LOOP_NOISE_NOTE`)."""

    def __init__(self, path: Path, *, keep: int = 2000) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=0)
        self._lines: deque[str] = deque(maxlen=keep)
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._followers: set[asyncio.Queue[str | None]] = set()
        self._held: list[str] = []
        """Lines that may be the start of a known noise block (not shown yet)."""
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
        if self._held or line.startswith(LOOP_NOISE_HEAD):
            self._hold(line)
            return
        if RELOAD_PORT_NOISE in line:
            line = RELOAD_PORT_NOTE
        self._show(line)

    def _hold(self, line: str) -> None:
        """Gather a possible noise block: folded when it ends as the known one does within
        :data:`NOISE_LINES` lines, shown as it was otherwise. (Another thread's output may
        cut into it, mid-line even: stdout and stderr share the pipe; the file has it.)"""
        held = self._held
        if line.strip() != LOOP_NOISE_TAIL and len(held) < NOISE_LINES:
            held.append(line)
            return
        self._held = []
        if line.strip() == LOOP_NOISE_TAIL:
            self._show(LOOP_NOISE_NOTE)
            return
        for kept in held:
            self._show(kept)
        self._add(line)

    def _show(self, line: str) -> None:
        self._lines.append(line)
        for queue in self._followers:
            queue.put_nowait(line)

    def tail(self, n: int = 40) -> list[str]:
        lines = list(self._lines)  # (a possible noise block being gathered is not yet)
        if self._partial and not self._held:
            lines.append(self._partial)
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
        held, self._held = self._held, []
        for line in held:
            self._show(line)
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
