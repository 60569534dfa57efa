"""Fast: cache keys, interpreter choice, the auto mode's check, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacerunner.config import Sdk, load_space
from spacerunner.envs import EnvMode, EnvSpec, environment_needed, spec_for
from spacerunner.envs.interpreters import choose, installed
from spacerunner.envs.satisfy import unmet
from spacerunner.errors import EnvBuildError
from spacerunner.units import parse_size

BASE = EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "", "six==1.16.0\n", ())


def test_key_changes_when_and_only_when_an_input_changes() -> None:
    key = BASE.key("3.10.13")
    assert key == EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "", "six==1.16.0\n", ()).key("3.10.13")
    # formatting and comments are not inputs
    same = EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "# pins\n\n", "  six==1.16.0  # ok\n\n", ())
    assert same.key("3.10.13") == key
    # Debian packages are checked, not installed into the environment
    assert (
        EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "", "six==1.16.0\n", ("ffmpeg",)).key("3.10.13")
        == key
    )
    changed = [
        BASE.key("3.11.7"),
        EnvSpec("3.10", Sdk.STREAMLIT, "6.31.0", "", "six==1.16.0\n", ()).key("3.10.13"),
        EnvSpec("3.10", Sdk.GRADIO, "6.30.0", "", "six==1.16.0\n", ()).key("3.10.13"),
        EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "torch\n", "six==1.16.0\n", ()).key("3.10.13"),
        EnvSpec("3.10", Sdk.GRADIO, "6.31.0", "", "six==1.17.0\n", ()).key("3.10.13"),
    ]
    assert len({key, *changed}) == 6


def test_sdk_requirement() -> None:
    assert BASE.sdk_requirement == "gradio==6.31.0"
    assert EnvSpec("3.10", Sdk.STREAMLIT, None, "", "", ()).sdk_requirement == "streamlit"
    assert EnvSpec("3.10", Sdk.STATIC, None, "", "", ()).sdk_requirement is None


def test_spec_reads_the_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nsdk: gradio\nsdk_version: 5.0.0\n---\n")
    (tmp_path / "app.py").write_text("")
    (tmp_path / "requirements.txt").write_text("numpy\n", encoding="utf-16")
    (tmp_path / "pre-requirements.txt").write_text("pip>=23\n")
    (tmp_path / "packages.txt").write_text("ffmpeg\n\n# comment\nlibsndfile1\n")
    spec = spec_for(load_space(tmp_path))
    assert spec.requirements.strip() == "numpy"
    assert spec.pre_requirements.strip() == "pip>=23"
    assert spec.packages == ("ffmpeg", "libsndfile1")
    assert spec.sdk_version == "5.0.0"


def test_interpreter_choice() -> None:
    available = installed()
    mine = available[-1]
    minor = f"{mine.version[0]}.{mine.version[1]}"
    assert choose(minor).exact
    assert choose(minor).interpreter.version[:2] == mine.version[:2]
    far = choose("3.99")
    assert not far.exact
    assert far.note is not None
    assert "is not installed" in far.note
    assert "using the nearest" in far.note
    with pytest.raises(
        EnvBuildError,
        match=r"python_version 3\.99 is not installed here "
        r"\(found: .*\)\. Fix: install it",
    ):
        choose("3.99", strict=True)


def test_auto_mode_uses_the_current_interpreter_only_when_it_suffices(tmp_path: Path) -> None:
    import gradio

    ok = EnvSpec("3.10", Sdk.GRADIO, gradio.__version__, "", "pyyaml>=5\n", ())
    assert unmet(ok) == []
    wrong = EnvSpec(
        "3.10", Sdk.GRADIO, "4.0.0", "", "no-such-package-xyz\n--extra-index-url x\n", ()
    )
    problems = unmet(wrong)
    assert problems[0].startswith("gradio==4.0.0 (installed:")
    assert problems[1:] == ["no-such-package-xyz", "--extra-index-url x"]
    (tmp_path / "README.md").write_text(
        f"---\nsdk: gradio\nsdk_version: {gradio.__version__}\n---\n"
    )
    (tmp_path / "app.py").write_text("")
    config = load_space(tmp_path)
    assert environment_needed(config, EnvMode.AUTO) is None
    assert environment_needed(config, EnvMode.CURRENT) is None
    assert environment_needed(config, EnvMode.ISOLATED) is not None


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16G", 16 * 2**30),
        ("512M", 512 * 2**20),
        ("50GB", 50 * 2**30),
        ("1.5g", int(1.5 * 2**30)),
        ("100", 100),
        ("lots", None),
    ],
)
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_pip_package_sources_are_given_to_uv() -> None:
    from spacerunner.envs.builder import uv_settings_from_pip

    env = uv_settings_from_pip(
        {"PIP_FIND_LINKS": "/opt/wheels /srv/more", "PIP_INDEX_URL": "https://mirror/simple"}
    )
    assert env["UV_FIND_LINKS"] == "/opt/wheels,/srv/more"
    assert env["UV_DEFAULT_INDEX"] == "https://mirror/simple"
    assert "UV_INDEX" not in env
    mine = uv_settings_from_pip({"PIP_FIND_LINKS": "/opt/wheels", "UV_FIND_LINKS": "/mine"})
    assert mine["UV_FIND_LINKS"] == "/mine"
