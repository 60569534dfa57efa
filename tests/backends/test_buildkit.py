"""Which docker CLI can drive BuildKit, and reading BuildKit's progress: with fake CLIs and
recorded output, no engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacerunner.backends.docker.buildkit import Progress, find_cli

RECORDED = """\
#4 [1/2] FROM docker.io/library/python:3.11-slim
#4 CACHED

#5 [2/2] RUN echo hi && echo bad >&2 && exit 3
#5 sha256:06c6f89ecf5ec3d333528d2b505c4bb1a621f4fa3155a2f1c778bbdf3d410fd6
#5 0.048 hi
#5 0.048 bad
#5 ERROR: executor failed running [/bin/sh -c echo hi && echo bad >&2 && exit 3]: exit code: 3
------
 > [2/2] RUN echo hi && echo bad >&2 && exit 3:
------
executor failed running [/bin/sh -c echo hi && echo bad >&2 && exit 3]: exit code: 3
"""


def fake_cli(folder: Path, version: str, *, buildx: bool) -> str:
    folder.mkdir(parents=True)
    path = folder / "docker"
    plugin = 'if [ "$1" = buildx ]; then echo "github.com/docker/buildx v0.12.1 abc"; exit 0; fi'
    path.write_text(
        "#!/bin/sh\n"
        + (plugin if buildx else 'if [ "$1" = buildx ]; then exit 1; fi')
        + f'\necho "Docker version {version}, build 297e128"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_progress_names_the_failed_step_its_output_and_the_error() -> None:
    progress = Progress()
    for line in RECORDED.splitlines():
        progress.read(line + "\n")
    assert progress.step == "[2/2] RUN echo hi && echo bad >&2 && exit 3"
    assert progress.tail == ["hi", "bad"]
    assert progress.message.endswith("exit code: 3")


def test_a_failure_before_any_step_keeps_the_clis_words() -> None:
    progress = Progress()
    progress.read("#1 [internal] load build definition from Dockerfile\n")
    progress.read("failed to solve with frontend dockerfile.v0: unknown instruction: ECHO\n")
    assert progress.step == "" and progress.tail == []
    assert progress.message.endswith("unknown instruction: ECHO")


def test_a_new_cli_without_buildx_is_passed_over_for_the_distributions_old_one(
    tmp_path: Path,
) -> None:
    new = fake_cli(tmp_path / "local", "28.2.2", buildx=False)
    old = fake_cli(tmp_path / "usr", "20.10.24+dfsg1", buildx=False)
    cli = find_cli([new, old])
    assert cli is not None
    assert cli.command == (old, "build") and dict(cli.env) == {"DOCKER_BUILDKIT": "1"}
    assert "20.10.24+dfsg1" in cli.how


def test_a_cli_with_buildx_builds_through_it(tmp_path: Path) -> None:
    new = fake_cli(tmp_path / "local", "28.2.2", buildx=True)
    cli = find_cli([new])
    assert cli is not None and cli.command == (new, "buildx", "build")
    assert "v0.12.1" in cli.how


@pytest.mark.parametrize("version", ["23.0.1", "28.2.2"])
def test_no_cli_that_can_drive_buildkit_is_none(tmp_path: Path, version: str) -> None:
    assert find_cli([fake_cli(tmp_path / "x", version, buildx=False)]) is None
    assert find_cli([str(tmp_path / "missing")]) is None
