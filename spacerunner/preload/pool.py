"""The preloaders of a backend: one per environment interpreter and SDK in use, made when a
Space of it first starts, given what its apps import, replaced when a new Space needs its uid
mapped, stopped when idle. The local backend asks :meth:`Preloaders.get` for each start."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spacerunner.config.model import Sdk
from spacerunner.envs.spec import SDK_MODULES
from spacerunner.preload.preloader import MAX_UIDS, Preloader, PreloadError, shared_environment

IDLE = 3600.0
"""Seconds a preloader is kept after its last start (Spaces that used it may wake again)."""
OPT_OUT = "SPACERUNNER_PRELOAD"
"""A Space's variable: ``0``/``false``/``no``/``off`` starts its apps fresh."""
MAX_LEARNED = 2000
LEARN_DELAY = 5.0
"""Seconds between the first module an app is seen importing and the preloader importing
what its apps were seen importing since (one batch, not one import per module)."""
_NAME = re.compile(r"^(?=.{1,200}$)[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", re.ASCII)


@dataclass(frozen=True)
class Key:
    python: str
    sdk: Sdk


class Preloaders:
    """Preloaders by environment; every decision to start fresh comes with its reason."""

    def __init__(
        self,
        state_dir: Path,
        log_dir: Path,
        uid_of: Callable[[str], int],
        *,
        idle: float = IDLE,
        enabled: bool = True,
        learn_delay: float = LEARN_DELAY,
    ) -> None:
        self.state_dir = state_dir
        self.log_dir = log_dir
        self.uid_of = uid_of
        self.idle = idle
        self.enabled = enabled
        self.learn_delay = learn_delay
        self._live: dict[Key, Preloader] = {}
        self._warming: dict[Key, asyncio.Task[None]] = {}
        self._uids: dict[Key, set[int]] = {}
        self._fresh_only: dict[str, str] = {}
        self._learned_pending: dict[Key, set[str]] = {}
        self._refused: dict[Key, set[str]] = {}
        """Modules whose import made a preloader unsafe to fork from (never preloaded)."""
        self._reaper: asyncio.Task[None] | None = None
        self._importing: set[asyncio.Task[None]] = set()

    def expect(self, sdk: Sdk, python: str, uid: int) -> None:
        """A Space of uid ``uid`` will start apps of this interpreter and SDK (it was
        registered): the preloader, when made, maps its uid, so its first start is preloaded
        too (a uid the preloader lacks means making it again)."""
        if self.enabled and sdk in SDK_MODULES:
            self._uids.setdefault(Key(python, sdk), set()).add(uid)

    def get(
        self,
        name: str,
        sdk: Sdk,
        python: str,
        env: dict[str, str],
        uid: int,
        own: frozenset[str] = frozenset(),
    ) -> tuple[Preloader | None, str]:
        """The ready preloader for an app of Space ``name`` with environment ``env`` (of which
        ``own`` are the Space's own variables and secrets), or ``None`` and why not (one is
        then made in the background, for the next start, without anything of the Space's)."""
        if not self.enabled:
            return None, "preloading is off (--no-preload)"
        if sdk not in SDK_MODULES:
            return None, f"no preloading for sdk {sdk.value}"
        if env.get(OPT_OUT, "").strip().lower() in ("0", "false", "no", "off"):
            return None, f"the Space opts out ({OPT_OUT}={env[OPT_OUT]})"
        if name in self._fresh_only:
            return None, self._fresh_only[name]
        key = Key(python, sdk)
        uids = self._uids.setdefault(key, set())
        if uid not in uids:
            if len(uids) >= MAX_UIDS:
                return None, f"its preloader already serves {MAX_UIDS} Spaces"
            uids.add(uid)
        current = self._live.get(key)
        if current is not None and not current.alive:
            self._live.pop(key)
            current = None
        if current is not None and uid in current.space_uids:
            reason = current.mismatch(env)
            if reason is None:
                return current, "preloaded"
            return None, reason
        self._warm(key, shared_environment(env, own), replacing=current)
        if current is not None:
            return None, "its preloader is being remade to take this Space's uid"
        return None, "its preloader is being made (this start is fresh; the next is preloaded)"

    def _warm(self, key: Key, env: dict[str, str], *, replacing: Preloader | None) -> None:
        if key in self._warming:
            return
        self._warming[key] = asyncio.create_task(self._make(key, env, replacing))
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap())

    async def _make(self, key: Key, env: dict[str, str], replacing: Preloader | None) -> None:
        try:
            uid = self.uid_of(f"@preload-{self._digest(key)}")
            learned = sorted(self._load_learned(key))
            preloader = Preloader(
                python=key.python,
                modules=(*SDK_MODULES[key.sdk], *learned),
                env=env,
                uid=uid,
                space_uids=frozenset(self._uids.get(key, set())),
                log_path=self._log_path(key),
            )
            preloader.learned.update(learned)
            try:
                await preloader.start()
            except PreloadError as exc:
                self._note(key, f"preloader failed: {exc}")
                return
            self._live[key] = preloader
            ready = preloader.ready
            assert ready is not None
            self._note(
                key,
                f"preloader pid {preloader.pid} ready in {ready.seconds:.2f}s "
                f"({ready.modules} modules; could not import: {sorted(ready.failed) or 'none'})",
            )  # fmt: skip
            if replacing is not None:
                await replacing.stop()
        finally:
            self._warming.pop(key, None)

    def refuse(self, name: str, reason: str) -> None:
        """Start Space ``name`` fresh from now on (its preloaded start failed)."""
        self._fresh_only[name] = reason

    def learn(self, preloader: Preloader, name: str) -> None:
        """An app of ``preloader`` imported module ``name``: preload it from now on."""
        if not _NAME.match(name) or name.endswith("__main__") or name in preloader.learned:
            return
        key = next((k for k, p in self._live.items() if p is preloader), None)
        if key is None or name in self._refused.get(key, set()):
            return
        if len(preloader.learned) >= MAX_LEARNED:
            return
        preloader.learned.add(name)
        self._save_learned(key, preloader.learned)
        pending = self._learned_pending.setdefault(key, set())
        first = not pending
        pending.add(name)
        if first:
            task = asyncio.create_task(self._import_pending(key))
            self._importing.add(task)
            task.add_done_callback(self._importing.discard)

    async def _import_pending(self, key: Key) -> None:
        await asyncio.sleep(self.learn_delay)
        names = sorted(self._learned_pending.pop(key, set()))
        preloader = self._live.get(key)
        if preloader is None or not names:
            return
        try:
            await preloader.import_more(names)
        except PreloadError as exc:
            self._live.pop(key, None)
            preloader.learned.difference_update(names)
            self._refused.setdefault(key, set()).update(names)
            self._save_learned(key, preloader.learned)
            self._note(
                key,
                f"preloader dropped after importing {len(names)} modules its apps import, "
                f"which are not preloaded again: {exc}",
            )  # fmt: skip

    def memory(self) -> list[dict[str, object]]:
        """Each live preloader: its interpreter, SDK, pid and memory."""
        found = []
        for key, preloader in self._live.items():
            used = preloader.memory()
            if used is not None:
                found.append({"python": key.python, "sdk": key.sdk.value,
                              "pid": preloader.pid, **used})  # fmt: skip
        return found

    async def _reap(self) -> None:
        """Stop the preloaders nothing started from for :attr:`idle` seconds."""
        while True:
            await asyncio.sleep(min(60.0, self.idle / 4))
            now = time.monotonic()
            for key, preloader in list(self._live.items()):
                ended = not preloader.alive
                if ended or now - preloader.last_used > self.idle:
                    self._live.pop(key, None)
                    await preloader.stop()
                    self._note(key, "preloader ended" if ended else "preloader stopped (idle)")

    async def close(self) -> None:
        for task in [*self._warming.values(), *self._importing, *filter(None, [self._reaper])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for preloader in self._live.values():
            await preloader.stop()
        self._live.clear()

    @staticmethod
    def _digest(key: Key) -> str:
        text = f"{key.python}\0{key.sdk.value}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _log_path(self, key: Key) -> Path:
        return self.log_dir / f"preload-{self._digest(key)}.log"

    def _note(self, key: Key, message: str) -> None:
        """A line in the preloader's log (next to the apps' logs)."""
        path = self._log_path(key)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(f"[spacerunner] {time.strftime('%H:%M:%S')} {message}\n")

    def _learned_path(self, key: Key) -> Path:
        return self.state_dir / "preload" / f"{self._digest(key)}.json"

    def _load_learned(self, key: Key) -> set[str]:
        """What the apps of ``key`` imported in earlier runs of the server (less what was
        refused)."""
        try:
            facts = json.loads(self._learned_path(key).read_text())
        except (OSError, ValueError):
            return set()
        if not isinstance(facts, dict):
            return set()

        def names(field: str) -> set[str]:
            found = facts.get(field)
            found = found[:MAX_LEARNED] if isinstance(found, list) else []
            return {
                n
                for n in found
                if isinstance(n, str) and _NAME.match(n) and not n.endswith("__main__")
            }

        refused = names("refused")
        self._refused.setdefault(key, set()).update(refused)
        return names("learned") - refused

    def _save_learned(self, key: Key, names: set[str]) -> None:
        path = self._learned_path(key)
        facts = {"learned": sorted(names), "refused": sorted(self._refused.get(key, set()))}
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(facts, indent=0))
            tmp.replace(path)
