"""Finding Spaces in folders and giving each a name usable in a URL and a host name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from spacerunner.config.header import README

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Found:
    name: str
    path: Path
    problem: str | None = None
    """Why this folder cannot be served under its name, if it cannot."""


def is_label(name: str) -> bool:
    """Whether ``name`` can be a DNS label: the host name ``<name>.localhost``."""
    return bool(_LABEL.match(name))


def url_name(folder: str) -> str:
    """A folder's name as a DNS label: lower case, other characters turned into '-'."""
    return re.sub(r"[^a-z0-9-]+", "-", folder.lower()).strip("-")[:63].strip("-")


def has_readme(path: Path) -> bool:
    return os.path.lexists(path / README)


def is_space(path: Path) -> bool:
    readme = path / README
    if not readme.is_file():
        return False
    try:
        with readme.open("rb") as handle:
            start = handle.read(64)
    except OSError:
        return False
    text = start.lstrip(b"\xef\xbb\xbf")
    return text.startswith(b"---") or text[:2] in (b"\xff\xfe", b"\xfe\xff")


def discover(dirs: list[Path]) -> list[Found]:
    """Every Space in ``dirs``: a folder that is a Space itself, or the Space folders inside it."""
    found: list[Found] = []
    taken: dict[str, Path] = {}
    for root in dirs:
        candidates = (
            [root]
            if is_space(root)
            else sorted(
                p
                for p in (root.iterdir() if root.is_dir() else ())
                # any README.md, even one that is not a regular file: the reader says what
                # is wrong with it, and the folder is listed with that reason
                if p.is_dir() and not p.name.startswith((".", "_")) and has_readme(p)
            )
        )
        for path in candidates:
            path = path.absolute()
            name = url_name(path.name)
            problem = None
            if not name or not is_label(name):
                name = name or "space"
                problem = (
                    f"the folder name {path.name!r} cannot be used in a URL. "
                    "Fix: rename it with letters, digits and '-'."
                )
            if name in taken and taken[name] != path:
                problem = (
                    f"the name {name!r} is already used by {taken[name]}. "
                    "Fix: rename one of the two folders."
                )
                suffix = 2
                while f"{name}-{suffix}" in taken:
                    suffix += 1
                name = f"{name}-{suffix}"
            taken[name] = path
            found.append(Found(name, path, problem))
    return found
