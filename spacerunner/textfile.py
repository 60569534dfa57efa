"""Text files of a Space as Spaces reads them: UTF-8 (with or without a BOM) or UTF-16 (with a
BOM). The one place README, requirements and other text files are decoded."""

from __future__ import annotations

import codecs


def decode(data: bytes, *, errors: str = "strict") -> str:
    """``data`` as text; raises :class:`UnicodeDecodeError` (with ``errors='strict'``) when it
    is neither encoding."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors)
    return data.decode("utf-8-sig", errors)
