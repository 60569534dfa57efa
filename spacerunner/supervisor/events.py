"""What happens to Spaces, as it happens: one typed event per step of a Space's life.

The supervisor emits them; the server's console, its metrics and anything else that wants to
know subscribes to one :class:`EventHub`. Listeners run on the event loop, at once, and must
not block; one that raises is logged and kept (a broken listener never stops a Space).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger("spacerunner.events")


class Lifecycle(StrEnum):
    """The steps of a Space's life the server reports."""

    ADDED = "added"
    REMOVED = "removed"
    BUILDING = "building"
    BUILT = "built"
    BUILD_FAILED = "build failed"
    STARTING = "starting"
    STARTED = "started"
    """The app's process runs (not yet answering)."""
    READY = "ready"
    SWITCHED = "switched"
    """A new revision took over from the one that served."""
    CRASHED = "crashed"
    RESTARTING = "restarting"
    FAILED = "failed"
    """The Space is in error and waits for a fix or an admin."""
    SLEEPING = "sleeping"
    STOPPED = "stopped"


class Trigger(StrEnum):
    """What started a Space."""

    VISIT = "a visit"
    ADMIN = "an admin"
    RESTART = "a restart after a crash"
    REVISION = "a new revision"
    REGISTERED = "registration"
    """Spaces that cost nothing while idle (static files) serve from the moment they are
    found."""


@dataclass(frozen=True)
class SpaceEvent:
    space: str
    kind: Lifecycle
    seconds: float | None = None
    """How long the step took: built in, started in, ready in, ran for (crashed), idle for
    (sleeping), restarting in."""
    detail: str | None = None
    """The reason (a failure, a crash), or what the step was about (a revision)."""
    trigger: Trigger | None = None
    """What started it (starts, readiness)."""


Listener = Callable[[SpaceEvent], None]


class EventHub:
    """Fan-out of :class:`SpaceEvent` to listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event from now on (for the server's lifetime)."""
        self._listeners.append(listener)

    def emit(self, event: SpaceEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("a listener of Space events failed on %s", event)
