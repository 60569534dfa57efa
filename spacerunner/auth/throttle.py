"""Failed sign-ins slow down further tries, per account and per client address."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

FREE_FAILURES = 3
MAX_DELAY = 300.0
_MAX_KEYS = 10_000


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        """key -> (failures in a row, when the next try is allowed)."""

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        now = self.clock()
        return max([0.0, *(self._failures.get(k, (0, now))[1] - now for k in keys)])

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        if len(self._failures) > _MAX_KEYS:
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        for key in keys:
            count = self._failures.get(key, (0, now))[0] + 1
            delay = (
                0.0 if count <= FREE_FAILURES else min(2.0 ** (count - FREE_FAILURES), MAX_DELAY)
            )
            self._failures[key] = (count, now + delay)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
