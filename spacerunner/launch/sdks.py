"""From a :class:`SpaceConfig` to a :class:`LaunchPlan`, one rule per SDK.

The environment mirrors what Spaces gives an app (``SPACE_ID``, ``SYSTEM=spaces``, ``PORT``...)
plus the SDK's own settings for the port and the URL prefix spacerunner serves it under.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from spacerunner.config.model import DEFAULT_APP_PORT, Sdk, SpaceConfig
from spacerunner.envs.builder import Environment
from spacerunner.envs.sites import BUILD_TIMEOUT, SiteBuild
from spacerunner.errors import LaunchError
from spacerunner.launch.plan import (
    BuildJob,
    HttpProbe,
    LaunchPlan,
    ProcessPlan,
    StaticPlan,
)
from spacerunner.launch.ports import free_port
from spacerunner.limits.model import Limits, LimitSettings
from spacerunner.limits.sandbox import APP_DATA, SANDBOX_PATH, Isolation

_AUTHOR = re.compile(r"[^A-Za-z0-9._-]+")
PORTMAP = Path(__file__).parent / "portmap"
"""Holds the sitecustomize that maps a hard-coded 7860 to the app's own port."""
HARD_CODED_PORTS = str(DEFAULT_APP_PORT)
"""The port Spaces apps write into their code (each Space has a container of its own there)."""


