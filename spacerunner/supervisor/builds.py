"""Builds (environments, images) as a Space shows them, and the queue that bounds how many run at
once: builds happen when a Space is registered or changed, not on a first visit, and a server
with forty Spaces must not start forty `uv` installs together."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psutil

GIB = 1024**3


def default_concurrency() -> int:
    """Builds this machine takes at once: one per two cores and per 4 GiB of memory, at least
    one (a build is an installer's worth of CPU, network and unpacking)."""
    cores = os.cpu_count() or 1
    memory = psutil.virtual_memory().total
    return max(1, min(cores // 2, int(memory // (4 * GIB))))


class BuildQueue:
    """At most ``limit`` builds at a time; the others wait their turn, first come first served."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or default_concurrency()
        self._places = asyncio.Semaphore(self.limit)

    @contextlib.asynccontextmanager
    async def place(self, on_start: Callable[[], None]) -> AsyncIterator[None]:
        """Hold a place for one build; ``on_start`` is called when its turn comes."""
        async with self._places:
            on_start()
            yield


class BuildState(StrEnum):
    QUEUED = "queued"
    """Waiting for a place in the queue."""
    BUILDING = "building"
    STARTING = "starting"
    """Built; the new revision's app is starting beside the one that serves."""
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class BuildStatus:
    """The latest build of a Space (or update of a running one), as people see it."""

    state: BuildState
    revision: str | None
    """The git commit built, when the Space is a git work tree."""
    since: float
    """When it entered ``state`` (wall clock)."""
    started_at: float
    error: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "revision": self.revision,
            "since": self.since,
            "started_at": self.started_at,
            "error": self.error,
        }
