"""One Space behind spacerunner's proxy: the path ``spacerunner run`` takes.

Order matters for the user: the proxy binds first (a port in use fails before any app starts),
the app starts, visitors see a "starting" page until the app answers, then the app itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.backends.base import Backend, Instance, Status
from spacerunner.backends.select import make_backend
from spacerunner.config.model import SpaceConfig
from spacerunner.envs import EnvBuilder, Environment, EnvMode, environment_needed
from spacerunner.envs.builder import Output
from spacerunner.launch.plan import LaunchPlan
from spacerunner.launch.sdks import build_plan, space_options
from spacerunner.limits import LimitSettings
from spacerunner.paths import cache_dir
from spacerunner.paths import log_dir as default_log_dir
from spacerunner.paths import state_dir as default_state_dir
from spacerunner.proxy.routes import Route, Router
from spacerunner.proxy.server import ProxyServer


@dataclass(frozen=True)
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    log_dir: Path = field(default_factory=default_log_dir)
    python: str = sys.executable
    author: str = "local"
    env_mode: EnvMode = EnvMode.AUTO
    builder: EnvBuilder | None = None
    limits: LimitSettings = field(default_factory=LimitSettings)
    state_dir: Path = field(default_factory=default_state_dir)
    """Where the ephemeral disk of a run and persistent data live."""
    backend: str = "auto"
    """'local' processes, 'docker' containers for every Space, or 'auto' (containers only for
    sdk: docker Spaces)."""


class SpaceRun:
    """Start, serve and stop one Space at the root of its own port."""

    def __init__(
        self, config: SpaceConfig, options: RunOptions | None = None, backend: Backend | None = None
    ) -> None:
        self.config = config
        self.options = options or RunOptions()
        self.backend = backend or make_backend(
            self.options.backend,
            self.options.log_dir,
            state_dir=self.options.state_dir,
            scratch_root=self.options.state_dir / "scratch",
            limits_mode=self.options.limits.mode,
        )
        self.router = Router()
        self.route = Route(
            name=config.name,
            down_reason=f"{config.title} is starting; this page reloads until it is ready.",
            response_headers=tuple((k.encode(), v.encode()) for k, v in config.custom_headers),
        )
        self.router.add(self.route)
        self.proxy = ProxyServer(self.router)
        self.plan: LaunchPlan | None = None
        self.instance: Instance | None = None

    @property
    def url(self) -> str:
        return self.proxy.url + "/"

    async def start(self, build_output: Output | None = None) -> Instance:
        """Bind the proxy, build or reuse the environment, then start the app (not waiting for
        it to be ready)."""
        await self.proxy.start(self.options.host, self.options.port)
        public = self.url.removeprefix("http://").rstrip("/")
        env = await self.environment(build_output)
        self.plan = build_plan(
            self.config,
            space_options(
                self.config,
                env=env,
                python=self.options.python,
                settings=self.options.limits,
                data_dir=self.options.state_dir / "data" / self.config.name,
                public_host=public,
                author=self.options.author,
                container=self.options.backend == "docker",
                variables=self.options.variables,
            ),
        )
        self.instance = await self.backend.start(self.plan)
        return self.instance

    async def environment(self, build_output: Output | None = None) -> Environment | None:
        """The Space's isolated environment (built if needed); ``None``: spacerunner's own."""
        options = self.options
        if options.backend == "docker":
            return None  # the image holds the environment
        spec = environment_needed(self.config, options.env_mode)
        if spec is None:
            return None
        builder = options.builder or EnvBuilder(cache_dir())
        return await builder.ensure(spec, build_output)

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
