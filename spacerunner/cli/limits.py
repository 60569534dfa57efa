"""Limit flags shared by ``run`` and ``serve``."""

from __future__ import annotations

import argparse

from spacerunner.backends.select import KINDS
from spacerunner.errors import SpacerunnerError
from spacerunner.limits import LimitSettings


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
    group.add_argument(
        "--limits",
        choices=["auto", "watchdog"],
        default="auto",
        help="auto: cgroups and a size-capped disk where they work, watched "
        "otherwise; watchdog: only watch (default auto)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="run apps inside bubblewrap: uid 1000 without capabilities, a read-only system, "
        "no network but loopback",
    )
    group.add_argument(
        "--backend",
        choices=KINDS,
        default="auto",
        help="local: processes; docker: every Space in a container ($DOCKER_HOST); auto: "
        "processes, and containers for sdk: docker Spaces (default auto)",
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
        mode=args.limits,
        persistent=args.persistent,
        sandbox=args.sandbox,
    )
    try:
        settings.validate()
    except ValueError as exc:
        raise SpacerunnerError(str(exc)) from exc
    return settings
