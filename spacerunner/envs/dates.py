"""The day a Space's requirements are resolved as of.

Spaces resolved a Space's requirements on the day it was built. Resolved today, an old Space's
unpinned ``numpy`` or ``pandas`` is today's release, which its old SDK (or the Space's own code)
may not work with. When the Space is a git work tree whose requirement files are as committed,
its last commit's day is the day it was built on Spaces; ``--as-of`` names a day by hand.
Packages uploaded after that day are then left out of the resolution (uv's
``--exclude-newer``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from spacerunner.errors import SpacerunnerError
from spacerunner.sources import fetched_day
from spacerunner.worktree import git_read

DATED_FILES = ("requirements.txt", "pre-requirements.txt", "README.md")
"""What a resolution depends on: edited since the last commit, the Space is not as it was then."""


@dataclass(frozen=True)
class AsOf:
    day: dt.date
    why: str
    """Where the day comes from, as the build log says it."""
    until: dt.datetime | None = None
    """The exact moment (UTC), when known: a first resolution here."""

    @property
    def text(self) -> str:
        """As people read it: the moment, or the day (to its end, UTC)."""
        if self.until is not None:
            return self.until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.day} (to its end, UTC)"

    @property
    def exclude_newer(self) -> str:
        """uv's ``--exclude-newer``: what was uploaded up to :attr:`until`, else up to the end
        of :attr:`day` (UTC)."""
        if self.until is not None:
            return self.until.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.day + dt.timedelta(days=1)}T00:00:00Z"


FIRST_RESOLVED = (
    "when its requirements were first resolved here; 'spacerunner build --upgrade' resolves "
    "them again as of now"
)


class Resolutions:
    """When each set of inputs (an undated environment's key) was first resolved: that moment
    is its lock. Rebuilding it later (after ``env gc``, on another day) resolves as of the same
    moment, so it never drifts; ``--upgrade`` moves the moment to now."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tried = root.with_name(root.name + "-tried")
        """When each set of inputs was first tried, kept until a build of it succeeds."""

    def recorded(self, key: str) -> AsOf | None:
        """The lock of ``key``, when one was kept (by :meth:`keep`, once a build succeeded)."""
        try:
            stamp, _, why = (self.root / key).read_text().partition("\n")
            until = dt.datetime.fromisoformat(stamp.strip())
        except (OSError, ValueError):
            return None
        return AsOf(until.date(), why.strip() or FIRST_RESOLVED, until)

    @staticmethod
    def now() -> AsOf:
        """A first resolution, now (to the second)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return AsOf(now.date(), FIRST_RESOLVED, now)

    def first(self, key: str) -> AsOf:
        """The moment ``key`` was first tried here: now, the first time; the same to every
        builder and process after (two servers resolving one Space at once agree on it, and
        build it once)."""
        self.tried.mkdir(parents=True, exist_ok=True)
        moment = self.now()
        draft = self.tried / f".{key}-{uuid.uuid4().hex}"
        draft.write_text(moment.until.isoformat() if moment.until else "")
        try:
            os.link(draft, self.tried / key)  # created with its content, or not at all
        except FileExistsError:
            with contextlib.suppress(OSError, ValueError):
                until = dt.datetime.fromisoformat((self.tried / key).read_text().strip())
                moment = AsOf(until.date(), FIRST_RESOLVED, until)
        finally:
            draft.unlink(missing_ok=True)
        return moment

    def keep(self, key: str, as_of: AsOf) -> None:
        """Record ``as_of`` as the lock of ``key``: its moment (a day's end, for a day) and,
        when it is not the first resolution's, why."""
        until = as_of.until or dt.datetime.combine(
            as_of.day + dt.timedelta(days=1), dt.time(), dt.UTC
        )
        why = "" if as_of.why == FIRST_RESOLVED else as_of.why
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_text(f"{until.isoformat()}\n{why}\n".rstrip() + "\n")
        (self.tried / key).unlink(missing_ok=True)  # the lock says it from now on


def parse_day(text: str) -> dt.date:
    """``--as-of YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise SpacerunnerError(
            f"--as-of {text!r}: expected a day as YYYY-MM-DD, e.g. --as-of 2023-06-30."
        ) from exc


def committed_day(folder: Path) -> AsOf | None:
    """The day of the last commit of ``folder`` when it is a git work tree of its own whose
    requirement files and header are as committed, or a Hub revision fetched into the cache
    (its commit's day, from the Hub); else None (blocking: runs git)."""
    fetched = fetched_day(folder)
    if fetched is not None:
        commit, day = fetched
        return AsOf(day, f"the day of the Hub revision {commit[:12]}")
    log = (git_read(folder, "log", "-1", "--format=%H %cI") or "").split()
    if len(log) != 2 or git_read(folder, "status", "--porcelain", "--", *DATED_FILES) != "":
        return None  # no history of its own, or its requirements were edited since
    commit, stamp = log
    day = dt.datetime.fromisoformat(stamp).astimezone(dt.UTC).date()
    return AsOf(day, f"the day of the Space's last commit, {commit[:12]}")
