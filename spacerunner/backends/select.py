"""Choosing the backend: ``local``, ``docker``, or ``auto`` (local processes, and a Docker
engine for the Spaces that can only run in a container)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from spacerunner.backends.base import Backend, Instance
from spacerunner.backends.kind import BackendKind
from spacerunner.backends.local import LocalBackend
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.launch.plan import ContainerPlan, LaunchPlan
from spacerunner.limits.model import LimitsMode


class AutoBackend(Backend):
    """Container plans to a Docker backend (made on first need, so a machine without an engine
    runs every other Space), the rest to the local backend."""

    name = "auto"

    def __init__(self, local: LocalBackend, make_docker: Callable[[], Backend]) -> None:
        super().__init__(local.log_dir)
        self.local = local
        self._make_docker = make_docker
        self.docker: Backend | None = None
        self._making = asyncio.Lock()

    async def _docker(self) -> Backend:
        async with self._making:  # one engine client, made off the event loop
            if self.docker is None:
                self.docker = await asyncio.to_thread(self._make_docker)
        return self.docker

    async def prepare(
        self, plan: LaunchPlan, output: Output, slot: BuildSlot | None = None
    ) -> None:
        backend = await self._docker() if isinstance(plan, ContainerPlan) else self.local
        await backend.prepare(plan, output, slot)

    def side_by_side(self, plan: LaunchPlan) -> bool:
        if isinstance(plan, ContainerPlan):
            return self.docker is None or self.docker.side_by_side(plan)
        return self.local.side_by_side(plan)

    async def start(self, plan: LaunchPlan) -> Instance:
        if isinstance(plan, ContainerPlan):
            return await (await self._docker()).start(plan)
        return await self.local.start(plan)

    def helpers(self) -> list[dict[str, object]]:
        docker = self.docker.helpers() if self.docker is not None else []
        return self.local.helpers() + docker

    @property
    def instances(self) -> frozenset[Instance]:
        docker = self.docker.instances if self.docker is not None else frozenset()
        return self.local.instances | docker

    async def close(self) -> None:
        try:
            await self.local.close()
        finally:
            if self.docker is not None:
                await self.docker.close()


def make_backend(
    kind: BackendKind,
    log_dir: Path,
    *,
    state_dir: Path,
    scratch_root: Path,
    limits_mode: LimitsMode,
    preload: bool = False,
) -> Backend:
    """The backend ``kind`` names; its containers are labelled as ``state_dir``'s."""
    from spacerunner.backends.docker.engine import owner_key

    def docker() -> Backend:
        from spacerunner.backends.docker import DockerBackend

        return DockerBackend(log_dir, owner=owner_key(state_dir))

    if kind is BackendKind.DOCKER:
        return docker()
    local = LocalBackend(
        log_dir,
        scratch_root=scratch_root,
        limits_mode=limits_mode,
        state_dir=state_dir,
        preload=preload,
    )
    return local if kind is BackendKind.LOCAL else AutoBackend(local, docker)
