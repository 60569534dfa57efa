"""Make a new Space folder from a template: validated name and values, rendered files, a README
header Spaces accepts, written atomically (a half-made Space never appears)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from spacerunner.config import load_space
from spacerunner.config.model import COLORS
from spacerunner.errors import ConfigError, TemplateError
from spacerunner.scaffold.templates import MANIFEST, Template
from spacerunner.supervisor.discovery import is_label, url_name
from spacerunner.urls import space_host, space_mount

GITIGNORE = """\
__pycache__/
*.py[cod]
.venv/
.env
.gradio/
flagged/
.streamlit/secrets.toml
"""
_HEADER_ORDER = ("sdk", "sdk_version", "python_version", "app_file", "app_port")


def check_name(name: str) -> str:
    """``name`` if it can name a Space everywhere it is used (folder, Hub repo, URL path, host
    name); otherwise a :class:`TemplateError` that suggests one that can."""
    if is_label(name) and "--" not in name:  # the Hub refuses '--' in repository names
        return name
    suggestion = re.sub(r"-{2,}", "-", url_name(name))
    hint = f" (e.g. {suggestion})" if suggestion and is_label(suggestion) else ""
    raise TemplateError(
        f"{name!r} cannot name a Space: use 1-63 lower-case letters, digits and single '-', "
        f"starting and ending with a letter or digit{hint}. The name is the folder, the Hub "
        f"repository, the URL {space_mount('NAME')}/ and the host {space_host('NAME')}."
    )


def scaffold(
    template: Template,
    name: str,
    dest: Path,
    values: Mapping[str, str] | None = None,
    *,
    header: Mapping[str, Any] | None = None,
    files: Mapping[str, Path | str] | None = None,
) -> Path:
    """Write the Space ``dest/name`` from ``template`` and return its folder.

    ``values`` set variables (the common ones such as ``title`` and ``emoji``, and the
    template's own); the others keep their defaults. ``header`` adds fields to the README's
    header; ``files`` adds files (text) or folders (copied) at relative paths. Refuses an
    existing folder.
    """
    check_name(name)
    target = dest / name
    if target.exists() or target.is_symlink():
        raise TemplateError(
            f"{target} already exists; spacerunner new never overwrites. "
            "Fix: choose another name or --dir, or remove that folder first."
        )
    context = _values(template, name, dict(values or {}))
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        partial.mkdir()
        _write_files(template, partial, context, header or {})
        for relative, content in (files or {}).items():
            target_file = partial / relative
            target_file.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copytree(content, target_file, symlinks=True)
            else:
                target_file.write_text(content, encoding="utf-8")
        _check(template, partial)
        try:
            partial.rename(target)
        except OSError as exc:
            raise TemplateError(f"{target}: cannot be created: {exc}") from exc
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return target


def defaults_for(template: Template, name: str) -> dict[str, str]:
    """The value of every variable of ``template`` for a Space called ``name`` when nobody
    gives one: the title from the name, the description from the template's."""
    values = template.defaults()
    values["title"] = values["title"].strip() or name.replace("-", " ").title()
    values["short_description"] = values["short_description"].strip() or template.description[:60]
    return values


def _values(template: Template, name: str, given: dict[str, str]) -> dict[str, str]:
    known = {v.name for v in template.variables}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TemplateError(
            f"template {template.name!r} has no variable {', '.join(unknown)}; "
            f"its variables are {', '.join(sorted(known))}"
        )
    defaults = defaults_for(template, name)
    values = defaults | {k: v for k, v in given.items() if v is not None}
    values["name"] = name
    for key in ("title", "short_description"):
        values[key] = values[key].strip() or defaults[key]
    for key, flag in (("color_from", "--color-from"), ("color_to", "--color-to")):
        if values[key] not in COLORS:
            raise TemplateError(f"{flag} {values[key]!r}: Spaces accepts only {', '.join(COLORS)}")
    if not values["emoji"].strip():
        raise TemplateError("--emoji: give one emoji, e.g. 🚀")
    if len(values["short_description"]) > 60:
        raise TemplateError(
            f"--description: {len(values['short_description'])} characters; "
            "Spaces shows at most 60. Fix: shorten it."
        )
    return values


_JINJA = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


def _render(text: str, values: Mapping[str, str], where: str) -> str:
    try:
        return _JINJA.from_string(text).render(values)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: cannot be rendered: {exc}") from exc


def _header(
    template: Template, values: Mapping[str, str], added: Mapping[str, Any]
) -> dict[str, Any]:
    def fill(value: Any, where: str) -> Any:
        if isinstance(value, str):
            return _render(value, values, where)
        if isinstance(value, list):
            return [fill(item, where) for item in value]
        return value

    manifest = template.path / MANIFEST
    extra = {k: fill(v, f"{manifest} [header] {k}") for k, v in template.header.items()}
    header: dict[str, Any] = {
        "title": values["title"],
        "emoji": values["emoji"],
        "colorFrom": values["color_from"],
        "colorTo": values["color_to"],
    }
    header |= {k: extra.pop(k) for k in _HEADER_ORDER if k in extra}
    header |= {
        "pinned": extra.pop("pinned", False),
        "license": values["license"],
        "short_description": values["short_description"],
    }
    return header | extra | dict(added)


def _write_files(
    template: Template, out: Path, values: Mapping[str, str], added: Mapping[str, Any]
) -> None:
    for source in sorted(template.path.rglob("*")):
        relative = source.relative_to(template.path)
        if source.is_dir() or relative.name == MANIFEST or "__pycache__" in relative.parts:
            continue
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".jinja":
            text = _render(source.read_text(encoding="utf-8"), values, str(source))
            target = target.with_suffix("")
            if target.name == "README.md" and not text.lstrip().startswith("---"):
                header = yaml.safe_dump(
                    _header(template, values, added),
                    sort_keys=False,
                    allow_unicode=True,
                    width=1000,
                )
                text = f"---\n{header}---\n\n{text.lstrip()}"
            target.write_text(text, encoding="utf-8")
        elif relative.name == "gitignore":
            shutil.copyfile(source, out / ".gitignore")
        else:
            shutil.copy2(source, target)
    if not (out / ".gitignore").exists():
        (out / ".gitignore").write_text(GITIGNORE)


def _check(template: Template, folder: Path) -> None:
    try:
        load_space(folder)
    except ConfigError as exc:
        raise TemplateError(
            f"template {template.name!r} ({template.path}) makes a Space whose header has "
            f"problems:\n{exc}"
        ) from exc
