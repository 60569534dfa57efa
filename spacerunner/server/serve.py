"""A folder of Spaces on one port: proxy + supervisor + control app, started and stopped as one.

Order at start: the proxy binds first (a port in use fails before anything else happens), the
previous server's leftovers are ended, Spaces are registered (none started: they start on their
first visit), then the control app and the server file the CLI finds it by.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import Visibility
from spacerunner.auth.gate import Gate
from spacerunner.auth.provider import Clients, Provider, load_signing_key, space_variables
from spacerunner.auth.upstream import UpstreamOIDC
from spacerunner.backends.base import Upstream
from spacerunner.backends.select import make_backend
from spacerunner.defaults import DEFAULTS
from spacerunner.errors import PortInUseError, SpacerunnerError
from spacerunner.launcher import Launcher, SpaceSettings
from spacerunner.paths import state_dir as default_state_dir
from spacerunner.proxy import ProxyServer, Route, Router
from spacerunner.server.app import build_app
from spacerunner.server.history import History
from spacerunner.server.metrics import ServerMetrics
from spacerunner.server.signin import Bootstrap
from spacerunner.supervisor import Policy, Supervisor
from spacerunner.supervisor.events import Listener
from spacerunner.supervisor.secrets import SecretStore
from spacerunner.supervisor.state import StateFile

CONTROL = "_control"
"""The route of the control app (no Space name starts with '_')."""


@dataclass(frozen=True)
class ServeOptions:
    dirs: tuple[Path, ...]
    host: str = DEFAULTS.host
    port: int = DEFAULTS.serve_port
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Host names answered besides loopback and ``*.localhost`` (``--allowed-host``)."""
    visibility: Visibility = Visibility.PUBLIC
    """Who may see a Space whose visibility was never set (``--visibility``)."""
    upstream: UpstreamOIDC | None = None
    """An OpenID Connect provider people may sign in with (``--oidc-issuer``...)."""
    allow_create: bool = False
    """A git push to a new name creates a Space owned by the pusher (``--allow-create``)."""
    metrics_address: tuple[str, int] | None = None
    """Where ``/metrics`` is also served to anyone who reaches it (``--metrics-address``);
    on the server's own port it is for admins."""
    preload: bool = True
    """Start apps from preloaded interpreters of their environment (``--no-preload``)."""
    policy: Policy = field(default_factory=Policy)
    spaces: SpaceSettings = field(default_factory=SpaceSettings)
    state_dir: Path = field(default_factory=default_state_dir)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our event loop: signals stay spacerunner's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Portfolio:
    def __init__(self, options: ServeOptions, *, listeners: tuple[Listener, ...] = ()) -> None:
        """``listeners``: called with every Space event from the first build on."""
        self.options = options
        self.listeners = listeners
        self.token = (
            options.token or os.environ.get("SPACERUNNER_TOKEN") or secrets.token_urlsafe(18)
        )
        self.gate = Gate.of(TeamFiles(options.state_dir), self.token, options.visibility)
        self.accounts = self.gate.accounts
        self.bootstrap = Bootstrap()
        files = TeamFiles(options.state_dir)
        self.provider = Provider(
            Clients(files.oauth_clients),
            load_signing_key(files.signing_key),
            issuer=lambda: self.gate.origin,
        )
        self.router = Router()
        self.proxy = ProxyServer(self.router, allowed_hosts=options.allowed_hosts, gate=self.gate)
        self.supervisor: Supervisor | None = None
        self.metrics: ServerMetrics | None = None
        self.history: History | None = None
        self._control: _EmbeddedUvicorn | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._metrics_server: _EmbeddedUvicorn | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        self._history_task: asyncio.Task[None] | None = None
        self._metrics_sock: socket.socket | None = None
        self.metrics_url: str | None = None
        self.server_file: Path | None = None

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def setup_link(self) -> str | None:
        """The one-time link that creates the first admin (None once there are accounts)."""
        if self.accounts.any():
            return None
        return f"{self.url}/setup?code={self.bootstrap.code}"

    async def start(self) -> None:
        options = self.options
        await self.proxy.start(options.host, options.port)
        if options.metrics_address is not None:  # (taken before anything starts, as the port)
            self._metrics_sock = _listen(*options.metrics_address)
        port = self.proxy.port
        self.gate.origin = self.url
        serve_dir = options.state_dir / "serve" / str(port)
        settings = options.spaces
        backend = make_backend(
            settings.backend,
            serve_dir / "logs",
            state_dir=serve_dir,
            scratch_root=serve_dir / "scratch",
            limits_mode=settings.limits.mode,
            preload=options.preload,
        )
        self.supervisor = Supervisor(
            list(options.dirs),
            Launcher(settings, backend),
            self.router,
            state=StateFile(serve_dir / "state.json"),
            public_port=port,
            policy=options.policy,
            data_root=serve_dir / "data",
            secrets=SecretStore(options.state_dir / "secrets"),
            oauth=lambda name, oauth: space_variables(self.provider, name, oauth),
        )
        for listener in self.listeners:
            self.supervisor.events.subscribe(listener)
        self.metrics = ServerMetrics(self.supervisor)
        self.history = History(self.supervisor)
        await self.supervisor.start()
        self._history_task = asyncio.create_task(self.history.run(), name="history")
        await self._start_control(port)
        if self._metrics_sock is not None:
            await self._start_metrics(self._metrics_sock)
        self._write_server_file(port)

    async def _start_control(self, port: int) -> None:
        assert self.supervisor is not None
        proto = self.proxy.forwarded_proto.decode()
        app = build_app(
            self.supervisor,
            metrics=self.metrics,
            history=self.history,
            gate=self.gate,
            port=port,
            bootstrap=self.bootstrap,
            proto=lambda: proto,
            provider=self.provider,
            upstream=self.options.upstream,
            allow_create=self.options.allow_create,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._control, self._control_task = await _embedded(app, sock)
        control_port = sock.getsockname()[1]
        self.router.add(Route(CONTROL, endpoint=Upstream("127.0.0.1", control_port), guarded=False))

    async def _start_metrics(self, sock: socket.socket) -> None:
        """``/metrics`` on an address of its own, for a Prometheus that reaches it there."""
        from prometheus_client import make_asgi_app

        assert self.metrics is not None
        self._metrics_server, self._metrics_task = await _embedded(
            make_asgi_app(self.metrics.registry), sock
        )
        bound = sock.getsockname()
        self.metrics_url = f"http://{_url_host(bound[0])}:{bound[1]}/metrics"

    def _write_server_file(self, port: int) -> None:
        """What ``ps``, ``logs``, ``stop`` find this server by: a file of its own port (any
        number of servers run side by side), readable only by this user (it has the token)."""
        data = {
            "url": self.url,
            "port": port,
            "pid": os.getpid(),
            "token": self.token,
            "dirs": [str(d) for d in self.options.dirs],
        }
        path = self.options.state_dir / "serve" / str(port) / "server.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        self.server_file = path

    async def close(self) -> None:
        try:
            if self._history_task is not None:
                self._history_task.cancel()
            if self.supervisor is not None:
                await self.supervisor.close()
        finally:
            for server, task in (
                (self._control, self._control_task),
                (self._metrics_server, self._metrics_task),
            ):
                if server is not None and task is not None:
                    server.should_exit = True
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, 5)
            if self._metrics_sock is not None:
                self._metrics_sock.close()
            await self.proxy.close()
            self._remove_server_file()

    def _remove_server_file(self) -> None:
        path = self.server_file
        with contextlib.suppress(OSError, ValueError):
            if path is not None and json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()


async def _embedded(
    app: object, sock: socket.socket
) -> tuple[_EmbeddedUvicorn, asyncio.Task[None]]:
    """Serve the ASGI ``app`` on the bound ``sock`` in this event loop, once it listens."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="httptools",
        timeout_graceful_shutdown=1,
    )
    server = _EmbeddedUvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; a port in use (or an address this machine does not
    have) is a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise SpacerunnerError(
            f"{host}:{port}: cannot listen there ({exc.strerror}). Fix: give an address of "
            "this machine, e.g. 127.0.0.1:9100."
        ) from exc
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
