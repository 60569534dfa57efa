"""Images of Spaces: a build context from the Space folder, tagged by a hash of its content so
an unchanged Space is never rebuilt, built with its log streamed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tarfile
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacerunner.backends.docker.engine import LABEL, LABEL_SPACE
from spacerunner.errors import BackendError
from spacerunner.launch.plan import ContainerPlan

if TYPE_CHECKING:
    import docker

GENERATED = "Dockerfile.spacerunner"
_SKIP = {".git", "__pycache__", ".venv"}
_STEP = re.compile(r"^Step \d+/\d+ : ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _files(context: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        found += [Path(root, f) for f in sorted(files)]
    return found


def context_digest(plan: ContainerPlan) -> str:
    """A hash of everything the image is made from: the files, the Dockerfile spacerunner
    wrote (if any), and where they are."""
    digest = hashlib.sha256()
    digest.update((plan.dockerfile or "").encode())
    for path in _files(plan.context):
        digest.update(str(path.relative_to(plan.context)).encode() + b"\0")
        digest.update(f"{path.stat().st_mode & 0o777:o}\0".encode())
        digest.update(path.read_bytes() if not path.is_symlink() else os.readlink(path).encode())
    return digest.hexdigest()


def image_tag(plan: ContainerPlan) -> str:
    return f"spacerunner/{plan.name}:{context_digest(plan)[:16]}"


def _context_tar(plan: ContainerPlan) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in _files(plan.context):
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
) -> str:
    """The image of ``plan`` (its :func:`image_tag`, when the caller has it): found, else built
    (blocking; run it in a thread). Raises :class:`BackendError` with the failing step and the
    builder's message."""
    import docker

    tag = tag or image_tag(plan)
    if built(client, tag):
        emit(f"[spacerunner] image {tag} is up to date; not rebuilt\n".encode())
        return tag
    where = f"{plan.context / 'Dockerfile'}" if plan.dockerfile is None else "generated Dockerfile"
    emit(f"[spacerunner] building {tag} from {where}\n".encode())
    step = ""
    tail: deque[str] = deque(maxlen=12)
    try:
        stream = client.api.build(
            fileobj=_context_tar(plan),
            custom_context=True,
            dockerfile=GENERATED if plan.dockerfile is not None else "Dockerfile",
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
    _remove_older(client, plan.name, tag)
    return tag


def _explain(
    plan: ContainerPlan, step: str, error: str, where: str, tail: Iterable[str] = ()
) -> str:
    message = f"{plan.name}: the image build failed"
    if step:
        message += f" at {step.strip()}"
    message += f" ({where}): {error.strip()}"
    shown = "\n".join(f"  | {line}" for line in tail)
    if shown:
        message += f"\nThe step's last output:\n{shown}\n"
    base = re.search(r"^\s*FROM\s+(\S+)", plan.dockerfile or _read_dockerfile(plan), re.M | re.I)
    if base and re.search(r"pull access denied|manifest unknown|not found|dial tcp|lookup", error):
        message += (
            f". The base image {base.group(1)} is not on this engine and could not be pulled. "
            f"Fix: make it available offline (docker load / docker import ... {base.group(1)}), "
            "or reach a registry."
        )
    elif "--mount" in error or "BuildKit" in error:
        message += (
            ". This Dockerfile needs BuildKit (RUN --mount, e.g. for secrets), which this "
            "engine's builder does not offer. Fix: install docker buildx, or build without it."
        )
    return message


def _read_dockerfile(plan: ContainerPlan) -> str:
    try:
        return (plan.context / "Dockerfile").read_text(errors="replace")
    except OSError:
        return ""


def _remove_older(client: docker.DockerClient, name: str, keep: str) -> None:
    """Drop the images of earlier versions of this Space (those no container uses)."""
    import docker

    images: list[Any] = client.images.list(filters={"label": f"{LABEL_SPACE}={name}"})
    for image in images:
        if keep not in image.tags:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image.id, noprune=False)
