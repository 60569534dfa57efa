"""Reading a Space's own git work tree (its commit, its dates, whether files are as committed).

A folder counts only when it is a work tree of its own (``.git`` in it): a Space folder inside
another repository (this project's ``spaces/``) has no history of its own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_read(folder: Path, *args: str) -> str | None:
    """What ``git args`` prints in ``folder`` (stripped) when it is a work tree of its own and
    git answers; None otherwise (blocking)."""
    if not (folder / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
