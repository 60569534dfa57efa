"""Resolution as of a Space's day: which day, and uv leaving out what came later."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import pytest
from helpers import LoopThread, git, python_says, start_run

from spacerunner.config import Sdk, load_space
from spacerunner.envs import EnvBuilder, EnvMode, EnvSpec, spec_for
from spacerunner.envs.dates import FIRST_RESOLVED, AsOf, Resolutions, committed_day, parse_day
from spacerunner.errors import EnvBuildError, SpacerunnerError
from spacerunner.runner import SpaceRun

OLD_COMMIT = "2023-05-01T23:30:00-04:00"


def old_space(root: Path) -> Path:
    space = root / "old"
    space.mkdir(parents=True)
    (space / "README.md").write_text("---\nsdk: streamlit\nsdk_version: 1.22.0\n---\n")
    (space / "requirements.txt").write_text("numpy\npandas\n")
    (space / "app.py").write_text("import streamlit as st\n")
    git("init", "-q", cwd=space)
    git("add", "-A", cwd=space)
    git("commit", "-qm", "first", cwd=space, when=OLD_COMMIT)
    return space


def test_a_git_space_as_committed_resolves_as_of_its_last_commit(tmp_path: Path) -> None:
    space = old_space(tmp_path)
    commit = git("rev-parse", "HEAD", cwd=space).stdout.strip()
    found = committed_day(space)
    # 23:30 at UTC-4 is the next day in UTC: the day is UTC's, as uv's cut-off is
    assert found == AsOf(dt.date(2023, 5, 2), f"the day of the Space's last commit, {commit[:12]}")
    assert found.exclude_newer == "2023-05-03T00:00:00Z"
    spec = spec_for(load_space(space))
    assert spec.as_of == found
    # an edit not committed yet: the Space is not as it was on that day
    (space / "app.py").write_text("import streamlit as st  # edited\n")
    assert committed_day(space) == found  # (code edits do not change what is installed)
    (space / "requirements.txt").write_text("numpy\npandas\naltair\n")
    assert committed_day(space) is None
    assert spec_for(load_space(space)).as_of is None
    # --as-of names the day by hand, whatever the repository says
    assert spec_for(load_space(space), dt.date(2022, 1, 31)).as_of == AsOf(
        dt.date(2022, 1, 31), "--as-of"
    )


def test_a_folder_that_is_not_a_repository_of_its_own_is_resolved_today(tmp_path: Path) -> None:
    space = old_space(tmp_path)
    inner = space / "inner"
    inner.mkdir()
    (inner / "README.md").write_text("---\nsdk: gradio\n---\n")
    (inner / "app.py").write_text("")
    assert committed_day(inner) is None  # inside another repository: not its own history
    assert committed_day(tmp_path) is None


def test_the_day_is_part_of_the_environment_key() -> None:
    undated = EnvSpec("3.11", Sdk.GRADIO, "5.0.0", "", "numpy\n", ())
    dated = EnvSpec(
        "3.11", Sdk.GRADIO, "5.0.0", "", "numpy\n", (), as_of=AsOf(dt.date(2024, 1, 2), "x")
    )
    other_why = EnvSpec(
        "3.11", Sdk.GRADIO, "5.0.0", "", "numpy\n", (), as_of=AsOf(dt.date(2024, 1, 2), "y")
    )
    assert undated.key("3.11.7") != dated.key("3.11.7")
    assert dated.key("3.11.7") == other_why.key("3.11.7")  # the day counts, not how it was found


def test_as_of_takes_a_day() -> None:
    assert parse_day("2023-06-30") == dt.date(2023, 6, 30)
    with pytest.raises(SpacerunnerError, match="YYYY-MM-DD"):
        parse_day("last june")


@pytest.mark.slow
def test_uv_leaves_out_what_was_uploaded_after_the_day(tmp_path: Path) -> None:
    """six 1.14.0 was uploaded on 2020-01-15: as of 2020-01-01 an unpinned six is 1.13.0."""
    builder = EnvBuilder(tmp_path / "cache")
    spec = EnvSpec(
        "3.11", Sdk.STATIC, None, "", "six\n", (), as_of=AsOf(dt.date(2020, 1, 1), "a test")
    )
    said: list[bytes] = []
    env = asyncio.run(builder.ensure(spec, said.append))
    version = python_says(env.python, "import six; print(six.__version__)")
    assert version == "1.13.0"
    log = b"".join(said).decode()
    assert "resolving as of 2020-01-01 (to its end, UTC), a test" in log
    today = asyncio.run(builder.ensure(EnvSpec("3.11", Sdk.STATIC, None, "", "six\n", ())))
    newer = python_says(today.python, "import six; print(six.__version__)")
    assert newer != "1.13.0"


def window_now_and_commit(
    loop_thread: LoopThread, folder: Path, tmp_path: Path, builder: EnvBuilder, day: str, when: str
) -> SpaceRun:
    """An old Space (no compatibility table) three ways: not a git repository, resolved as
    of the last day its sdk_version was the newest, it starts; resolved as of now (build
    --upgrade), its SDK does not import; committed on ``when``, it is started (and returned)
    resolved as of that day."""
    config = load_space(folder)
    run = start_run(
        loop_thread, folder, tmp_path / "window", env_mode=EnvMode.ISOLATED, builder=builder
    )
    loop_thread.run(run.close())
    log = (tmp_path / "window" / "logs" / f"{config.name}.build.log").read_text()
    sdk = f"{config.sdk.value} {config.sdk_version}"
    assert f"as of {day} (to its end, UTC), the last day {sdk} was its newest" in log
    said: list[bytes] = []
    today = asyncio.run(builder.ensure(spec_for(config), said.append, upgrade=True))
    assert not today.imports and b"importing" in b"".join(said)
    git("init", "-q", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-qm", "an old Space", when=when, cwd=folder)
    return start_run(
        loop_thread, folder, tmp_path / "dated", env_mode=EnvMode.ISOLATED, builder=builder
    )


@pytest.mark.slow
def test_an_old_streamlit_runs_as_resolved_in_its_day(loop_thread, tmp_path: Path) -> None:
    """Streamlit 1.10 with unpinned numpy and pandas, and no compatibility table: resolved as
    of now, `import streamlit` fails (altair 5, NumPy 2); resolved as of its sdk_version's
    window, or committed in July 2022 and resolved as of that day, it starts and answers (its
    era's page and health endpoint), with the NumPy and pandas of mid-2022."""
    import httpx
    from helpers import SPACES

    folder = tmp_path / "old-streamlit"
    folder.mkdir()
    (folder / "README.md").write_text(
        "---\ntitle: Old Streamlit\nsdk: streamlit\nsdk_version: 1.10.0\n"
        'python_version: "3.10"\napp_file: app.py\n---\n'
    )
    (folder / "app.py").write_text((SPACES / "old-streamlit" / "app.py").read_text())
    (folder / "requirements.txt").write_text("numpy\npandas\n")
    builder = EnvBuilder(tmp_path / "cache", compat=False)
    run = window_now_and_commit(
        loop_thread, folder, tmp_path, builder, "2022-07-13", "2022-07-01T12:00:00+00:00"
    )
    try:
        assert httpx.get(run.url).status_code == 200
        assert httpx.get(run.url + "healthz").text == "ok"
        env = asyncio.run(builder.ensure(spec_for(load_space(folder))))
        code = "import numpy, pandas; print(numpy.__version__, pandas.__version__)"
        versions = python_says(env.python, code).split()
        assert versions[0].startswith("1.") and versions[1].startswith("1.")  # of mid-2022
    finally:
        loop_thread.run(run.close())


def test_a_generated_image_resolves_as_of_the_same_day(tmp_path: Path) -> None:
    from spacerunner.launch.containers import generated_dockerfile

    dockerfile = generated_dockerfile(load_space(old_space(tmp_path)))
    assert "uv pip install --system --no-cache --exclude-newer 2023-05-03T00:00:00Z" in dockerfile


@pytest.mark.slow
def test_an_undated_space_keeps_the_moment_it_was_first_resolved(tmp_path: Path) -> None:
    """The moment of the first resolution is the lock: another builder on the same cache (a
    rebuild after `env gc`, a restarted server) resolves as of it; --upgrade moves it."""
    import time

    spec = EnvSpec("3.11", Sdk.STATIC, None, "", "six\n", ())
    first = EnvBuilder(tmp_path / "cache")
    said: list[bytes] = []
    built = asyncio.run(first.ensure(spec, said.append))
    assert "when its requirements were first resolved here" in b"".join(said).decode()
    recorded = list((tmp_path / "cache" / "resolved").iterdir())
    assert len(recorded) == 1
    again = EnvBuilder(tmp_path / "cache")
    assert asyncio.run(again.ensure(spec)).key == built.key  # reused: the same moment
    shutil.rmtree(built.path)  # as `env gc` would
    rebuilt = asyncio.run(again.ensure(spec))
    assert rebuilt.key == built.key and not rebuilt.reused and again.builds == 1
    time.sleep(1.1)  # (moments are kept to the second)
    upgraded = asyncio.run(again.ensure(spec, upgrade=True))
    assert upgraded.key != built.key and not upgraded.reused
    assert asyncio.run(EnvBuilder(tmp_path / "cache").ensure(spec)).key == upgraded.key


@pytest.mark.slow
def test_an_old_gradio_4_answers_its_queue_as_resolved_in_its_day(
    loop_thread, tmp_path: Path
) -> None:
    """Gradio 4.44.1 (Blocks with a State, a JSON and a Chatbot, called through the queue) with
    no compatibility table: resolved as of now, `import gradio` fails (huggingface_hub 1.0
    dropped HfFolder); resolved as of its sdk_version's window, or committed in October 2024 and
    resolved as of that day, gradio_client gets its answer through the queue."""
    from gradio_client import Client
    from helpers import SPACES

    folder = tmp_path / "old-gradio"
    shutil.copytree(SPACES / "old-gradio", folder)
    builder = EnvBuilder(tmp_path / "cache", compat=False)
    run = window_now_and_commit(
        loop_thread, folder, tmp_path, builder, "2024-10-08", "2024-10-15T12:00:00+00:00"
    )
    try:
        client = Client(run.url, verbose=False)
        facts = client.predict("hi", api_name="/remember")[0]
        assert facts == {"count": 1, "version": "4.44.1"}
    finally:
        loop_thread.run(run.close())


@pytest.mark.slow
def test_a_newest_release_that_cannot_install_resolves_as_of_the_sdk_versions_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tinydep 1.0 is a wheel (2023); tinydep 2.0 has no wheel for the Space's Python and its
    source does not build (2025). A Space with no history of its own (no git) naming Gradio
    4.26.0 and an unpinned tinydep resolves as of the last day 4.26.0 was Gradio's newest
    (2024-04-17, from the index's upload times), which gets tinydep 1.0, and keeps that day as
    its lock; resolved as of now (build --upgrade), it fails on tinydep 2.0."""
    from package_index import PackageIndex, Release, sdist, wheel

    utc = dt.UTC
    failing = 'raise SystemExit("error: tinydep 2.0 needs a C compiler and the Rust toolchain")\n'
    releases = [
        Release(
            "tinydep-1.0-py3-none-any.whl",
            wheel("tinydep", "1.0", 'VERSION = "1.0"\n'),
            dt.datetime(2023, 3, 1, tzinfo=utc),
        ),
        Release(
            "tinydep-2.0.tar.gz",
            sdist("tinydep", "2.0", failing),
            dt.datetime(2025, 3, 1, tzinfo=utc),
        ),
    ]
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "README.md").write_text(
        '---\nsdk: gradio\nsdk_version: 4.26.0\npython_version: "3.11"\n---\n'
    )
    (folder / "app.py").write_text("import tinydep\n")
    (folder / "requirements.txt").write_text("tinydep\n")
    spec = spec_for(load_space(folder))
    assert spec.as_of is None  # nothing says when it was made but its sdk_version
    with PackageIndex({"tinydep": releases}) as index:
        monkeypatch.setenv("UV_INDEX", index.url)
        said: list[bytes] = []
        env = asyncio.run(EnvBuilder(tmp_path / "cache").ensure(spec, said.append))
        log = b"".join(said).decode()
        assert (
            "resolving as of 2024-04-17 (to its end, UTC), the last day gradio 4.26.0 was its "
            "newest release (sdk_version)"
        ) in log
        assert python_says(env.python, "import tinydep; print(tinydep.VERSION)") == "1.0"
        again = asyncio.run(EnvBuilder(tmp_path / "cache").ensure(spec))
        assert again.reused and again.key == env.key  # the day is the Space's lock now
        with pytest.raises(EnvBuildError, match=r"tinydep 2\.0 needs a C compiler"):
            asyncio.run(EnvBuilder(tmp_path / "cache").ensure(spec, upgrade=True))


def test_an_sdk_versions_window_ends_the_day_before_the_next_final_release() -> None:
    from packaging.version import Version

    from spacerunner.envs.releases import first_uploads, newest_window

    def at(day: str) -> str:
        return f"{day}T10:00:00.000000Z"

    files: list[dict[str, object]] = [
        {"filename": "gradio-4.26.0-py3-none-any.whl", "upload-time": at("2024-04-08")},
        {"filename": "gradio-4.26.0.tar.gz", "upload-time": at("2024-04-07")},
        {"filename": "gradio-4.27.0b1-py3-none-any.whl", "upload-time": at("2024-04-10")},
        {"filename": "gradio-4.27.0-py3-none-any.whl", "upload-time": at("2024-04-18")},
        {"filename": "gradio-3.50.2-py3-none-any.whl", "upload-time": at("2024-05-01")},
        {"filename": "not-a-distribution.txt", "upload-time": at("2024-01-01")},
    ]
    uploads = first_uploads(files)
    assert uploads[Version("4.26.0")].date() == dt.date(2024, 4, 7)  # the first file counts
    # the beta is no release; a later patch of an older line is no successor
    assert newest_window(uploads, "4.26.0") == dt.date(2024, 4, 17)
    assert newest_window(uploads, "4.27.0") is None  # still the newest: today
    assert newest_window(uploads, "9.9.9") is None and newest_window(uploads, "x") is None


def test_a_lock_keeps_its_day_and_why(tmp_path: Path) -> None:
    locks = Resolutions(tmp_path)
    window = AsOf(dt.date(2024, 4, 17), "the last day gradio 4.26.0 was its newest release")
    assert locks.recorded("k") is None
    locks.keep("k", window)
    kept = locks.recorded("k")
    assert kept is not None
    assert kept.exclude_newer == window.exclude_newer == "2024-04-18T00:00:00Z"
    assert kept.why == window.why
    first = locks.now()
    assert first.why == FIRST_RESOLVED and first.until is not None
    locks.keep("other", first)
    assert locks.recorded("other") == first


def test_the_window_asks_the_index_about_the_sdk_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hf_oauth Space installs gradio[oauth]; the index is asked about gradio."""
    from spacerunner.envs import builder as module

    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(module, "sdk_window", lambda *args: asked.append(args))
    spec = EnvSpec("3.11", Sdk.GRADIO, "4.26.0", "", "", (), oauth=True)
    assert spec.sdk_requirement == "gradio[oauth]==4.26.0"
    EnvBuilder._window(spec)
    assert asked == [("gradio", "4.26.0")]


def tick_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ask of the time is a second after the one before."""
    seconds = iter(range(10))
    monkeypatch.setattr(
        Resolutions,
        "now",
        staticmethod(
            lambda: AsOf(
                dt.date(2026, 1, 1),
                "x",
                dt.datetime(2026, 1, 1, 0, 0, next(seconds), tzinfo=dt.UTC),
            )
        ),
    )


def test_concurrent_first_resolutions_of_one_space_use_the_same_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two starts of one undated Space at once (a visit and a rebuild) resolve as of the same
    moment, so the key's lock has them build it once, however far apart they ask."""
    tick_every_second(monkeypatch)
    builder = EnvBuilder(tmp_path / "cache")
    tried: list[str] = []

    async def obtain(spec: EnvSpec, *args: object) -> object:
        tried.append(spec.as_of.exclude_newer if spec.as_of else "")
        await asyncio.sleep(0.05)
        raise EnvBuildError("stop here")

    monkeypatch.setattr(builder, "_obtain", obtain)
    spec = EnvSpec("3.11", Sdk.STATIC, None, "", "six\n", ())

    async def both() -> list[object]:
        return await asyncio.gather(
            builder.ensure(spec), builder.ensure(spec), return_exceptions=True
        )

    assert all(isinstance(r, EnvBuildError) for r in asyncio.run(both()))
    assert len(tried) == 2 and tried[0] == tried[1]


def test_two_builders_agree_on_when_inputs_were_first_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As two servers on one cache would be: the second asks a second later, and still gets
    the first's moment, so both resolve (and build) the same environment."""
    tick_every_second(monkeypatch)
    first, second = Resolutions(tmp_path / "resolved"), Resolutions(tmp_path / "resolved")
    assert first.first("k").until == second.first("k").until
    assert first.first("other").until != first.first("k").until
    first.keep("k", first.first("k"))
    assert not (tmp_path / "resolved-tried" / "k").exists()  # the lock says it now
