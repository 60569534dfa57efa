"""The ``serve`` console: one line per step of a Space's life, with how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from enum import StrEnum
from typing import assert_never

from spacerunner.supervisor.events import Lifecycle, SpaceEvent
from spacerunner.units import format_duration


class Verbosity(StrEnum):
    """How much the console says (``serve -q``: problems only, ``-qq``: nothing)."""

    ALL = "all"
    PROBLEMS = "problems"
    NONE = "none"


PROBLEMS = frozenset({Lifecycle.BUILD_FAILED, Lifecycle.CRASHED, Lifecycle.FAILED})


def describe(event: SpaceEvent) -> str:
    """What happened, as the console says it (without time and name)."""
    took = format_duration(event.seconds) if event.seconds is not None else None
    detail = event.detail
    match event.kind:
        case Lifecycle.BUILDING:
            return f"building{f' {detail}' if detail else ''}"
        case Lifecycle.BUILT:
            return f"built in {took}" if took else "built"
        case Lifecycle.BUILD_FAILED:
            return f"build failed{f' after {took}' if took else ''}: {detail}"
        case Lifecycle.STARTING:
            return f"starting ({event.trigger})" if event.trigger else "starting"
        case Lifecycle.STARTED:
            return f"started in {took} (waiting until it answers)"
        case Lifecycle.READY:
            return f"ready in {took}"
        case Lifecycle.SWITCHED:
            return f"{detail or 'the new revision'} serves now (update took {took})"
        case Lifecycle.CRASHED:
            return f"crashed{f' after {took}' if took else ''}: {detail}"
        case Lifecycle.RESTARTING:
            return f"restarting in {took}"
        case Lifecycle.FAILED:
            return f"error: {detail}"
        case Lifecycle.SLEEPING:
            return f"sleeping ({detail}){f' after running {took}' if took else ''}"
        case Lifecycle.STOPPED:
            return f"stopped ({detail})"
        case Lifecycle.ADDED:
            return "added"
        case Lifecycle.REMOVED:
            return f"removed ({detail})" if detail else "removed"
    assert_never(event.kind)


class Console:
    """Prints each event as one line: ``12:01:02 hello-gradio  ready in 2.31s``."""

    def __init__(
        self,
        verbosity: Verbosity = Verbosity.ALL,
        write: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verbosity = verbosity
        self.write = write or _stderr
        self.clock = clock
        self._said: dict[str, str | None] = {}
        """The reason last said for each Space (a failure is not said twice)."""

    def __call__(self, event: SpaceEvent) -> None:
        if self.verbosity is Verbosity.NONE:
            return
        if self.verbosity is Verbosity.PROBLEMS and event.kind not in PROBLEMS:
            return
        if event.kind is Lifecycle.FAILED and self._said.get(event.space) == event.detail:
            return  # the build failure just said is why it is in error
        self._said[event.space] = event.detail if event.kind in PROBLEMS else None
        stamp = time.strftime("%H:%M:%S", time.localtime(self.clock()))
        self.write(f"{stamp} {event.space:<24} {describe(event)}")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
