"""Finding installed Python interpreters, and picking one for a Space's ``python_version``."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from spacerunner.errors import EnvBuildError

_VERSION_DIR = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class Interpreter:
    version: tuple[int, int, int]
    path: str

    @property
    def dotted(self) -> str:
        return ".".join(map(str, self.version))


@functools.cache
def installed(uv: str | None = None) -> tuple[Interpreter, ...]:
    """Every CPython 3 found: uv's list, pyenv's versions, and this interpreter."""
    found: dict[tuple[int, int, int], Interpreter] = {}

    def add(version: tuple[int, int, int], path: str) -> None:
        if version[0] == 3 and version not in found and os.access(path, os.X_OK):
            found[version] = Interpreter(version, path)

    add(tuple(sys.version_info[:3]), sys.executable)  # type: ignore[arg-type]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for child in sorted(pyenv.glob("*")) if pyenv.is_dir() else ():
        match = _VERSION_DIR.match(child.name)
        if match:
            major, minor, micro = map(int, match.groups())
            add((major, minor, micro), str(child / "bin" / f"python{major}.{minor}"))
    if uv:
        try:
            out = subprocess.run(
                [
                    uv,
                    "python",
                    "list",
                    "--only-installed",
                    "--no-python-downloads",
                    "--output-format",
                    "json",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
            for item in json.loads(out):
                if item.get("implementation") == "cpython" and "shims" not in item["path"]:
                    v = item["version_parts"]
                    add((v["major"], v["minor"], v["patch"]), item["path"])
        except (OSError, subprocess.SubprocessError, ValueError, KeyError):
            pass
    for minor in range(6, 16):
        path = shutil.which(f"python3.{minor}")
        if (
            path
            and "shims" not in path
            and not any(i.version[:2] == (3, minor) for i in found.values())
        ):
            try:
                out = subprocess.run(
                    [path, "-c", "import sys; print(*sys.version_info[:3])"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout.split()
                add((int(out[0]), int(out[1]), int(out[2])), path)
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                continue
    return tuple(sorted(found.values()))


@dataclass(frozen=True)
class Choice:
    interpreter: Interpreter
    exact: bool
    """Whether it matches the requested version (major.minor, and micro when one was given)."""
    note: str | None = None


def choose(requested: str, *, strict: bool = False, uv: str | None = None) -> Choice:
    """The interpreter for ``python_version`` ``requested`` ('3.10' or '3.10.7')."""
    parts = tuple(int(p) for p in requested.split("."))
    available = installed(None)  # cheap: this interpreter, pyenv's versions, PATH
    if not any(i.version[:2] == parts[:2] for i in available) and uv:
        available = installed(uv)  # ask uv too (slower)
    if not available:  # pragma: no cover - this interpreter is always there
        raise EnvBuildError("no Python 3 interpreter found")
    names = ", ".join(i.dotted for i in available)
    same_minor = [i for i in available if i.version[:2] == parts[:2]]
    if same_minor:
        exact = [i for i in same_minor if len(parts) < 3 or i.version == parts]
        if exact:
            return Choice(exact[-1], True)
        best = same_minor[-1]
        return Choice(
            best,
            True,
            f"python_version {requested} is not installed; using "
            f"{best.dotted}, the same minor version",
        )
    if strict:
        raise EnvBuildError(
            f"python_version {requested} is not installed here (found: {names}). "
            "Fix: install it (e.g. 'uv python install' where downloads work, pyenv, or apt), "
            "or allow the nearest version (drop --strict-python)."
        )
    nearest = min(available, key=lambda i: (abs(i.version[1] - parts[1]), -i.version[1]))
    return Choice(
        nearest,
        False,
        f"python_version {requested} is not installed (found: "
        f"{names}); using the nearest, {nearest.dotted}",
    )
