"""Which app a request goes to: by host name (``demo.localhost``) or by path prefix."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from spacerunner.backends.base import Endpoint

Waker = Callable[[], Awaitable[Endpoint]]


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
    response_headers: tuple[tuple[bytes, bytes], ...] = ()
    """Headers added to (or replacing those of) every response, e.g. Spaces' custom_headers."""
    response_header_names: frozenset[bytes] = field(init=False)
    last_active: float = field(default_factory=time.monotonic)
    open_tunnels: int = 0
    """WebSocket (or other upgraded) connections open right now."""

    def __post_init__(self) -> None:
        self.response_header_names = frozenset(n.lower() for n, _ in self.response_headers)

    def upstream_path(self, url: bytes) -> bytes:
        """The request target the app sees."""
        if self.strip_prefix and self.prefix:
            rest = url[len(self.prefix) :]
            if not rest.startswith(b"/"):
                rest = b"/" + rest
            return rest
        return url


class Router:
    """Host routes first, then the longest matching path prefix."""

    def __init__(self) -> None:
        self._hosts: dict[str, Route] = {}
        self._prefixes: list[tuple[bytes, Route]] = []

    @property
    def routes(self) -> list[Route]:
        return [route for _, route in self._prefixes]

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
