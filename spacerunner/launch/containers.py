"""Container launch plans: ``sdk: docker`` Spaces as their Dockerfile says, and gradio or
streamlit Spaces in an image spacerunner describes the way Spaces builds its own."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from spacerunner.config.model import DEFAULT_PYTHON_VERSION, Sdk, SpaceConfig
from spacerunner.envs.spec import spec_for
from spacerunner.errors import LaunchError
from spacerunner.launch.plan import ContainerPlan, HttpProbe
from spacerunner.launch.sdks import (
    LaunchOptions,
    normalize_mount,
    process_plan,
    space_environment,
)
from spacerunner.limits.sandbox import Isolation

"""Spaces' Python when the header names none."""
UV_VERSION = "0.13.9"
"""The uv the generated images install with (pinned, so an image rebuilds the same way)."""


def generated_dockerfile(config: SpaceConfig) -> str:
    """A Dockerfile for a gradio or streamlit Space, after Spaces' own: a Python base image,
    ``packages.txt`` through apt, ``pre-requirements.txt``, ``requirements.txt`` and the SDK at
    ``sdk_version`` (with the same companions, compatibility pins and day of resolution as a
    local environment),
    the Space copied in, and a non-root user with uid 1000."""
    spec = spec_for(config)
    python = ".".join((config.python_version or DEFAULT_PYTHON_VERSION).split(".")[:2])
    sdk = spec.sdk_requirement
    extra = "".join(f" {name}" for name in spec.companions)
    lines = [
        "# Written by spacerunner for a Space without a Dockerfile of its own.",
        f"FROM python:{python}-slim",
        "ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_COMPILE_BYTECODE=1",
    ]
    if spec.packages:
        lines += [
            "COPY packages.txt /tmp/packages.txt",
            "RUN apt-get update && xargs -r -a /tmp/packages.txt apt-get install -y "
            "--no-install-recommends && rm -rf /var/lib/apt/lists/*",
        ]
    lines.append(f"RUN pip install --no-cache-dir uv=={UV_VERSION}")
    install = "uv pip install --system --no-cache"
    if spec.as_of is not None:  # resolved as of the Space's day, as a local environment is
        install += f" --exclude-newer {spec.as_of.exclude_newer}"
    if spec.pre_requirements.strip():
        lines += [
            "COPY pre-requirements.txt /tmp/pre-requirements.txt",
            f"RUN {install} -r /tmp/pre-requirements.txt",
        ]
    if spec.constraints:
        pins = " ".join(repr(p) for p in spec.constraints)
        lines.append(f"RUN printf '%s\\n' {pins} > /tmp/compat.txt")
        install += " -c /tmp/compat.txt"
    if spec.requirements.strip():
        lines += [
            "COPY requirements.txt /tmp/requirements.txt",
            # as on Spaces, sdk_version wins over another pin of the SDK in requirements.txt
            f'RUN echo "{sdk}" > /tmp/sdk.txt && {install} -r /tmp/requirements.txt '
            f"--overrides /tmp/sdk.txt {sdk}{extra}",
        ]
    else:
        lines.append(f"RUN {install} {sdk}{extra}")
    lines += [
        "RUN useradd -m -u 1000 user",
        "USER user",
        "ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH",
        "WORKDIR /home/user/app",
        "COPY --chown=user . /home/user/app",
    ]
    return "\n".join(lines) + "\n"


def build_container_plan(config: SpaceConfig, options: LaunchOptions) -> ContainerPlan:
    """The container plan of ``config``; the app's port is ``options.port`` (picked when
    ``None``) inside the container, ``app_port`` for ``sdk: docker``."""
    if config.sdk is Sdk.STATIC:
        raise LaunchError(f"{config.readme}: static Spaces are served by spacerunner itself")
    if config.sdk is Sdk.DOCKER:
        if not (config.path / "Dockerfile").is_file():
            raise LaunchError(
                f"{config.path / 'Dockerfile'}: sdk: docker needs a Dockerfile beside README.md. "
                "Fix: add one whose app listens on app_port "
                f"({config.app_port}), or change sdk in {config.readme}."
            )
        env = space_environment(config, options, config.app_port)
        env.update(options.variables)
        dockerfile, port, command, probe = None, config.app_port, None, HttpProbe()
        mount, strip = normalize_mount(options.mount), True
    else:
        # the app as a process would run, inside: its port is its own, so no port mapping
        inside = dataclasses.replace(
            options, python="python", host="0.0.0.0", runtime_env={}, data_dir=None
        )
        process = process_plan(config, inside, portmap=False)
        env = dict(process.env)
        if options.data_dir is not None:
            env["SPACERUNNER_DATA_DIR"] = "/data"
        dockerfile, port, command, probe = (
            generated_dockerfile(config),
            process.port,
            process.command,
            process.probe,
        )
        mount, strip = process.mount, process.strip_prefix
    return ContainerPlan(
        name=config.name,
        sdk=config.sdk,
        context=config.path,
        dockerfile=dockerfile,
        port=port,
        env=MappingProxyType(env),
        command=command,
        probe=probe,
        startup_timeout=config.startup_duration_timeout,
        mount=mount,
        strip_prefix=strip,
        secret_names=frozenset(options.variables),
        limits=options.limits,
        persistent=options.data_dir is not None,
        sandbox=options.isolation is Isolation.OFFLINE,
    )
