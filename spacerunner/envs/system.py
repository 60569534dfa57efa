"""Debian packages a Space lists in packages.txt: which are missing, and how to install them."""

from __future__ import annotations

import shutil
import subprocess


def missing_packages(packages: tuple[str, ...]) -> list[str]:
    """The packages dpkg does not report as installed (all of them where there is no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return list(packages)
    missing = []
    for name in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", name],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0 or result.stdout.strip() != "installed":
            missing.append(name)
    return missing


def apt_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]
