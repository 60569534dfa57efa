"""Built static sites: what a static Space's ``app_build_command`` leaves, kept per content.

A site lives at ``<cache>/sites/<name>-<digest>/``, the digest taken over the Space's files, the
command and the Node.js it runs with, so an unchanged Space is never rebuilt and a changed one
gets a folder of its own while the running one keeps serving its own. It is complete once its
marker is there (copied beside it and renamed into place); the two newest of a Space are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from spacerunner.config.model import SpaceConfig
from spacerunner.contents import content_digest
from spacerunner.envs.node import NodeTools

MARKER = ".spacerunner-site.json"
SKIP = frozenset({".git", "node_modules"})
"""Folders never part of a site: the history, and what ``npm install`` fetched."""
KEEP = 2
"""Built sites kept per Space: the newest, and the one a running older revision serves."""
BUILD_TIMEOUT = 30 * 60.0
"""Seconds a build may run before it is stopped."""


@dataclass(frozen=True)
class SiteBuild:
    """What a static Space's build needs besides its header: where its output goes and the
    Node.js it runs with."""

    output: Path
    node: NodeTools


def site_folder(cache: Path, config: SpaceConfig, node_version: str) -> Path:
    """Where the site of ``config`` as its files are now is (or will be) built (blocking)."""
    command = config.app_build_command or ""
    digest = content_digest(config.path, SKIP, command, node_version)
    return cache / "sites" / f"{config.name}-{digest[:16]}"


def is_built(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def keep(work: Path, folder: Path, facts: dict[str, object]) -> None:
    """Make ``folder`` a copy of what the build left in ``work`` (blocking), then drop the
    Space's older sites beyond :data:`KEEP`."""
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copytree(work, staging, symlinks=True, ignore=shutil.ignore_patterns(*SKIP))
        (staging / MARKER).write_text(json.dumps(facts))
        if folder.exists():  # built meanwhile by another: theirs is as good
            return
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(folder)


def _prune(newest: Path) -> None:
    name = newest.name.rsplit("-", 1)[0]
    built = [p for p in newest.parent.iterdir() if p.name.rsplit("-", 1)[0] == name and is_built(p)]
    built.sort(key=lambda p: (p == newest, (p / MARKER).stat().st_mtime), reverse=True)
    for old in built[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
