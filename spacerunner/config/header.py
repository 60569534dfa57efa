"""Finding and composing the YAML header at the top of a Space's README.md.

This layer knows files, encodings and YAML; what the keys mean is :mod:`spacerunner.config.parse`'s.
YAML is composed to nodes (not loaded to plain values) so that every problem can name its line and
so that scalars like ``python_version: 3.10`` can be read as written rather than as the float 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from spacerunner import textfile
from spacerunner.errors import ConfigError, Problem

README = "README.md"
_FENCE = "---"


@dataclass(frozen=True)
class Header:
    """The composed header of one README, with the loader that can construct its values."""

    readme: Path
    node: yaml.MappingNode
    first_line: int
    """The README line (1-based) that YAML line 0 is on."""
    loader: yaml.SafeLoader

    def line_of(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line

    def construct(self, node: yaml.Node) -> object:
        return self.loader.construct_object(node, deep=True)


def find_readme(path: Path) -> Path:
    """The README.md of a Space given as its folder or as the README itself."""
    if path.is_dir():
        return path / README
    return path


def decode(readme: Path, data: bytes) -> str:
    """README text from bytes in UTF-8 (with or without BOM) or UTF-16 (with BOM)."""
    try:
        return textfile.decode(data)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                Problem(
                    readme,
                    f"is not valid UTF-8 or UTF-16 text (byte {exc.start}: {exc.reason}).",
                    fix="save README.md as UTF-8.",
                )
            ]
        ) from exc


def read_header(path: Path) -> Header:
    """Read and compose the YAML header of the Space at ``path`` (a folder or a README.md)."""
    readme = find_readme(path)
    if not readme.is_file():
        where = readme.parent if readme.name == README else readme
        raise ConfigError(
            [
                Problem(
                    readme,
                    f"no {README} in {where}: every Space needs one, opening with its YAML header.",
                    fix=f"create {README} starting with '---', 'sdk: gradio', '---'.",
                )
            ]
        )
    text = decode(readme, readme.read_bytes())
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        found = repr(lines[0][:40]) if lines else "an empty file"
        raise ConfigError(
            [
                Problem(
                    readme,
                    f"no YAML header: the first line must be '---', found {found}.",
                    line=1,
                    fix="put the Space's settings between two '---' lines at the top of README.md.",
                )
            ]
        )
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in (_FENCE, "...")), None)
    if end is None:
        raise ConfigError(
            [
                Problem(
                    readme,
                    "the YAML header opened with '---' on line 1 is never closed.",
                    line=1,
                    fix="add a line with '---' after the last header key.",
                )
            ]
        )
    body = "\n".join(lines[1:end]) + "\n"
    loader = yaml.SafeLoader(body)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark is not None else None
        what = exc.problem or str(exc)
        raise ConfigError(
            [
                Problem(
                    readme,
                    f"the header is not valid YAML: {what}.",
                    line=line,
                    fix="check indentation and quoting on that line (quote values with ':').",
                )
            ]
        ) from exc
    if node is None:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            [
                Problem(
                    readme,
                    f"the header must be a mapping of 'key: value' lines, found a {node.id}.",
                    line=node.start_mark.line + 2,
                    fix="write one 'key: value' per line, e.g. 'sdk: gradio'.",
                )
            ]
        )
    return Header(readme=readme, node=node, first_line=2, loader=loader)
