"""One Space behind spacerunner's proxy: the path ``spacerunner run`` takes.

Order matters for the user: the proxy binds first (a port in use fails before any app starts),
the app starts, visitors see a "starting" page until the app answers, then the app itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.backends.base import Backend, Instance, Status
from spacerunner.backends.select import make_backend
from spacerunner.config.model import SpaceConfig
from spacerunner.defaults import DEFAULTS
from spacerunner.envs.builder import Output
from spacerunner.launch.plan import LaunchPlan
from spacerunner.launcher import Launcher, Placement, SpaceSettings
from spacerunner.paths import log_dir as default_log_dir
from spacerunner.paths import state_dir as default_state_dir
from spacerunner.proxy.routes import Route, Router
from spacerunner.proxy.server import ProxyServer


@dataclass(frozen=True)
class RunOptions:
    host: str = DEFAULTS.host
    port: int = DEFAULTS.run_port
    log_dir: Path = field(default_factory=default_log_dir)
    state_dir: Path = field(default_factory=default_state_dir)
    """Where the ephemeral disk of a run and persistent data live."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names answered besides loopback and ``*.localhost`` (``--allowed-host``)."""
    space: SpaceSettings = field(
        default_factory=lambda: SpaceSettings(env_mode=DEFAULTS.run_env_mode)
    )


class SpaceRun:
    """Start, serve and stop one Space at the root of its own port."""

    def __init__(
        self, config: SpaceConfig, options: RunOptions | None = None, backend: Backend | None = None
    ) -> None:
        self.config = config
        self.options = options or RunOptions()
        settings = self.options.space
        self.launcher = Launcher(
            settings,
            backend
            or make_backend(
                settings.backend,
                self.options.log_dir,
                state_dir=self.options.state_dir,
                scratch_root=self.options.state_dir / "scratch",
                limits_mode=settings.limits.mode,
            ),
        )
        self.router = Router()
        self.route = Route(
            config.name,
            down_reason=f"{config.title} is starting; this page reloads until it is ready.",
        )
        self.router.add(self.route)
        self.proxy = ProxyServer(self.router, allowed_hosts=self.options.allowed_hosts)
        self.plan: LaunchPlan | None = None
        self.instance: Instance | None = None

    @property
    def backend(self) -> Backend:
        return self.launcher.backend

    @property
    def url(self) -> str:
        return self.proxy.url + "/"

    async def start(self, build_output: Output | None = None) -> Instance:
        """Bind the proxy, build or reuse the environment, then start the app (not waiting for
        it to be ready)."""
        await self.proxy.start(self.options.host, self.options.port)
        placement = Placement(
            public_host=self.url.removeprefix("http://").rstrip("/"),
            data_dir=self.options.state_dir / "data" / self.config.name,
        )
        launched = await self.launcher.launch(self.config, placement, echo=build_output)
        self.plan, self.instance = launched.plan, launched.instance
        self.route.apply(launched.plan, self.config)
        return launched.instance

    async def wait_ready(self, timeout: float | None = None) -> None:
        assert self.instance is not None, "start() first"
        try:
            await self.instance.wait_ready(timeout)
        except Exception as exc:
            self.route.down_reason = str(exc)
            self.route.retry = False
            raise
        self.route.endpoint = self.instance.endpoint

    async def wait(self) -> Status:
        assert self.instance is not None, "start() first"
        status = await self.instance.wait()
        self.route.endpoint = None
        self.route.retry = False
        self.route.down_reason = f"{self.config.title} {status.reason}."
        return status

    async def close(self, grace: float = 10.0) -> None:
        self.route.endpoint = None
        try:
            if self.instance is not None:
                await self.instance.stop(grace)
            await self.backend.close()
        finally:
            await self.proxy.close()
