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
