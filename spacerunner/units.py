"""Human sizes: '16G', '512M', '50GB', '1.5T' -> bytes."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def parse_size(text: str) -> int | None:
    """Bytes from a size with an optional unit (binary multiples); ``None`` if unreadable."""
    match = _SIZE.match(text)
    if match is None:
        return None
    amount, unit = match.groups()
    return int(float(amount) * _FACTORS[unit.lower()])


def format_size(size: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``0.35s``, ``5.4s``, ``2m 03s``, ``1h 02m``: as long as it needs to be, no longer."""
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
