"""From a README header to a :class:`SpaceConfig`: types, defaults and every problem at once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from spacerunner.config.header import Header, read_header
from spacerunner.config.model import (
    ALLOWED_CUSTOM_HEADERS,
    COLORS,
    DEFAULT_COLOR,
    DEFAULT_STARTUP_TIMEOUT,
    HARDWARE,
    HEADER_STYLES,
    STORAGE,
    OAuth,
    Sdk,
    SpaceConfig,
    default_app_file,
)
from spacerunner.errors import ConfigError, Problem, Severity

_PYTHON_VERSION = re.compile(r"^3(\.\d+){1,2}$")
_NODE_VERSION = re.compile(r"^v?\d{1,2}(\.\d+){0,2}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


class _Reader:
    """Collects typed values and problems while walking one header."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.problems: list[Problem] = []
        self.values: dict[str, Any] = {}
        self.lines: dict[str, int] = {}

    def problem(
        self,
        key: str | None,
        message: str,
        *,
        fix: str | None = None,
        warning: bool = False,
        line: int | None = None,
    ) -> None:
        if line is None and key is not None:
            line = self.lines.get(key)
        self.problems.append(
            Problem(
                self.header.readme,
                message,
                field=key,
                line=line,
                fix=fix,
                severity=Severity.WARNING if warning else Severity.ERROR,
            )
        )

    def expected(self, key: str, what: str, found: object, fix: str | None = None) -> None:
        self.problem(key, f"expected {what}, found {_describe(found)}.", fix=fix)


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


# --- converters: (reader, key, value, node) -> converted value, or None after a problem ---------

Converter = Callable[[_Reader, str, Any, yaml.Node], Any]


