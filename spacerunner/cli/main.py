"""The ``spacerunner`` command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from spacerunner import __version__
from spacerunner.errors import SpacerunnerError


def _command(parser: argparse.ArgumentParser, handler: str) -> argparse.ArgumentParser:
    """Name the function that runs this subcommand (``module:function`` under spacerunner.cli,
    imported only when it runs, so every command starts fast)."""
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from spacerunner.cli import client, envs, limits, serve, team
    from spacerunner.cli import new as new_cli
    from spacerunner.defaults import DEFAULTS

    parser = argparse.ArgumentParser(
        prog="spacerunner",
        description="Run Hugging Face Spaces on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"spacerunner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = _command(
        sub.add_parser("check", help="read a Space's README header and report problems"),
        "check:check_main",
    )
    check.add_argument("path", type=Path, help="the Space folder (or its README.md)")
    check.add_argument("--json", action="store_true", help="print the parsed config as JSON")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")

    run = _command(
        sub.add_parser("run", help="run one Space behind spacerunner's proxy"), "run:run_command"
    )
    run.add_argument(
        "path",
        help="the Space: a folder (or its README.md), a git URL (https://, ssh://, file://) or "
        "a Hub id (owner/name), each with an optional @REVISION",
    )
    run.add_argument(
        "--no-fetch",
        action="store_true",
        help="a repository's revision from the cache only: never reach the network",
    )
    limits.add_address_arguments(run, DEFAULTS.run_port)
    run.add_argument("--env-file", type=Path, help="KEY=value variables and secrets for the app")
    run.add_argument("--log-dir", type=Path, help="where app logs are kept")
    run.add_argument("--quiet", action="store_true", help="do not stream the app's log")
    envs.add_env_arguments(run, DEFAULTS.run_env_mode)
    limits.add_isolation_arguments(run)
    limits.add_backend_argument(run)
    limits.add_limit_arguments(run)

    serve_parser = _command(
        sub.add_parser("serve", help="serve every Space of a folder on one port"),
        "serve:serve_command",
    )
    serve.add_arguments(serve_parser)
    envs.add_env_arguments(serve_parser, DEFAULTS.serve_env_mode)
    limits.add_isolation_arguments(serve_parser)
    limits.add_backend_argument(serve_parser)
    limits.add_limit_arguments(serve_parser)

    build = _command(
        sub.add_parser("build", help="build (or check) the environments of Spaces"),
        "envs:build_command",
    )
    build.add_argument("paths", nargs="+", type=Path, help="Space folders or folders of Spaces")
    build.add_argument(
        "--upgrade",
        action="store_true",
        help="resolve the requirements again as of now (by default a Space keeps the moment "
        "they were first resolved here, so rebuilds never drift); running servers use the new "
        "environment from each Space's next start",
    )
    envs.add_env_arguments(build, DEFAULTS.serve_env_mode)

    env = _command(
        sub.add_parser("env", help="the cache of built environments"), "envs:env_command"
    )
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    env_sub.add_parser("list", help="list cached environments")
    gc = env_sub.add_parser("gc", help="remove environments not used lately")
    gc.add_argument("--max-age", default="14d", help="remove those unused this long (14d)")
    gc.add_argument("--max-size", help="then keep the cache under this size, e.g. 50G")

    new_cli.add_arguments(
        _command(sub.add_parser("new", help="make a new Space from a template"), "new:new_command"),
        _command(
            sub.add_parser("templates", help="list the templates spacerunner new can use"),
            "new:templates_command",
        ),
    )

    ps = _command(
        sub.add_parser("ps", help="list the Spaces of a running server"), "client:ps_command"
    )
    client.add_arguments(ps)
    ps.add_argument("--json", action="store_true", help="print the facts as JSON")
    logs = _command(
        sub.add_parser("logs", help="print a Space's log from a running server"),
        "client:logs_command",
    )
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--build", action="store_true", help="the build log (environment, image), not the run's"
    )
    logs.add_argument(
        "--tail",
        type=int,
        default=DEFAULTS.log_tail,
        help=f"lines of history (default {DEFAULTS.log_tail})",
    )
    client.add_arguments(logs)
    secrets = _command(
        sub.add_parser("secrets", help="a Space's own variables and secrets on a running server"),
        "client:secrets_command",
    )
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True, metavar="ACTION")
    for action, text in (
        ("set", "set KEY (its value read from standard input, never from the command line)"),
        ("unset", "remove KEY"),
        ("list", "the names (never the values)"),
    ):
        action_parser = secrets_sub.add_parser(action, help=text)
        action_parser.add_argument("space")
        if action != "list":
            action_parser.add_argument("key")
        client.add_arguments(action_parser)
    team.add_arguments(sub)
    for action in ("start", "stop", "restart"):
        action_parser = _command(
            sub.add_parser(action, help=f"{action} a Space of a running server"),
            "client:action_command",
        )
        action_parser.add_argument("name")
        client.add_arguments(action_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, function = args.handler.split(":")
    try:
        handler = getattr(importlib.import_module(f"spacerunner.cli.{module}"), function)
        return int(handler(args))
    except SpacerunnerError as exc:
        print(f"spacerunner: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
