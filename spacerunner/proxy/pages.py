"""Pages spacerunner answers with itself: not found, app down, app starting."""

from __future__ import annotations

import functools

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("spacerunner.proxy", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
)


@functools.lru_cache(maxsize=256)
def error_page(
    status: int, title: str, message: str, *, space: str = "", detail: str = "", refresh: int = 0
) -> bytes:
    """An HTML page for a status spacerunner answers itself."""
    template = _ENV.get_template("error.html")
    return template.render(
        status=status, title=title, message=message, space=space, detail=detail, refresh=refresh
    ).encode()
