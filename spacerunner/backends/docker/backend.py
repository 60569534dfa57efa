"""Spaces as Docker containers: build, run with the Space's limits, route, watch, remove.

Blocking SDK calls run in threads; the event loop only awaits them. Every container is
labelled with the spacerunner state folder that made it and the PID of the process that runs
it, so a server started after a crash removes what its predecessor left and never touches
containers that are not its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import psutil

from spacerunner import netns
from spacerunner.backends.base import Backend, Instance, Status, Upstream, signal_exit
from spacerunner.backends.docker import images
from spacerunner.backends.docker.buildkit import BuildKitCli, find_cli
from spacerunner.backends.docker.engine import (
    LABEL,
    LABEL_OWNER,
    LABEL_PID,
    LABEL_SPACE,
    EngineFacts,
    connect,
    inspect_engine,
)
from spacerunner.backends.logs import AppLog
from spacerunner.backends.probe import wait_until_ready
from spacerunner.backends.static import StaticInstance
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.errors import BackendError
from spacerunner.launch.plan import ContainerPlan, LaunchPlan, StaticPlan
from spacerunner.launch.ports import free_port, is_free
from spacerunner.units import format_size

MONITOR_INTERVAL = 2.0


class DockerInstance(Instance):
    plan: ContainerPlan

    def __init__(
        self,
        plan: ContainerPlan,
        endpoint: Upstream,
        log: AppLog,
        container: Any,
        backend: DockerBackend,
    ) -> None:
        super().__init__(plan, endpoint, log)
        self.container = container
        self.backend = backend
        self._usage: dict[str, object] | None = None
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(asyncio.to_thread(self._pump_logs, loop)),
            loop.create_task(self._watch()),
            loop.create_task(self._monitor()),
        ]

    # --- watching ---

    def _pump_logs(self, loop: asyncio.AbstractEventLoop) -> None:
        import docker

        with contextlib.suppress(docker.errors.DockerException, OSError, ValueError):
            for chunk in self.container.logs(stream=True, follow=True):
                loop.call_soon_threadsafe(self.log.feed, chunk)

    async def _watch(self) -> None:
        import docker

        lost = None
        try:
            result = await asyncio.to_thread(self.container.wait)
            code = int(result.get("StatusCode", -1))
        except (docker.errors.DockerException, OSError) as exc:
            code, lost = -1, f"lost its container: {exc}"
        attrs: dict[str, Any] = {}
        with contextlib.suppress(docker.errors.DockerException, OSError):
            await asyncio.to_thread(self.container.reload)
            attrs = self.container.attrs
        if attrs.get("State", {}).get("OOMKilled") and self.plan.limits is not None:
            memory = self.plan.limits.memory
            self._limit = f"Memory limit exceeded ({format_size(memory) if memory else '?'})"
        await asyncio.sleep(0.2)  # the last log lines
        await self._cleanup()
        self._ended(signal_exit(code), lost=lost)  # the container's init reports 128 + N
        self.log.note(self._reason or "ended")
        self.log.close()

    async def _monitor(self) -> None:
        """Usage for status pages, and the disk limit where the engine cannot cap the writable
        layer: measured, and the container stopped when it goes over."""
        limits = self.plan.limits
        disk = limits.disk if limits is not None and not self.backend.facts.disk_quota else None
        while not self.ended:
            with contextlib.suppress(Exception):  # a usage sample is not worth failing over
                self._usage = await asyncio.to_thread(self._measure, disk is not None)
                used = self._usage.get("disk")
                if disk is not None and isinstance(used, int) and used > disk:
                    self._limit = f"Disk limit exceeded ({format_size(disk)})"
                    self.log.note(f"{self._limit}: the container wrote {format_size(used)}")
                    await asyncio.to_thread(self.container.kill)
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), MONITOR_INTERVAL)

    def _measure(self, disk: bool) -> dict[str, object]:
        api = self.backend.client.api
        stats = api.stats(self.container.id, stream=False, one_shot=True)
        memory = stats.get("memory_stats", {}).get("usage")
        usage: dict[str, object] = {"memory": memory}
        if disk:
            listed = api.containers(all=True, size=True, filters={"id": self.container.id})
            usage["disk"] = int(listed[0].get("SizeRw") or 0) if listed else None
        return usage

    # --- the Instance contract ---

    def usage(self) -> dict[str, object] | None:
        return dict(self._usage) if self._usage and not self.ended else None

    async def wait_ready(self, timeout: float | None = None) -> None:
        await wait_until_ready(self, timeout)
        self._mark_ready()

    async def stop(self, grace: float = 10.0) -> Status:
        import docker

        if not self.ended:
            self._mark_stopping()
            with contextlib.suppress(docker.errors.DockerException, OSError):
                await asyncio.to_thread(self.container.stop, timeout=max(1, round(grace)))
        return await self.wait()

    async def _cleanup(self) -> None:
        import docker

        assert isinstance(self.endpoint, Upstream)
        if self.endpoint.netns is not None:
            netns.release(self.endpoint.netns)
        with contextlib.suppress(docker.errors.DockerException, OSError):
            await asyncio.to_thread(self.container.remove, force=True)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()


class DockerBackend(Backend):
    """Runs container plans on a Docker engine; static plans are served by spacerunner."""

    name = "docker"

    def __init__(
        self,
        log_dir: Path,
        *,
        owner: str,
        base_url: str | None = None,
        network: str = "auto",
    ) -> None:
        super().__init__(log_dir)
        self.owner = owner
        self.base_url = base_url
        self.client = connect(base_url)
        self.facts: EngineFacts = inspect_engine(self.client, network, base_url)
        self.buildkit: BuildKitCli | None = find_cli() if self.facts.buildkit else None
        """What builds images with the engine's BuildKit, as Spaces builds them; ``None``: the
        engine's legacy builder (the only one reachable here)."""
        self._build_locks: dict[str, asyncio.Lock] = {}
        self.sweep()

    def sweep(self) -> None:
        """Remove containers of this owner whose spacerunner process is gone."""
        import docker

        containers = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL}=1", f"{LABEL_OWNER}={self.owner}"]}
        )
        for container in containers:
            pid = int(container.labels.get(LABEL_PID, "0") or 0)
            if pid and pid != os.getpid() and psutil.pid_exists(pid):
                continue
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)

    async def start(self, plan: LaunchPlan) -> Instance:
        log = self.open_log(plan.name)
        if isinstance(plan, StaticPlan):
            instance: Instance = StaticInstance(plan, log)
        elif isinstance(plan, ContainerPlan):
            try:
                instance = await self._run(plan, log)
            except BaseException:
                log.close()
                raise
        else:
            log.close()
            raise BackendError(
                f"{plan.name}: the Docker backend runs containers, not local processes. "
                "Fix: build the plan with LaunchOptions(container=True)."
            )
        return self._track(instance)

    async def prepare(
        self, plan: LaunchPlan, output: Output, slot: BuildSlot | None = None
    ) -> None:
        if not isinstance(plan, ContainerPlan):
            await super().prepare(plan, output, slot)
            return
        tag = await asyncio.to_thread(images.image_tag, plan)
        lock = self._build_locks.setdefault(tag, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(images.built, self.client, tag):
                return
            async with slot() if slot is not None else contextlib.nullcontext():
                await self._image(plan, output, tag)

    def side_by_side(self, plan: LaunchPlan) -> bool:
        return not isinstance(plan, ContainerPlan) or self.facts.network != "host"

    async def _image(self, plan: ContainerPlan, output: Output, tag: str | None = None) -> str:
        """The image of ``plan`` (tagged ``tag`` when known), built when missing (its output
        to ``output``)."""
        loop = asyncio.get_running_loop()

        def emit(data: bytes) -> None:
            loop.call_soon_threadsafe(output, data)

        build_network = "host" if self.facts.network != "bridge" else None
        return await asyncio.to_thread(
            images.build,
            self.client,
            plan,
            emit,
            network_mode=build_network,
            tag=tag,
            buildkit=self.buildkit,
            engine_url=self.base_url,
        )

    async def _run(self, plan: ContainerPlan, log: AppLog) -> DockerInstance:
        facts = self.facts
        tag = await self._image(plan, log.feed)
        kwargs = await asyncio.to_thread(self._run_arguments, plan, tag)
        host_port = plan.port
        if facts.network == "bridge":
            host_port = free_port()
            kwargs["ports"] = {f"{plan.port}/tcp": ("127.0.0.1", host_port)}
        elif facts.network == "host":
            kwargs["network_mode"] = "host"
            if not await asyncio.to_thread(is_free, plan.port):
                raise BackendError(
                    f"{plan.name}: port {plan.port} is in use on this machine, and this engine "
                    "has no bridge network, so the container shares the host's ports. "
                    "Fix: stop what listens there, or give the Space another app_port."
                )
        else:
            kwargs["network_mode"] = "none"
        for line in self._describe(plan):
            log.note(line)
        container = await asyncio.to_thread(self._create_and_start, plan, kwargs)
        endpoint = Upstream("127.0.0.1", host_port)
        if facts.network == "isolated":
            try:
                name = await self._enter(plan, container)
            except BaseException:
                await asyncio.to_thread(container.remove, force=True)
                raise
            endpoint = Upstream("127.0.0.1", plan.port, netns=name)
        return DockerInstance(plan, endpoint, log, container, self)

    def _run_arguments(self, plan: ContainerPlan, tag: str) -> dict[str, Any]:
        import docker

        kwargs: dict[str, Any] = {
            "image": tag,
            "command": list(plan.command) if plan.command else None,
            "environment": dict(plan.env),
            "name": f"spacerunner-{plan.name}-{uuid.uuid4().hex[:8]}",
            "labels": {
                LABEL: "1",
                LABEL_OWNER: self.owner,
                LABEL_PID: str(os.getpid()),
                LABEL_SPACE: plan.name,
            },
            "detach": True,
            "init": True,
        }
        limits = plan.limits
        if limits is not None:
            if limits.memory is not None:
                kwargs["mem_limit"] = limits.memory
                kwargs["memswap_limit"] = limits.memory  # no swap: a hard limit
            if limits.cpus is not None:
                kwargs["nano_cpus"] = int(limits.cpus * 1e9)
            if limits.pids is not None:
                kwargs["pids_limit"] = limits.pids
            if limits.nofile is not None:
                kwargs["ulimits"] = [
                    docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile)
                ]
            if limits.disk is not None and self.facts.disk_quota:
                kwargs["storage_opt"] = {"size": str(limits.disk)}
        if plan.sandbox:
            tmp = limits.disk if limits is not None and limits.disk else 1 << 30
            kwargs.update(
                read_only=True,
                tmpfs={"/tmp": f"size={tmp},mode=1777"},
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
            )
        if plan.persistent:
            kwargs["volumes"] = {self._data_volume(plan, tag): {"bind": "/data", "mode": "rw"}}
        return kwargs

    def _data_volume(self, plan: ContainerPlan, tag: str) -> str:
        """The Space's persistent /data: a named volume, made writable for the app's user."""
        import docker

        name = f"spacerunner-data-{self.owner[:8]}-{plan.name}"
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            labels = {LABEL: "1", LABEL_OWNER: self.owner, LABEL_SPACE: plan.name}
            self.client.volumes.create(name, labels=labels)
            image = self.client.images.get(tag)
            user = image.attrs.get("Config", {}).get("User") or "0"
            self.client.containers.run(
                tag,
                ["chown", user, "/data"],
                user="0",
                entrypoint=[],
                volumes={name: {"bind": "/data", "mode": "rw"}},
                network_mode="none",
                remove=True,
                labels={LABEL: "1", LABEL_OWNER: self.owner},
            )
        return name

    def _describe(self, plan: ContainerPlan) -> list[str]:
        facts = self.facts
        limits = plan.limits
        lines = [f"network: {facts.network} (app port {plan.port} in the container)"]
        if limits is None:
            return [*lines, "limit: none (--no-limits)"]
        if limits.memory is not None:
            lines.append(f"limit: memory {format_size(limits.memory)}: enforced (engine, no swap)")
        if limits.cpus is not None:
            lines.append(f"limit: cpus {limits.cpus:g}: enforced (engine CPU quota)")
        if limits.pids is not None:
            lines.append(f"limit: pids {limits.pids}: enforced (engine)")
        if limits.disk is not None:
            how = (
                f"enforced (storage driver {facts.driver})"
                if facts.disk_quota
                else f"WATCHED ONLY: the {facts.driver} storage driver cannot cap a container's "
                "writable layer here; spacerunner measures it and stops the app when it is over"
            )
            lines.append(f"limit: disk {format_size(limits.disk)}: {how}")
        return lines

    def _create_and_start(self, plan: ContainerPlan, kwargs: dict[str, Any]) -> Any:
        import docker

        try:
            return self.client.containers.run(**kwargs)
        except docker.errors.APIError as exc:
            raise BackendError(
                f"{plan.name}: the engine could not start its container: {exc.explanation or exc}"
            ) from exc

    async def _enter(self, plan: ContainerPlan, container: Any) -> str:
        """Register the container's network namespace, so that the proxy and the probes connect
        to the app on the container's own loopback."""
        await asyncio.to_thread(container.reload)
        pid = int(container.attrs["State"].get("Pid") or 0)
        if not pid:
            raise BackendError(f"{plan.name}: its container ended at once (see its log)")
        try:
            await asyncio.to_thread(netns.register, container.name, pid)
        except OSError as exc:
            raise BackendError(
                f"{plan.name}: cannot reach into its container's network namespace: {exc}. "
                "Fix: run spacerunner as root beside the engine, or give the engine a bridge."
            ) from exc
        return str(container.name)

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self.client.close)
