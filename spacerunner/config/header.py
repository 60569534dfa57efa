"""Finding and composing the YAML header at the top of a Space's README.md.

This layer knows files, encodings and YAML; what the keys mean is :mod:`spacerunner.config.parse`'s.
YAML is composed to nodes (not loaded to plain values) so that every problem can name its line and
so that scalars like ``python_version: 3.10`` can be read as written rather than as the float 3.1.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from spacerunner import textfile
from spacerunner.errors import ConfigError, Problem

README = "README.md"
MAX_README_BYTES = 1 << 20
"""How much of a README is read (the header sits at its top)."""
MAX_HEADER_CHARS = 64 * 1024
MAX_HEADER_NODES = 10_000
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
        raise _problem(
            readme,
            f"is not valid UTF-8 or UTF-16 text (byte {exc.start}: {exc.reason}).",
            fix="save README.md as UTF-8.",
        ) from exc


def _problem(where: Path, what: str, *, fix: str, line: int | None = None) -> ConfigError:
    """The error of one problem with a Space's README (or its folder)."""
    return ConfigError([Problem(where, what, line=line, fix=fix)])


def read_header(path: Path) -> Header:
    """Read and compose the YAML header of the Space at ``path`` (a folder or a README.md)."""
    readme = find_readme(path)
    folder = readme.parent if readme.name == README else path
    if not folder.exists():
        raise _problem(
            folder,
            "no such folder.",
            fix="give the path of a Space's folder (the one holding its README.md).",
        )
    if not (readme.exists() or readme.is_symlink()):
        raise _problem(
            readme,
            f"no {README} in {folder}: every Space needs one, opening with its YAML header.",
            fix=f"create {README} starting with '---', 'sdk: gradio', '---'.",
        )
    text = decode(readme, _read_bytes(readme))
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        found = repr(lines[0][:40]) if lines else "an empty file"
        raise _problem(
            readme,
            f"no YAML header: the first line must be '---', found {found}.",
            line=1,
            fix="put the Space's settings between two '---' lines at the top of README.md.",
        )
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in (_FENCE, "...")), None)
    if end is None:
        raise _problem(
            readme,
            "the YAML header opened with '---' on line 1 is never closed.",
            line=1,
            fix="add a line with '---' after the last header key.",
        )
    body = "\n".join(lines[1:end]) + "\n"
    if len(body) > MAX_HEADER_CHARS:
        raise _problem(
            readme,
            f"the YAML header is {len(body)} characters long; at most {MAX_HEADER_CHARS} are read.",
            line=1,
            fix="keep the header to the Space's settings; long text goes in the body.",
        )
    try:
        loader = yaml.SafeLoader(body)
        node = loader.get_single_node()
    except RecursionError:
        raise _problem(
            readme,
            "the YAML header is nested too deeply to read.",
            line=1,
            fix="write the header as flat 'key: value' lines.",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark is not None else None
        what = exc.problem or str(exc)
        raise _problem(
            readme,
            f"the header is not valid YAML: {what}.",
            line=line,
            fix="check indentation and quoting on that line (quote values with ':').",
        ) from exc
    except yaml.YAMLError as exc:  # e.g. characters YAML does not allow (a NUL)
        raise _problem(
            readme,
            f"the header is not valid YAML: {exc}.",
            line=1,
            fix="remove control characters; keep the header plain text.",
        ) from exc
    if node is None:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    if not isinstance(node, yaml.MappingNode):
        raise _problem(
            readme,
            f"the header must be a mapping of 'key: value' lines, found a {node.id}.",
            line=node.start_mark.line + 2,
            fix="write one 'key: value' per line, e.g. 'sdk: gradio'.",
        )
    _check_nodes(readme, node)
    return Header(readme=readme, node=node, first_line=2, loader=loader)


def _read_bytes(readme: Path) -> bytes:
    """The README's bytes (at most :data:`MAX_README_BYTES`): only a regular file inside its
    Space is read (never a FIFO or device, which could block or never end, nor a link that leads
    out of the Space)."""
    if readme.is_symlink():
        target = readme.resolve()
        if not target.is_relative_to(readme.parent.resolve()):
            raise _problem(
                readme,
                "is a link that leads out of the Space's folder.",
                fix="make README.md a regular file of the Space.",
            )
    try:
        fd = os.open(readme, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _problem(readme, f"cannot be read: {exc.strerror}.", fix="make it readable.") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _problem(readme, "is not a regular file.", fix="make README.md a regular file.")
        data = handle.read(MAX_README_BYTES + 1)
    if len(data) > MAX_README_BYTES:  # the header is at the top: read up to the last whole line
        data = data[: data.rfind(b"\n", 0, MAX_README_BYTES) + 1]
    return data


def _check_nodes(readme: Path, root: yaml.Node) -> None:
    """Refuse what would take the rest of the reading down: a header that expands (through
    YAML aliases) into more than :data:`MAX_HEADER_NODES` values, and NUL characters, which no
    file name or setting can hold."""
    budget = MAX_HEADER_NODES
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise _problem(
                readme,
                f"the YAML header expands to more than {MAX_HEADER_NODES} values "
                "(aliases repeating anchors).",
                line=1,
                fix="write the values out; do not nest aliases.",
            )
        if isinstance(node, yaml.ScalarNode):
            if "\x00" in str(node.value):
                raise _problem(
                    readme,
                    "a value holds a NUL character.",
                    line=node.start_mark.line + 2,
                    fix="remove the NUL character (a \\0 or \\x00 escape).",
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
