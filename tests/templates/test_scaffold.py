"""spacerunner new / templates: every template scaffolds a valid Space; bad input is refused."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from spacerunner.cli.main import main
from spacerunner.config import Sdk, load_space
from spacerunner.errors import TemplateError
from spacerunner.scaffold import check_name, find_templates, scaffold
from spacerunner.scaffold.tasks import Task
from spacerunner.scaffold.templates import builtin_dir, read_template

TEMPLATES = find_templates()
EXPECTED = {
    "gradio",
    "gradio-blocks",
    "gradio-chat",
    "streamlit",
    "static",
    "docker",
    *(task.value for task in Task),  # a demo per task (spacerunner new --model)
}


def test_the_builtin_templates_are_there() -> None:
    assert set(TEMPLATES) == EXPECTED
    assert builtin_dir() == Path(__file__).parents[2] / "templates"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_template_scaffolds_a_space_that_passes_check(name: str, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES[name], "my-demo", tmp_path)
    assert folder == tmp_path / "my-demo"
    config = load_space(folder)
    assert config.title == "My Demo"
    assert config.warnings == ()
    assert main(["check", str(folder), "--strict"]) == 0
    assert (folder / ".gitignore").read_text().startswith("__pycache__/")
    assert not list(folder.rglob("*.jinja"))
    assert [p.name for p in tmp_path.iterdir()] == ["my-demo"]  # no partial folder left
    requirements = folder / "requirements.txt"
    if config.sdk in (Sdk.GRADIO, Sdk.STREAMLIT):
        # every requirement pinned, and the SDK pin is the header's sdk_version
        pins = dict(
            line.split("==")
            for line in requirements.read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert all(re.fullmatch(r"[\d.]+", v) for v in pins.values()), pins
        assert pins[config.sdk.value] == config.sdk_version
    if config.sdk is Sdk.DOCKER:
        dockerfile = (folder / "Dockerfile").read_text()
        assert "useradd -m -u 1000 user" in dockerfile and "USER user" in dockerfile
        assert config.app_port == 7860 and '--port", "7860"' in dockerfile
    if TEMPLATES[name].task is not None:  # a default model from the Hub
        assert config.models and "/" in config.models[0]
        assert TEMPLATES[name].task.value == name


def test_values_fill_the_header_and_files(tmp_path: Path) -> None:
    folder = scaffold(
        TEMPLATES["static"],
        "counter",
        tmp_path,
        {
            "title": "Word: counter",  # a colon must not break the YAML
            "emoji": "🧮",
            "color_from": "pink",
            "color_to": "gray",
            "license": "mit",
            "short_description": "Counts words",
        },
    )
    config = load_space(folder)
    assert (config.title, config.emoji, config.color_from, config.color_to) == (
        "Word: counter",
        "🧮",
        "pink",
        "gray",
    )
    assert (config.license, config.short_description) == ("mit", "Counts words")
    assert "<h1>🧮 Word: counter</h1>" in (folder / "index.html").read_text()


def test_template_variables(tmp_path: Path) -> None:
    template = TEMPLATES["sentence-similarity"]
    assert [v.name for v in template.own_variables] == ["model"]
    folder = scaffold(template, "sim", tmp_path, {"model": "my-org/my-embedder"})
    assert load_space(folder).models == ("my-org/my-embedder",)
    assert "`my-org/my-embedder`" in (folder / "README.md").read_text()
    with pytest.raises(TemplateError, match="no variable nope; its variables are"):
        scaffold(template, "sim2", tmp_path, {"nope": "x"})


@pytest.mark.parametrize("bad", ["My Demo", "-demo", "demo-", "a--b", "x" * 64, "", "déjà"])
def test_bad_names_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot name a Space"):
        scaffold(TEMPLATES["gradio"], bad, tmp_path)
    assert not list(tmp_path.iterdir())


def test_bad_names_get_a_suggestion() -> None:
    with pytest.raises(TemplateError, match=r"\(e\.g\. my-demo\)"):
        check_name("My Demo")
    assert check_name("demo-2") == "demo-2"


def test_existing_folders_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    with pytest.raises(TemplateError, match="already exists; spacerunner new never overwrites"):
        scaffold(TEMPLATES["gradio"], "taken", tmp_path)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


def test_bad_values_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="--color-from 'teal': Spaces accepts only red"):
        scaffold(TEMPLATES["gradio"], "demo", tmp_path, {"color_from": "teal"})
    with pytest.raises(TemplateError, match="--description: 61 characters"):
        scaffold(TEMPLATES["gradio"], "demo", tmp_path, {"short_description": "x" * 61})
    assert not list(tmp_path.iterdir())


def user_template(root: Path, name: str = "mine", manifest: str | None = None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "template.toml").write_text(
        manifest
        or 'description = "My own"\n[header]\nsdk = "static"\napp_file = "{{ page }}"\n'
        '[defaults]\nemoji = "🦊"\n[variables.page]\ndefault = "home.html"\nhelp = "the page"\n'
    )
    (path / "README.md.jinja").write_text("# {{ title }}\n\nBy {{ name }}.\n")
    (path / "home.html.jinja").write_text("<h1>{{ emoji }} {{ title }}</h1>\n")
    (path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (path / "gitignore").write_text("secret/\n")
    return path


def test_user_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_template(tmp_path / "mine")
    user_template(tmp_path / "mine", "gradio")  # a user template overrides a built-in one
    found = find_templates([tmp_path / "mine"])
    assert not found["mine"].builtin and not found["gradio"].builtin
    assert found["static"].builtin
    folder = scaffold(found["mine"], "fox", tmp_path / "out")
    config = load_space(folder)
    assert (config.sdk, config.app_file, config.emoji) == (Sdk.STATIC, "home.html", "🦊")
    assert (folder / "home.html").read_text() == "<h1>🦊 Fox</h1>\n"
    assert (folder / "logo.png").read_bytes() == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert (folder / ".gitignore").read_text() == "secret/\n"
    assert "By fox." in (folder / "README.md").read_text()
    monkeypatch.setenv("SPACERUNNER_TEMPLATES", str(tmp_path / "mine"))
    assert "mine" in find_templates()


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("description = 1\n", "description: a one-line string is needed"),
        ('description = "x"\n', r"\[header\] needs at least sdk"),
        ("description = [\n", "cannot be read"),
        (
            'description = "x"\n[header]\nsdk = "static"\n[defaults]\nmodel = "m"\n',
            r"\[defaults\] has model, which are not common variables",
        ),
        (
            'description = "x"\n[header]\nsdk = "static"\n[variables.model]\nhelp = "h"\n',
            r"\[variables.model\] needs a default",
        ),
    ],
)
def test_broken_manifests_name_the_file_and_field(
    tmp_path: Path, manifest: str, message: str
) -> None:
    path = user_template(tmp_path, manifest=manifest)
    with pytest.raises(TemplateError, match=message) as info:
        read_template(path)
    assert str(path / "template.toml") in str(info.value)


def test_a_template_without_a_description_default_gets_one_that_fits(tmp_path: Path) -> None:
    manifest = 'description = "' + "A long description of a template " * 3 + '"\n'
    path = user_template(tmp_path / "t", manifest=manifest + '[header]\nsdk = "static"\n')
    (path / "index.html").write_text("<p>hi</p>\n")
    (path / "home.html.jinja").unlink()
    folder = scaffold(read_template(path), "demo", tmp_path / "out")
    assert len(load_space(folder).short_description or "") == 60


def test_a_template_whose_header_is_invalid_leaves_nothing(tmp_path: Path) -> None:
    path = user_template(
        tmp_path / "t", manifest='description = "x"\n[header]\nsdk = "gradio"\napp_file = "no.py"\n'
    )
    with pytest.raises(TemplateError, match="makes a Space whose header has problems"):
        scaffold(read_template(path), "demo", tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


def test_cli_new_and_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^  gradio-chat +Gradio ChatInterface", listing, re.M)
    demos, starts = listing.split("Starting points")
    assert all(re.search(rf"^  {task.value} ", demos, re.M) for task in Task)  # the tasks
    assert "gradio-chat" in starts and "fill-mask" not in starts
    code = main(
        [
            "new",
            "chat",
            "-t",
            "gradio-chat",
            "--dir",
            str(tmp_path),
            "--emoji",
            "🤖",
            "--color-from",
            "green",
            "--no-input",
        ]
    )
    assert code == 0
    assert f"created {tmp_path / 'chat'} from the gradio-chat template" in capsys.readouterr().out
    config = load_space(tmp_path / "chat")
    assert (config.emoji, config.color_from, config.color_to) == ("🤖", "green", "pink")
    assert main(["new", "chat", "--dir", str(tmp_path), "--no-input"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["new", "x", "-t", "nope", "--no-input", "--dir", str(tmp_path)]) == 1
    assert "no template 'nope'; there are automatic-speech-recognition" in capsys.readouterr().err
    # an earlier template's name still works: the task's template now
    assert main(["new", "z", "-t", "transformers-text-classification", "--dir", str(tmp_path)]) == 0
    assert "from the text-classification template" in capsys.readouterr().out
    assert main(["new", "y", "--var", "model", "--dir", str(tmp_path)]) == 1
    assert "--var 'model': write KEY=VALUE" in capsys.readouterr().err


def test_cli_new_asks_in_a_terminal(tmp_path: Path) -> None:
    from spacerunner.cli.main import build_parser
    from spacerunner.cli.new import new_command

    answers = iter(["Bad Name", "poll", "streamlit", "Team poll", "", "", "", "", ""])
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return next(answers)

    args = build_parser().parse_args(["new", "--dir", str(tmp_path)])
    assert new_command(args, ask) == 0
    config = load_space(tmp_path / "poll")
    assert (config.sdk, config.title, config.emoji) == (Sdk.STREAMLIT, "Team poll", "📈")
    assert asked[:3] == ["Name (e.g. my-demo): ", "Name (e.g. my-demo): ", "Template [gradio]: "]
    assert "Title [Poll]: " in asked


def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    from uv import find_uv_bin

    root = Path(__file__).parents[2]
    subprocess.run(
        [find_uv_bin(), "build", "--wheel", "--out-dir", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "spacerunner/_templates/gradio/template.toml" in names
    assert "spacerunner/_templates/text-to-image/app.py" in names
    assert not [n for n in names if "__pycache__" in n]


@pytest.mark.parametrize(
    ("example", "template"),
    [
        ("hello-gradio", "gradio"),
        ("notepad", "gradio-blocks"),
        ("chat", "gradio-chat"),
        ("random-walks", "streamlit"),
        ("word-counter", "static"),
    ],
)
def test_the_examples_are_their_templates(example: str, template: str) -> None:
    """spaces/ holds Spaces made with `spacerunner new`; their files stay the templates' own."""
    source = TEMPLATES[template].path
    folder = Path(__file__).parents[2] / "spaces" / example
    copied = [p for p in source.iterdir() if p.suffix != ".jinja" and p.name != "template.toml"]
    assert copied
    for path in copied:
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    assert load_space(folder).sdk.value == TEMPLATES[template].header["sdk"]
