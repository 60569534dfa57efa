"""The ``Limits`` value: what a Space may use, in Spaces' terms."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from spacerunner.hardware import DEFAULT_FLAVOR, FLAVORS, GiB
from spacerunner.units import format_size, parse_size


@dataclass(frozen=True)
class Limits:
    memory: int | None = FLAVORS[DEFAULT_FLAVOR][1]
    """Bytes of RAM (the app and everything it starts)."""
    cpus: float | None = float(FLAVORS[DEFAULT_FLAVOR][0])
    disk: int | None = 50 * GiB
    """Bytes of ephemeral disk (its scratch space: HOME, TMPDIR, caches)."""
    pids: int | None = 4096
    """Processes and threads at once."""
    nofile: int | None = 16384
    """Open files per process."""

    def describe(self) -> str:
        parts = []
        if self.memory is not None:
            parts.append(f"memory {format_size(self.memory)}")
        if self.cpus is not None:
            parts.append(f"cpus {self.cpus:g}")
        if self.disk is not None:
            parts.append(f"disk {format_size(self.disk)}")
        if self.pids is not None:
            parts.append(f"pids {self.pids}")
        if self.nofile is not None:
            parts.append(f"open files {self.nofile}")
        return ", ".join(parts) or "none"

    def with_overrides(
        self,
        *,
        memory: str | None = None,
        cpus: str | None = None,
        disk: str | None = None,
        pids: str | None = None,
    ) -> Limits:
        """These limits with the user's flags applied ('16G', '2', '50G', 'none' to lift one)."""
        changes: dict[str, object] = {}
        for name, text, parse in (
            ("memory", memory, parse_size),
            ("disk", disk, parse_size),
            ("cpus", cpus, _float),
            ("pids", pids, _int),
        ):
            if text is None:
                continue
            if text.strip().lower() in ("none", "0", "off"):
                changes[name] = None
                continue
            value = parse(text)
            if value is None or value <= 0:
                raise ValueError(
                    f"--{name} {text!r}: expected e.g. "
                    + {"memory": "16G", "disk": "50G", "cpus": "2", "pids": "4096"}[name]
                )
            changes[name] = value
        return replace(self, **changes)  # type: ignore[arg-type]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


class LimitsMode(StrEnum):
    """How limits are applied."""

    AUTO = "auto"
    """cgroups and a size-capped disk where they work, watched where they do not."""
    WATCHDOG = "watchdog"
    """spacerunner only watches (for tests, and hosts where cgroups misbehave)."""


DEFAULT_LIMITS = Limits()
"""Spaces' free tier, cpu-basic: 2 vCPU, 16 GB RAM, 50 GB ephemeral disk."""

HARDWARE_PRESETS = FLAVORS


def limits_for(suggested_hardware: str | None, base: Limits = DEFAULT_LIMITS) -> Limits:
    """The limits of a Space: its ``suggested_hardware`` preset's CPU and RAM, else cpu-basic."""
    preset = HARDWARE_PRESETS.get(suggested_hardware or DEFAULT_FLAVOR)
    if preset is None:
        return base
    cpus, memory = preset
    return replace(base, cpus=float(cpus), memory=memory)


@dataclass(frozen=True)
class LimitSettings:
    """What the user asked for on the command line, applied to each Space's own preset."""

    enabled: bool = True
    memory: str | None = None
    cpus: str | None = None
    disk: str | None = None
    pids: str | None = None
    mode: LimitsMode = LimitsMode.AUTO
    persistent: bool = False
    """Give every Space persistent storage (otherwise only those with suggested_storage)."""

    def for_space(self, suggested_hardware: str | None) -> Limits | None:
        if not self.enabled:
            return None
        return limits_for(suggested_hardware).with_overrides(
            memory=self.memory, cpus=self.cpus, disk=self.disk, pids=self.pids
        )

    def validate(self) -> None:
        """Raise ValueError naming the flag when a value cannot be read."""
        self.for_space(None)
