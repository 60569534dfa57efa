"""What a Space's environment must hold, and the key it is cached under."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spacerunner import textfile
from spacerunner.config.model import Sdk, SpaceConfig
from spacerunner.envs.dates import AsOf, committed_day

ENV_FORMAT = 1
"""Bumped when the layout of a built environment changes: old ones are then rebuilt."""


class EnvMode(StrEnum):
    ISOLATED = "isolated"
    """Each Space gets its own environment from the cache (built on first use)."""
    CURRENT = "current"
    """Use spacerunner's own interpreter and packages, for fast iteration."""
    AUTO = "auto"
    """The current interpreter when it already satisfies everything, else isolated."""


def read_text(path: Path) -> str:
    """A requirements-style file as text (UTF-8, UTF-8 with BOM, or UTF-16), '' if absent."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return textfile.decode(data, errors="replace")


SDK_MODULES: dict[Sdk, tuple[str, ...]] = {
    Sdk.GRADIO: ("gradio",),
    Sdk.STREAMLIT: ("streamlit", "streamlit.web.bootstrap"),
}
"""What an app of each SDK imports before it answers: warmed at build time, preloaded."""


@dataclass(frozen=True)
class EnvSpec:
    python_version: str
    """What the header asks for."""
    sdk: Sdk
    sdk_version: str | None
    pre_requirements: str
    requirements: str
    packages: tuple[str, ...]
    """Debian packages from packages.txt (checked, not part of the Python environment)."""
    compat: bool = True
    """Apply the compatibility pins of old SDK versions (spacerunner.envs.compat)."""
    oauth: bool = False
    """``hf_oauth: true``: Spaces installs ``gradio[oauth]`` (authlib, itsdangerous)."""
    as_of: AsOf | None = None
    """Resolve as of that day (nothing uploaded later); None: as of today."""

    @property
    def companions(self) -> tuple[str, ...]:
        from spacerunner.envs.compat import companions

        return companions(self.sdk, self.sdk_version)

    @property
    def constraints(self) -> tuple[str, ...]:
        if not self.compat:
            return ()
        from spacerunner.envs.compat import constraints_for

        own = self.pre_requirements + "\n" + self.requirements
        return constraints_for(self.sdk, self.sdk_version, own)

    @property
    def sdk_requirement(self) -> str | None:
        if self.sdk not in (Sdk.GRADIO, Sdk.STREAMLIT):
            return None
        name = self.sdk.value
        if self.oauth and self.sdk is Sdk.GRADIO:
            name += "[oauth]"
        return f"{name}=={self.sdk_version}" if self.sdk_version else name

    @property
    def sdk_modules(self) -> tuple[str, ...]:
        """What an app of the SDK imports before it answers (warmed at build time)."""
        return SDK_MODULES.get(self.sdk, ())

    def key(self, interpreter: str) -> str:
        """Content address: changes when, and only when, an input changes."""
        data = {
            "format": ENV_FORMAT,
            "python": interpreter,
            "sdk": self.sdk_requirement,
            "pre": _normalize(self.pre_requirements),
            "req": _normalize(self.requirements),
            "constraints": list(self.constraints),
            "companions": list(self.companions),
            "platform": [sys.platform, platform.machine()],
        }
        if self.as_of is not None:
            data["as_of"] = self.as_of.exclude_newer
        raw = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:20]


def _normalize(text: str) -> list[str]:
    """Requirement lines without comments, blank lines and surrounding space."""
    lines = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            lines.append(line)
    return lines


def spec_for(config: SpaceConfig, as_of: dt.date | None = None) -> EnvSpec:
    """What ``config``'s environment holds, resolved as of ``as_of`` (``--as-of``), else as
    of its last commit's day when it is a git work tree as committed (spacerunner.envs.dates),
    else today (blocking: may run git)."""
    packages = tuple(p for p in _normalize(read_text(config.path / "packages.txt")))
    dated = AsOf(as_of, "--as-of") if as_of is not None else committed_day(config.path)
    return EnvSpec(
        python_version=config.python_version,
        sdk=config.sdk,
        sdk_version=config.sdk_version,
        pre_requirements=read_text(config.path / "pre-requirements.txt"),
        requirements=read_text(config.path / "requirements.txt"),
        packages=packages,
        oauth=config.oauth.enabled,
        as_of=dated,
    )


def environment_needed(
    config: SpaceConfig, mode: EnvMode, as_of: dt.date | None = None
) -> EnvSpec | None:
    """What to build for ``config`` in ``mode``; ``None`` when spacerunner's own interpreter
    runs the app (static and docker Spaces, ``current`` mode, ``auto`` when it suffices)."""
    if config.sdk not in (Sdk.GRADIO, Sdk.STREAMLIT) or mode is EnvMode.CURRENT:
        return None
    spec = spec_for(config, as_of)
    if mode is EnvMode.AUTO:
        from spacerunner.envs.satisfy import unmet

        if not unmet(spec):
            return None
    return spec
