"""The ``spacerunner`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from spacerunner import __version__
from spacerunner.errors import SpacerunnerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spacerunner",
        description="Run Hugging Face Spaces on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"spacerunner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="read a Space's README header and report problems")
    check.add_argument("path", type=Path, help="the Space folder (or its README.md)")
    check.add_argument("--json", action="store_true", help="print the parsed config as JSON")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")

    run = sub.add_parser("run", help="run one Space behind spacerunner's proxy")
    run.add_argument("path", type=Path, help="the Space folder (or its README.md)")
    run.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    run.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    run.add_argument("--env-file", type=Path, help="KEY=value variables and secrets for the app")
    run.add_argument("--log-dir", type=Path, help="where app logs are kept")
    run.add_argument("--quiet", action="store_true", help="do not stream the app's log")

    from spacerunner.cli import client, envs, limits, serve
    from spacerunner.envs import EnvMode

    envs.add_env_arguments(run, EnvMode.AUTO)
    limits.add_limit_arguments(run)

    serve_parser = sub.add_parser("serve", help="serve every Space of a folder on one port")
    serve.add_arguments(serve_parser)
    envs.add_env_arguments(serve_parser, EnvMode.ISOLATED)
    limits.add_limit_arguments(serve_parser)

    build = sub.add_parser("build", help="build (or check) the environments of Spaces")
    build.add_argument("paths", nargs="+", type=Path, help="Space folders or folders of Spaces")
    envs.add_env_arguments(build, EnvMode.ISOLATED)

    env = sub.add_parser("env", help="the cache of built environments")
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    env_sub.add_parser("list", help="list cached environments")
    gc = env_sub.add_parser("gc", help="remove environments not used lately")
    gc.add_argument("--max-age", default="14d", help="remove those unused this long (14d)")
    gc.add_argument("--max-size", help="then keep the cache under this size, e.g. 50G")

    from spacerunner.cli import new as new_cli

    new_cli.add_arguments(
        sub.add_parser("new", help="make a new Space from a template"),
        sub.add_parser("templates", help="list the templates spacerunner new can use"),
    )

    ps = sub.add_parser("ps", help="list the Spaces of a running server")
    client.add_arguments(ps)
    ps.add_argument("--json", action="store_true", help="print the facts as JSON")
    logs = sub.add_parser("logs", help="print a Space's log from a running server")
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=200, help="lines of history (default 200)")
    client.add_arguments(logs)
    for action in ("start", "stop", "restart"):
        action_parser = sub.add_parser(action, help=f"{action} a Space of a running server")
        action_parser.add_argument("name")
        client.add_arguments(action_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            from spacerunner.cli.check import check_command

            return check_command(args.path, as_json=args.json, strict=args.strict)
        if args.command == "run":
            from spacerunner.cli.run import run_command

            return run_command(args)
        if args.command == "serve":
            from spacerunner.cli.serve import serve_command

            return serve_command(args)
        from spacerunner.cli import client, envs

        if args.command == "build":
            return envs.build_command(args)
        if args.command == "env":
            return envs.env_command(args)
        if args.command in ("new", "templates"):
            from spacerunner.cli import new as new_cli

            if args.command == "new":
                return new_cli.new_command(args)
            return new_cli.templates_command(args)
        if args.command == "ps":
            return client.ps_command(args)
        if args.command == "logs":
            return client.logs_command(args)
        if args.command in ("start", "stop", "restart"):
            return client.action_command(args)
    except SpacerunnerError as exc:
        print(f"spacerunner: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")
