"""Which app a request goes to: by host name (``demo.localhost``) or by path prefix."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from spacerunner.backends.base import Endpoint, Upstream
from spacerunner.config.model import SpaceConfig
from spacerunner.launch.plan import LaunchPlan, StaticPlan

Waker = Callable[[], Awaitable[Endpoint]]
UpstreamKey = tuple[str, int, str | None, str | None]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the request latency histogram each route keeps."""


STATUS_CLASSES = ("none", "1xx", "2xx", "3xx", "4xx", "5xx")
"""How :class:`RouteStats` counts answers: by the status' first digit, ``none`` for a client
that left before any."""


class RouteStats:
    """What a route answered: responses by status class (``1xx``..``5xx``; ``none`` when the
    client left before any) and a histogram of how long requests took. Plain counters on the
    proxy's hot path; the metrics endpoint reads them when scraped."""

    __slots__ = ("buckets", "by_class", "latency_sum")

    def __init__(self) -> None:
        self.by_class = [0] * len(STATUS_CLASSES)
        """Counts in the order of :data:`STATUS_CLASSES`."""
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        """Per bucket (not cumulative); the last one is above every bound."""
        self.latency_sum = 0.0

    def record(self, status: int, seconds: float) -> None:
        self.by_class[status // 100 if 100 <= status < 600 else 0] += 1
        if status == 101:
            return  # a WebSocket's lifetime is not a request's latency
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    @property
    def requests(self) -> int:
        return sum(self.by_class)


@dataclass(eq=False)
class Route:
    """A mutable routing entry: the supervisor updates ``endpoint`` as the app comes and goes.

    While ``endpoint`` is ``None`` the proxy calls ``waker`` (when set) and holds the request until
    it returns an endpoint, or answers 503 with ``down_reason``.
    """

    name: str
    prefix: str = ""
    """Path prefix without trailing slash ('' matches everything)."""
    host: str | None = None
    """Host name (without port) this route also answers, e.g. ``demo.localhost``."""
    strip_prefix: bool = False
    endpoint: Endpoint | None = None
    waker: Waker | None = None
    down_reason: str = "The app is not running."
    retry: bool = True
    """Whether being down is temporary (pages then reload themselves) or needs a person."""
    guarded: bool = True
    """Requests pass the proxy's gatekeeper first (every Space's app; not the control app,
    which applies the same rules itself)."""
    response_headers: tuple[tuple[bytes, bytes], ...] = ()
    """Headers added to (or replacing those of) every response, e.g. Spaces' custom_headers."""
    response_header_names: frozenset[bytes] = field(init=False)
    last_active: float = field(default_factory=time.monotonic)
    open_tunnels: int = 0
    """WebSocket (or other upgraded) connections open right now."""
    active_requests: int = 0
    """Requests being answered right now (a long stream counts until it ends)."""
    stats: RouteStats = field(default_factory=RouteStats)

    def __post_init__(self) -> None:
        self.response_header_names = frozenset(n.lower() for n, _ in self.response_headers)
        self._wake_task: asyncio.Task[Endpoint] | None = None
        self._users: Counter[UpstreamKey] = Counter()

    def hold(self, upstream: Upstream) -> UpstreamKey:
        """A request (or WebSocket) is forwarded to ``upstream``; :meth:`release` the key
        it returns when it ends."""
        key = upstream.key
        self._users[key] += 1
        return key

    def release(self, key: UpstreamKey) -> None:
        self._users[key] -= 1
        if self._users[key] <= 0:
            del self._users[key]

    def users(self, endpoint: Endpoint) -> int:
        """Requests and WebSockets being answered by ``endpoint`` now: what an app that has
        been replaced finishes before it stops."""
        return self._users.get(endpoint.key, 0) if isinstance(endpoint, Upstream) else 0

    def apply(self, plan: LaunchPlan, config: SpaceConfig) -> None:
        """Take the routing facts of a (new) launch of this route's Space: how paths reach the
        app from the plan, the headers every response carries from ``custom_headers``. (A
        route exists before its first launch, to hold requests and show a starting page.)"""
        self.strip_prefix = not isinstance(plan, StaticPlan) and plan.strip_prefix
        self.response_headers = tuple((k.encode(), v.encode()) for k, v in config.custom_headers)
        self.response_header_names = frozenset(n.lower() for n, _ in self.response_headers)

    def wake_soon(self) -> None:
        """Start waking the app without waiting for it (what a browser's first visit does)."""
        if self.waker is None or (self._wake_task is not None and not self._wake_task.done()):
            return
        self._wake_task = asyncio.ensure_future(self.waker())
        self._wake_task.add_done_callback(_consume)

    def upstream_path(self, url: bytes, *, by_host: bool = False) -> bytes:
        """The request target the app sees.

        Under a path prefix, an app that strips it (Gradio) sees paths without it and one that
        keeps it (Streamlit's baseUrlPath) sees them as they are. Reached by host name, paths may
        come with or without the prefix (the app's own links carry it); both reach the same place.
        """
        prefix = self.prefix.encode()
        if not prefix:
            return url
        if self.strip_prefix:
            return self.without_prefix(url)
        if by_host and not self._has_prefix(url):
            return prefix + url
        return url

    def _has_prefix(self, url: bytes) -> bool:
        prefix = self.prefix.encode()
        return url == prefix or url.startswith((prefix + b"/", prefix + b"?"))

    def without_prefix(self, url: bytes) -> bytes:
        """``url`` relative to the route's prefix (unchanged when it does not carry it)."""
        if not self.prefix or not self._has_prefix(url):
            return url
        rest = url[len(self.prefix) :]
        return rest if rest.startswith(b"/") else b"/" + rest


def _consume(task: asyncio.Task[Endpoint]) -> None:
    """Retrieve a background wake's outcome; the supervisor records any failure itself."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


class Router:
    """Host routes first, then the longest matching path prefix."""

    def __init__(self) -> None:
        self._hosts: dict[str, Route] = {}
        self._prefixes: list[tuple[bytes, Route]] = []

    @property
    def routes(self) -> list[Route]:
        return [route for _, route in self._prefixes]

    @property
    def fallback(self) -> Route | None:
        """The route of every path no other route takes (the control app on a server)."""
        return next((r for p, r in self._prefixes if not p), None)

    def add(self, route: Route) -> None:
        self.remove(route.name)
        self._prefixes.append((route.prefix.encode(), route))
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        if route.host:
            self._hosts[route.host.lower()] = route

    def remove(self, name: str) -> Route | None:
        found = next((r for _, r in self._prefixes if r.name == name), None)
        self._prefixes = [(p, r) for p, r in self._prefixes if r.name != name]
        self._hosts = {h: r for h, r in self._hosts.items() if r.name != name}
        return found

    def match(self, host: bytes | None, path: bytes) -> tuple[Route, bool] | None:
        """The route for a request, and whether it is served by host name (no prefix then)."""
        if host and self._hosts:
            name = host.rsplit(b":", 1)[0] if not host.endswith(b"]") else host
            route = self._hosts.get(name.decode("latin-1").lower())
            if route is not None:
                return route, True
        for prefix, route in self._prefixes:
            if not prefix or path == prefix or path.startswith(prefix + b"/"):
                return route, False
        return None
