"""Static Spaces: mapping a URL path to a file inside the Space folder, and never outside it."""

from __future__ import annotations

import mimetypes
import os
import posixpath
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

from spacerunner.backends.base import StaticSite

_TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
mimetypes.add_type("application/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/markdown", ".md")


@dataclass(frozen=True)
class StaticFile:
    path: Path
    size: int
    content_type: str
    etag: str
    last_modified: str
    mtime: float


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str


Resolution = StaticFile | Redirect | Refused


def content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    kind = guessed or "application/octet-stream"
    if kind.startswith(_TEXT_TYPES) and "charset" not in kind:
        kind += "; charset=utf-8"
    return kind


def resolve(site: StaticSite, path: bytes) -> Resolution:
    """The file for URL ``path`` (already relative to the Space's mount, query removed)."""
    raw = unquote_to_bytes(path)
    if b"\x00" in raw or b"\\" in raw:
        return Refused(400, "The path has characters no file name here can have.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refused(400, "The path is not valid UTF-8.")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        return Refused(403, "Paths that climb out of the Space ('..') are refused.")
    if any(part.startswith(".") for part in parts):
        return Refused(404, "Hidden files are not served.")
    root = site.root.resolve()
    candidate = root.joinpath(*parts) if parts else root / site.index
    if parts and candidate.is_dir():
        if not text.endswith("/"):
            return Redirect(posixpath.basename(text.rstrip("/")) + "/")
        candidate = candidate / "index.html"
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return Refused(404, f"No file {'/'.join(parts) or site.index} in this Space.")
    if not real.is_relative_to(root):
        return Refused(404, "That file is outside the Space folder.")
    try:
        stat = real.stat()
    except OSError:
        return Refused(404, "The file cannot be read.")
    if not os.access(real, os.R_OK) or not real.is_file():
        return Refused(404, "The file cannot be read.")
    return StaticFile(
        path=real,
        size=stat.st_size,
        content_type=content_type(real),
        etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"',
        last_modified=formatdate(stat.st_mtime, usegmt=True),
        mtime=stat.st_mtime,
    )


def not_modified(
    found: StaticFile, if_none_match: bytes | None, if_modified_since: bytes | None
) -> bool:
    """Whether the client's cached copy is current (RFC 9110 conditional GET)."""
    if if_none_match is not None:
        tags = {t.strip() for t in if_none_match.decode("latin-1").split(",")}
        return "*" in tags or found.etag in tags or f"W/{found.etag}" in tags
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
        except (TypeError, ValueError):
            return False
        return int(found.mtime) <= since
    return False
