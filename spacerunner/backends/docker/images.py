"""Images of Spaces: a build context from the Space folder, tagged by a hash of its content so
an unchanged Space is never rebuilt, built with its log streamed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import tarfile
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from spacerunner.backends.docker import buildkit
from spacerunner.backends.docker.buildkit import BuildKitCli
from spacerunner.backends.docker.engine import LABEL, LABEL_SECRETS, LABEL_SPACE
from spacerunner.contents import content_digest, files
from spacerunner.errors import BackendError
from spacerunner.launch.plan import ContainerPlan

if TYPE_CHECKING:
    import docker

GENERATED = "Dockerfile.spacerunner"
_SKIP = {".git", "__pycache__", ".venv"}
_STEP = re.compile(r"^Step \d+/\d+ : ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_SECRET_MOUNT = re.compile(r"--mount=(\S*type=secret\S*)")


def mounted_secrets(plan: ContainerPlan) -> dict[str, str]:
    """The Space's secrets its Dockerfile mounts in a build step (``RUN
    --mount=type=secret,id=NAME``): a change of one of them makes a new image."""
    ids = set()
    for options in _SECRET_MOUNT.findall(plan.dockerfile or _read_dockerfile(plan)):
        ids |= {o[3:] for o in options.split(",") if o.startswith("id=")}
    return {k: v for k, v in plan.env.items() if k in plan.secret_names and k in ids}


def secrets_key(plan: ContainerPlan) -> str:
    """A digest of the secrets the build mounts ("" when it mounts none)."""
    mounted = sorted(mounted_secrets(plan).items())
    if not mounted:
        return ""
    return hashlib.sha256(repr(mounted).encode()).hexdigest()[:16]


def context_digest(plan: ContainerPlan) -> str:
    """A hash of everything the image is made from: the files, the Dockerfile spacerunner
    wrote (if any), where they are, and the build secrets it mounts."""
    return content_digest(plan.context, _SKIP, plan.dockerfile or "", secrets_key(plan))


def image_tag(plan: ContainerPlan) -> str:
    return f"spacerunner/{plan.name}:{context_digest(plan)[:16]}"


def _context_tar(plan: ContainerPlan) -> io.BytesIO:
    buffer = io.BytesIO()
    # GNU, not PAX: the docker CLI tells a tar on stdin from a Dockerfile by its first header
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in files(plan.context, _SKIP):
            tar.add(path, arcname=str(path.relative_to(plan.context)), recursive=False)
        if plan.dockerfile is not None:
            data = plan.dockerfile.encode()
            info = tarfile.TarInfo(GENERATED)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def built(client: docker.DockerClient, tag: str) -> bool:
    """Whether the engine has the image ``tag`` (blocking)."""
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(
    client: docker.DockerClient,
    plan: ContainerPlan,
    emit: Callable[[bytes], None],
    *,
    network_mode: str | None,
    tag: str | None = None,
    buildkit: BuildKitCli | None = None,
    engine_url: str | None = None,
) -> str:
    """The image of ``plan`` (its :func:`image_tag`, when the caller has it): found, else built
    (blocking; run it in a thread) with BuildKit through ``buildkit`` when given (the Space's
    secrets offered as build secrets), else with the engine's legacy builder. Raises
    :class:`BackendError` with the failing step and the builder's message."""
    tag = tag or image_tag(plan)
    if built(client, tag):
        emit(f"[spacerunner] image {tag} is up to date; not rebuilt\n".encode())
        return tag
    where = f"{plan.context / 'Dockerfile'}" if plan.dockerfile is None else "generated Dockerfile"
    builder = buildkit.how if buildkit is not None else "the engine's legacy builder"
    emit(f"[spacerunner] building {tag} from {where} with {builder}\n".encode())
    if buildkit is None:
        emit(
            b"[spacerunner] BuildKit is not reachable here (the engine has none, or no docker "
            b"CLI here drives it: one with buildx, or one before 23.0): Dockerfile features "
            b"Spaces accepts (RUN --mount, secrets, COPY of several files to a folder without a "
            b"trailing /) fail\n"
        )
        _legacy_build(client, plan, emit, network_mode=network_mode, tag=tag, where=where)
    else:
        _buildkit_build(client, buildkit, plan, emit, network_mode, tag, where, engine_url)
    _remove_older(client, plan.name, tag)
    return tag


def _buildkit_build(
    client: docker.DockerClient,
    cli: BuildKitCli,
    plan: ContainerPlan,
    emit: Callable[[bytes], None],
    network_mode: str | None,
    tag: str,
    where: str,
    engine_url: str | None,
) -> None:
    secrets = {k: v for k, v in plan.env.items() if k in plan.secret_names}
    key = secrets_key(plan)
    # BuildKit keeps a step that mounts a secret cached whatever the secret's value: build
    # afresh unless an earlier image of this Space was built with the same secrets
    known = {i.labels.get(LABEL_SECRETS) for i in _images_of(client, plan.name)}
    fresh = bool(key) and key not in known
    if fresh:
        emit(b"[spacerunner] the build mounts secrets new to it: built without cache\n")
    try:
        failed = buildkit.build(
            cli,
            _context_tar(plan),
            emit,
            tag=tag,
            dockerfile=_dockerfile_name(plan),
            engine_url=engine_url,
            network=network_mode,
            labels={LABEL: "1", LABEL_SPACE: plan.name, LABEL_SECRETS: key},
            secrets=secrets,
            no_cache=fresh,
        )
    except OSError as exc:
        raise BackendError(
            f"{plan.name}: cannot run {cli.command[0]} to build its image: {exc}. "
            "Fix: reinstall the docker CLI, or build with the legacy builder."
        ) from exc
    if failed is not None:
        raise BackendError(_explain(plan, failed.step, failed.message, where, failed.tail))


