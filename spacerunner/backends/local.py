"""The local backend: each app a child process in its own session, on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import psutil

from spacerunner.backends.base import Backend, Instance, Status, Upstream
from spacerunner.backends.logs import AppLog
from spacerunner.backends.probe import wait_until_ready
from spacerunner.backends.static import StaticInstance
from spacerunner.errors import BackendError
from spacerunner.launch.plan import ContainerPlan, LaunchPlan, ProcessPlan, StaticPlan
from spacerunner.limits import cgroups, sandbox
from spacerunner.limits.confine import Confinement, confine
from spacerunner.limits.disk import sweep
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.watchdog import Watchdog


def connect_host(bind_host: str) -> str:
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return "::1" if bind_host == "::" else bind_host


class LocalProcess(Instance):
    """An app running as a child process of spacerunner."""

    plan: ProcessPlan

    def __init__(
        self,
        plan: ProcessPlan,
        log: AppLog,
        proc: asyncio.subprocess.Process,
        confinement: Confinement | None = None,
        unix: str | None = None,
    ) -> None:
        super().__init__(plan, Upstream(connect_host(plan.host), plan.port, unix), log)
        self._proc = proc
        self.confinement = confinement or Confinement(None)
        self._watchdog: Watchdog | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        if self.confinement.watched and plan.limits is not None:
            self._watchdog = Watchdog(
                proc.pid,
                plan.limits,
                self.confinement.watched,
                self.confinement.scratch,
                self._breach,
            )
            self._watchdog_task = asyncio.create_task(self._watchdog.run())
        self._pump_task = asyncio.create_task(self._pump(), name=f"log:{plan.name}")
        self._watch_task = asyncio.create_task(self._watch(), name=f"watch:{plan.name}")

    def _pid(self) -> int | None:
        return self._proc.pid

    def usage(self) -> dict[str, object] | None:
        if self.ended:
            return None
        peak = self._watchdog.peak_rss if self._watchdog is not None else 0
        try:
            return self.confinement.usage(self._proc.pid, peak)
        except OSError:  # the app is ending and its cgroup or disk is being removed
            return None

    def _breach(self, reason: str) -> None:
        """The watchdog saw a limit passed: end the app with that reason."""
        self._limit = reason
        self.log.note(f"{reason}; stopping the app")
        self._kill_group(signal.SIGKILL)
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.confinement.kill()

    async def _pump(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while data := await stream.read(65536):
            self.log.feed(data)

    async def _watch(self) -> None:
        returncode = await self._proc.wait()
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
        self._limit = self._limit or await asyncio.to_thread(self.confinement.limit_reason)
        self._kill_group(signal.SIGKILL)  # anything the app left behind in its session
        self.confinement.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._pump_task), 2.0)
        await asyncio.to_thread(self.confinement.cleanup)
        self._ended(returncode)
        self.log.note(f"{self._reason} (pid {self._proc.pid})")
        self.log.close()

    def _kill_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    async def wait_ready(self, timeout: float | None = None) -> None:
        answered = await wait_until_ready(self, timeout, moved=self._moved)
        self._mark_ready(f" on {answered.host}:{answered.port}")

    async def _moved(self, upstream: Upstream) -> Upstream | None:
        """Where the app listens when not on the port it was given (routed there, and said)."""
        if upstream.port != self.plan.port or upstream.unix is not None:
            return None
        actual = await asyncio.to_thread(self._listening_elsewhere)
        if actual is None:
            return None
        self.endpoint = Upstream(upstream.host, actual)
        self.log.note(
            f"the app listens on port {actual}, not on {self.plan.port} that "
            "spacerunner gave it (GRADIO_SERVER_PORT / PORT); routing to "
            f"{actual}. Two apps that hard-code one port cannot run at once."
        )
        return self.endpoint

    def _listening_elsewhere(self) -> int | None:
        """A TCP port the app's processes listen on on loopback or every address, when it is
        not the one it was given (an app that hard-codes ``server_port=7860``)."""
        try:
            root = psutil.Process(self._proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        ports: list[int] = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                for conn in proc.net_connections(kind="tcp"):
                    local = conn.laddr
                    if (
                        conn.status == psutil.CONN_LISTEN
                        and local
                        and local.ip in ("127.0.0.1", "0.0.0.0", "::", "::1")
                    ):
                        ports.append(local.port)
        if not ports or self.plan.port in ports:
            return None
        return 7860 if 7860 in ports else sorted(ports)[0]

    async def stop(self, grace: float = 10.0) -> Status:
        if self.ended:
            return self.status()
        self._mark_stopping(f"stopping (SIGTERM, then SIGKILL after {grace:g}s)")
        tree = self._descendants()
        self._kill_group(signal.SIGTERM)
        for proc in tree:  # children that left the session still get the signal
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        try:
            await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            self._kill_group(signal.SIGKILL)
            self.confinement.kill()
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        return await self.wait()


class LocalBackend(Backend):
    """Runs apps as child processes of this spacerunner; every one is stopped by :meth:`close`."""

    name = "local"

    def __init__(
        self,
        log_dir: Path,
        base_env: Mapping[str, str] | None = None,
        *,
        scratch_root: Path | None = None,
        limits_mode: LimitsMode = LimitsMode.AUTO,
    ) -> None:
        super().__init__(log_dir)
        self.scratch_root = scratch_root
        """Where each run's ephemeral disk is made (none: apps use the machine's HOME)."""
        if scratch_root is not None:
            sweep(scratch_root)
        if limits_mode is LimitsMode.AUTO:
            cgroups.sweep()
        self.limits_mode = limits_mode
        self.base_env = dict(os.environ if base_env is None else base_env)

    async def start(self, plan: LaunchPlan) -> Instance:
        log = self.open_log(plan.name)
        if isinstance(plan, StaticPlan):
            instance: Instance = StaticInstance(plan, log)
        elif isinstance(plan, ContainerPlan):
            log.close()
            raise BackendError(
                f"{plan.name}: this Space runs in a container (sdk: {plan.sdk.value}), which the "
                "local backend cannot start. Fix: use --backend docker or auto, with a Docker "
                "engine running."
            )
        else:
            instance = await self._spawn(plan, log)
        return self._track(instance)

    async def _spawn(self, plan: ProcessPlan, log: AppLog) -> LocalProcess:
        try:
            confinement = await asyncio.to_thread(
                confine,
                plan.name,
                plan.limits,
                self.scratch_root if plan.limits is not None else None,
                mode=self.limits_mode,
            )
        except OSError as exc:
            log.close()
            raise BackendError(f"{plan.name}: cannot set up its limits: {exc}") from exc
        for line in confinement.report:
            log.note(f"limit: {line}")
        if plan.data_dir is not None:
            plan.data_dir.mkdir(parents=True, exist_ok=True)
        command, unix, cwd = plan.command, None, plan.cwd
        if confinement.scratch is not None:
            cwd = await asyncio.to_thread(confinement.scratch.working_copy, plan.cwd)
            log.note(f"working copy of the Space: {cwd} (ephemeral; the folder is untouched)")
        if plan.sandbox:
            try:
                run_dir = confinement.run_dir(self.scratch_root)
                command = tuple(
                    sandbox.wrap(
                        plan.command,
                        cwd=cwd,
                        port=plan.port,
                        run_dir=run_dir,
                        readable=[plan.cwd] if cwd == plan.cwd else [],
                        writable=[plan.data_dir] if plan.data_dir else [],
                    )
                )
            except BackendError:
                await asyncio.to_thread(confinement.cleanup)
                log.close()
                raise
            unix = str(run_dir / sandbox.SOCKET_NAME)
            log.note(
                "sandbox: bubblewrap, uid 1000 without capabilities, read-only system, "
                "no network but its own loopback (reached through a unix socket)"
            )
        env = {**self.base_env, **confinement.env(), **plan.env}
        log.note(f"starting {shlex.join(plan.command)} in {plan.cwd} (port {plan.port})")
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=confinement.preexec(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            await asyncio.to_thread(confinement.cleanup)
            log.note(f"could not start: {exc}")
            log.close()
            raise BackendError(
                f"{plan.name}: cannot start {plan.command[0]!r}: "
                f"{getattr(exc, 'strerror', None) or exc}. "
                "Fix: check that the interpreter exists and the Space folder is readable."
            ) from exc
        return LocalProcess(plan, log, proc, confinement, unix)
