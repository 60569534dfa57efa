"""The numbers the supervisor decides by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    idle_timeout: float = 30 * 60.0
    """Seconds without requests or open WebSockets before a running Space sleeps; 0 = never."""
    restart_backoff: float = 1.0
    """First pause before restarting a crashed Space; it doubles with each crash."""
    restart_backoff_max: float = 60.0
    max_crashes: int = 5
    """Crashes within :attr:`crash_window` after which a Space stays in the error state."""
    crash_window: float = 10 * 60.0
    health_interval: float = 15.0
    """Seconds between health checks of a running Space; 0 = no checks."""
    health_failures: int = 3
    """Consecutive failed health checks after which the Space is restarted."""
    stop_grace: float = 10.0
    drain_timeout: float = 10 * 60.0
    """Seconds a replaced revision's app keeps answering the requests and WebSockets it had
    when the new one took over, before it is stopped regardless."""
    max_builds: int | None = None
    """Builds at once (environments, images); None: what the machine takes (one per two
    cores and 4 GiB)."""
    watch: bool = True
    """Follow the Space folders for added, changed and removed Spaces."""
    watch_debounce_ms: int = 400

    def backoff(self, crashes: int) -> float:
        return min(self.restart_backoff * 2 ** max(crashes - 1, 0), self.restart_backoff_max)
