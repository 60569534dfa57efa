"""The one launch path of ``run`` and ``serve``: environment, launch plan, backend start.

:class:`SpaceSettings` is what every launch of a Space is made with (the same for ``run`` and
for each Space of ``serve``); :class:`Placement` is where one launch is served. A caller asks
:meth:`Launcher.prepare` for the plan (building what is missing) and :meth:`Launcher.start`s
it (``serve`` builds ahead and starts later; ``run`` asks :meth:`Launcher.launch` for both);
the plan is the source of every routing fact (see :meth:`spacerunner.proxy.routes.Route.apply`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.backends.base import Backend, Instance
from spacerunner.backends.kind import BackendKind
from spacerunner.backends.logs import LogKind
from spacerunner.config.model import DEFAULT_NODEJS_VERSION, Sdk, SpaceConfig
from spacerunner.defaults import DEFAULTS
from spacerunner.envs import EnvBuilder, Environment, EnvMode, environment_needed
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.envs.node import ensure_node
from spacerunner.envs.sites import SiteBuild, site_folder
from spacerunner.errors import SpacerunnerError
from spacerunner.launch.plan import LaunchPlan
from spacerunner.launch.sdks import build_plan, space_options
from spacerunner.limits import LimitSettings
from spacerunner.limits.sandbox import Isolation, host_layers
from spacerunner.paths import cache_dir


@dataclass(frozen=True)
class SpaceSettings:
    """What every Space is launched with."""

    python: str = sys.executable
    """The interpreter when the Space has no environment of its own."""
    author: str = DEFAULTS.author
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Variables and secrets for the app (``--env-file``); values are never printed."""
    env_mode: EnvMode = DEFAULTS.serve_env_mode
    as_of: dt.date | None = None
    """Resolve every Space's requirements as of this day (``--as-of``; else each Space's
    own: see spacerunner.envs.dates)."""
    builder: EnvBuilder | None = None
    """Builds isolated environments (one on the default cache when not given)."""
    limits: LimitSettings = field(default_factory=LimitSettings)
    backend: BackendKind = DEFAULTS.backend
    isolation: Isolation = DEFAULTS.isolation
    """How far each app is kept from the machine and other Spaces (local processes)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "isolation", Isolation(self.isolation))
        object.__setattr__(self, "backend", BackendKind(self.backend))
        object.__setattr__(self, "env_mode", EnvMode(self.env_mode))

    @property
    def container(self) -> bool:
        """Every Space runs in a container (else only ``sdk: docker`` ones do)."""
        return self.backend is BackendKind.DOCKER


@dataclass(frozen=True)
class Placement:
    """Where one launch of a Space is served."""

    public_host: str
    """Host (and port) people reach it at: ``SPACE_HOST``."""
    mount: str = ""
    """The URL prefix it is served under ('' for the site root)."""
    data_dir: Path | None = None
    """Its persistent storage, given when the Space asks for some or the user gives all."""
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The Space's own variables and secrets, over the settings' server-wide ones."""
    host_ports: tuple[int, ...] = ()
    """Ports of the host's loopback the app may reach (the server's, for hf_oauth)."""


@dataclass(frozen=True)
class Launched:
    plan: LaunchPlan
    instance: Instance


class Launcher:
    def __init__(self, settings: SpaceSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.builder = settings.builder or EnvBuilder(cache_dir())

    async def environment(
        self, config: SpaceConfig, output: Output | None = None, slot: BuildSlot | None = None
    ) -> Environment | None:
        """The Space's own environment, built when missing (output to ``output``, inside
        ``slot()``); ``None`` when spacerunner's interpreter runs it, or an image holds it."""
        if self.settings.container:
            return None
        spec = await asyncio.to_thread(
            environment_needed, config, self.settings.env_mode, self.settings.as_of
        )
        if spec is None:
            return None
        return await self.builder.ensure(spec, output, slot)

    async def site(self, config: SpaceConfig, output: Output | None = None) -> SiteBuild | None:
        """What a static Space's build needs (``app_build_command``): its Node.js, fetched
        when missing, and the output folder its files make; ``None`` for other Spaces."""
        if config.sdk is not Sdk.STATIC or not config.app_build_command:
            return None
        wanted = config.nodejs_version or DEFAULT_NODEJS_VERSION
        cache = self.builder.root.parent
        node = await asyncio.to_thread(ensure_node, wanted, cache, output or _discard)
        folder = await asyncio.to_thread(site_folder, cache, config, node.version)
        return SiteBuild(folder, node)

    def plan(
        self,
        config: SpaceConfig,
        env: Environment | None,
        placement: Placement,
        site: SiteBuild | None = None,
    ) -> LaunchPlan:
        settings = self.settings
        return build_plan(
            config,
            space_options(
                config,
                env=env,
                python=settings.python,
                settings=settings.limits,
                data_dir=placement.data_dir,
                isolation=self.isolation(),
                mount=placement.mount,
                public_host=placement.public_host,
                author=settings.author,
                variables={**settings.variables, **placement.variables},
                container=settings.container,
                host_ports=placement.host_ports,
                site=site,
            ),
        )

    def isolation(self) -> Isolation:
        """The isolation apps get: what the settings ask for, as far as this host can (the
        backend's log says which layer is missing). Containers keep the engine's own, and
        ``offline`` there makes the container's root read-only, as ``--sandbox`` did."""
        wanted = self.settings.isolation
        if self.settings.container:
            return wanted
        return host_layers().effective(wanted)

    async def prepare(
        self,
        config: SpaceConfig,
        placement: Placement,
        output: Output | None = None,
        slot: BuildSlot | None = None,
    ) -> LaunchPlan:
        """Everything before a start: the environment and what the backend makes ahead (an
        image), built when missing (output to ``output``, each build inside ``slot()``), and
        the plan. Cheap when all is built. Raises :class:`EnvBuildError`,
        :class:`LaunchError`, :class:`BackendError` (and :class:`OSError` from the disk)."""
        env = await self.environment(config, output, slot)
        site = await self.site(config, output)
        plan = self.plan(config, env, placement, site)
        await self.backend.prepare(plan, output or _discard, slot)
        return plan

    async def start(self, plan: LaunchPlan) -> Instance:
        """Start a prepared plan (not waiting for it to be ready)."""
        return await self.backend.start(plan)

    async def launch(
        self, config: SpaceConfig, placement: Placement, *, echo: Output | None = None
    ) -> Launched:
        """:meth:`prepare` (its output into ``<name>.build.log`` and ``echo``) then
        :meth:`start`: one launch, as ``run`` makes it."""
        log = self.backend.open_log(config.name, LogKind.BUILD)

        def output(data: bytes) -> None:
            log.feed(data)
            if echo is not None:
                echo(data)

        try:
            plan = await self.prepare(config, placement, output)
        except (SpacerunnerError, OSError) as exc:
            log.note(str(exc))
            raise
        finally:
            log.close()
        return Launched(plan, await self.start(plan))


def _discard(data: bytes) -> None:
    """Output nobody reads."""
