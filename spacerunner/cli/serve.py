"""``spacerunner serve [DIR ...]``: every Space of the folders on one port."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spacerunner.auth.access import Visibility
from spacerunner.auth.upstream import UpstreamOIDC
from spacerunner.cli.console import Console, Verbosity
from spacerunner.cli.limits import add_address_arguments, space_settings
from spacerunner.cli.run import event_loop_runner, say, space_folder, stop_on_signals
from spacerunner.config.parse import parse_duration
from spacerunner.defaults import DEFAULTS
from spacerunner.errors import SpacerunnerError
from spacerunner.launch.envfile import read_env_file
from spacerunner.paths import state_dir
from spacerunner.server.facts import space_facts
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dirs",
        nargs="*",
        default=["spaces"],
        help="folders of Spaces, Space folders, git URLs or Hub ids of Spaces, each with an "
        "optional @REVISION (default: spaces/)",
    )
    add_address_arguments(parser, DEFAULTS.serve_port)
    parser.add_argument(
        "--token",
        help="management token (default: $SPACERUNNER_TOKEN or a new random one, printed at start)",
    )
    parser.add_argument(
        "--idle-timeout",
        default=DEFAULTS.idle_timeout,
        help="sleep a Space after this long without visitors, e.g. 30m, 90s; "
        f"0 = never (default {DEFAULTS.idle_timeout})",
    )
    parser.add_argument(
        "--env-file", type=Path, help="KEY=value variables and secrets for every Space"
    )
    parser.add_argument(
        "--no-watch",
        action="store_true",
        help="do not follow the folders for added, changed or removed Spaces",
    )
    parser.add_argument(
        "--no-preload",
        action="store_true",
        help="start every app with a fresh interpreter, not forked from a preloaded one",
    )
    parser.add_argument("--state-dir", type=Path, help="where logs and state are kept")
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="-q: the console says only failures (builds, crashes, errors), not every build, "
        "start and sleep; -qq: nothing at all after start-up problems",
    )
    parser.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="also serve /metrics (Prometheus' format) to anyone reaching HOST:PORT, e.g. "
        "127.0.0.1:9100; on the server's own port it is for admins",
    )
    parser.add_argument(
        "--visibility",
        choices=[v.value for v in Visibility],
        default=Visibility.PUBLIC.value,
        help="who may see a Space whose visibility was never set with 'spacerunner access': "
        "public (anyone who reaches the server), protected (signed-in people), private "
        "(its owners and admins); default public",
    )
    parser.add_argument(
        "--allow-create",
        action="store_true",
        help="a signed-in person's git push to a new name creates a Space they own "
        "(in the first folder of Spaces)",
    )
    oidc = parser.add_argument_group("sign-in through an OpenID Connect provider")
    oidc.add_argument("--oidc-issuer", help="the provider's issuer URL (its discovery is read)")
    oidc.add_argument("--oidc-client-id", help="this server's client id there")
    oidc.add_argument(
        "--oidc-client-secret-file", type=Path, help="a file holding the client secret"
    )
    oidc.add_argument(
        "--oidc-name-claim",
        default=UpstreamOIDC.name_claim,
        help=f"the claim that names a person here (default {UpstreamOIDC.name_claim})",
    )
    oidc.add_argument(
        "--oidc-groups-claim",
        default=UpstreamOIDC.groups_claim,
        help=f"the claim listing their groups (default {UpstreamOIDC.groups_claim})",
    )
    oidc.add_argument("--oidc-admin-group", help="members of this group are admins here")


def serve_command(args: argparse.Namespace) -> int:
    args.dirs = [space_folder(text) for text in args.dirs]
    for folder in args.dirs:
        if not folder.is_dir():
            raise SpacerunnerError(
                f"{folder}: no such folder. Fix: pass a folder of Spaces, "
                "e.g. 'spacerunner serve spaces/'."
            )
    idle = parse_duration(args.idle_timeout)
    if idle is None:
        raise SpacerunnerError(
            f"--idle-timeout {args.idle_timeout!r}: expected a duration such as 30m, 90s or 0."
        )
    options = ServeOptions(
        dirs=tuple(args.dirs),
        host=args.host,
        port=args.port,
        token=args.token,
        allowed_hosts=tuple(args.allowed_host),
        visibility=Visibility(args.visibility),
        upstream=_upstream(args),
        allow_create=args.allow_create,
        preload=not args.no_preload,
        policy=Policy(idle_timeout=idle, watch=not args.no_watch),
        spaces=space_settings(args, read_env_file(args.env_file) if args.env_file else {}),
        state_dir=args.state_dir or state_dir(),
        metrics_address=_address(args.metrics_address),
    )
    verbosity = [Verbosity.ALL, Verbosity.PROBLEMS, Verbosity.NONE][min(args.quiet, 2)]
    portfolio = Portfolio(options, listeners=(Console(verbosity),))
    return event_loop_runner()(_serve(portfolio, banner=verbosity is not Verbosity.NONE))


def _address(text: str | None) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6) of ``--metrics-address``."""
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpacerunnerError(
            f"--metrics-address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9100."
        )
    return host, int(port)


def _upstream(args: argparse.Namespace) -> UpstreamOIDC | None:
    given = [args.oidc_issuer, args.oidc_client_id, args.oidc_client_secret_file]
    if not any(given):
        return None
    if not all(given):
        raise SpacerunnerError(
            "--oidc-issuer, --oidc-client-id and --oidc-client-secret-file go together. Fix: "
            "give all three (the secret in a file only you can read)."
        )
    try:
        secret = args.oidc_client_secret_file.read_text().strip()
    except OSError as exc:
        raise SpacerunnerError(
            f"{args.oidc_client_secret_file}: cannot read the client secret ({exc.strerror})."
        ) from exc
    if not secret:
        raise SpacerunnerError(f"{args.oidc_client_secret_file}: the client secret is empty.")
    return UpstreamOIDC(
        issuer=args.oidc_issuer.rstrip("/"),
        client_id=args.oidc_client_id,
        client_secret=secret,
        name_claim=args.oidc_name_claim,
        groups_claim=args.oidc_groups_claim,
        admin_group=args.oidc_admin_group,
    )


async def _serve(portfolio: Portfolio, *, banner: bool = True) -> int:
    try:
        with stop_on_signals() as stop:
            await portfolio.start()
            if banner:
                _banner(portfolio)
            await stop.wait()
            if banner:
                say("stopping")
            return 0
    finally:
        await portfolio.close()


def _banner(portfolio: Portfolio) -> None:
    """Where the Spaces are, and how to administer the server."""
    assert portfolio.supervisor is not None
    spaces = portfolio.supervisor.spaces.values()
    say(f"serving {len(spaces)} Space{'s' if len(spaces) != 1 else ''} at {portfolio.url}/")
    for space in sorted(spaces, key=lambda s: s.name):
        facts = space_facts(space, portfolio.proxy.port)
        line = f"  {facts['emoji']} {space.name:<24} {portfolio.url}{facts['url']}"
        if space.reason and facts["state"] == "error":
            line += f"  [error: {space.reason.splitlines()[0]}]"
        print(line, file=sys.stderr)
    say(f"management token: {portfolio.token}")
    if portfolio.setup_link is not None:
        say(f"create the first admin (works once): {portfolio.setup_link}")
    say(f"admin in a browser: {portfolio.url}/login?token={portfolio.token}")
    if portfolio.metrics_url is not None:
        say(f"metrics for Prometheus: {portfolio.metrics_url}")
    say("Spaces start on their first visit; Ctrl-C stops everything")
