"""Environment options shared by run/serve/build, and ``build`` / ``env list`` / ``env gc``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from spacerunner.config import load_space
from spacerunner.config.parse import parse_duration
from spacerunner.envs import EnvBuilder, EnvMode, spec_for
from spacerunner.envs.dates import parse_day
from spacerunner.envs.gc import cached, collect
from spacerunner.errors import EnvBuildError, SpacerunnerError
from spacerunner.paths import cache_dir
from spacerunner.supervisor.discovery import discover
from spacerunner.units import format_size, parse_size


def add_env_arguments(parser: argparse.ArgumentParser, default: EnvMode) -> None:
    parser.add_argument(
        "--env",
        choices=[m.value for m in EnvMode],
        default=default.value,
        help="isolated: a cached environment per Space; current: spacerunner's own Python; "
        f"auto: current when it already satisfies the Space (default {default.value})",
    )
    parser.add_argument(
        "--no-compat",
        action="store_true",
        help="do not apply the compatibility pins of old Gradio/Streamlit versions "
        "(see spacerunner.envs.compat)",
    )
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        type=parse_day,
        help="resolve requirements as they were on that day (nothing uploaded later), as "
        "Spaces built the Space then; default: the day of its last commit when the Space is a "
        "git repository as committed, else today",
    )
    parser.add_argument(
        "--strict-python",
        action="store_true",
        help="refuse a Space whose python_version is not installed (default: "
        "use the nearest with a warning)",
    )
    parser.add_argument(
        "--apt", action="store_true", help="install missing packages.txt Debian packages (as root)"
    )


def builder_from(args: argparse.Namespace) -> EnvBuilder:
    return EnvBuilder(
        cache_dir(), strict_python=args.strict_python, allow_apt=args.apt, compat=not args.no_compat
    )


def build_command(args: argparse.Namespace) -> int:
    builder = builder_from(args)
    spaces = [item.path for item in discover(list(args.paths))]
    if not spaces:
        raise SpacerunnerError("no Space found in " + ", ".join(map(str, args.paths)))
    failed = 0
    for path in spaces:
        config = load_space(path)
        if config.sdk.value not in ("gradio", "streamlit"):
            print(f"{config.name}: sdk {config.sdk.value} needs no Python environment")
            continue
        started = time.monotonic()
        print(f"{config.name}: preparing the environment", flush=True)
        try:
            spec = spec_for(config, args.as_of)
            env = asyncio.run(builder.ensure(spec, _echo, upgrade=args.upgrade))
        except EnvBuildError as exc:
            print(f"{config.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        verb = "reused" if env.reused else "built"
        print(
            f"{config.name}: environment {env.key} {verb} in "
            f"{time.monotonic() - started:.1f}s (python {env.interpreter.dotted})"
        )
    return 1 if failed else 0


def _echo(data: bytes) -> None:
    sys.stdout.write(data.decode("utf-8", "replace"))
    sys.stdout.flush()


def env_command(args: argparse.Namespace) -> int:
    root = cache_dir() / "envs"
    if args.env_command == "list":
        envs = cached(root)
        for env in sorted(envs, key=lambda e: -e.last_used):
            age = (time.time() - env.last_used) / 86400
            print(
                f"{env.key}  python {env.python:<8} {env.sdk or '-':<22} "
                f"{format_size(env.size):>8}  used {age:.1f} days ago"
            )
        print(f"{len(envs)} environment(s), {format_size(sum(e.size for e in envs))} in {root}")
        return 0
    max_age = parse_duration(args.max_age)
    max_size = parse_size(args.max_size) if args.max_size else None
    if max_age is None or (args.max_size and max_size is None):
        raise SpacerunnerError("--max-age takes a duration like 14d; --max-size a size like 50G")
    removed = collect(root, max_age=max_age, max_bytes=max_size)
    for env in removed:
        print(f"removed {env.key} ({format_size(env.size)})")
    print(f"removed {len(removed)} environment(s), {format_size(sum(e.size for e in removed))}")
    return 0
