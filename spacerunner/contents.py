"""What a folder holds, as the builds made from it see it: its files in a stable order and a
digest of their names, modes and bytes (an image or a built site is reused while it matches)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def files(folder: Path, skip: Iterable[str]) -> list[Path]:
    """Every file under ``folder`` (symlinks as themselves), sorted, leaving out folders named
    in ``skip``."""
    left_out = frozenset(skip)
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in left_out)
        found += [Path(root, name) for name in sorted(names)]
    return found


def content_digest(folder: Path, skip: Iterable[str], *extra: str) -> str:
    """A digest of ``extra`` then every file's path, mode and content (a link's target)."""
    digest = hashlib.sha256()
    for text in extra:
        digest.update(text.encode() + b"\0")
    for path in files(folder, skip):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(f"{path.lstat().st_mode & 0o777:o}\0".encode())
        digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
    return digest.hexdigest()
