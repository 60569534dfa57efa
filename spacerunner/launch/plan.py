"""Launch plans: what a backend needs to start one Space, independent of the backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.config.model import Sdk
from spacerunner.limits.model import Limits
from spacerunner.limits.sandbox import Isolation


@dataclass(frozen=True)
class HttpProbe:
    """Readiness: the app answers an HTTP GET on ``path`` with any status below 500.

    Any answer counts (a 404 on ``/`` still means the server is up), so readiness does not depend
    on one SDK version's health endpoint.
    """

    path: str = "/"
    interval: float = 0.05
    """First pause between attempts in seconds; it grows by a fifth each time, to 0.25 s
    (a preloaded app answers in under a second: a slow probe would be most of its wake)."""

    def describe(self, port: int) -> str:
        return f"an HTTP answer on 127.0.0.1:{port}{self.path}"


@dataclass(frozen=True)
class ProcessPlan:
    """Run a command that serves HTTP on ``host:port``."""

    name: str
    sdk: Sdk
    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(repr=False)
    """Variables set on top of the backend's base environment; values may be secrets."""
    host: str
    port: int
    probe: HttpProbe
    startup_timeout: float
    mount: str = ""
    """URL prefix the proxy serves the app under ('' for the site root)."""
    strip_prefix: bool = False
    """Whether the proxy removes :attr:`mount` from paths before they reach the app."""
    secret_names: frozenset[str] = frozenset()
    limits: Limits | None = None
    """None: no limits at all."""
    data_dir: Path | None = None
    """Persistent storage that survives restarts (Spaces' /data), when the Space has it."""
    isolation: Isolation = Isolation.NONE
    host_ports: tuple[int, ...] = ()
    """Ports of the host's loopback the app may reach at the same port of its own (the
    server's, for its OpenID provider); none by default."""
    """How the app is kept apart from the machine and other Spaces (spacerunner.limits.sandbox);
    the plan's values (``port``, paths in ``env``) are those the app sees inside."""


@dataclass(frozen=True)
class BuildJob:
    """Run ``command`` to its end in the Space's sandbox, with its limits, on a copy of the
    Space folder ``cwd`` (never written); what the copy holds when it succeeds becomes
    ``output`` (a static Space's ``app_build_command``)."""

    name: str
    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(repr=False)
    output: Path
    tools: tuple[Path, ...]
    """Folders the command needs besides the system (its Node.js), shown read-only."""
    timeout: float
    limits: Limits | None = None
    isolation: Isolation = Isolation.NONE
    secret_names: frozenset[str] = frozenset()
    describe: str = ""
    """What runs it, for the build log (``Node.js 22.20.0 from ...``)."""
    host_ports: tuple[int, ...] = ()
    data_dir: Path | None = None


@dataclass(frozen=True)
class StaticPlan:
    """Serve files of ``root`` from spacerunner itself; ``index`` answers the mount's root.
    With ``build``, ``root`` is the build's output, made by the backend's ``prepare``."""

    name: str
    root: Path
    index: str
    mount: str = ""
    sdk: Sdk = Sdk.STATIC
    build: BuildJob | None = None


@dataclass(frozen=True)
class ContainerPlan:
    """Build an image and run it; the app serves HTTP on ``port`` inside the container.

    ``sdk: docker`` Spaces bring their Dockerfile (``dockerfile`` is ``None``: the one in
    ``context``); gradio and streamlit Spaces get one spacerunner writes, like Spaces' own, and a
    ``command`` that runs the app as a process plan would.
    """

    name: str
    sdk: Sdk
    context: Path
    dockerfile: str | None
    port: int
    env: Mapping[str, str] = field(repr=False)
    """Variables of the running container (never build arguments: they would stay in the
    image's history); values may be secrets."""
    command: tuple[str, ...] | None
    """``None``: the image's own CMD."""
    probe: HttpProbe
    startup_timeout: float
    mount: str = ""
    strip_prefix: bool = True
    secret_names: frozenset[str] = frozenset()
    limits: Limits | None = None
    persistent: bool = False
    """Give the container persistent storage at /data (a named volume that outlives it)."""
    sandbox: bool = False
    """Read-only root filesystem (only /tmp and /data writable)."""


LaunchPlan = ProcessPlan | StaticPlan | ContainerPlan