def _dockerfile_name(plan: ContainerPlan) -> str:
    return GENERATED if plan.dockerfile is not None else "Dockerfile"


def _legacy_build(
    client: docker.DockerClient,
    plan: ContainerPlan,
    emit: Callable[[bytes], None],
    *,
    network_mode: str | None,
    tag: str,
    where: str,
) -> None:
    import docker

    step = ""
    tail: deque[str] = deque(maxlen=12)
    try:
        stream = client.api.build(
            fileobj=_context_tar(plan),
            custom_context=True,
            dockerfile=_dockerfile_name(plan),
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            network_mode=network_mode,
            labels={LABEL: "1", LABEL_SPACE: plan.name},
        )
        for chunk in stream:
            if "stream" in chunk:
                text = str(chunk["stream"])
                emit(text.encode())
                for line in text.splitlines():
                    if _STEP.match(line):
                        step = line
                        tail.clear()
                    elif line.strip() and not line.startswith((" ---> ", "Removing intermediate")):
                        tail.append(_ANSI.sub("", line.rstrip()))
            if "error" in chunk:
                raise BackendError(_explain(plan, step, str(chunk["error"]), where, tail))
    except docker.errors.APIError as exc:
        error = str(exc.explanation or exc)
        raise BackendError(_explain(plan, step, error, where, tail)) from exc


_NO_BASE = re.compile(
    r"pull access denied|manifest unknown|repository does not exist|failed to do request"
    r"|dial tcp|no such host"
)
_NO_NETWORK = re.compile(
    r"Temporary failure in name resolution|Could not resolve host|Name or service not known"
    r"|Network is unreachable|NewConnectionError|Failed to establish a new connection"
)
_NEEDS_BUILDKIT = re.compile(
    r"--mount|Unknown flag: mount|BuildKit|must be a directory and end with"
)


def _explain(
    plan: ContainerPlan, step: str, error: str, where: str, tail: Iterable[str] = ()
) -> str:
    """The failure as the user needs it: where, the builder's words, the likely cause and fix,
    then the failing step's last lines."""
    tail = list(tail)
    dockerfile = plan.dockerfile or _read_dockerfile(plan)
    message = f"{plan.name}: the image build failed"
    if step:
        message += f" at {step.strip()}"
    message += f" ({where}): {error.strip()}"
    base = re.search(r"^\s*FROM\s+(\S+)", dockerfile, re.M | re.I)
    if base and _NO_BASE.search(error) and "RUN " not in step:  # FROM, or loading its metadata
        message += (
            f". The base image {base.group(1)} is not on this engine and could not be pulled. "
            f"Fix: make it available offline (docker load / docker import ... {base.group(1)}), "
            "or reach a registry."
        )
    elif "network bridge not found" in error or any(_NO_NETWORK.search(t) for t in tail):
        message += (
            ". The build's RUN steps had no network: the engine has no bridge network and the "
            "build could not use the host's. Fix: give the engine a bridge network "
            "(dockerd without --bridge=none), or let builds use host networking."
        )
    elif _NEEDS_BUILDKIT.search(error):
        message += (
            ". This Dockerfile needs BuildKit (RUN --mount for secrets, COPY of several files "
            "to a folder without a trailing /), as Spaces builds with it, and no docker CLI "
            "here can drive the engine's BuildKit. Fix: install the buildx plugin (Debian: "
            "docker-buildx), or Debian's docker.io CLI at /usr/bin/docker."
        )
    elif "unknown instruction" in error and "<<" in dockerfile:
        message += (
            ". The Dockerfile uses heredocs (RUN <<EOF), which need the Dockerfile frontend "
            "1.4 or later; this engine's built-in frontend is older, and fetching a newer one "
            "(# syntax=docker/dockerfile:1) needs a registry. Fix: an engine from 23.0 on, "
            "or the steps written without heredocs."
        )
    shown = "\n".join(f"  | {line}" for line in tail)
    if shown:
        message += f"\nThe step's last output:\n{shown}\n"
    return message


def _read_dockerfile(plan: ContainerPlan) -> str:
    try:
        return (plan.context / "Dockerfile").read_text(errors="replace")
    except OSError:
        return ""


def _images_of(client: docker.DockerClient, name: str) -> list[Any]:
    return list(client.images.list(filters={"label": f"{LABEL_SPACE}={name}"}))


def _remove_older(client: docker.DockerClient, name: str, keep: str) -> None:
    """Drop the images of earlier versions of this Space (those no container uses)."""
    import docker

    for image in _images_of(client, name):
        if keep not in image.tags:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image.id, noprune=False)
