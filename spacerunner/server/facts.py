"""What the gallery, the API and `spacerunner ps` say about a Space: one dict, one source."""

from __future__ import annotations

import re
import time
from collections import deque
from pathlib import Path
from typing import Any

from spacerunner.config.model import COLOR_HEX, DEFAULT_COLOR
from spacerunner.launch.plan import ProcessPlan
from spacerunner.limits.sandbox import host_layers
from spacerunner.supervisor.space import ManagedSpace
from spacerunner.urls import space_host, space_mount, space_page

_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s/:'\"()\[\]]+/)+")
"""The folders of an absolute path (what :func:`scrub_paths` leaves out)."""


def scrub_paths(text: str | None) -> str | None:
    """``text`` with the folders of absolute paths left out (``/srv/x/app.py`` -> ``app.py``):
    what anyone may read says nothing about the host's layout."""
    return _ABSOLUTE_PATH.sub("", text) if text else text


def space_facts(space: ManagedSpace, port: int, *, private: bool = False) -> dict[str, Any]:
    """The facts about ``space``; ``private`` (for admins) adds where it lives on the host and
    keeps the paths in its reasons."""
    config = space.config
    now = time.monotonic()
    instance = space.instance
    pid = instance.status().pid if instance is not None else None
    return {
        "name": space.name,
        "title": space.title,
        "emoji": (config.emoji if config else None) or "🚀",
        "sdk": config.sdk.value if config else None,
        "sdk_version": config.sdk_version if config else None,
        "short_description": config.short_description if config else None,
        "tags": list(config.tags) if config else [],
        "pinned": bool(config and config.pinned),
        "color_from": config.color_from if config else DEFAULT_COLOR,
        "color_to": config.color_to if config else DEFAULT_COLOR,
        "gradient": [
            COLOR_HEX[config.color_from if config else DEFAULT_COLOR],
            COLOR_HEX[config.color_to if config else DEFAULT_COLOR],
        ],
        "disable_embedding": bool(config and config.disable_embedding),
        "full_width": bool(config and config.full_width),
        "license": config.license if config else None,
        "state": space.state.value,
        "reason": space.reason if private else scrub_paths(space.reason),
        "last_exit": space.last_exit if private else scrub_paths(space.last_exit),
        "restarts": space.restarts,
        "revision": space.revision,
        "build": _build_facts(space, private),
        "pid": pid,
        "started_at": space.started_at,
        "ready_at": space.ready_at,
        "idle_seconds": round(space.idle_for(now), 1),
        "open_websockets": space.route.open_tunnels,
        "active_requests": space.route.active_requests,
        "usage": instance.usage() if instance is not None else None,
        "isolation": isolation_facts(space),
        "url": f"{space_mount(space.name)}/",
        "host_url": f"http://{space_host(space.name)}:{port}/",
        "page": space_page(space.name),
        **({"path": str(space.path)} if private else {}),
    }


def _build_facts(space: ManagedSpace, private: bool) -> dict[str, Any] | None:
    """The latest build (or update of the running revision): state, revision, error."""
    if space.build is None:
        return None
    facts = space.build.facts()
    if not private:
        facts["error"] = scrub_paths(facts["error"])
    return facts


def isolation_facts(space: ManagedSpace) -> dict[str, Any] | None:
    """How the running app is isolated, and each layer asked for that this host lacks."""
    instance = space.instance
    if instance is None or not isinstance(instance.plan, ProcessPlan):
        return None
    wanted = space.ctx.launcher.settings.isolation
    return {"mode": instance.plan.isolation.value, "missing": host_layers().missing(wanted)}


def gallery_order(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pinned Spaces first, then by title."""
    return sorted(facts, key=lambda f: (not f["pinned"], str(f["title"]).lower()))


def tail_file(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log file (empty when there is none yet)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read()
    except OSError:
        return []
    kept: deque[str] = deque(maxlen=max(lines, 0))
    for line in data.decode("utf-8", "replace").splitlines():
        kept.append(line)
    return list(kept)
