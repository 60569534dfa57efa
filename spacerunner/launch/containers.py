"""Container launch plans: ``sdk: docker`` Spaces as their Dockerfile says, and gradio or
streamlit Spaces in an image spacerunner describes the way Spaces builds its own."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from spacerunner.config.model import Sdk, SpaceConfig
from spacerunner.envs.compat import companions, constraints_for
from spacerunner.envs.spec import read_text
from spacerunner.errors import LaunchError
from spacerunner.launch.plan import ContainerPlan, HttpProbe, ProcessPlan
from spacerunner.launch.sdks import LaunchOptions, build_plan, normalize_mount, space_environment

DEFAULT_PYTHON = "3.10"
"""Spaces' Python when the header names none."""
UV_VERSION = "0.13.9"
"""The uv the generated images install with (pinned, so an image rebuilds the same way)."""


def generated_dockerfile(config: SpaceConfig) -> str:
    """A Dockerfile for a gradio or streamlit Space, after Spaces' own: a Python base image,
    ``packages.txt`` through apt, ``pre-requirements.txt``, ``requirements.txt`` and the SDK at
    ``sdk_version``, the Space copied in, and a non-root user with uid 1000."""
    python = ".".join((config.python_version or DEFAULT_PYTHON).split(".")[:2])
    sdk = config.sdk.value
    pin = f"{sdk}=={config.sdk_version}" if config.sdk_version else sdk
    extra = "".join(f" {name}" for name in companions(config.sdk, config.sdk_version))
    packages = config.path / "packages.txt"
    lines = [
        "# Written by spacerunner for a Space without a Dockerfile of its own.",
        f"FROM python:{python}-slim",
        "ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_COMPILE_BYTECODE=1",
    ]
    if packages.is_file() and packages.read_text(errors="replace").split():
        lines += [
            "COPY packages.txt /tmp/packages.txt",
            "RUN apt-get update && xargs -r -a /tmp/packages.txt apt-get install -y "
            "--no-install-recommends && rm -rf /var/lib/apt/lists/*",
        ]
    lines.append(f"RUN pip install --no-cache-dir uv=={UV_VERSION}")
    if (config.path / "pre-requirements.txt").is_file():
        lines += [
            "COPY pre-requirements.txt /tmp/pre-requirements.txt",
            "RUN uv pip install --system --no-cache -r /tmp/pre-requirements.txt",
        ]
    install = "uv pip install --system --no-cache"
    own = "".join(
        read_text(config.path / name) for name in ("pre-requirements.txt", "requirements.txt")
    )
    pins = constraints_for(config.sdk, config.sdk_version, own)
    if pins:
        lines.append(f"RUN printf '%s\\n' {' '.join(repr(p) for p in pins)} > /tmp/compat.txt")
        install += " -c /tmp/compat.txt"
    if (config.path / "requirements.txt").is_file():
        lines += [
            "COPY requirements.txt /tmp/requirements.txt",
            # as on Spaces, sdk_version wins over another pin of the SDK in requirements.txt
            f'RUN echo "{pin}" > /tmp/sdk.txt && {install} -r /tmp/requirements.txt '
            f"--overrides /tmp/sdk.txt {pin}{extra}",
        ]
    else:
        lines.append(f"RUN {install} {pin}{extra}")
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
        mount = normalize_mount(options.mount)
        env = space_environment(config, options, config.app_port)
        env.update(options.variables)
        return ContainerPlan(
            name=config.name,
            sdk=config.sdk,
            context=config.path,
            dockerfile=None,
            port=config.app_port,
            env=MappingProxyType(env),
            command=None,
            probe=HttpProbe(),
            startup_timeout=config.startup_duration_timeout,
            mount=mount,
            strip_prefix=True,
            secret_names=frozenset(options.variables),
            limits=options.limits,
            persistent=options.data_dir is not None,
            sandbox=options.sandbox,
        )
    inside = dataclasses.replace(
        options, python="python", host="0.0.0.0", runtime_env={}, data_dir=None
    )
    process = build_plan(config, inside)
    assert isinstance(process, ProcessPlan)
    env = dict(process.env)
    # a container has ports of its own: no mapping of hard-coded ports
    env.pop("SPACERUNNER_PORT", None)
    env.pop("SPACERUNNER_PORT_ALIASES", None)
    env.pop("PYTHONPATH", None)
    if "PYTHONPATH" in options.variables:
        env["PYTHONPATH"] = options.variables["PYTHONPATH"]
    if options.data_dir is not None:
        env["SPACERUNNER_DATA_DIR"] = "/data"
    return ContainerPlan(
        name=config.name,
        sdk=config.sdk,
        context=config.path,
        dockerfile=generated_dockerfile(config),
        port=process.port,
        env=MappingProxyType(env),
        command=process.command,
        probe=process.probe,
        startup_timeout=process.startup_timeout,
        mount=process.mount,
        strip_prefix=process.strip_prefix,
        secret_names=process.secret_names,
        limits=options.limits,
        persistent=options.data_dir is not None,
        sandbox=options.sandbox,
    )
