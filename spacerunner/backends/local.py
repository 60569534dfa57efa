"""The local backend: each app a child process in its own session, on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import psutil

from spacerunner import netns
from spacerunner.backends.base import (
    Backend,
    Instance,
    State,
    Status,
    Upstream,
    exit_reason,
    signal_exit,
)
from spacerunner.backends.logs import AppLog
from spacerunner.backends.probe import wait_until_ready
from spacerunner.backends.static import StaticInstance
from spacerunner.config.model import DEFAULT_APP_PORT
from spacerunner.envs import sites
from spacerunner.envs.builder import BuildSlot, Output
from spacerunner.errors import BackendError
from spacerunner.launch.plan import BuildJob, ContainerPlan, LaunchPlan, ProcessPlan, StaticPlan
from spacerunner.limits import cgroups, sandbox
from spacerunner.limits.confine import Confinement, confine
from spacerunner.limits.disk import sweep
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.sandbox import Isolation
from spacerunner.preload.pool import Preloaders
from spacerunner.preload.preloader import Preloader, PreloadError
from spacerunner.preload.seated import SEAT, PreloadedApp, fork_into

Started = tuple[asyncio.subprocess.Process, Confinement, Upstream | None]
Fallback = Callable[[], Awaitable[Started]]


def _in_other_netns(pid: int, ours: str) -> int | None:
    """A process of ``pid``'s tree (itself included) in another network namespace."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    for proc in procs:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != ours:
                return proc.pid
    return None


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
        endpoint: Upstream | None = None,
        *,
        preloaded: PreloadedApp | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        super().__init__(plan, endpoint or Upstream(connect_host(plan.host), plan.port), log)
        self._fallback = fallback
        """How to start again with a fresh interpreter if a preloaded start fails before it
        serves."""
        self._attach(proc, confinement or Confinement(None), endpoint, preloaded)

    def _attach(
        self,
        proc: asyncio.subprocess.Process,
        confinement: Confinement,
        endpoint: Upstream | None,
        preloaded: PreloadedApp | None,
    ) -> None:
        """Follow ``proc`` (and the preloaded app it seats): its output, its end, its limits."""
        self._proc = proc
        self._app_pid: int | None = None
        """The fresh app inside its sandbox, once found (see :meth:`_pid`)."""
        self.preloaded = preloaded
        if endpoint is not None:
            self.endpoint = endpoint
        self.confinement = confinement
        self._watchdog = self.confinement.watchdog(self._root_pid, self._breach)
        self._watchdog_task = (
            asyncio.create_task(self._watchdog.run()) if self._watchdog is not None else None
        )
        self._relay_task = (
            asyncio.create_task(preloaded.relay(proc), name=f"relay:{self.plan.name}")
            if preloaded is not None
            else None
        )
        self._pump_task = asyncio.create_task(self._pump(), name=f"log:{self.plan.name}")
        self._watch_task = asyncio.create_task(self._watch(), name=f"watch:{self.plan.name}")

    def _pid(self) -> int | None:
        """The app's own process: the child itself, or inside its sandbox the first process
        that runs the plan's command (found once; the sandbox's own until it is there)."""
        if self.plan.isolation is Isolation.NONE:
            return self._proc.pid
        if self.preloaded is not None:
            return self.preloaded.pid
        if self._app_pid is None:
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(self._proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if proc.cmdline()[:1] == [self.plan.command[0]]:
                            self._app_pid = proc.pid
                            break
        return self._app_pid or self._proc.pid

    def usage(self) -> dict[str, object] | None:
        if self.ended:
            return None
        peak = self._watchdog.peak_rss if self._watchdog is not None else 0
        try:
            return self.confinement.usage(self._root_pid, peak)
        except OSError:  # the app is ending and its cgroup or disk is being removed
            return None

    def _breach(self, reason: str) -> None:
        """The watchdog saw a limit passed: end the app with that reason."""
        self._limit = reason
        self.log.note(f"{reason}; stopping the app")
        self._kill_group(signal.SIGKILL)
        self._signal_app(signal.SIGKILL)
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
        if self._relay_task is not None:
            self._relay_task.cancel()
        await asyncio.to_thread(self.confinement.cleanup)
        if isinstance(self.endpoint, Upstream) and self.endpoint.netns is not None:
            netns.release(self.endpoint.netns)
        if self.plan.isolation is not Isolation.NONE:
            returncode = signal_exit(returncode)  # bubblewrap reports a signal as 128 + N
        if await self._fall_back(returncode):
            return
        self._ended(returncode)
        self.log.note(f"{self._reason} (pid {self._proc.pid})")
        self.log.close()

    async def _fall_back(self, returncode: int | None) -> bool:
        """A preloaded start that ended before it served, not by a limit nor a stop: start
        again with a fresh interpreter (what failed may be what forking changes)."""
        fallback, preloaded = self._fallback, self.preloaded
        if fallback is None or preloaded is None or self._state is not State.STARTING:
            return False
        if self._limit is not None:
            return False
        self._fallback = None
        self.log.note(
            f"the preloaded start {exit_reason(returncode)} before it served; the app runs "
            "again in a fresh interpreter (and every time from now on)"
        )
        try:
            proc, confinement, endpoint = await fallback()
        except BackendError as exc:
            self.log.note(str(exc))
            return False
        self._attach(proc, confinement, endpoint, None)
        return True

    def _kill_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    @property
    def _root_pid(self) -> int:
        """Where the app's process tree starts: the child, or a preloaded app itself (the
        preloader's, not the child's)."""
        return self.preloaded.pid if self.preloaded is not None else self._proc.pid

    def _signal_app(self, sig: signal.Signals) -> None:
        """A preloaded app is in a session of its own, not in its seat's group."""
        if self.preloaded is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.preloaded.pid, sig)

    def _descendants(self) -> list[psutil.Process]:
        found = []
        with contextlib.suppress(psutil.Error):
            found += psutil.Process(self._proc.pid).children(recursive=True)
        if self.preloaded is not None:
            with contextlib.suppress(psutil.Error):
                app = psutil.Process(self.preloaded.pid)
                found += [app, *app.children(recursive=True)]
        return found

    async def wait_ready(self, timeout: float | None = None) -> None:
        answered = await wait_until_ready(self, timeout, moved=self._moved)
        self._mark_ready(f" on {answered.host}:{answered.port}")

    async def _moved(self, upstream: Upstream) -> Upstream | None:
        """Where the app listens when not on the port it was given (routed there, and said)."""
        if upstream.port != self.plan.port or upstream.netns is not None:
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
        return DEFAULT_APP_PORT if DEFAULT_APP_PORT in ports else sorted(ports)[0]

    async def stop(self, grace: float = 10.0) -> Status:
        if self.ended:
            return self.status()
        self._mark_stopping(f"stopping (SIGTERM, then SIGKILL after {grace:g}s)")
        tree = self._descendants()
        self._signal_app(signal.SIGTERM)
        self._kill_group(signal.SIGTERM)
        for proc in tree:  # children that left the session still get the signal
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        try:
            await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            self._kill_group(signal.SIGKILL)
            self._signal_app(signal.SIGKILL)
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
        state_dir: Path | None = None,
        preload: bool = False,
    ) -> None:
        super().__init__(log_dir)
        self.uids = sandbox.UidMap((state_dir or log_dir.parent) / "uids.json")
        """The host uid of each Space's isolated apps (kept across runs)."""
        self.preloaders = Preloaders(
            state_dir or log_dir.parent, log_dir, self.uids.uid, enabled=preload
        )
        """Interpreters that have imported an environment's SDK, apps are forked from."""
        layers = sandbox.host_layers()
        if layers.root and layers.bwrap is not None:
            sandbox.prepare_stage()
        self.scratch_root = scratch_root
        """Where each run's ephemeral disk is made (none: apps use the machine's HOME)."""
        if scratch_root is not None:
            sweep(scratch_root)
        if limits_mode is LimitsMode.AUTO:
            cgroups.sweep()
        self.limits_mode = limits_mode
        self.base_env = dict(os.environ if base_env is None else base_env)

    async def prepare(
        self, plan: LaunchPlan, output: Output, slot: BuildSlot | None = None
    ) -> None:
        if isinstance(plan, ProcessPlan) and self._preloadable(plan) is None:
            self.preloaders.expect(plan.sdk, plan.command[0], self.uids.uid(plan.name))
        await super().prepare(plan, output, slot)

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
            preloaded = await self._start_preloaded(plan, log)
            if preloaded is not None:
                return preloaded
            proc, confinement, endpoint = await self._start_fresh(plan, log)
        except BaseException:
            log.close()
            raise
        return LocalProcess(plan, log, proc, confinement, endpoint)

    async def _start_fresh(self, plan: ProcessPlan, log: AppLog) -> Started:
        """Start ``plan`` with an interpreter of its own (see :meth:`_exec`)."""
        proc, confinement, _ = await self._exec(plan, log.note)
        endpoint = None
        if plan.isolation is not Isolation.NONE:
            try:
                endpoint = await self._enter(plan, proc.pid)
            except OSError as exc:
                log.note(f"cannot reach into its network namespace: {exc}")
                await self._abandon(proc, confinement)
                raise BackendError(
                    f"{plan.name}: its sandbox did not come up ({exc}); see its log"
                ) from exc
        return proc, confinement, endpoint

    async def _abandon(self, proc: asyncio.subprocess.Process, confinement: Confinement) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await asyncio.to_thread(confinement.cleanup)

    def _preloadable(self, plan: ProcessPlan) -> str | None:
        """Why ``plan``'s app cannot be forked from a preloader on this host, if it cannot."""
        layers = sandbox.host_layers()
        if layers.effective(plan.isolation) is Isolation.NONE:
            return "apps run unisolated here, and only isolated apps are preloaded"
        if layers.setpriv is None or layers.nsenter is None:
            return "setpriv and nsenter (util-linux) are needed"
        if len(plan.command) < 2:
            return "the command is not an interpreter's"
        return None

    def _preloader(
        self, plan: ProcessPlan, env: dict[str, str], note: Callable[[str], None]
    ) -> Preloader | None:
        """The preloader ``plan``'s app (with ``env``) can be forked from, or ``None`` (said
        in the log)."""
        if not self.preloaders.enabled:
            return None
        why = self._preloadable(plan)
        if why is None:
            preloader, why = self.preloaders.get(
                plan.name, plan.sdk, plan.command[0], env, self.uids.uid(plan.name),
                plan.secret_names,
            )  # fmt: skip
            if preloader is not None:
                return preloader
        note(f"preload: {why}; the app runs in a fresh interpreter")
        return None

    async def _start_preloaded(self, plan: ProcessPlan, log: AppLog) -> LocalProcess | None:
        """Start ``plan``'s sandbox around a seat and fork its app there from a preloader;
        ``None`` when there is none to fork from or the fork fails (said in the log)."""
        env = {**self._sandbox_env(plan), "PWD": sandbox.APP_DIR}  # PWD: as bubblewrap sets
        preloader = self._preloader(plan, env, log.note)
        if preloader is None:
            return None
        proc, confinement, _ = await self._exec(plan, log.note, preloader=preloader)
        endpoint: Upstream | None = None
        try:
            endpoint = await self._enter(plan, proc.pid)
            app = await self._fork(plan, env, proc.pid, confinement, preloader)
        except (OSError, PreloadError) as exc:
            await self._abandon(proc, confinement)
            if endpoint is not None and endpoint.netns is not None:
                netns.release(endpoint.netns)
            log.note(f"preload: {exc}; the app runs in a fresh interpreter")
            return None
        log.note(f"preload: forked from preloader pid {preloader.pid}; the app is pid {app.pid}")

        async def fallback() -> Started:
            self.preloaders.refuse(plan.name, "its preloaded start failed before it served")
            return await self._start_fresh(plan, log)

        return LocalProcess(
            plan, log, proc, confinement, endpoint, preloaded=app, fallback=fallback
        )

    async def _fork(
        self,
        plan: ProcessPlan,
        env: dict[str, str],
        pid: int,
        confinement: Confinement,
        preloader: Preloader,
    ) -> PreloadedApp:
        """Fork the app from ``preloader`` into the sandbox of the chain ``pid``, in its
        cgroup, with what a fresh start of it would have (``env``)."""
        limits = plan.limits
        request = {
            "argv": list(plan.command[1:]),
            "env": env,
            "cwd": sandbox.APP_DIR,
            "uid": sandbox.SPACE_UID,
            "gid": sandbox.SPACE_UID,
            "nofile": limits.nofile if limits is not None else None,
            "affinity": sorted(confinement.affinity) if confinement.affinity else None,
        }
        procs = confinement.cgroup.procs_files if confinement.cgroup is not None else []
        return await fork_into(
            pid, preloader, request, procs, lambda name: self.preloaders.learn(preloader, name)
        )

    async def _exec(
        self,
        plan: ProcessPlan | BuildJob,
        note: Callable[[str], None],
        *,
        preloader: Preloader | None = None,
    ) -> tuple[asyncio.subprocess.Process, Confinement, Path]:
        """Start ``plan``'s command in its limits and sandbox: the process (its output on its
        stdout), its confinement, and the folder it works in (a copy of the Space, unless an
        app runs unlimited and unisolated in the Space folder itself). With ``preloader`` the
        sandbox is made in its user namespace and runs :data:`SEAT` (its stdin a pipe)."""
        try:
            confinement = await asyncio.to_thread(
                confine,
                plan.name,
                plan.limits,
                self.scratch_root if plan.limits is not None else None,
                mode=self.limits_mode,
            )
        except OSError as exc:
            raise BackendError(f"{plan.name}: cannot set up its limits: {exc}") from exc
        for line in confinement.report:
            note(f"limit: {line}")
        if plan.data_dir is not None:
            plan.data_dir.mkdir(parents=True, exist_ok=True)
        isolated = plan.isolation is not Isolation.NONE
        try:
            if isolated:
                command, env, cwd, workdir, preexec = await asyncio.to_thread(
                    self._isolate, plan, confinement, note, preloader
                )
            else:
                command, cwd, preexec = plan.command, plan.cwd, confinement.preexec()
                if confinement.scratch is not None or isinstance(plan, BuildJob):
                    await asyncio.to_thread(confinement.run_dir, self.scratch_root)
                    assert confinement.scratch is not None
                    cwd = await asyncio.to_thread(confinement.scratch.working_copy, plan.cwd)
                    note(f"working copy of the Space: {cwd} (ephemeral; the folder is untouched)")
                workdir = cwd
                env = {**self.base_env, **confinement.env(), **plan.env}
        except OSError as exc:
            await asyncio.to_thread(confinement.cleanup)
            raise BackendError(f"{plan.name}: cannot set up its sandbox: {exc}") from exc
        where = f" (port {plan.port})" if isinstance(plan, ProcessPlan) else ""
        note(f"starting {shlex.join(plan.command)} in {plan.cwd}{where}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE if preloader else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            await asyncio.to_thread(confinement.cleanup)
            note(f"could not start: {exc}")
            raise BackendError(
                f"{plan.name}: cannot start {plan.command[0]!r}: "
                f"{getattr(exc, 'strerror', None) or exc}. "
                "Fix: check that the interpreter exists and the Space folder is readable."
            ) from exc
        return proc, confinement, workdir

    async def run_job(self, job: BuildJob, output: Output) -> None:
        def note(message: str) -> None:
            output(f"[spacerunner] {message}\n".encode())

        note(f"build: {job.describe}" if job.describe else "build")
        proc, confinement, workdir = await self._exec(job, note)
        assert proc.stdout is not None
        timed_out = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + job.timeout
        breached: list[str] = []

        def breach(reason: str) -> None:  # a limit spacerunner watches (no cgroup here)
            breached.append(reason)
            note(f"{reason}; stopping the build")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        watchdog = confinement.watchdog(proc.pid, breach)
        watching = asyncio.create_task(watchdog.run()) if watchdog is not None else None
        try:
            while True:
                try:
                    data = await asyncio.wait_for(
                        proc.stdout.read(65536), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    timed_out = True
                    break
                if not data:
                    break
                output(data)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # what the build left running; or all of it
            code = await proc.wait()
            if job.isolation is not Isolation.NONE:
                code = signal_exit(code)
            limit = next(iter(breached), None) or await asyncio.to_thread(confinement.limit_reason)
            if code == 0 and not timed_out and limit is None:
                facts = {"command": job.command[-1], "tools": job.describe}
                await asyncio.to_thread(sites.keep, workdir, job.output, facts)
                note(f"build done: serving {job.output}")
                return
        finally:
            if watching is not None:
                watching.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # cancelled: nothing of it outlives it
            confinement.kill()
            await asyncio.to_thread(confinement.cleanup)
        if timed_out:
            why = f"took over {job.timeout:.0f} s and was stopped"
        else:
            why = f"was stopped: {limit}" if limit else f"exited with code {code}"
        raise BackendError(
            f"{job.name}: its build ({job.command[-1]!r}) {why}. Fix: run it in a copy of the "
            "Space to see why (the build log has its output), or change app_build_command."
        )

    def _isolate(
        self,
        plan: ProcessPlan | BuildJob,
        confinement: Confinement,
        note: Callable[[str], None],
        preloader: Preloader | None = None,
    ) -> tuple[tuple[str, ...], dict[str, str], Path, Path, Callable[[], None]]:
        """The command, environment, working folder, the Space's copy it works on (as the host
        sees it) and child set-up of an isolated run (see spacerunner.limits.sandbox); files it
        may write are given to its uid."""
        layers = sandbox.host_layers()
        for line in layers.missing(plan.isolation):
            note(f"isolation: MISSING {line}")
        run = confinement.run_dir(self.scratch_root)
        scratch = confinement.scratch
        assert scratch is not None
        app = scratch.working_copy(plan.cwd)
        uid = self.uids.uid(plan.name) if layers.setpriv is not None else None
        if uid is not None:
            for folder in (app, scratch.home, scratch.tmp, *filter(None, [plan.data_dir])):
                sandbox.chown_tree(folder, uid)
        tools = (
            sandbox.python_roots(plan.command[0])
            if isinstance(plan, ProcessPlan)
            else list(plan.tools)
        )
        mounts = sandbox.binds(
            app=app, home=scratch.home, tmp=scratch.tmp, data=plan.data_dir, tools=tools
        )
        command = sandbox.command(
            SEAT if preloader is not None else plan.command,
            layers=layers,
            isolation=plan.isolation,
            uid=uid,
            mounts=mounts,
            host_ports=plan.host_ports,
            userns=f"/proc/{preloader.pid}/ns/user" if preloader is not None else None,
        )
        env = self._sandbox_env(plan)
        network = (
            "its own network namespace with outbound internet (pasta), no way to this "
            "machine's loopback"
            if plan.isolation is Isolation.FULL
            else "no network but its own loopback"
        )
        note(
            f"isolation: uid {sandbox.SPACE_UID} inside, host uid "
            f"{uid if uid is not None else 'of spacerunner'}; own PID and mount namespaces "
            f"(app at {sandbox.APP_DIR}, read-only system); {network}; "
            "only its own variables"
        )
        setup = confinement.preexec()

        def preexec() -> None:  # pragma: no cover - runs in the child
            setup()
            sandbox.stage(mounts)

        return tuple(command), env, run, app, preexec

    def _sandbox_env(self, plan: ProcessPlan | BuildJob) -> dict[str, str]:
        """The whole environment of an isolated run."""
        return {
            **sandbox.allowed_environment(self.base_env),
            "HOME": sandbox.APP_HOME,
            "TMPDIR": "/tmp",
            "XDG_CACHE_HOME": f"{sandbox.APP_HOME}/.cache",
            **plan.env,
        }

    def helpers(self) -> list[dict[str, object]]:
        return self.preloaders.memory()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.preloaders.close()

    async def _enter(self, plan: ProcessPlan, pid: int) -> Upstream:
        """Register the network namespace the app's sandbox made, so the proxy and probes
        connect to the app on its own loopback."""
        ours = os.readlink("/proc/self/ns/net")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            inner = await asyncio.to_thread(_in_other_netns, pid, ours)
            if inner is not None:
                break
            if loop.time() > deadline:
                raise OSError("no process of the sandbox entered a network namespace in 10 s")
            await asyncio.sleep(0.01)
        name = f"space-{plan.name}-{pid}"
        await asyncio.to_thread(netns.register, name, inner)
        return Upstream("127.0.0.1", plan.port, netns=name)
