"""spacerunner's defaults: the one place the command line, ``run`` and ``serve`` read them from."""

from __future__ import annotations

from dataclasses import dataclass

from spacerunner.backends.kind import BackendKind
from spacerunner.config.model import DEFAULT_APP_PORT
from spacerunner.envs.spec import EnvMode
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.sandbox import Isolation


@dataclass(frozen=True)
class Defaults:
    host: str = "127.0.0.1"
    """Where run and serve listen: this machine only."""
    run_port: int = DEFAULT_APP_PORT
    """``spacerunner run`` serves on the port Spaces apps use (7860)."""
    serve_port: int = 8000
    run_env_mode: EnvMode = EnvMode.AUTO
    """``run`` uses spacerunner's own Python when it already satisfies the Space (fast
    iteration); ``serve`` and ``build`` always build the Space's own environment."""
    serve_env_mode: EnvMode = EnvMode.ISOLATED
    backend: BackendKind = BackendKind.AUTO
    limits_mode: LimitsMode = LimitsMode.AUTO
    isolation: Isolation = Isolation.FULL
    """Every Space in namespaces of its own as an unprivileged uid, as Spaces does."""
    author: str = "local"
    """The owner part of ``SPACE_ID`` (``<author>/<name>``)."""
    idle_timeout: str = "30m"
    log_tail: int = 200
    """Lines of history ``logs`` and the logs API show."""


DEFAULTS = Defaults()
