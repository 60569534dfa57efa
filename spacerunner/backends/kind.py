"""Which backend runs Spaces (a small module of its own, so that reading it loads no backend)."""

from __future__ import annotations

from enum import StrEnum


class BackendKind(StrEnum):
    AUTO = "auto"
    """Local processes, and a Docker engine for the Spaces that need a container."""
    LOCAL = "local"
    DOCKER = "docker"
    """Every Space in a container."""
