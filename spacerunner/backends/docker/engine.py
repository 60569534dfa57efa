"""Reaching the Docker engine, and what it can do: networking, disk quotas, labels."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spacerunner.errors import BackendError

if TYPE_CHECKING:
    import docker

LABEL = "spacerunner"
"""Every container, image and volume spacerunner makes carries ``spacerunner=1``."""
LABEL_OWNER = "spacerunner.owner"
"""Which spacerunner state folder made it (a server finds its own leftovers by it)."""
LABEL_PID = "spacerunner.pid"
LABEL_SPACE = "spacerunner.space"
LABEL_SECRETS = "spacerunner.secrets"
"""On an image: a digest of the build secrets it was built with."""
BUILDKIT_API = (1, 39)
"""The engine API that brought BuildKit (Docker 18.09)."""


def owner_key(state_dir: os.PathLike[str] | str) -> str:
    return hashlib.sha256(os.fsencode(os.path.abspath(state_dir))).hexdigest()[:16]


def connect(base_url: str | None = None) -> docker.DockerClient:
    """A client of the engine at ``base_url`` (else ``$DOCKER_HOST`` or the default socket)
    that answered a ping; a :class:`BackendError` saying how to get one otherwise."""
    try:
        import docker
    except ImportError as exc:
        raise BackendError(
            "the Docker backend needs the docker package. Fix: pip install 'spacerunner[docker]'."
        ) from exc
    where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise BackendError(
            f"no Docker engine answers at {where} ({_short(exc)}). Fix: start one "
            "(systemctl start docker; or dockerd --data-root DIR -H unix:///path/docker.sock "
            "and DOCKER_HOST=unix:///path/docker.sock), or run without --backend docker."
        ) from exc
    return client


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@dataclass(frozen=True)
class EngineFacts:
    network: str
    """'bridge': publish the app's port on 127.0.0.1; 'isolated': no network but the
    container's own loopback, which spacerunner connects into (spacerunner.netns); 'host': the
    host's network, the app on the port it is given."""
    disk_quota: bool
    """Whether ``storage_opt size`` caps a container's writable layer on this engine."""
    driver: str
    buildkit: bool = False
    """Whether the engine has BuildKit built in (API 1.39, Docker 18.09, and later on Linux)."""


def inspect_engine(
    client: docker.DockerClient, network: str = "auto", base_url: str | None = None
) -> EngineFacts:
    info: dict[str, Any] = client.info()
    driver = str(info.get("Driver", ""))
    backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
    disk_quota = driver in ("btrfs", "zfs") or (driver == "overlay2" and backing == "xfs")
    url = base_url or os.environ.get("DOCKER_HOST") or "unix://"
    local = url.startswith("unix://")
    if network == "auto":
        if any(n.name == "bridge" for n in client.networks.list(names=["bridge"])):
            network = "bridge"
        elif local and os.geteuid() == 0:
            network = "isolated"
        else:
            network = "host"
    version: dict[str, Any] = client.version()
    api = tuple(int(p) for p in re.findall(r"\d+", str(version.get("ApiVersion", "0.0")))[:2])
    buildkit = str(info.get("OSType", "linux")) == "linux" and api >= BUILDKIT_API
    return EngineFacts(network=network, disk_quota=disk_quota, driver=driver, buildkit=buildkit)
