"""What every route of the control app shares: templates, who is asking, same-origin checks,
and where a browser may be sent back to after signing in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import Identity
from spacerunner.urls import HOST_SUFFIX

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("spacerunner.server", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
)


def page(template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    body = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def problem_page(
    title: str,
    message: str,
    status: int,
    *,
    who: Identity | None = None,
    sign_in: bool = False,
) -> HTMLResponse:
    """The server's error page (``sign_in``: offer the sign-in link to those not signed in)."""
    return page(
        "error.html",
        {"title": title, "message": message, "who": who, "sign_in": sign_in},
        status=status,
    )


def error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def who(gate: Gate, request: Request) -> Identity:
    headers = request.headers
    cookie, authorization = headers.get("cookie"), headers.get("authorization")
    return gate.identify(
        cookie.encode("latin-1") if cookie else None,
        authorization.encode("latin-1") if authorization else None,
    )[0]


def by_header(request: Request) -> bool:
    """The request carried its credential itself (``Authorization``), not as a cookie a
    browser sends on its own: no cross-site request can forge it."""
    return "authorization" in request.headers


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``) is the origin it was sent to."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    return parts.scheme == proto and parts.netloc.lower() == host.lower()


def may_change(request: Request) -> bool:
    """A state-changing call: a credential in a header, or the session cookie from a page of
    this very origin (a cookie alone would let any page a signed-in person visits act: CSRF)."""
    return by_header(request) or same_origin(request)


def back_to(target: str, request: Request) -> tuple[str, str | None]:
    """Where to send a browser after signing in: (path or URL, Space host or None).

    A path of this server, or a URL of one of its Spaces' own host names (``<name>.localhost``
    on this server's port, which then needs the session carried to it); anything else is '/'
    (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target, None
    parts = urlsplit(target)
    host = request.headers.get("host", "")
    port = host.rpartition(":")[2] if ":" in host else ""
    name = (parts.hostname or "").lower()
    if (
        parts.scheme in ("http", "https")
        and name.endswith(HOST_SUFFIX)
        and name != HOST_SUFFIX.lstrip(".")
        and str(parts.port or "") == port
    ):
        path = parts.path or "/"
        return path + (f"?{parts.query}" if parts.query else ""), parts.netloc.lower()
    return "/", None
