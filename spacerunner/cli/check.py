"""``spacerunner check PATH``: the parsed header, or every problem in it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from spacerunner.config import SpaceConfig, load_space
from spacerunner.errors import ConfigError, Severity


def config_dict(config: SpaceConfig) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    data["oauth"] = dataclasses.asdict(config.oauth)
    data["custom_headers"] = dict(config.custom_headers)
    data["extra"] = dict(config.extra)
    data["warnings"] = [str(w) for w in config.warnings]
    return {k: plain(v) for k, v in data.items()}


def check_main(args: argparse.Namespace) -> int:
    return check_command(args.path, as_json=args.json, strict=args.strict)


def check_command(path: Path, *, as_json: bool = False, strict: bool = False) -> int:
    try:
        config = load_space(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found.", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    data = config_dict(config)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        width = max(len(k) for k in data)
        for key, value in data.items():
            if key == "warnings" or value in (None, [], {}, ()):
                continue
            print(f"{key:<{width}}  {value}")
    failed = strict and any(w.severity is Severity.WARNING for w in config.warnings)
    if not failed:
        print(f"{config.readme}: OK ({config.sdk.value})", file=sys.stderr)
    return 1 if failed else 0
