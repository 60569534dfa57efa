"""Static Spaces: files of the Space folder, and never a file outside it."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator

import pytest
from helpers import SPACES, LoopThread

from spacerunner.backends.base import StaticSite
from spacerunner.proxy import ProxyServer, Route, Router
from spacerunner.proxy.static import Redirect, Refused, StaticFile, resolve


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> StaticSite:
    root = tmp_path_factory.mktemp("static") / "space"
    shutil.copytree(SPACES / "static-site", root)
    secret = root.parent / "secret.txt"
    secret.write_text("outside the Space")
    (root / "link-out.txt").symlink_to(secret)
    (root / "sub" / "link-in.css").symlink_to(root / "css" / "site.css")
    return StaticSite(root, "index.html")


@pytest.fixture(scope="module")
def port(loop_thread: LoopThread, site: StaticSite) -> Iterator[int]:
    router = Router()
    router.add(Route("s", prefix="/spaces/s", endpoint=site))
    proxy = ProxyServer(router)
    loop_thread.run(proxy.start("127.0.0.1", 0))
    yield proxy.port
    loop_thread.run(proxy.close())


def get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """A raw request: http.client sends the path exactly as given (no '..' folding)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_root_is_the_app_file(site: StaticSite) -> None:
    found = resolve(site, b"/")
    assert isinstance(found, StaticFile)
    assert found.path.name == "index.html"
    assert found.content_type == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (b"/css/site.css", "text/css; charset=utf-8"),
        (b"/sub/deeper/data.json", "application/json; charset=utf-8"),
        (b"/sub/page.html", "text/html; charset=utf-8"),
        (b"/sub/", "text/html; charset=utf-8"),
        (b"/sub/link-in.css", "text/css; charset=utf-8"),
    ],
)
def test_files_and_types(site: StaticSite, path: bytes, kind: str) -> None:
    found = resolve(site, path)
    assert isinstance(found, StaticFile), found
    assert found.content_type == kind


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (b"/../secret.txt", 403),
        (b"/sub/../../secret.txt", 403),
        (b"/%2e%2e/secret.txt", 403),
        (b"/%2E%2E%2Fsecret.txt", 403),
        (b"/sub/%2e%2e/%2e%2e/secret.txt", 403),
        (b"/link-out.txt", 404),
        (b"/.env", 404),
        (b"/nope.html", 404),
        (b"/a%00b", 400),
        (b"/..%5csecret.txt", 400),
    ],
)
def test_escapes_are_refused(site: StaticSite, path: bytes, status: int) -> None:
    found = resolve(site, path)
    assert isinstance(found, Refused), found
    assert found.status == status


def test_directory_without_slash_redirects(site: StaticSite) -> None:
    assert resolve(site, b"/sub") == Redirect("sub/")


def test_through_the_proxy(port: int) -> None:
    status, headers, body = get(port, "/spaces/s/")
    assert status == 200
    assert b"static root" in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    status, headers, body = get(port, "/spaces/s/css/site.css")
    assert (status, headers["content-type"]) == (200, "text/css; charset=utf-8")


@pytest.mark.parametrize(
    "path",
    [
        "/spaces/s/../secret.txt",
        "/spaces/s/%2e%2e/secret.txt",
        "/spaces/s/sub/..%2f..%2fsecret.txt",
        "/spaces/s/link-out.txt",
        "/spaces/s/.env",
    ],
)
def test_escapes_refused_through_the_proxy(port: int, path: str) -> None:
    status, _, body = get(port, path)
    assert status in (403, 404)
    assert b"outside the Space" not in body or b"That file is outside" in body
    assert b"secret" not in body.replace(b"secret.txt", b"")


def test_conditional_get(port: int) -> None:
    status, headers, _ = get(port, "/spaces/s/css/site.css")
    status, again, body = get(port, "/spaces/s/css/site.css", {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    assert again["etag"] == headers["etag"]


def test_only_get_and_head(port: int) -> None:
    status, headers, _ = get(port, "/spaces/s/", method="POST")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    status, headers, body = get(port, "/spaces/s/", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_subfolder_redirect_through_proxy(port: int) -> None:
    status, headers, _ = get(port, "/spaces/s/sub")
    assert status == 308
    assert headers["location"] == "sub/"
    status, _, body = get(port, "/spaces/s/sub/")
    assert (status, b"sub index" in body) == (200, True)


def test_large_file_streams(port: int, site: StaticSite) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB, past the inline size
    (site.root / "big.bin").write_bytes(data)
    status, headers, body = get(port, "/spaces/s/big.bin")
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    assert body == data
