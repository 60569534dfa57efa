"""Removing environments nobody used lately, and keeping the cache under a size cap."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from spacerunner.envs.builder import MARKER


@dataclass(frozen=True)
class CachedEnv:
    key: str
    path: Path
    last_used: float
    size: int
    python: str
    sdk: str | None


def folder_size(path: Path) -> int:
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:  # hard links (uv's cache) count once
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def cached(root: Path, *, sizes: bool = True) -> list[CachedEnv]:
    envs = []
    for path in sorted(root.glob("*")) if root.is_dir() else ():
        marker = path / MARKER
        if path.name.startswith(".") or not marker.is_file():
            continue
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError):
            data = {}
        envs.append(
            CachedEnv(
                path.name,
                path,
                marker.stat().st_mtime,
                folder_size(path) if sizes else 0,
                str(data.get("python", "?")),
                data.get("sdk"),
            )
        )
    return envs


def collect(
    root: Path, *, max_age: float, max_bytes: int | None, keep: frozenset[str] = frozenset()
) -> list[CachedEnv]:
    """Remove environments unused for ``max_age`` seconds, then the least recently used ones
    until the rest fit in ``max_bytes``; ``keep`` are never removed. Returns what was removed."""
    now = time.time()
    removed: list[CachedEnv] = []
    for leftover in root.glob(".tmp-*") if root.is_dir() else ():
        if now - leftover.stat().st_mtime > 3600:  # a build that was killed midway
            shutil.rmtree(leftover, ignore_errors=True)
    envs = sorted(cached(root), key=lambda e: e.last_used)
    for env in list(envs):
        if env.key not in keep and now - env.last_used > max_age:
            shutil.rmtree(env.path, ignore_errors=True)
            removed.append(env)
            envs.remove(env)
    if max_bytes is not None:
        total = sum(e.size for e in envs)
        for env in list(envs):
            if total <= max_bytes:
                break
            if env.key in keep:
                continue
            shutil.rmtree(env.path, ignore_errors=True)
            removed.append(env)
            total -= env.size
    return removed
