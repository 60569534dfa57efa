"""Images built with BuildKit, as Spaces builds them. The docker SDK speaks only the engine's
legacy builder, which rejects Dockerfiles BuildKit accepts (``RUN --mount=type=secret``,
``COPY a.py b.json .``); the engine's own BuildKit is reached through a docker CLI that can
drive it: one with the buildx plugin, or a CLI from before 23.0 with ``DOCKER_BUILDKIT=1``
(newer CLIs refuse BuildKit without buildx)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO

FALLBACK_CLIS = ("/usr/bin/docker",)
"""Where distributions put their own docker CLI, tried after every ``docker`` on PATH (a newer
CLI first on PATH may lack buildx while the distribution's drives BuildKit)."""
_PROBE_TIMEOUT = 10.0
_BUILDX_FREE_BEFORE = 23
"""CLIs of this major version and later need the buildx plugin for BuildKit."""


@dataclass(frozen=True)
class BuildKitCli:
    """A docker CLI command that builds with BuildKit: ``command`` then the build's arguments,
    run with ``env`` over the environment."""

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    how: str = ""


def _candidates() -> list[str]:
    found: list[str] = []
    for folder in os.get_exec_path():
        path = Path(folder, "docker")
        if path.is_file() and os.access(path, os.X_OK):
            found.append(str(path))
    found += [p for p in FALLBACK_CLIS if Path(p).is_file()]
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def _output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def find_cli(candidates: Iterable[str] | None = None) -> BuildKitCli | None:
    """The first docker CLI (of ``candidates``, else PATH's then the distribution's) that can
    drive the engine's BuildKit; ``None`` when none can."""
    for docker in _candidates() if candidates is None else candidates:
        buildx = _output([docker, "buildx", "version"])
        if buildx is not None:
            version = buildx.split()[1] if len(buildx.split()) > 1 else "?"
            return BuildKitCli((docker, "buildx", "build"), how=f"{docker} buildx {version}")
        text = _output([docker, "--version"]) or ""
        match = re.search(r"version (\d+)\.(\S+?),?\s", text + " ")
        if match and int(match.group(1)) < _BUILDX_FREE_BEFORE:
            version = f"{match.group(1)}.{match.group(2)}"
            return BuildKitCli(
                (docker, "build"),
                MappingProxyType({"DOCKER_BUILDKIT": "1"}),
                f"{docker} {version} (DOCKER_BUILDKIT=1)",
            )
    return None


# --- a build and its progress ---

_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*)$")
_LINE = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TAIL = 12


@dataclass
class Progress:
    """BuildKit's plain progress read line by line: the steps by vertex, each one's last
    lines of output, and which step failed with what."""

    steps: dict[str, str] = field(default_factory=dict)
    output: defaultdict[str, deque[str]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=TAIL))
    )
    failed: str | None = None
    error: str = ""
    last: str = ""

    def read(self, line: str) -> None:
        line = _ANSI.sub("", line.rstrip())
        if not line.strip():
            return
        if match := _ERROR.match(line):
            self.failed, self.error = match.group(1), match.group(2)
        elif match := _STEP.match(line):
            self.steps.setdefault(match.group(1), match.group(2))
        elif match := _LINE.match(line):
            self.output[match.group(1)].append(match.group(2))
        elif not line.startswith(("#", "------", " > ")):
            self.last = line  # the CLI's own closing error

    @property
    def step(self) -> str:
        return self.steps.get(self.failed or "", "")

    @property
    def tail(self) -> list[str]:
        return list(self.output.get(self.failed or "", ()))

    @property
    def message(self) -> str:
        return self.last or self.error or "the build failed"


def build(
    cli: BuildKitCli,
    context: IO[bytes],
    emit: Callable[[bytes], None],
    *,
    tag: str,
    dockerfile: str,
    engine_url: str | None,
    network: str | None,
    labels: Mapping[str, str],
    secrets: Mapping[str, str],
    no_cache: bool = False,
) -> Progress | None:
    """Build the tar ``context`` into ``tag`` with BuildKit (blocking), its progress to
    ``emit``. ``secrets`` are offered as build secrets (``RUN --mount=type=secret,id=NAME``),
    never as arguments or layers. ``None`` on success, else what failed."""
    args = [*cli.command, "--progress", "plain", "-t", tag, "-f", dockerfile]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    if network is not None:
        args += ["--network", network]
    if no_cache:
        args.append("--no-cache")
    env = {**os.environ, **cli.env}
    if engine_url is not None:
        env["DOCKER_HOST"] = engine_url
    progress = Progress()
    folder = tempfile.mkdtemp(prefix="spacerunner-secrets-")  # 0700, removed below
    try:
        for name, value in secrets.items():
            path = Path(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(value)
            args += ["--secret", f"id={name},src={path}"]
        args.append("-")
        process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        assert process.stdin is not None and process.stdout is not None
        feeder = threading.Thread(target=_feed, args=(context, process.stdin), daemon=True)
        feeder.start()
        for raw in process.stdout:
            emit(raw)
            progress.read(raw.decode(errors="replace"))
        code = process.wait()
        feeder.join()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return None if code == 0 else progress


def _feed(source: IO[bytes], sink: IO[bytes]) -> None:
    # an OSError: the CLI stopped reading; it failed, and says why on its output
    with contextlib.suppress(OSError), sink:
        shutil.copyfileobj(source, sink)
