"""Spaces' hardware flavours (``suggested_hardware``) and the CPU and RAM each gives: the one
table the header check and the resource limits both read."""

from __future__ import annotations

GiB = 2**30

FLAVORS: dict[str, tuple[float, int]] = {
    # flavor: (vCPU, RAM) as Spaces lists them; GPUs are not emulated, only their CPU and RAM
    "cpu-basic": (2, 16 * GiB),
    "cpu-upgrade": (8, 32 * GiB),
    "t4-small": (4, 15 * GiB),
    "t4-medium": (8, 30 * GiB),
    "l4x1": (8, 30 * GiB),
    "l4x4": (48, 186 * GiB),
    "l40sx1": (8, 62 * GiB),
    "l40sx4": (48, 382 * GiB),
    "l40sx8": (192, 1534 * GiB),
    "a10g-small": (4, 15 * GiB),
    "a10g-large": (12, 46 * GiB),
    "a10g-largex2": (24, 92 * GiB),
    "a10g-largex4": (48, 184 * GiB),
    "a100-large": (12, 142 * GiB),
    "h100": (23, 240 * GiB),
    "h100x8": (184, 1920 * GiB),
    "v5e-1x1": (22, 44 * GiB),
    "v5e-2x2": (110, 186 * GiB),
    "v5e-2x4": (220, 380 * GiB),
}
DEFAULT_FLAVOR = "cpu-basic"
"""Spaces' free tier: what a Space without ``suggested_hardware`` gets."""