@dataclass(frozen=True)
class LaunchOptions:
    """How and where one Space is to be launched."""

    python: str = sys.executable
    """The interpreter that runs gradio/streamlit apps."""
    host: str = "127.0.0.1"
    """The address the app binds to."""
    port: int | None = None
    """The app's port; ``None`` picks a free one."""
    mount: str = ""
    """URL prefix the proxy serves the Space under, e.g. ``/spaces/demo`` ('' for the root)."""
    public_host: str = f"127.0.0.1:{DEFAULT_APP_PORT}"
    """Host (and port) people reach the Space at: the value of ``SPACE_HOST``."""
    author: str = "local"
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Variables and secrets from the user (``--env-file``)."""
    runtime_env: Mapping[str, str] = field(default_factory=dict)
    """Variables the Python environment asks for (set before the user's own)."""
    limits: Limits | None = None
    data_dir: Path | None = None
    isolation: Isolation = Isolation.NONE
    host_ports: tuple[int, ...] = ()
    """Ports of the host's loopback the app may reach (see ProcessPlan.host_ports)."""
    container: bool = False
    """Run gradio and streamlit Spaces in a container too (``sdk: docker`` always is)."""
    site: SiteBuild | None = None
    """A static Space's build (``app_build_command``): its output folder and Node.js."""


def space_options(
    config: SpaceConfig,
    *,
    env: Environment | None,
    python: str,
    settings: LimitSettings,
    data_dir: Path | None,
    isolation: Isolation = Isolation.NONE,
    **rest: object,
) -> LaunchOptions:
    """Launch options with the resource half filled in the one way ``run`` and ``serve`` share:
    the built environment's interpreter (else ``python``), the Space's hardware preset under the
    user's overrides, the isolation, and persistent storage at ``data_dir`` only for a Space that
    asks for it (``suggested_storage``) or when the user gives every Space some."""
    persistent = data_dir is not None and (settings.persistent or bool(config.suggested_storage))
    return LaunchOptions(
        python=env.python if env else python,
        runtime_env=env.run_env if env else {},
        limits=settings.for_space(config.suggested_hardware),
        data_dir=data_dir if persistent else None,
        isolation=isolation,
        **rest,  # type: ignore[arg-type]
    )


def normalize_mount(mount: str) -> str:
    mount = "/" + mount.strip("/") if mount.strip("/") else ""
    if any(part in ("", ".", "..") for part in mount.split("/")[1:]):
        raise LaunchError(f"mount {mount!r} is not a clean URL path. Fix: use e.g. /spaces/demo.")
    return mount


def space_environment(config: SpaceConfig, options: LaunchOptions, port: int) -> dict[str, str]:
    """The variables Spaces sets for every app."""
    author = _AUTHOR.sub("-", options.author) or "local"
    return {
        "SYSTEM": "spaces",
        "SPACE_ID": f"{author}/{config.name}",
        "SPACE_AUTHOR_NAME": author,
        "SPACE_REPO_NAME": config.name,
        "SPACE_TITLE": config.title,
        "SPACE_HOST": options.public_host,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }


def build_plan(config: SpaceConfig, options: LaunchOptions | None = None) -> LaunchPlan:
    """The launch plan for ``config``: files spacerunner serves (static), a container
    (``sdk: docker``, or any Space with ``options.container``) or a process. Raises
    :class:`LaunchError` where none can be made."""
    options = options or LaunchOptions()
    mount = normalize_mount(options.mount)
    if config.sdk is Sdk.STATIC:
        assert config.app_file is not None
        if config.app_build_command:
            # the build's output folder (dist/) is the site: its pages refer to their assets
            # from there (a Vite build's /assets/..., a relative app.js)
            job = site_build_job(config, options)
            folder, _, index = config.app_file.rpartition("/")
            return StaticPlan(config.name, job.output / folder, index, mount, build=job)
        return StaticPlan(name=config.name, root=config.path, index=config.app_file, mount=mount)
    if config.sdk is Sdk.DOCKER or options.container:
        from spacerunner.launch.containers import build_container_plan

        return build_container_plan(config, options)
    return process_plan(config, options)


def site_build_job(config: SpaceConfig, options: LaunchOptions) -> BuildJob:
    """The job that runs a static Space's ``app_build_command`` with its Node.js, in its
    sandbox and limits, with the variables Spaces gives an app (and the user's)."""
    site = options.site
    if site is None:
        raise LaunchError(
            f"{config.readme}: app_build_command needs its Node.js and output folder; "
            "prepare the Space (Launcher.prepare) before planning it."
        )
    env = space_environment(config, options, DEFAULT_APP_PORT)
    del env["PORT"]  # a build serves nothing
    env.update(PATH=f"{site.node.bin}{os.pathsep}{SANDBOX_PATH}", CI="true")
    env.update(options.variables)
    return BuildJob(
        name=config.name,
        command=("/bin/sh", "-c", config.app_build_command or "true"),
        cwd=config.path,
        env=MappingProxyType(env),
        output=site.output,
        tools=site.node.roots,
        timeout=BUILD_TIMEOUT,
        limits=options.limits,
        isolation=options.isolation,
        secret_names=frozenset(options.variables),
        describe=f"Node.js {site.node.version}, {site.node.source}",
    )


def process_plan(
    config: SpaceConfig, options: LaunchOptions, *, portmap: bool = True
) -> ProcessPlan:
    """A gradio or streamlit app as a process serving on ``options.host``. ``portmap``: map a
    hard-coded 7860 to the app's own port (not needed where the app has ports of its own)."""
    assert config.sdk in (Sdk.GRADIO, Sdk.STREAMLIT) and config.app_file is not None
    mount = normalize_mount(options.mount)
    isolated = options.isolation is not Isolation.NONE
    if isolated:  # a network namespace of its own: the port every Spaces app has
        port, portmap = options.port or DEFAULT_APP_PORT, False
    else:
        port = options.port or free_port(options.host)
    env = space_environment(config, options, port)
    if options.data_dir is not None:
        env["SPACERUNNER_DATA_DIR"] = APP_DATA if isolated else str(options.data_dir)
    env.update(options.runtime_env)
    env.update(options.variables)
    if portmap and str(port) != HARD_CODED_PORTS:
        env["SPACERUNNER_PORT"] = str(port)
        env["SPACERUNNER_PORT_ALIASES"] = HARD_CODED_PORTS
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PORTMAP), env.get("PYTHONPATH")]))
    if config.sdk is Sdk.GRADIO:
        command: tuple[str, ...] = (options.python, config.app_file)
        env.update(
            GRADIO_SERVER_NAME=options.host,
            GRADIO_SERVER_PORT=str(port),
            GRADIO_ANALYTICS_ENABLED="False",
        )
        if mount:
            env["GRADIO_ROOT_PATH"] = mount
        strip = True
    else:
        command = (
            options.python, "-m", "streamlit", "run", config.app_file,
            "--server.port", str(port),
            "--server.address", options.host,
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
        )  # fmt: skip
        if mount:
            command += ("--server.baseUrlPath", mount.lstrip("/"))
        env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
        strip = False
    return ProcessPlan(
        name=config.name,
        sdk=config.sdk,
        command=command,
        cwd=config.path,
        env=MappingProxyType(env),
        host=options.host,
        port=port,
        probe=HttpProbe(path="/" if strip or not mount else mount + "/"),
        startup_timeout=config.startup_duration_timeout,
        mount=mount,
        strip_prefix=strip,
        secret_names=frozenset(options.variables),
        limits=options.limits,
        data_dir=options.data_dir,
        isolation=options.isolation,
        host_ports=options.host_ports,
    )
