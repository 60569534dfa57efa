"""Spaces from git repositories and the Hub: real git (file:// URLs), a fake Hub answering
huggingface_hub's own requests, the cache used with no network."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from helpers import git
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spacerunner.envs.dates import AsOf, committed_day
from spacerunner.errors import SourceError
from spacerunner.launch.ports import free_port
from spacerunner.sources import COMPLETE, Source, SourceKind, Sources, parse_source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("owner/name", Source(SourceKind.HUB, "owner/name")),
        ("owner/name@v1.2", Source(SourceKind.HUB, "owner/name", "v1.2")),
        ("spaces/owner/demo", Source(SourceKind.HUB, "owner/demo")),
        ("https://host/o/demo.git@abc", Source(SourceKind.GIT, "https://host/o/demo.git", "abc")),
        ("ssh://git@host/o/demo", Source(SourceKind.GIT, "ssh://git@host/o/demo")),
        ("git@host:o/demo.git@main", Source(SourceKind.GIT, "git@host:o/demo.git", "main")),
        ("file:///srv/demo@v2", Source(SourceKind.GIT, "file:///srv/demo", "v2")),
        ("/no/such/folder", Source(SourceKind.FOLDER, "/no/such/folder")),
    ],
)
def test_what_a_command_line_names(text: str, expected: Source) -> None:
    assert parse_source(text) == expected


def test_a_missing_folder_beside_real_ones_is_a_folder_not_a_hub_id(tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    assert parse_source(str(tmp_path / "spaces" / "missing")).kind is SourceKind.FOLDER
    assert parse_source(str(tmp_path / "spaces")).kind is SourceKind.FOLDER


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "origin" / "demo"
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("---\ntitle: One\nsdk: static\n---\n")
    (repo / "index.html").write_text("one")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "one", cwd=repo)
    git("tag", "v1", cwd=repo)
    (repo / "index.html").write_text("two")
    git("commit", "-qam", "two", cwd=repo)
    return repo


def test_a_git_repository_by_branch_tag_and_commit(repo: Path, tmp_path: Path) -> None:
    sources = Sources(tmp_path / "cache")
    url = repo.as_uri()
    latest = sources.folder(parse_source(url))
    assert latest.name == "demo" and (latest / "index.html").read_text() == "two"
    assert (latest.parent / COMPLETE).is_file()
    tagged = sources.folder(parse_source(f"{url}@v1"))
    assert (tagged / "index.html").read_text() == "one" and tagged != latest
    commit = git("rev-parse", "v1", cwd=repo).stdout.strip()
    assert sources.folder(parse_source(f"{url}@{commit}")) == tagged
    # a work tree at its commit: the served revision shows
    assert git("rev-parse", "HEAD", cwd=tagged).stdout.strip() == commit
    # a new commit upstream is fetched the next time
    (repo / "index.html").write_text("three")
    git("commit", "-qam", "three", cwd=repo)
    assert (sources.folder(parse_source(url)) / "index.html").read_text() == "three"
    with pytest.raises(SourceError, match="no revision 'v9'"):
        sources.folder(parse_source(f"{url}@v9"))


def test_a_cached_git_revision_runs_with_the_network_gone(repo: Path, tmp_path: Path) -> None:
    sources = Sources(tmp_path / "cache")
    url = repo.as_uri()
    commit = git("rev-parse", "v1", cwd=repo).stdout.strip()
    first = sources.folder(parse_source(f"{url}@v1"))
    shutil.rmtree(repo)  # the remote is unreachable from now on
    again = Sources(tmp_path / "cache")
    assert again.folder(parse_source(f"{url}@v1")) == first
    assert any("not reachable" in note for note in again.notes)
    assert Sources(tmp_path / "cache").folder(parse_source(f"{url}@{commit}")) == first
    offline = Sources(tmp_path / "cache", offline=True)
    assert offline.folder(parse_source(f"{url}@v1")) == first
    with pytest.raises(SourceError, match="not in the cache"):
        Sources(tmp_path / "other-cache").folder(parse_source(f"{url}@v1"))


# --- a fake Hub: the requests huggingface_hub makes for a Space's snapshot ---

FILES = {"README.md": b"---\ntitle: From the Hub\nsdk: static\n---\n", "index.html": b"hub"}
SHA = "0123456789abcdef0123456789abcdef01234567"


def hub_app(requests: list[str]) -> Starlette:
    async def info(request: Request) -> Response:
        requests.append(f"info {request.path_params['revision']}")
        if request.path_params["revision"] not in ("main", SHA):
            return JSONResponse(  # as the Hub answers
                {"error": "Invalid rev id"},
                status_code=404,
                headers={"X-Error-Code": "RevisionNotFound"},
            )
        if request.path_params["name"] != "demo":
            return JSONResponse(  # as the Hub answers
                {"error": "Repository not found"},
                status_code=404,
                headers={"X-Error-Code": "RepoNotFound"},
            )
        return JSONResponse(
            {
                "id": "owner/demo",
                "sha": SHA,
                "lastModified": "2023-05-01T10:00:00.000Z",
                "sdk": "static",
                "siblings": [{"rfilename": name} for name in FILES],
                "private": False,
            }
        )

    async def tree(request: Request) -> Response:
        requests.append(f"tree {request.path_params['revision']}")
        return JSONResponse(
            [
                {
                    "type": "file",
                    "path": name,
                    "size": len(data),
                    "oid": hashlib.sha1(data).hexdigest(),
                }
                for name, data in FILES.items()
            ]
        )

    async def resolve(request: Request) -> Response:
        name = request.path_params["path"]
        requests.append(f"{request.method} {name}")
        data = FILES.get(name)
        if data is None:
            return Response(status_code=404)
        headers = {
            "X-Repo-Commit": SHA,
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
            "Content-Length": str(len(data)),
        }
        body = b"" if request.method == "HEAD" else data
        return Response(body, headers=headers, media_type="application/octet-stream")

    return Starlette(
        routes=[
            Route("/api/spaces/{owner}/{name}/revision/{revision:path}", info),
            Route("/api/spaces/{owner}/{name}/tree/{revision:path}", tree),
            Route(
                "/spaces/{owner}/{name}/resolve/{revision}/{path:path}",
                resolve,
                methods=["GET", "HEAD"],
            ),
        ]
    )


@pytest.fixture
def hub() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(hub_app(requests), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", requests
    server.should_exit = True
    thread.join(10)


def test_a_hub_space_by_id_then_from_the_cache(hub: tuple[str, list[str]], tmp_path: Path) -> None:
    endpoint, requests = hub
    sources = Sources(tmp_path / "cache", hub_endpoint=endpoint)
    folder = sources.folder(parse_source("owner/demo"))
    assert folder.name == "demo" and folder.parent.name == SHA[:12]
    assert {p.name for p in folder.iterdir()} == set(FILES)
    assert (folder / "index.html").read_bytes() == b"hub"
    assert "info main" in requests
    # its requirements resolve as of its revision's day, as the Hub gave it
    assert committed_day(folder) == AsOf(
        dt.date(2023, 5, 1), f"the day of the Hub revision {SHA[:12]}"
    )
    # the same revision again: nothing downloaded
    count = len(requests)
    assert sources.folder(parse_source("owner/demo")) == folder
    assert [r for r in requests[count:] if not r.startswith("info")] == []
    # the Hub unreachable: the revision fetched before runs
    unreachable = Sources(tmp_path / "cache", hub_endpoint="http://127.0.0.1:9")
    assert unreachable.folder(parse_source("owner/demo")) == folder
    assert any("not reachable" in note for note in unreachable.notes)
    assert Sources(tmp_path / "cache", offline=True).folder(parse_source("owner/demo")) == folder
    with pytest.raises(SourceError, match="not in the cache"):
        Sources(tmp_path / "cache", hub_endpoint="http://127.0.0.1:9").folder(
            parse_source("owner/other")
        )
    with pytest.raises(SourceError, match="the Space has no revision 'v9'"):
        sources.folder(parse_source("owner/demo@v9"))
    with pytest.raises(SourceError, match="the Hub has no Space owner/missing"):
        sources.folder(parse_source("owner/missing"))


def test_run_takes_a_git_url(repo: Path, tmp_path: Path) -> None:
    """`spacerunner run file://...@v1` fetches, says so, and serves that revision."""
    port = free_port()
    env_dir = tmp_path / "xdg"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spacerunner",
            "run",
            f"{repo.as_uri()}@v1",
            "--port",
            str(port),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "SPACERUNNER_CACHE_DIR": str(env_dir / "cache"),
            "SPACERUNNER_STATE_DIR": str(env_dir / "state"),
        },
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/index.html", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        assert response.text == "one"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"fetching {repo.as_uri()}@v1 (git)" in err
