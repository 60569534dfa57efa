"""What a supervised Space needs from around it, and nothing more: the narrow context that
lets the state machine run against fakes in tests (a backend whose apps the test drives, a
clock whose sleeps take no time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.config.model import OAuth
from spacerunner.launcher import Launcher
from spacerunner.proxy.routes import Router
from spacerunner.supervisor.builds import BuildQueue
from spacerunner.supervisor.events import EventHub
from spacerunner.supervisor.policy import Policy
from spacerunner.supervisor.secrets import SecretStore
from spacerunner.supervisor.state import StateFile

OAuthVariables = Callable[[str, OAuth], Mapping[str, str]]


class Clock:
    """Time as the supervisor reads and waits for it."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class SpaceContext:
    launcher: Launcher
    router: Router
    state: StateFile
    """Who was stopped on purpose, which app processes run (for the next server)."""
    policy: Policy
    public_port: int
    """The server's port, for ``SPACE_HOST`` (``<name>.localhost:<port>``)."""
    changed: Callable[[], None]
    """Tell the server something people may want to see changed."""
    secrets: SecretStore | None = None
    """Each Space's own variables and secrets (``spacerunner secrets``)."""
    data_root: Path | None = None
    """Where persistent storage of Spaces lives (one folder per Space)."""
    clock: Clock = field(default_factory=Clock)
    builds: BuildQueue = field(default_factory=BuildQueue)
    """The server's queue of builds, shared by its Spaces."""
    events: EventHub = field(default_factory=EventHub)
    """Where each Space reports the steps of its life (the console, metrics listen)."""
    oauth: OAuthVariables | None = None
    """The variables of a Space with ``hf_oauth: true`` (its client of the server's OpenID
    provider); None: such Spaces get none, as outside Spaces."""
