"""Which revision of a Space's files is there: a fingerprint of the files (what tells an update
with something new from a second notice of the same one) and the git commit, when there is one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from spacerunner.worktree import git_read

IGNORED_DIRS = frozenset(
    {"__pycache__", ".git", "flagged", ".gradio", ".streamlit-cache", "node_modules"}
)
"""Folders of a Space whose changes are the app's own doing, not a new revision (hidden folders
are left out too)."""


def ignored(rel: Path) -> bool:
    """Whether a path inside a Space (relative to it) is in a folder :data:`IGNORED_DIRS` or
    hidden folders leave out."""
    return any(part in IGNORED_DIRS or part.startswith(".") for part in rel.parts[:-1])


def fingerprint(folder: Path) -> str:
    """A digest of the names, sizes and modification times of the Space's files (blocking)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            rel = os.path.relpath(path, folder)
            digest.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def git_revision(folder: Path) -> str | None:
    """The commit checked out in ``folder`` when it is a git work tree of its own (blocking)."""
    return git_read(folder, "rev-parse", "--short=12", "HEAD") or None
