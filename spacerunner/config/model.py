"""Typed, frozen values for a Space's configuration (the README.md YAML header).

The fields follow the Hugging Face Spaces configuration reference; names are snake_case here and
the header's own spelling (``colorFrom``, ``fullWidth``) is kept in :data:`HEADER_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from spacerunner.errors import Problem
from spacerunner.hardware import FLAVORS


class Sdk(StrEnum):
    GRADIO = "gradio"
    STREAMLIT = "streamlit"
    STATIC = "static"
    DOCKER = "docker"


COLOR_HEX: dict[str, str] = {
    "red": "#f87171",
    "yellow": "#facc15",
    "green": "#4ade80",
    "blue": "#60a5fa",
    "indigo": "#818cf8",
    "purple": "#c084fc",
    "pink": "#f472b6",
    "gray": "#9ca3af",
}
"""The thumbnail gradient colours Spaces accepts for ``colorFrom`` / ``colorTo``, and how the
gallery draws each."""
COLORS: tuple[str, ...] = tuple(COLOR_HEX)

DEFAULT_COLOR = "gray"

HARDWARE: tuple[str, ...] = tuple(FLAVORS)
"""The ``suggested_hardware`` values Spaces accepts."""
STORAGE: tuple[str, ...] = ("small", "medium", "large")
HEADER_STYLES: tuple[str, ...] = ("default", "mini")
ALLOWED_CUSTOM_HEADERS: tuple[str, ...] = (
    "cross-origin-embedder-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
)

DEFAULT_PYTHON_VERSION = "3.10"
DEFAULT_APP_PORT = 7860
DEFAULT_NODEJS_VERSION = "22"
"""The Node.js a static build runs with when the header names none (the current LTS)."""
DEFAULT_STARTUP_TIMEOUT = 30 * 60.0
DEFAULT_OAUTH_EXPIRATION_MINUTES = 480


def default_app_file(sdk: Sdk) -> str | None:
    """The ``app_file`` Spaces assumes when the header names none."""
    if sdk is Sdk.STATIC:
        return "index.html"
    if sdk is Sdk.DOCKER:
        return None
    return "app.py"


@dataclass(frozen=True)
class OAuth:
    """``hf_oauth`` and its companions."""

    enabled: bool = False
    scopes: tuple[str, ...] = ()
    expiration_minutes: int = DEFAULT_OAUTH_EXPIRATION_MINUTES
    authorized_orgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the README header of one Space says, with Spaces' defaults filled in."""

    path: Path
    """The Space folder (absolute)."""
    readme: Path
    sdk: Sdk
    title: str
    emoji: str | None = None
    color_from: str = DEFAULT_COLOR
    color_to: str = DEFAULT_COLOR
    sdk_version: str | None = None
    python_version: str = DEFAULT_PYTHON_VERSION
    app_file: str | None = None
    """Relative to :attr:`path`, with ``/`` separators; ``None`` only for docker Spaces."""
    app_port: int = DEFAULT_APP_PORT
    app_build_command: str | None = None
    """Static Spaces: the command that makes the files to serve (``npm run build``); ``app_file``
    is then a file of its output."""
    nodejs_version: str | None = None
    """The Node.js major version ``app_build_command`` runs with (DEFAULT_NODEJS_VERSION)."""
    base_path: str = "/"
    full_width: bool = True
    """``fullWidth``: rendered full width (the reference's default now) or in a column."""
    header: str = "default"
    short_description: str | None = None
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    thumbnail: str | None = None
    pinned: bool = False
    license: str | None = None
    startup_duration_timeout: float = DEFAULT_STARTUP_TIMEOUT
    """Seconds."""
    custom_headers: tuple[tuple[str, str], ...] = ()
    disable_embedding: bool = False
    preload_from_hub: tuple[str, ...] = ()
    suggested_hardware: str | None = None
    suggested_storage: str | None = None
    oauth: OAuth = field(default_factory=OAuth)
    duplicated_from: str | None = None
    sleep_time: int | None = None
    """Seconds of inactivity before the Space sleeps, when the header sets it."""
    extra: tuple[tuple[str, object], ...] = ()
    """Header keys spacerunner does not know, kept as they were."""
    warnings: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        """The Space's name: its folder's name."""
        return self.path.name

    @property
    def app_path(self) -> Path | None:
        return None if self.app_file is None else self.path / self.app_file
