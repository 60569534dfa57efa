"""Flags shared by ``run`` and ``serve``: address and host names, isolation, backend, limits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from spacerunner.backends.kind import BackendKind
from spacerunner.defaults import DEFAULTS
from spacerunner.errors import SpacerunnerError
from spacerunner.limits import LimitSettings
from spacerunner.limits.model import LimitsMode
from spacerunner.limits.sandbox import LOST_WITHOUT, Isolation

if TYPE_CHECKING:
    from spacerunner.launcher import SpaceSettings


def add_address_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """Where run and serve listen, and the host names they answer to."""
    parser.add_argument("--port", type=int, default=port, help=f"port to serve on (default {port})")
    parser.add_argument(
        "--host",
        default=DEFAULTS.host,
        help=f"address to serve on (default {DEFAULTS.host}; see README before exposing it)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable; e.g. the name of a reverse "
        "proxy in front, or *.example.org); loopback names and *.localhost always are",
    )


def _choice(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    default: StrEnum,
    help: str,
) -> None:
    """``flag`` taking one value of ``default``'s enum (its default said in the help)."""
    parser.add_argument(
        flag,
        choices=[mode.value for mode in type(default)],
        default=default.value,
        help=f"{help} (default {default})",
    )


def add_isolation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "isolation",
        "each Space runs as an unprivileged uid of its own, in its own PID, mount and network "
        "namespaces, with only its own variables, as on Spaces",
    )
    _choice(
        group,
        "--isolation",
        DEFAULTS.isolation,
        "full: the above, with outbound internet; offline: the same without any network; "
        "none: apps run as spacerunner's own children, unisolated",
    )
    group.add_argument(
        "--sandbox",
        dest="isolation",
        action="store_const",
        const=Isolation.OFFLINE.value,
        help="the same as --isolation offline",
    )


def isolation_from(args: argparse.Namespace) -> Isolation:
    """The isolation asked for; ``none`` is said aloud with what it gives up."""
    isolation = Isolation(args.isolation)
    if isolation is Isolation.NONE:
        print(f"spacerunner: warning: --isolation none: {LOST_WITHOUT}", file=sys.stderr)
    return isolation


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    _choice(
        parser,
        "--backend",
        DEFAULTS.backend,
        "local: processes; docker: every Space in a container ($DOCKER_HOST); auto: "
        "processes, and containers for sdk: docker Spaces",
    )


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "limits",
        "each Space gets Spaces' cpu-basic (2 CPUs, 16G RAM, 50G disk) or the CPU and "
        "RAM of its suggested_hardware; these flags override that",
    )
    group.add_argument("--memory", help="RAM, e.g. 16G, 512M ('none' to lift)")
    group.add_argument("--cpus", help="CPUs, e.g. 2 or 0.5 ('none' to lift)")
    group.add_argument("--disk", help="ephemeral disk, e.g. 50G ('none' to lift)")
    group.add_argument("--pids", help="processes and threads at once (default 4096)")
    group.add_argument("--no-limits", action="store_true", help="run apps without any limit")
    _choice(
        group,
        "--limits",
        DEFAULTS.limits_mode,
        "auto: cgroups and a size-capped disk where they work, watched otherwise; "
        "watchdog: only watch",
    )
    group.add_argument(
        "--persistent",
        action="store_true",
        help="persistent storage for every Space (default: those with "
        "suggested_storage), in $SPACERUNNER_DATA_DIR",
    )


def settings_from(args: argparse.Namespace) -> LimitSettings:
    settings = LimitSettings(
        enabled=not args.no_limits,
        memory=args.memory,
        cpus=args.cpus,
        disk=args.disk,
        pids=args.pids,
        mode=LimitsMode(args.limits),
        persistent=args.persistent,
    )
    try:
        settings.validate()
    except ValueError as exc:
        raise SpacerunnerError(str(exc)) from exc
    return settings


def space_settings(args: argparse.Namespace, variables: Mapping[str, str]) -> SpaceSettings:
    """What every Space of this ``run`` or ``serve`` is launched with, from its flags."""
    from spacerunner.cli.envs import builder_from
    from spacerunner.envs import EnvMode
    from spacerunner.launcher import SpaceSettings

    return SpaceSettings(
        variables=variables,
        env_mode=EnvMode(args.env),
        as_of=args.as_of,
        builder=builder_from(args),
        limits=settings_from(args),
        backend=BackendKind(args.backend),
        isolation=isolation_from(args),
    )
