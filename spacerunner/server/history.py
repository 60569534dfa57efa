"""The last hour of each Space's memory, CPU and request rate, for the charts of its page.

Sampled every :data:`SAMPLE_EVERY` seconds while the server runs; :data:`KEPT` samples per
Space (bounded memory, whatever the uptime). A Space that does not run has samples without
memory and CPU (its chart shows a gap), so the hour shows when it slept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from spacerunner.supervisor import Supervisor

logger = logging.getLogger("spacerunner.history")

SAMPLE_EVERY = 10.0
"""Seconds between samples."""
KEPT = 360
"""Samples kept per Space: an hour."""


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    """Unix time."""
    memory: int | None
    """Bytes in use by the app (None: not running)."""
    cpu_percent: float | None
    """Of one core, as the app's usage reports it (over its last second or more)."""
    requests_per_second: float


@dataclass
class _Track:
    samples: deque[Sample]
    last: tuple[float, int] | None = None
    """(monotonic time, requests) at the previous sample."""
    limits: dict[str, Any] | None = None
    """The limits the app last ran with."""


class History:
    def __init__(self, supervisor: Supervisor, *, keep: int = KEPT) -> None:
        self.supervisor = supervisor
        self.keep = keep
        self._tracks: dict[str, _Track] = {}

    def sample(self, now: float | None = None, monotonic: float | None = None) -> None:
        """Take one sample of every Space (and forget the Spaces that went)."""
        now = time.time() if now is None else now
        monotonic = time.monotonic() if monotonic is None else monotonic
        spaces = self.supervisor.spaces
        for gone in self._tracks.keys() - spaces.keys():
            del self._tracks[gone]
        for name, space in spaces.items():
            track = self._tracks.get(name)
            if track is None:
                track = self._tracks[name] = _Track(deque(maxlen=self.keep))
            usage = (space.instance.usage() if space.instance is not None else None) or {}
            if usage.get("limits"):
                track.limits = usage["limits"]
            requests = space.route.stats.requests
            rate = 0.0
            if track.last is not None and monotonic > track.last[0]:
                rate = max(0, requests - track.last[1]) / (monotonic - track.last[0])
            track.last = (monotonic, requests)
            track.samples.append(
                Sample(
                    at=round(now, 1),
                    memory=usage.get("memory"),
                    cpu_percent=usage.get("cpu_percent"),
                    requests_per_second=round(rate, 3),
                )
            )

    def of(self, name: str) -> dict[str, Any]:
        """What the charts of Space ``name`` draw: its samples (oldest first) and limits."""
        track = self._tracks.get(name)
        return {
            "every": SAMPLE_EVERY,
            "limits": track.limits if track is not None else None,
            "samples": [
                [s.at, s.memory, s.cpu_percent, s.requests_per_second]
                for s in (track.samples if track is not None else ())
            ],
        }

    async def run(self, every: float = SAMPLE_EVERY) -> None:
        """Sample every ``every`` seconds until cancelled (a failed sample is logged and the
        next one taken: charts have a gap, the server goes on)."""
        while True:
            try:
                self.sample()
            except Exception:
                logger.exception("sampling the Spaces' usage failed")
            await asyncio.sleep(every)
