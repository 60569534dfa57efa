from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from spacerunner.config import Sdk, load_space
from spacerunner.errors import ConfigError, Severity


def write_space(
    root: Path, header: str, files: dict[str, str] | None = None, raw: bytes | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        (root / "README.md").write_bytes(raw)
    else:
        (root / "README.md").write_text(header, encoding="utf-8")
    for name, text in (files if files is not None else {"app.py": "print('hi')\n"}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_space(path)
    return [str(p).replace(str(path), "SPACE") for p in info.value.problems]


def test_full_header_is_read_with_types(tmp_path: Path) -> None:
    space = write_space(
        tmp_path / "demo",
        """---
title: My Demo
emoji: 🔥
colorFrom: indigo
colorTo: pink
sdk: gradio
sdk_version: 4.44.1
python_version: 3.10
app_file: src/main.py
app_port: 8080
base_path: /docs
fullWidth: true
header: mini
short_description: Does a thing
models:
  - openai-community/gpt2
datasets: [squad]
tags:
  - demo
thumbnail: https://example.com/t.png
pinned: true
license: mit
startup_duration_timeout: 1h
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
disable_embedding: true
preload_from_hub:
  - openai-community/gpt2 config.json
suggested_hardware: cpu-upgrade
suggested_storage: small
hf_oauth: true
hf_oauth_scopes:
  - read-repos
hf_oauth_expiration_minutes: 60
hf_oauth_authorized_org: my-org
duplicated_from: someone/original
---
# My Demo
""",
        {"src/main.py": "print(1)\n"},
    )
    config = load_space(space)
    assert config.sdk is Sdk.GRADIO
    assert config.name == "demo"
    assert config.title == "My Demo"
    assert config.emoji == "🔥"
    assert (config.color_from, config.color_to) == ("indigo", "pink")
    assert config.sdk_version == "4.44.1"
    assert config.python_version == "3.10"  # not the float 3.1
    assert config.app_file == "src/main.py"
    assert config.app_port == 8080
    assert config.base_path == "/docs"
    assert config.full_width is True
    assert config.header == "mini"
    assert config.models == ("openai-community/gpt2",)
    assert config.datasets == ("squad",)
    assert config.tags == ("demo",)
    assert config.pinned is True
    assert config.license == "mit"
    assert config.startup_duration_timeout == 3600
    assert config.custom_headers == (
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-opener-policy", "same-origin"),
    )
    assert config.disable_embedding is True
    assert config.preload_from_hub == ("openai-community/gpt2 config.json",)
    assert config.suggested_hardware == "cpu-upgrade"
    assert config.suggested_storage == "small"
    assert config.oauth.enabled is True
    assert config.oauth.scopes == ("read-repos",)
    assert config.oauth.expiration_minutes == 60
    assert config.oauth.authorized_orgs == ("my-org",)
    assert config.duplicated_from == "someone/original"
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("sdk", "app_file", "port"),
    [
        ("gradio", "app.py", 7860),
        ("streamlit", "app.py", 7860),
        ("static", "index.html", 7860),
        ("docker", None, 7860),
    ],
)
def test_defaults_follow_spaces(tmp_path: Path, sdk: str, app_file: str | None, port: int) -> None:
    space = write_space(
        tmp_path / "s", f"---\nsdk: {sdk}\n---\n", {"app.py": "", "index.html": "<p>hi</p>"}
    )
    config = load_space(space)
    assert config.app_file == app_file
    assert config.app_port == port
    assert config.python_version == "3.10"
    assert config.startup_duration_timeout == 30 * 60
    assert config.title == "s"
    assert (config.color_from, config.color_to) == ("gray", "gray")
    assert config.oauth.expiration_minutes == 480
    assert config.full_width is True  # the reference's default changed from false


def test_readme_path_works_as_well_as_folder(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s", "---\nsdk: gradio\n---\n")
    assert load_space(space / "README.md").path == space


def test_empty_values_mean_default(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s", "---\nsdk: docker\napp_port:\nemoji:\nmodels:\n---\n")
    config = load_space(space)
    assert config.app_port == 7860
    assert config.models == ()


def test_unknown_keys_are_kept_with_a_warning(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s", "---\nsdk: gradio\nmy_setting: 3\n---\n")
    config = load_space(space)
    assert config.extra == (("my_setting", 3),)
    assert [str(w).replace(str(space), "SPACE") for w in config.warnings] == [
        "SPACE/README.md:3: warning: my_setting: is not a Spaces setting spacerunner knows; "
        "keeping it aside."
    ]


def test_color_outside_the_set_warns_and_falls_back(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s", "---\nsdk: gradio\ncolorFrom: orange\ncolorTo: Blue\n---\n")
    config = load_space(space)
    assert config.color_from == "gray"
    assert config.color_to == "blue"
    (warning,) = config.warnings
    assert warning.severity is Severity.WARNING
    assert warning.line == 3
    assert warning.field == "colorFrom"
    assert "found the string 'orange'; using 'gray'" in warning.message


def test_bom_crlf_and_escapes(tmp_path: Path) -> None:
    text = '---\r\ntitle: "\\U0001F917 Hugging"\r\nsdk: "gradio"\r\n---\r\nbody\r\n'
    space = write_space(tmp_path / "s", "", raw=codecs.BOM_UTF8 + text.encode())
    config = load_space(space)
    assert config.title == "🤗 Hugging"


def test_utf16_readme(tmp_path: Path) -> None:
    space = write_space(
        tmp_path / "s",
        "",
        raw="---\nsdk: static\n---\n".encode("utf-16"),
        files={"index.html": "x"},
    )
    assert load_space(space).sdk is Sdk.STATIC


BROKEN = [
    pytest.param(
        None,
        [
            "SPACE/README.md: error: no README.md in SPACE: every Space needs one, "
            "opening with its YAML header. Fix: create README.md starting with '---', "
            "'sdk: gradio', '---'."
        ],
        id="no-readme",
    ),
    pytest.param(
        "# Just a title\n",
        [
            "SPACE/README.md:1: error: no YAML header: the first line "
            "must be '---', found '# Just a title'. Fix: put the Space's "
            "settings between two '---' lines at the top of README.md."
        ],
        id="no-front-matter",
    ),
    pytest.param(
        "---\nsdk: gradio\n",
        [
            "SPACE/README.md:1: error: the YAML header opened with "
            "'---' on line 1 is never closed. Fix: add a line with "
            "'---' after the last header key."
        ],
        id="unclosed",
    ),
    pytest.param(
        "---\ntitle: a\nsdk: [gradio\n---\n",
        [
            "SPACE/README.md:4: error: the header is not valid YAML: expected ',' or ']', "
            "but got '<stream end>'. Fix: check indentation and quoting on that line "
            "(quote values with ':')."
        ],
        id="bad-yaml",
    ),
    pytest.param(
        "---\ntitle: x\n---\n",
        [
            "SPACE/README.md: error: sdk: is missing: spacerunner "
            "needs to know how to run this Space. Fix: add 'sdk: "
            "gradio' (or streamlit, static, docker)."
        ],
        id="sdk-missing",
    ),
    pytest.param(
        "---\nsdk: flask\n---\n",
        [
            "SPACE/README.md:2: error: sdk: expected one of "
            "gradio, streamlit, static, docker, found the string "
            "'flask'. Fix: set 'sdk:' to one of gradio, streamlit, "
            "static, docker."
        ],
        id="sdk-unknown",
    ),
    pytest.param(
        "---\n- sdk: gradio\n---\n",
        [
            "SPACE/README.md:2: error: the header must be a "
            "mapping of 'key: value' lines, found a sequence. "
            "Fix: write one 'key: value' per line, e.g. 'sdk: "
            "gradio'."
        ],
        id="not-a-mapping",
    ),
    pytest.param(
        "---\nsdk: gradio\napp_file: main.py\n---\n",
        [
            "SPACE/README.md:3: error: app_file: 'main.py' does not exist in SPACE. Fix: "
            "create main.py or set 'app_file:' to the file that starts the app."
        ],
        id="app-file-missing",
    ),
    pytest.param(
        "---\nsdk: streamlit\napp_file: ../outside.py\n---\n",
        [
            "SPACE/README.md:3: error: app_file: '../outside.py' points outside the Space "
            "folder (OUTSIDE). Fix: use a path inside the Space folder."
        ],
        id="app-file-escapes",
    ),
    pytest.param(
        "---\nsdk: gradio\napp_port: lots\npinned: maybe\n---\n",
        [
            "SPACE/README.md:3: error: app_port: expected a port number from 1 to 65535, "
            "found the string 'lots'.",
            "SPACE/README.md:4: error: pinned: expected true or false, found the string "
            "'maybe'. Fix: write 'pinned: true' or 'pinned: false'.",
        ],
        id="wrong-types-all-reported",
    ),
    pytest.param(
        "---\nsdk: gradio\ntags: {a: 1}\n---\n",
        [
            "SPACE/README.md:3: error: tags: expected a list of strings, found a mapping. "
            "Fix: write 'tags:' then one '- item' per line."
        ],
        id="list-expected",
    ),
    pytest.param(
        "---\nsdk: gradio\npython_version: 2.7\n---\n",
        [
            "SPACE/README.md:3: error: python_version: expected a Python 3 version such "
            "as '3.10' or '3.11.9', found the string '2.7'. Fix: quote it, e.g. "
            "python_version: '3.10'."
        ],
        id="python-version",
    ),
    pytest.param(
        "---\nsdk: gradio\nstartup_duration_timeout: soon\n---\n",
        [
            "SPACE/README.md:3: error: startup_duration_timeout: expected a duration such "
            "as '30m', '1h' or '90s', found the string 'soon'."
        ],
        id="duration",
    ),
    pytest.param(
        "---\nsdk: gradio\nsuggested_hardware: tpu-giant\n---\n",
        [
            "SPACE/README.md:3: error: suggested_hardware: expected one of "
            + ", ".join(__import__("spacerunner.config.model", fromlist=["HARDWARE"]).HARDWARE)
            + ", found the string 'tpu-giant'. Fix: pick one of "
            + ", ".join(__import__("spacerunner.config.model", fromlist=["HARDWARE"]).HARDWARE)
            + "."
        ],
        id="hardware",
    ),
]


@pytest.mark.parametrize(("readme", "expected"), BROKEN)
def test_broken_headers(tmp_path: Path, readme: str | None, expected: list[str]) -> None:
    space = tmp_path / "space"
    space.mkdir()
    (tmp_path / "outside.py").write_text("")
    (space / "app.py").write_text("")
    if readme is not None:
        (space / "README.md").write_text(readme)
    found = [
        p.replace(str((tmp_path / "outside.py").resolve()), "OUTSIDE") for p in problems(space)
    ]
    assert found == expected


def test_app_file_symlink_out_of_the_space_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.py").write_text("")
    space = write_space(tmp_path / "s", "---\nsdk: gradio\n---\n", files={})
    (space / "app.py").symlink_to(tmp_path / "elsewhere.py")
    (message,) = problems(space)
    assert "app_file: 'app.py' points outside the Space folder" in message


def test_undecodable_readme(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s", "", raw=b"---\nsdk: gradio\ntitle: \xff\xfe\xfa\n---\n")
    space.joinpath("README.md").write_bytes(b"---\ntitle: \xc3\x28\n---\n")
    (message,) = problems(space)
    assert message.startswith("SPACE/README.md: error: is not valid UTF-8 or UTF-16 text")
