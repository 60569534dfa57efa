"""spacerunner's reverse proxy: httptools parsing, uvloop, streaming both ways, WebSockets."""

from spacerunner.proxy.routes import Route, Router
from spacerunner.proxy.server import ProxyServer

__all__ = ["ProxyServer", "Route", "Router"]
