"""Resource limits for apps: the values, and the mechanisms that enforce or watch them."""

from spacerunner.limits.model import (
    DEFAULT_LIMITS,
    HARDWARE_PRESETS,
    Limits,
    LimitSettings,
    limits_for,
)

__all__ = ["DEFAULT_LIMITS", "HARDWARE_PRESETS", "LimitSettings", "Limits", "limits_for"]
