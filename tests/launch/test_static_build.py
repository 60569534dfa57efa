"""Static Spaces with a build step, for real: Node.js fetched for ``nodejs_version``, ``npm ci``
reaching the registry from inside the Space's sandbox, the output served, cached by content,
and failures (an exit code, a limit) that say why."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from helpers import SPACES, LoopThread, start_run

from spacerunner.envs import EnvBuilder
from spacerunner.errors import BackendError
from spacerunner.limits import LimitSettings
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.sandbox import Isolation, host_layers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: Node.js is fetched once, sites are kept per Space name."""
    return tmp_path_factory.mktemp("cache")


def copy(tmp_path: Path, name: str, command: str | None = None) -> Path:
    folder = tmp_path / name
    shutil.copytree(SPACES / "static-build", folder)
    if command is not None:
        readme = folder / "README.md"
        old = "app_build_command: npm ci && npm run build"
        readme.write_text(readme.read_text().replace(old, f"app_build_command: {command}"))
    return folder


def build_log(tmp_path: Path, name: str) -> str:
    return (tmp_path / "logs" / f"{name}.build.log").read_text()


def facts(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="facts">(.*?)</script>', page)
    assert found, page
    return dict(json.loads(found.group(1)))


def test_the_build_runs_in_the_sandbox_and_its_output_is_served_and_kept(
    loop_thread: LoopThread, tmp_path: Path, cache: Path
) -> None:
    folder = copy(tmp_path, "site")
    builder = EnvBuilder(cache)
    run = start_run(loop_thread, folder, tmp_path, builder=builder)
    try:
        page = httpx.get(run.url).text
        assert "<h1>Hello from a build</h1>" in page
        seen = facts(page)
        assert str(seen["node"]).startswith("v22.")  # nodejs_version, whatever the machine has
        assert seen["space"] == "local/site" and seen["port"] is None
        if host_layers().effective(Isolation.FULL) is Isolation.FULL:
            assert seen["uid"] == 1000  # the sandbox's user, as an app has
        assert httpx.get(run.url + "app.js").text == "console.log('built');\n"
    finally:
        loop_thread.run(run.close())
    log = build_log(tmp_path, "site")
    assert "added 1 package" in log  # npm ci reached the registry
    assert "built dist/ with node v22." in log
    assert not (folder / "dist").exists() and not (folder / "node_modules").exists()
    (first,) = (cache / "sites").glob("site-*")

    # unchanged: served from what was built, with no build
    run = start_run(loop_thread, folder, tmp_path / "again", builder=builder)
    try:
        assert "Hello from a build" in httpx.get(run.url).text
    finally:
        loop_thread.run(run.close())
    assert "[spacerunner] build:" not in build_log(tmp_path / "again", "site")

    # changed: a new build of its own, the earlier one kept for a running revision
    (folder / "content.md").write_text("# Changed and rebuilt\n")
    run = start_run(loop_thread, folder, tmp_path / "changed", builder=builder)
    try:
        assert "<h1>Changed and rebuilt</h1>" in httpx.get(run.url).text
    finally:
        loop_thread.run(run.close())
    assert len(list((cache / "sites").glob("site-*"))) == 2 and first.exists()


def test_a_failing_build_says_why_and_serves_nothing(
    loop_thread: LoopThread, tmp_path: Path, cache: Path
) -> None:
    folder = copy(tmp_path, "broken", "echo 'no such bundler' >&2; exit 3")
    with pytest.raises(BackendError, match=r"its build .* exited with code 3"):
        start_run(loop_thread, folder, tmp_path, builder=EnvBuilder(cache))
    assert "no such bundler" in build_log(tmp_path, "broken")
    assert not list((cache / "sites").glob("broken-*"))


@pytest.mark.parametrize("mode", [LimitsMode.AUTO, LimitsMode.WATCHDOG])
def test_a_build_over_its_memory_limit_is_stopped_and_says_so(
    loop_thread: LoopThread, tmp_path: Path, cache: Path, mode: LimitsMode
) -> None:
    """Enforced by the kernel (a cgroup), or watched by spacerunner where there is none."""
    hog = "node -e 'const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1))'"
    folder = copy(tmp_path, "hog", hog)
    with pytest.raises(
        BackendError, match=r"its build .* was stopped: Memory limit exceeded \(200\.0M"
    ):
        start_run(
            loop_thread,
            folder,
            tmp_path,
            builder=EnvBuilder(cache),
            limits=LimitSettings(memory="200M", mode=mode),
        )
    assert not list((cache / "sites").glob("hog-*"))
