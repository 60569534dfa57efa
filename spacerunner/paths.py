"""Where spacerunner keeps its own files (logs, state), following the XDG base directories."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """``$SPACERUNNER_STATE_DIR``, else ``$XDG_STATE_HOME/spacerunner`` (~/.local/state)."""
    if explicit := os.environ.get("SPACERUNNER_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "spacerunner"


def log_dir() -> Path:
    return state_dir() / "logs"


def cache_dir() -> Path:
    """``$SPACERUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/spacerunner`` (~/.cache)."""
    if explicit := os.environ.get("SPACERUNNER_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spacerunner"
