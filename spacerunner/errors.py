"""The one error tree of spacerunner.

Every error a user can cause or meet is a :class:`SpacerunnerError`. Messages name the file, the
field and the fix where there is one, so that the CLI can print them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a Space's files."""

    file: Path
    message: str
    field: str | None = None
    line: int | None = None
    fix: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = str(self.file) if self.line is None else f"{self.file}:{self.line}"
        head = f"{where}: {self.severity}"
        if self.field:
            head += f": {self.field}"
        text = f"{head}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


def _tail(lines: Iterable[str]) -> str:
    return "\n".join(f"  | {line}" for line in lines) or "  | (the app printed nothing)"


class SpacerunnerError(Exception):
    """Base of every error spacerunner raises on purpose."""


_CAUSE = re.compile(r"^(?:[\w.]+(?:Error|Exception|Exit|Interrupt)\b|(?:error|fatal)\b)", re.I)
"""A line that names a cause: a traceback's final line (``ModuleNotFoundError: ...``), an
installer's ``error: ...``."""


def cause(lines: Iterable[str]) -> str | None:
    """The line of ``lines`` (an app's or installer's last output) that names the cause: the
    last traceback final line or ``error:`` line, without log decorations; None if none does."""
    cleaned = [line.strip().lstrip("|×╰─▶│ ").strip() for line in lines]
    kept = [line for line in cleaned if line and not line.startswith("[spacerunner]")]
    return next((line for line in reversed(kept) if _CAUSE.match(line)), None)


def summary(error: BaseException) -> str:
    """Why, in one line (states, ``ps``, the 503 page): the message's first line, and when it
    ends by introducing the lines below it (an app's last lines, an installer's output), the
    line among them that names the cause (else the last one) in place of that introduction."""
    lines = str(error).splitlines()
    head = lines[0].strip() if lines else type(error).__name__
    below = [line.strip().lstrip("|×╰─▶│ ").strip() for line in lines[1:]]
    below = [line for line in below if line and not line.startswith("[spacerunner]")]
    if not head.endswith(":") or not below:
        return head
    introduced = head[:-1].rsplit(". ", 1)[0] if ". " in head else head[:-1]
    return f"{introduced}: {cause(below) or below[-1]}"[:500]


class ConfigError(SpacerunnerError):
    """A Space's files cannot be read into a valid configuration."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(SpacerunnerError):
    """A Space's repository (git URL or Hub id) cannot be fetched, nor found in the cache."""


class EnvFileError(SpacerunnerError):
    """A variables/secrets file given with --env-file cannot be used."""


class LaunchError(SpacerunnerError):
    """A valid Space that spacerunner cannot launch the way it was asked to."""


class EnvBuildError(SpacerunnerError):
    """A Space's Python environment cannot be built or chosen."""


class BackendError(SpacerunnerError):
    """A backend failed to start, watch or stop an app."""


class PortInUseError(SpacerunnerError):
    """The address spacerunner was asked to listen on is taken."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"{host}:{port} is already in use by another program. "
            f"Fix: stop that program or pass another port, e.g. --port {port + 1}."
        )


class AppExitedError(BackendError):
    """The app's process ended while spacerunner expected it to run."""

    def __init__(
        self, name: str, returncode: int | None, reason: str, last_lines: Iterable[str]
    ) -> None:
        self.name = name
        self.returncode = returncode
        self.reason = reason
        self.last_lines = tuple(last_lines)
        tail = _tail(self.last_lines)
        super().__init__(f"{name}: {reason}. Last lines of its log:\n{tail}")


class StartupTimeoutError(BackendError):
    """The app did not answer its readiness probe within the startup timeout."""

    def __init__(self, name: str, timeout: float, probe: str, last_lines: Iterable[str]) -> None:
        self.name = name
        self.timeout = timeout
        self.last_lines = tuple(last_lines)
        tail = _tail(self.last_lines)
        super().__init__(
            f"{name}: not ready after {timeout:g}s (waited for {probe}). "
            "Fix: check that the app listens on the port spacerunner gives it "
            "(GRADIO_SERVER_PORT / PORT), or raise startup_duration_timeout in the README header. "
            f"Last lines of its log:\n{tail}"
        )


class TemplateError(SpacerunnerError):
    """A template cannot be found or read, or a new Space cannot be made from it."""


class ModelError(TemplateError):
    """A model a demo is built from cannot be read, or its task cannot be told."""


class AccountError(SpacerunnerError):
    """A user, group, token or access setting of a team server cannot be used as given."""
