"""Real environments built with uv from PyPI: isolation, reuse, failures, concurrency."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from gradio_client import Client
from helpers import SPACES, LoopThread, python_says

from spacerunner.config import Sdk, load_space
from spacerunner.envs import EnvBuilder, EnvMode, EnvSpec, spec_for
from spacerunner.envs.builder import MARKER
from spacerunner.envs.gc import cached, collect
from spacerunner.errors import EnvBuildError
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = pytest.mark.slow
HTTP_APP = (SPACES / "http-app" / "server.py").read_text()


def six_space(root: Path, name: str, version: str) -> Path:
    """A Space whose app reports which six it imported, from which Python."""
    path = root / name
    path.mkdir(parents=True)
    (path / "README.md").write_text(
        f"---\ntitle: {name}\nsdk: gradio\nsdk_version: 6.31.0\napp_file: server.py\n---\n"
    )
    (path / "requirements.txt").write_text(f"six=={version}\n")
    (path / "server.py").write_text(
        "import six, sys\nprint('six', six.__version__, 'python', sys.executable, flush=True)\n"
        + HTTP_APP
    )
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("env-cache")


@pytest.fixture
def portfolio(
    loop_thread: LoopThread, tmp_path: Path, cache: Path
) -> Iterator[tuple[Portfolio, EnvBuilder, Path]]:
    builder = EnvBuilder(cache)
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    made: list[Portfolio] = []

    def start() -> Portfolio:
        portfolio = Portfolio(
            ServeOptions(
                dirs=(spaces,),
                port=0,
                state_dir=tmp_path / "state",
                policy=Policy(health_interval=0, watch=False),
                spaces=SpaceSettings(env_mode=EnvMode.ISOLATED, builder=builder),
            )
        )
        loop_thread.run(portfolio.start())
        made.append(portfolio)
        return portfolio

    yield start, builder, spaces  # type: ignore[misc]
    for portfolio in made:
        loop_thread.run(portfolio.close())


def log_of(portfolio: Portfolio, name: str) -> str:
    """The Space's build log, then its run log."""
    assert portfolio.supervisor is not None
    space = portfolio.supervisor.spaces[name]
    logs = [log for log in (space.build_log, space.log) if log is not None]
    assert logs
    return "\n".join(line for log in logs for line in log.tail(500))


def test_each_space_sees_its_own_versions_and_identical_ones_share(portfolio) -> None:
    start, builder, spaces = portfolio
    six_space(spaces, "old-six", "1.16.0")
    six_space(spaces, "new-six", "1.17.0")
    six_space(spaces, "old-six-again", "1.16.0")
    served = start()
    for name in ("old-six", "new-six"):
        assert httpx.get(f"{served.url}/spaces/{name}/env", timeout=300).status_code == 200
    assert builder.builds == 2
    assert "six 1.16.0" in log_of(served, "old-six")
    assert "six 1.17.0" in log_of(served, "new-six")
    assert httpx.get(f"{served.url}/spaces/old-six-again/env", timeout=300).status_code == 200
    assert builder.builds == 2  # reused: no install ran
    again = log_of(served, "old-six-again")
    assert "six 1.16.0" in again
    python = re.search(r"six 1\.16\.0 python (\S+)", again).group(1)  # type: ignore[union-attr]
    assert python.startswith(str(builder.root))
    assert python in log_of(served, "old-six")  # the very same environment


def test_a_real_gradio_space_from_its_own_environment(portfolio) -> None:
    start, builder, spaces = portfolio
    shutil.copytree(SPACES / "gradio-interface", spaces / "greeter")
    served = start()
    # gradio_client waits ~5 s for an answer; a cold build and start take longer, so wake the
    # Space first (a held request is answered once it runs)
    assert httpx.get(f"{served.url}/spaces/greeter/config", timeout=600).status_code == 200
    client = Client(f"{served.url}/spaces/greeter/", verbose=False)
    assert client.predict("Env", api_name="/greet") == "Hello, Env! (from local/greeter)"
    pid = httpx.get(f"{served.url}/api/spaces/greeter").json()["pid"]
    exe = psutil.Process(pid).cmdline()[0]
    assert exe.startswith(str(builder.root)), exe
    # what Spaces' images hold beside the SDK: pip, wheel, a setuptools with pkg_resources
    held = python_says(
        exe, "import setuptools, pkg_resources, pip, wheel; print(setuptools.__version__)"
    )
    assert int(held.split(".")[0]) < 81
    build_log = (
        served.options.state_dir / "serve" / str(served.proxy.port) / "logs" / "greeter.build.log"
    ).read_text()
    assert "[spacerunner] building environment" in build_log or "reused" in build_log
    serve_dir = served.options.state_dir / "serve" / str(served.proxy.port)
    app_log = (serve_dir / "logs" / "greeter.log").read_text()
    # the environment holds `spaces` as Spaces' images do: Gradio's reloader needs it
    assert "package is required to run hot-reloading" not in app_log
    # Gradio's leaked event loops, collected later, print "Exception ignored in
    # BaseEventLoop.__del__ ... Invalid file descriptor: -1" depending on when the collector
    # runs: the file keeps it, the log people read folds it to one note; any other
    # traceback is a failure.
    noise = "Exception ignored in: <function BaseEventLoop.__del__"
    assert app_log.count("Traceback") == app_log.count(noise), app_log
    assert served.supervisor is not None
    shown = served.supervisor.spaces["greeter"].log
    assert shown is not None
    assert not any("Traceback" in line for line in shown.tail(2000)), shown.tail(2000)


