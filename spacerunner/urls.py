"""The shapes of the URLs a served Space answers at: one home for each."""

from __future__ import annotations

HOST_SUFFIX = ".localhost"
"""Browsers resolve every ``*.localhost`` name to this machine."""


def space_mount(name: str) -> str:
    """The path prefix of a Space's app on a server: ``/spaces/<name>``."""
    return f"/spaces/{name}"


def space_host(name: str) -> str:
    """The host name a Space's app answers at, without port: ``<name>.localhost``."""
    return f"{name}{HOST_SUFFIX}"


def space_page(name: str) -> str:
    """The server's page about a Space (its state, logs link, the app in a frame)."""
    return f"/space/{name}"


def space_api(name: str, *rest: str) -> str:
    """The JSON API of a Space: ``/api/spaces/<name>[/rest...]``."""
    return "/".join((f"/api/spaces/{name}", *rest))
