"""Templates: folders of files plus a ``template.toml`` manifest.

A template folder holds the files of a Space. Files whose name ends in ``.jinja`` are rendered
with jinja2 (the suffix is dropped); the others are copied as they are. ``README.md.jinja`` is
the body of the README; its YAML header is written from the manifest's ``[header]`` table and the
values of the common variables, so every new Space starts with a header Spaces accepts::

    description = "Gradio Interface: one Python function with its inputs and outputs"

    [header]            # header fields; strings may use {{ variables }}
    sdk = "gradio"
    sdk_version = "6.31.0"
    app_file = "app.py"

    [defaults]          # defaults of the common variables (emoji, colors, ...)
    emoji = "👋"

    task = "text-classification"   # the task whose demo it is (optional)

    [variables.model]   # variables of this template
    default = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    help = "the model the app loads"

Built-in templates ship in the package; user templates come from folders given with
``--templates DIR`` or ``$SPACERUNNER_TEMPLATES`` (``:``-separated) and win over built-in ones
of the same name.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacerunner.errors import TemplateError
from spacerunner.scaffold.tasks import Task, parse_task, supported

MANIFEST = "template.toml"
ENV_VAR = "SPACERUNNER_TEMPLATES"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str


COMMON: tuple[Variable, ...] = (
    Variable("title", "", "the title on the Space's card and page (default: from the name)"),
    Variable("emoji", "🚀", "the emoji on the card"),
    Variable("color_from", "blue", "the card's gradient start: red, yellow, green, blue, ..."),
    Variable("color_to", "indigo", "the card's gradient end"),
    Variable("license", "apache-2.0", "the license id shown on the Hub"),
    Variable("short_description", "", "one line under the title (at most 60 characters)"),
)
"""Variables every template has; they fill the README header."""


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    description: str
    header: dict[str, Any]
    variables: tuple[Variable, ...]
    """The common variables (with this template's defaults) and the template's own."""
    builtin: bool
    task: Task | None = None
    """The task whose demo it is (``task = "..."`` in the manifest): ``new --model`` picks it."""

    @property
    def own_variables(self) -> tuple[Variable, ...]:
        common = {v.name for v in COMMON}
        return tuple(v for v in self.variables if v.name not in common)

    def defaults(self) -> dict[str, str]:
        return {v.name: v.default for v in self.variables}


def builtin_dir() -> Path:
    """The templates shipped with spacerunner: inside the installed package, or the repository's
    ``templates/`` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "_templates"
    return shipped if shipped.is_dir() else package.parent / "templates"


def user_dirs(extra: Iterable[Path] = ()) -> list[Path]:
    dirs = list(extra)
    dirs += [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return dirs


def find_templates(extra_dirs: Iterable[Path] = ()) -> dict[str, Template]:
    """Every template by name, user templates first."""
    found: dict[str, Template] = {}
    for folder in user_dirs(extra_dirs):
        if not folder.is_dir():
            raise TemplateError(
                f"{folder}: no such templates folder (from --templates or ${ENV_VAR}). "
                "Fix: give a folder that holds template folders, each with a template.toml."
            )
        for template in _read_folder(folder, builtin=False):
            found.setdefault(template.name, template)
    for template in _read_folder(builtin_dir(), builtin=True):
        found.setdefault(template.name, template)
    return dict(sorted(found.items()))


def _read_folder(folder: Path, *, builtin: bool) -> list[Template]:
    if not folder.is_dir():
        return []
    return [
        read_template(path, builtin=builtin)
        for path in sorted(folder.iterdir())
        if (path / MANIFEST).is_file()
    ]


def read_template(path: Path, *, builtin: bool = False) -> Template:
    manifest = path / MANIFEST
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{manifest}: cannot be read: {exc}. Fix: make it valid TOML.") from exc
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise TemplateError(f'{manifest}: description: a one-line string is needed, e.g. "..."')
    header = data.get("header", {})
    if not isinstance(header, dict) or not isinstance(header.get("sdk"), str):
        raise TemplateError(
            f'{manifest}: [header] needs at least sdk = "gradio" (or streamlit, static, docker)'
        )
    defaults = _table(manifest, data, "defaults")
    variables = [Variable(v.name, str(defaults.get(v.name, v.default)), v.help) for v in COMMON]
    unknown = set(defaults) - {v.name for v in COMMON}
    if unknown:
        raise TemplateError(
            f"{manifest}: [defaults] has {', '.join(sorted(unknown))}, which are not common "
            f"variables ({', '.join(v.name for v in COMMON)}). Fix: declare them under "
            "[variables.NAME] with a default and a help text."
        )
    for name, spec in _table(manifest, data, "variables").items():
        if not isinstance(spec, dict) or "default" not in spec or not name.isidentifier():
            raise TemplateError(
                f"{manifest}: [variables.{name}] needs a default (and a help text), and the name "
                "must be a Python identifier"
            )
        variables.append(Variable(name, str(spec["default"]), str(spec.get("help", ""))))
    if not (path / "README.md.jinja").is_file() and not (path / "README.md").is_file():
        raise TemplateError(f"{path}: a template needs README.md.jinja (the README's body)")
    task = None
    if "task" in data:
        task = parse_task(str(data["task"]))
        if task is None:
            raise TemplateError(f"{manifest}: task {data['task']!r} is not one of {supported()}")
    return Template(path.name, path, description.strip(), header, tuple(variables), builtin, task)


def _table(manifest: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise TemplateError(f"{manifest}: {key} must be a table ([{key}])")
    return table
