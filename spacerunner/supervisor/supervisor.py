"""The supervisor of a folder of Spaces: discovery, file watching, idle sleep, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import watchfiles

from spacerunner.backends.base import Backend
from spacerunner.config.header import README
from spacerunner.launcher import Launcher
from spacerunner.proxy.routes import Router
from spacerunner.supervisor.builds import BuildQueue
from spacerunner.supervisor.context import Clock, OAuthVariables, SpaceContext
from spacerunner.supervisor.discovery import discover
from spacerunner.supervisor.events import EventHub, Lifecycle, SpaceEvent
from spacerunner.supervisor.policy import Policy
from spacerunner.supervisor.revision import ignored
from spacerunner.supervisor.secrets import SecretStore
from spacerunner.supervisor.space import ManagedSpace, SpaceState
from spacerunner.supervisor.state import StateFile

logger = logging.getLogger("spacerunner.supervisor")

_RESTART_FILES = {"requirements.txt", "pre-requirements.txt", "packages.txt", "Dockerfile"}


class Supervisor:
    def __init__(
        self,
        dirs: list[Path],
        launcher: Launcher,
        router: Router,
        *,
        state: StateFile,
        public_port: int,
        policy: Policy | None = None,
        data_root: Path | None = None,
        secrets: SecretStore | None = None,
        clock: Clock | None = None,
        oauth: OAuthVariables | None = None,
    ) -> None:
        self.dirs = [d.absolute() for d in dirs]
        self.launcher = launcher
        self.router = router
        self.state = state
        self.policy = policy or Policy()
        self.events = EventHub()
        """Every step of every Space's life (subscribe to follow them)."""
        self.context = SpaceContext(
            launcher=launcher,
            router=router,
            state=state,
            policy=self.policy,
            public_port=public_port,
            changed=self.changed,
            data_root=data_root,
            secrets=secrets,
            clock=clock or Clock(),
            builds=BuildQueue(self.policy.max_builds),
            events=self.events,
            oauth=oauth,
        )
        self.spaces: dict[str, ManagedSpace] = {}
        self.version = 0
        """Bumped at every change people may want to see (state, added, removed)."""
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_watching = asyncio.Event()
        self._closing: set[asyncio.Future[None]] = set()
        """Spaces whose folders went away, being stopped."""
        self._started = False
        self.closing = asyncio.Event()
        """Set when the server begins to stop: streams to clients end then."""

    @property
    def backend(self) -> Backend:
        return self.launcher.backend

    # --- lifecycle ---

    async def start(self) -> None:
        ended = self.state.reap_orphans()
        if ended:
            logger.warning(
                "ended %d app processes a previous server left running: %s", len(ended), ended
            )
        self.refresh()
        self._started = True  # Spaces found from now on are reported as added
        self._tasks.append(asyncio.create_task(self._idle_loop(), name="idle"))
        if self.policy.watch:
            self._tasks.append(asyncio.create_task(self._watch_loop(), name="watch"))

    async def close(self) -> None:
        self.closing.set()
        self._changed.set()
        self._stop_watching.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(
            *(s.close() for s in self.spaces.values()), *self._closing, return_exceptions=True
        )
        await self.backend.close()

    def _closed(self, task: asyncio.Future[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("stopping a removed Space failed", exc_info=task.exception())

    def changed(self) -> None:
        self.version += 1
        self._changed.set()

    async def wait_changed(self, version: int, timeout: float) -> int:
        """Wait until :attr:`version` moves past ``version`` (or ``timeout``); returns it."""
        if self.version == version and not self.closing.is_set():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.version

    # --- the Spaces ---

    def scan(self) -> tuple[list[str], list[str]]:
        """Register Spaces that appeared; returns (added, gone) names. Gone ones are stopped.
        (:meth:`refresh` also builds ahead what new ones need.)"""
        found = {f.name: f for f in discover(self.dirs)}
        added = []
        for name, item in found.items():
            if name not in self.spaces:
                space = ManagedSpace(name, item.path, self.context, problem=item.problem)
                if self.state.record(name).stopped:
                    space.mark_stopped()
                self.spaces[name] = space
                added.append(name)
                if self._started:
                    self.events.emit(SpaceEvent(name, Lifecycle.ADDED, detail=str(item.path)))
        gone = [name for name in self.spaces if name not in found]
        for name in gone:
            space = self.spaces.pop(name)
            self.router.remove(name)  # gone from the URLs at once; its app stops meanwhile
            self.events.emit(SpaceEvent(name, Lifecycle.REMOVED, detail="its folder is gone"))
            task = asyncio.ensure_future(space.close())
            self._closing.add(task)
            task.add_done_callback(self._closed)
        if added or gone:
            self.changed()
        return added, gone

    def refresh(self) -> list[str]:
        """:meth:`scan`, then build in the background what each new Space's first start
        needs (through the queue of builds); returns the added names."""
        added, _ = self.scan()
        for name in added:
            self.spaces[name].prebuild()
        return added

    def space_for(self, path: Path) -> ManagedSpace | None:
        for space in self.spaces.values():
            if path == space.path or path.is_relative_to(space.path):
                return space
        return None

    def files_changed(self, paths: set[Path]) -> None:
        """React to changed files: new and removed Spaces, and a new revision of each Space
        whose header, code or requirements changed (see :meth:`ManagedSpace.update`)."""
        added = self.refresh()
        touched: dict[str, ManagedSpace] = {}
        for path in paths:
            space = self.space_for(path)
            if space is None or space.name in added:
                continue
            rel = path.relative_to(space.path)
            if ignored(rel):
                continue
            if rel.parts == (README,) or rel.suffix == ".py" or rel.name in _RESTART_FILES:
                touched[space.name] = space
        for space in touched.values():
            space.update("files changed")

    def revision_changed(self, path: Path) -> None:
        """A new revision of the Space at ``path`` was published (a git push): register it
        when new, else build and start it beside the running one (see
        :meth:`ManagedSpace.update`)."""
        added = self.refresh()
        space = self.space_for(path)
        if space is not None and space.name not in added:
            space.update("a new revision was pushed")

    async def _watch_loop(self) -> None:
        async for changes in watchfiles.awatch(
            *[d for d in self.dirs if d.exists()],
            debounce=self.policy.watch_debounce_ms,
            step=50,
            stop_event=self._stop_watching,
            recursive=True,
        ):
            try:
                self.files_changed({Path(p) for _, p in changes})
            except Exception:  # keep watching whatever one change did
                logger.exception("while following file changes")

    async def _idle_loop(self) -> None:
        idle = self.policy.idle_timeout
        tick = min(max(idle / 4, 0.1), 5.0) if idle > 0 else 5.0
        while True:
            await asyncio.sleep(tick)
            if idle <= 0:
                continue
            now = time.monotonic()
            for space in list(self.spaces.values()):
                if space.always_on or space.state is not SpaceState.RUNNING:
                    continue
                if space.idle_for(now) > idle:
                    if space.instance is not None:
                        space.instance.log.note(f"idle for {idle:g}s; going to sleep")
                    await space.stop(sleep=True, why=f"idle for {idle:g}s")
