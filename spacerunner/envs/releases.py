"""When an SDK version was the newest: the window a Space that names it was most likely built
in, read from the package index's upload times (the Simple API in JSON, PEP 691 and PEP 700,
which PyPI and uv-compatible mirrors serve).

A Space with no history of its own (not a git work tree, not a Hub revision) says when it was
made only through what it declares: ``sdk_version: 4.26.0`` was built while 4.26.0 was Gradio's
newest release, that is before the next release came out.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from spacerunner.envs.dates import AsOf

DEFAULT_INDEX = "https://pypi.org/simple"
_JSON = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 10.0
"""Seconds to wait for the index (a first resolution waits on it)."""


def index_url(environ: Mapping[str, str] | None = None) -> str:
    """The package index builds use (uv's, else pip's setting, else PyPI)."""
    environ = os.environ if environ is None else environ
    for key in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if environ.get(key):
            return environ[key].rstrip("/")
    return DEFAULT_INDEX


def first_uploads(files: list[dict[str, object]]) -> dict[Version, dt.datetime]:
    """Each version's first upload, from a Simple API project page's ``files``."""
    found: dict[Version, dt.datetime] = {}
    for entry in files:
        name, stamp = str(entry.get("filename", "")), entry.get("upload-time")
        if not isinstance(stamp, str):
            continue
        try:
            if name.endswith(".whl"):
                version = parse_wheel_filename(name)[1]
            else:
                version = parse_sdist_filename(name)[1]
            when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
            continue
        if version not in found or when < found[version]:
            found[version] = when
    return found


def newest_window(uploads: Mapping[Version, dt.datetime], version: str) -> dt.date | None:
    """The last day ``version`` was the newest release: the day before the next final release
    came out (``None`` when it is still the newest, or unknown)."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        return None
    if wanted not in uploads:
        return None
    released = uploads[wanted]
    later = [
        when
        for v, when in uploads.items()
        if v > wanted and not v.is_prerelease and not v.is_devrelease and when > released
    ]
    if not later:
        return None
    return min(later).astimezone(dt.UTC).date() - dt.timedelta(days=1)


def sdk_window(package: str, version: str, index: str | None = None) -> AsOf | None:
    """The day to resolve a Space that names ``package==version`` and has no day of its own:
    the last day that version was the newest (blocking; ``None`` when the index cannot say)."""
    import httpx

    url = f"{index or index_url()}/{canonicalize_name(package)}/"
    try:
        answer = httpx.get(url, headers={"Accept": _JSON}, timeout=TIMEOUT, follow_redirects=True)
        answer.raise_for_status()
        files = answer.json().get("files", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    day = newest_window(first_uploads(files), version)
    if day is None:
        return None
    return AsOf(day, f"the last day {package} {version} was its newest release (sdk_version)")
