"""Where a Space comes from: a folder, a git repository (``https://``, ``ssh://``, ``file://``,
``git@host:path``, each with an optional ``@REVISION``) or a Hub id (``owner/name[@REVISION]``).
Repositories are fetched into the cache once per revision and run from there; a revision in
the cache runs with no network (a branch or tag then means the commit it last pointed to).

Git repositories are kept as a bare mirror per URL plus a checked-out work tree per commit;
Hub Spaces as huggingface_hub's snapshot download of repo type "space", one folder per commit.
Each Space's folder is named after the repository, which is the Space's name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner.errors import SourceError

COMPLETE = ".spacerunner-source"
"""Written into a fetched revision's folder once it is whole."""

_URL = re.compile(r"^(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_HUB_ID = re.compile(r"^(?:spaces/)?([\w][\w.-]*)/([\w][\w.-]*)$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class SourceKind(StrEnum):
    FOLDER = "folder"
    GIT = "git"
    HUB = "hub"


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    location: str
    """The folder, the URL, or the Hub id (``owner/name``)."""
    revision: str | None = None
    """A branch, tag or commit; None: the default branch."""

    @property
    def name(self) -> str:
        """The Space's name: the repository's (or the folder's) last part."""
        tail = self.location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return tail.removesuffix(".git") or "space"

    def __str__(self) -> str:
        return self.location + (f"@{self.revision}" if self.revision else "")


def parse_source(text: str) -> Source:
    """What ``text`` on a command line names. A folder that exists is always a folder."""
    if not _URL.match(text) and (_local(text) or not _looks_like_hub_id(text)):
        return Source(SourceKind.FOLDER, text)
    location, revision = _split_revision(text)
    if _URL.match(text):
        return Source(SourceKind.GIT, location, revision)
    match = _HUB_ID.match(location)
    assert match is not None
    return Source(SourceKind.HUB, f"{match[1]}/{match[2]}", revision)


def _local(text: str) -> bool:
    """``text`` is a path here, or one in a folder that is (``spaces/missing`` is a missing
    Space folder, not a Hub id)."""
    path = Path(text)
    return path.exists() or (len(path.parts) > 1 and path.parent.is_dir())


def _looks_like_hub_id(text: str) -> bool:
    return _HUB_ID.match(_split_revision(text)[0]) is not None


def _split_revision(text: str) -> tuple[str, str | None]:
    """``location@revision``: an ``@`` after the last ``/`` (``git@host:`` is not one)."""
    head, at, tail = text.rpartition("@")
    if not at or "/" in tail or ":" in tail or not head or head.endswith(("://", ":")):
        return text, None
    if "/" not in head and ":" not in head:  # user@host without a path
        return text, None
    return head, tail or None


class Sources:
    """Fetches repositories into ``root`` (the cache's ``sources`` folder)."""

    def __init__(
        self, root: Path, *, offline: bool = False, hub_endpoint: str | None = None
    ) -> None:
        self.root = root
        self.offline = offline
        self.hub_endpoint = hub_endpoint
        """The Hub's address (None: huggingface_hub's, which honours ``HF_ENDPOINT``)."""
        self.notes: list[str] = []
        """What a fetch wants the user to know (a cached copy used offline)."""

    def folder(self, source: Source) -> Path:
        """The folder of ``source`` on this machine, fetched when needed (blocking)."""
        if source.kind is SourceKind.FOLDER:
            return Path(source.location)
        if source.kind is SourceKind.GIT:
            return self._git(source)
        return self._hub(source)

    # --- git ---

    def _git(self, source: Source) -> Path:
        if shutil.which("git") is None:
            raise SourceError(f"{source}: git is not installed. Fix: install git.")
        base = self.root / "git" / _digest(source.location)
        mirror = base / "mirror.git"
        wanted = source.revision or "HEAD"
        if _COMMIT.match(wanted):
            cached = self._cached(base, wanted, source.name)
            if cached is not None:
                return cached
        reason = self._update_mirror(source, mirror)
        try:
            commit = _git(["rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}"], mirror)
        except SourceError:
            commit = ""
        if not commit:
            why = f" (and it could not be fetched: {reason})" if reason else ""
            raise SourceError(
                f"{source}: no revision {wanted!r} in the repository{why}. "
                "Fix: name a branch, tag or commit it has."
            )
        cached = self._cached(base, commit, source.name)
        if cached is not None:
            return cached

        def checkout(into: Path) -> None:
            _git(["clone", "--quiet", "--no-checkout", "--shared", str(mirror), str(into)])
            _git(["checkout", "--quiet", "--detach", commit], into)

        return self._fill(base, commit, source.name, checkout)

    def _update_mirror(self, source: Source, mirror: Path) -> str | None:
        """Fetch the repository into its mirror; returns why it could not (a mirror from
        before is then used, and said so), raises when there is none."""
        if self.offline and mirror.exists():
            self.notes.append(f"{source.location}: offline; using the copy fetched before")
            return "offline"
        try:
            if mirror.exists():
                _git(["remote", "update", "--prune"], mirror, network=True)
            else:
                mirror.parent.mkdir(parents=True, exist_ok=True)
                partial = mirror.with_name(f".mirror-{uuid.uuid4().hex[:8]}")
                try:
                    _git(
                        ["clone", "--quiet", "--mirror", source.location, str(partial)],
                        network=True,
                    )
                    partial.rename(mirror)
                finally:
                    shutil.rmtree(partial, ignore_errors=True)
        except SourceError as exc:
            if not mirror.exists():
                raise SourceError(
                    f"{source}: cannot fetch the repository and it is not in the cache: {exc}"
                ) from exc
            self.notes.append(
                f"{source.location}: not reachable ({exc}); using the copy fetched before"
            )
            return str(exc)
        return None

    # --- the Hub ---

    def _hub(self, source: Source) -> Path:
        try:
            from huggingface_hub import HfApi, snapshot_download
            from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
        except ImportError as exc:  # pragma: no cover - a dependency
            raise SourceError(f"{source}: huggingface_hub is missing ({exc})") from exc
        base = self.root / "hub" / source.location.replace("/", "--")
        wanted = source.revision or "main"
        ref = base / "refs" / _digest(wanted)
        if _COMMIT.match(wanted) and (cached := self._cached(base, wanted, source.name)):
            return cached
        commit: str | None = None
        day: dt.date | None = None
        if not self.offline:
            try:
                api = HfApi(endpoint=self.hub_endpoint)
                info = api.space_info(source.location, revision=wanted)
                commit = info.sha
                day = info.last_modified.date() if info.last_modified else None
            except RevisionNotFoundError as exc:
                raise SourceError(
                    f"{source}: the Space has no revision {wanted!r}. "
                    "Fix: name a branch, tag or commit it has."
                ) from exc
            except RepositoryNotFoundError as exc:
                raise SourceError(
                    f"{source}: the Hub has no Space {source.location} (or it is private: "
                    "set HF_TOKEN to a token that may read it)."
                ) from exc
            except Exception as exc:  # HTTP errors and its HTTP client's own connection errors
                if not ref.exists():
                    raise SourceError(
                        f"{source}: cannot reach the Hub for this Space and it is not in the "
                        f"cache: {_first_line(exc)}"
                    ) from exc
                self.notes.append(
                    f"{source}: the Hub is not reachable ({_first_line(exc)}); "
                    "using the revision fetched before"
                )
        if commit is None:
            with contextlib.suppress(OSError):
                commit = ref.read_text().strip()
            if not commit:
                raise SourceError(
                    f"{source}: offline, and this revision is not in the cache. "
                    "Fix: run it once with the network."
                )
        cached = self._cached(base, commit, source.name)
        if cached is None:

            def download(into: Path) -> None:
                try:
                    snapshot_download(
                        source.location,
                        repo_type="space",
                        revision=commit,
                        local_dir=into,
                        endpoint=self.hub_endpoint,
                    )
                except Exception as exc:  # as above
                    raise SourceError(f"{source}: download failed: {_first_line(exc)}") from exc
                shutil.rmtree(into / ".cache", ignore_errors=True)  # huggingface_hub's notes

            cached = self._fill(base, commit, source.name, download, day)
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit + "\n")
        return cached

    # --- the cache ---

    @staticmethod
    def _cached(base: Path, commit: str, name: str) -> Path | None:
        folder = base / commit[:12] / name
        return folder if (folder.parent / COMPLETE).is_file() else None

    @staticmethod
    def _fill(
        base: Path,
        commit: str,
        name: str,
        make: Callable[[Path], None],
        day: dt.date | None = None,
    ) -> Path:
        """Make the folder of ``commit`` in a temporary place, then move it into the cache
        (two fetches of the same revision at once both end with one whole copy). The marker
        holds the commit and, when known, its day (see :func:`fetched_day`)."""
        final = base / commit[:12]
        partial = base / f".partial-{uuid.uuid4().hex[:8]}"
        partial.mkdir(parents=True)
        try:
            make(partial / name)
            (partial / COMPLETE).write_text(commit + "\n" + (f"{day}\n" if day else ""))
            try:
                partial.rename(final)
            except OSError:
                if not (final / COMPLETE).is_file():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return final / name


def fetched_day(folder: Path) -> tuple[str, dt.date] | None:
    """The commit and day of a Space fetched into the cache without git history (a Hub
    revision), from its cache marker; None for any other folder."""
    try:
        lines = (folder.parent / COMPLETE).read_text().split()
    except OSError:
        return None
    if len(lines) < 2:
        return None
    try:
        return lines[0], dt.date.fromisoformat(lines[1])
    except ValueError:
        return None


def _git(args: list[str], where: Path | None = None, *, network: bool = False) -> str:
    command = ["git", *(["-C", str(where)] if where is not None else []), *args]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600 if network else 60,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise SourceError(f"git {args[0]}: {_first_line(done.stderr) or done.returncode}")
    return done.stdout.strip()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_line(error: object) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]