def test_a_broken_requirement_is_a_clear_error_and_caches_nothing(cache: Path) -> None:
    builder = EnvBuilder(cache)
    space = SPACES / "gradio-interface"
    spec = spec_for(load_space(space))
    broken = spec.__class__(
        spec.python_version,
        spec.sdk,
        spec.sdk_version,
        "",
        "spacerunner-no-such-package-anywhere==1.0\n",
        (),
    )
    before = {p.name for p in builder.root.iterdir()} if builder.root.exists() else set()
    with pytest.raises(EnvBuildError) as info:
        asyncio.run(builder.ensure(broken))
    message = str(info.value)
    assert message.startswith("installing requirements failed (exit code 1). The installer said:")
    assert "spacerunner-no-such-package-anywhere" in message
    after = {p.name for p in builder.root.iterdir()}
    assert after == before  # no entry, and no half-built folder left behind
    assert not (
        builder.path_for(broken.key(builder.choose_python(broken).interpreter.dotted)) / MARKER
    ).exists()


def test_a_failed_start_in_serve_shows_the_installer_error(portfolio) -> None:
    start, _, spaces = portfolio
    path = six_space(spaces, "broken", "1.16.0")
    (path / "requirements.txt").write_text("spacerunner-no-such-package-anywhere==1.0\n")
    served = start()
    response = httpx.get(f"{served.url}/spaces/broken/env", timeout=300)
    assert response.status_code == 503
    facts = httpx.get(f"{served.url}/api/spaces/broken").json()
    assert facts["state"] == "error"
    assert "installing requirements failed" in facts["reason"]
    assert "No solution found" in log_of(served, "broken") or "not found" in log_of(
        served, "broken"
    )


def test_concurrent_builds_of_one_key_build_once(portfolio) -> None:
    start, builder, spaces = portfolio
    six_space(spaces, "twin-a", "1.15.0")
    six_space(spaces, "twin-b", "1.15.0")
    served = start()
    results: dict[str, int] = {}

    def visit(name: str) -> None:
        results[name] = httpx.get(f"{served.url}/spaces/{name}/env", timeout=300).status_code

    threads = [threading.Thread(target=visit, args=(n,)) for n in ("twin-a", "twin-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"twin-a": 200, "twin-b": 200}
    assert builder.builds == 1


def test_concurrent_builders_in_two_processes_agree(cache: Path, tmp_path: Path) -> None:
    """File lock + atomic rename: two builders (as two servers would be) make one environment."""
    space = six_space(tmp_path, "procs", "1.14.0")
    spec = spec_for(load_space(space))

    async def both() -> list:
        a, b = EnvBuilder(cache), EnvBuilder(cache)  # separate in-process locks, like processes
        return await asyncio.gather(a.ensure(spec), b.ensure(spec))

    first, second = asyncio.run(both())
    assert first.path == second.path
    assert sorted([first.reused, second.reused]) == [False, True]
    assert not [p for p in first.path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_gc_removes_what_was_not_used(cache: Path) -> None:
    envs = cached(cache / "envs")
    assert envs
    newest = max(envs, key=lambda e: e.last_used)
    for env in envs:
        if env is not newest:
            os.utime(env.path / MARKER, (1, 1))  # long unused
    removed = collect(cache / "envs", max_age=14 * 86400, max_bytes=None)
    assert {e.key for e in removed} == {e.key for e in envs} - {newest.key}
    assert [e.key for e in cached(cache / "envs")] == [newest.key]
    assert (
        collect(cache / "envs", max_age=14 * 86400, max_bytes=0, keep=frozenset({newest.key})) == []
    )
    assert [e.key for e in collect(cache / "envs", max_age=14 * 86400, max_bytes=0)] == [newest.key]


def test_without_uv_venv_and_pip_do_the_same(tmp_path: Path) -> None:
    builder = EnvBuilder(tmp_path / "cache", uv=False)
    spec = EnvSpec("3.11", Sdk.STATIC, None, "", "six==1.16.0\n", ())
    output: list[bytes] = []
    env = asyncio.run(builder.ensure(spec, output.append))
    assert not env.reused
    assert python_says(env.python, "import six; print(six.__version__)") == "1.16.0"
    assert b"Successfully installed six-1.16.0" in b"".join(output)
    assert asyncio.run(builder.ensure(spec)).reused


def test_missing_debian_packages_are_reported(tmp_path: Path) -> None:
    builder = EnvBuilder(tmp_path / "cache")
    spec = EnvSpec("3.11", Sdk.STATIC, None, "", "", ("coreutils", "spacerunner-no-such-deb"))
    output: list[bytes] = []
    env = asyncio.run(builder.ensure(spec, output.append))
    (note,) = env.notes
    assert note == (
        "Debian packages from packages.txt are not installed: spacerunner-no-such-deb."
        " Fix: apt-get install spacerunner-no-such-deb (or pass --apt as root)"
    )
    assert note.encode() in b"".join(output)


def test_build_command(tmp_path: Path) -> None:
    space = six_space(tmp_path / "spaces", "cli-six", "1.16.0")
    env = {**os.environ, "SPACERUNNER_CACHE_DIR": str(tmp_path / "cache")}
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacerunner",
            "build",
            str(space.parent),
            str(SPACES / "static-site"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert "cli-six: environment " in build.stdout
    assert " built in " in build.stdout
    assert "static-site: sdk static needs no Python environment" in build.stdout
    again = subprocess.run(
        [sys.executable, "-m", "spacerunner", "build", str(space)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert " reused in " in again.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "spacerunner", "env", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "gradio==6.31.0" in listing.stdout
    assert "1 environment(s)" in listing.stdout