def _string(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and not isinstance(value, bool):
        return str(value) if not isinstance(value, str) else value
    r.expected(key, "a string", value)
    return None


def _raw_scalar(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
    """The scalar as written: ``3.10`` stays ``"3.10"`` (YAML would read the float 3.1)."""
    if isinstance(node, yaml.ScalarNode) and not isinstance(value, bool):
        return node.value.strip()
    r.expected(key, "a version such as '4.44.1'", value)
    return None


def _bool(r: _Reader, key: str, value: Any, node: yaml.Node) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        # Spaces READMEs often quote every value; read "false" as false, and say so.
        flag = value.strip().lower() == "true"
        r.problem(
            key,
            f"is the string {value!r}; read as the boolean {str(flag).lower()}.",
            fix=f"write '{key}: {str(flag).lower()}' without quotes.",
            warning=True,
        )
        return flag
    r.expected(key, "true or false", value, fix=f"write '{key}: true' or '{key}: false'.")
    return None


def _string_list(r: _Reader, key: str, value: Any, node: yaml.Node) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        bad = [item for item in value if not isinstance(item, str | int | float) or item is True]
        if not bad:
            return tuple(str(item) for item in value if str(item).strip())
    r.expected(key, "a list of strings", value, fix=f"write '{key}:' then one '- item' per line.")
    return None


def _one_of(choices: tuple[str, ...], *, warn_fallback: str | None = None) -> Converter:
    def convert(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else None
        if text in choices:
            return text
        message = f"expected one of {', '.join(choices)}, found {_describe(value)}"
        if warn_fallback is not None:
            r.problem(
                key,
                f"{message}; using {warn_fallback!r}.",
                warning=True,
                fix=f"pick one of {', '.join(choices)}.",
            )
            return warn_fallback
        r.problem(key, message + ".", fix=f"pick one of {', '.join(choices)}.")
        return None

    return convert


def _port(r: _Reader, key: str, value: Any, node: yaml.Node) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and value.strip().isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    r.expected(key, "a port number from 1 to 65535", value)
    return None


def _positive_int(r: _Reader, key: str, value: Any, node: yaml.Node) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)  # quoted, as READMEs that quote every value have it
    r.expected(key, "a whole number above 0", value)
    return None


def _python_version(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
    raw = _raw_scalar(r, key, value, node)
    if raw is None:
        return None
    if _PYTHON_VERSION.match(raw):
        return raw
    r.expected(
        key,
        "a Python 3 version such as '3.10' or '3.11.9'",
        raw,
        fix="quote it, e.g. python_version: '3.10'.",
    )
    return None


def parse_duration(value: object) -> float | None:
    """Seconds from '30m', '1h', '90s', '2d' or a bare number (minutes); ``None`` if unreadable."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    match = _DURATION.match(str(value))
    if match is None:
        return None
    amount, unit = match.groups()
    return float(amount) * _UNIT_SECONDS[(unit or "m").lower()]


def _duration(r: _Reader, key: str, value: Any, node: yaml.Node) -> float | None:
    seconds = parse_duration(value)
    if seconds is None:
        r.expected(key, "a duration such as '30m', '1h' or '90s'", value)
        return None
    if isinstance(value, int | float) or str(value).strip().replace(".", "", 1).isdigit():
        r.problem(
            key,
            f"{value!r} has no unit; reading it as minutes, as Spaces does.",
            warning=True,
            fix=f"write '{value}m'.",
        )
    return seconds


def _custom_headers(
    r: _Reader, key: str, value: Any, node: yaml.Node
) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(value, dict):
        r.expected(key, "a mapping of header names to values", value)
        return None
    headers: list[tuple[str, str]] = []
    for name, header_value in value.items():
        lowered = str(name).lower()
        if lowered not in ALLOWED_CUSTOM_HEADERS:
            r.problem(
                key,
                f"header {name!r} is not one Spaces lets a Space set; ignoring it.",
                warning=True,
                fix=f"use only {', '.join(ALLOWED_CUSTOM_HEADERS)}.",
            )
            continue
        headers.append((lowered, str(header_value)))
    return tuple(headers)


def _nodejs_version(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
    raw = _raw_scalar(r, key, value, node)
    if raw is None:
        return None
    if _NODE_VERSION.match(raw):
        return raw.lstrip("v")
    r.expected(key, "a Node.js version such as '22' or '20.18'", raw)
    return None


def _app_file(r: _Reader, key: str, value: Any, node: yaml.Node) -> str | None:
    text = _string(r, key, value, node)
    if text is None:
        return None
    text = text.strip().replace("\\", "/")
    if not text or text.startswith("/"):
        r.expected(key, "a path relative to the Space folder", text)
        return None
    return text


_FIELDS: dict[str, tuple[str, Converter]] = {
    "title": ("title", _string),
    "emoji": ("emoji", _string),
    "colorFrom": ("color_from", _one_of(COLORS, warn_fallback=DEFAULT_COLOR)),
    "colorTo": ("color_to", _one_of(COLORS, warn_fallback=DEFAULT_COLOR)),
    "sdk_version": ("sdk_version", _raw_scalar),
    "python_version": ("python_version", _python_version),
    "app_file": ("app_file", _app_file),
    "app_port": ("app_port", _port),
    "app_build_command": ("app_build_command", _string),
    "nodejs_version": ("nodejs_version", _nodejs_version),
    "base_path": ("base_path", _string),
    "fullWidth": ("full_width", _bool),
    "header": ("header", _one_of(HEADER_STYLES)),
    "short_description": ("short_description", _string),
    "models": ("models", _string_list),
    "datasets": ("datasets", _string_list),
    "tags": ("tags", _string_list),
    "thumbnail": ("thumbnail", _string),
    "pinned": ("pinned", _bool),
    "license": ("license", _string),
    "startup_duration_timeout": ("startup_duration_timeout", _duration),
    "custom_headers": ("custom_headers", _custom_headers),
    "disable_embedding": ("disable_embedding", _bool),
    "preload_from_hub": ("preload_from_hub", _string_list),
    "suggested_hardware": ("suggested_hardware", _one_of(HARDWARE)),
    "suggested_storage": ("suggested_storage", _one_of(STORAGE)),
    "hf_oauth": ("oauth_enabled", _bool),
    "hf_oauth_scopes": ("oauth_scopes", _string_list),
    "hf_oauth_expiration_minutes": ("oauth_expiration_minutes", _positive_int),
    "hf_oauth_authorized_org": ("oauth_authorized_orgs", _string_list),
    "duplicated_from": ("duplicated_from", _string),
    "sleep_time": ("sleep_time", _positive_int),
}
_OAUTH_KEYS = {
    "oauth_enabled": "enabled",
    "oauth_scopes": "scopes",
    "oauth_expiration_minutes": "expiration_minutes",
    "oauth_authorized_orgs": "authorized_orgs",
}


def load_space(path: Path | str) -> SpaceConfig:
    """Read the Space at ``path`` (its folder or its README.md).

    Raises :class:`ConfigError` listing every error found; warnings are kept on the result.
    """
    header = read_header(Path(path).absolute())
    reader = _Reader(header)
    extra: list[tuple[str, object]] = []
    sdk: Sdk | None = None
    sdk_seen = False

    for key_node, value_node in header.node.value:
        key = str(key_node.value)
        if key in reader.lines or (key == "sdk" and sdk_seen):
            reader.problem(
                key,
                "is set twice; the last value wins.",
                warning=True,
                line=header.line_of(key_node),
            )
        reader.lines[key] = header.line_of(key_node)
        try:
            value = header.construct(value_node)
        except (yaml.YAMLError, RecursionError) as exc:
            reader.problem(key, f"cannot be read: {str(exc) or 'nested too deeply'}.")
            continue
        if key == "sdk":
            sdk_seen = True
            sdk = _sdk(reader, value)
            continue
        if value is None or value == "":
            continue  # an empty value means "the default", as on Spaces
        spec = _FIELDS.get(key)
        if spec is None:
            extra.append((key, value))
            reader.problem(
                key, "is not a Spaces setting spacerunner knows; keeping it aside.", warning=True
            )
            continue
        attr, convert = spec
        converted = convert(reader, key, value, value_node)
        if converted is not None:
            reader.values[attr] = converted

    if not sdk_seen:
        reader.problem(
            "sdk",
            "is missing: spacerunner needs to know how to run this Space.",
            line=None,
            fix="add 'sdk: gradio' (or streamlit, static, docker).",
        )
    folder = header.readme.parent
    if sdk is not None:
        _check_app_file(reader, folder, sdk)

    errors = [p for p in reader.problems if p.severity is Severity.ERROR]
    if errors or sdk is None:
        raise ConfigError(errors)

    values = dict(reader.values)
    oauth = OAuth(**{_OAUTH_KEYS[k]: values.pop(k) for k in list(values) if k in _OAUTH_KEYS})
    values.setdefault("app_file", default_app_file(sdk))
    values.setdefault("title", folder.name)
    values.setdefault("startup_duration_timeout", DEFAULT_STARTUP_TIMEOUT)
    return SpaceConfig(
        path=folder,
        readme=header.readme,
        sdk=sdk,
        oauth=oauth,
        extra=tuple(extra),
        warnings=tuple(reader.problems),
        **values,
    )


def _sdk(reader: _Reader, value: object) -> Sdk | None:
    choices = ", ".join(s.value for s in Sdk)
    if isinstance(value, str) and value.strip().lower() in {s.value for s in Sdk}:
        return Sdk(value.strip().lower())
    reader.problem(
        "sdk",
        f"expected one of {choices}, found {_describe(value)}.",
        fix=f"set 'sdk:' to one of {choices}.",
    )
    return None


def _check_app_file(reader: _Reader, folder: Path, sdk: Sdk) -> None:
    """The app file must exist inside the Space folder (symlinks resolved)."""
    app_file = reader.values.get("app_file") or default_app_file(sdk)
    if app_file is None:
        return
    root = folder.resolve()
    target = (folder / app_file).resolve()
    if not target.is_relative_to(root):
        reader.problem(
            "app_file",
            f"{app_file!r} points outside the Space folder ({target}).",
            fix="use a path inside the Space folder.",
        )
        return
    if sdk is Sdk.STATIC and reader.values.get("app_build_command"):
        return  # a file of the build's output: it exists once the build has run
    if not target.is_file():
        named = "app_file" in reader.values
        reader.problem(
            "app_file",
            f"{app_file!r} does not exist in {folder}"
            + ("" if named else f" (the default for sdk: {sdk.value})")
            + ".",
            fix=f"create {app_file} or set 'app_file:' to the file that starts the app.",
        )
