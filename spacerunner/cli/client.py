"""``ps``, ``logs``, ``start``, ``stop``, ``restart``: talk to a running ``spacerunner serve``."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil

from spacerunner.backends.logs import LogKind
from spacerunner.errors import SpacerunnerError
from spacerunner.paths import state_dir
from spacerunner.supervisor.secrets import check_key
from spacerunner.units import format_size
from spacerunner.urls import space_api


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        help="the server on this machine listening on PORT (default: the only one running, "
        "or the one started last)",
    )
    parser.add_argument("--url", help="the server's URL (another machine, or a proxy in front)")
    parser.add_argument(
        "--token",
        help="management token (default: the one the server on that port wrote for this user)",
    )


@dataclass(frozen=True)
class RunningServer:
    """A ``spacerunner serve`` of this machine, from the file it keeps while it runs."""

    url: str
    port: int
    pid: int
    token: str | None
    started: float


def running_servers() -> list[RunningServer]:
    """The servers whose files say they run and whose process is alive, oldest first."""
    found = []
    for path in sorted((state_dir() / "serve").glob("*/server.json")):
        try:
            data = json.loads(path.read_text())
            server = RunningServer(
                url=str(data["url"]).rstrip("/"),
                port=int(data["port"]),
                pid=int(data["pid"]),
                token=data.get("token"),
                started=path.stat().st_mtime,
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if psutil.pid_exists(server.pid):
            found.append(server)
    return sorted(found, key=lambda s: s.started)


def _server(args: argparse.Namespace) -> tuple[str, str | None]:
    """The URL and token of the server the command talks to."""
    servers = running_servers()
    if args.url is not None:
        port = urllib.parse.urlsplit(args.url).port
        same = [s for s in servers if s.port == port]
        token = args.token or (same[0].token if same else None)
        return args.url.rstrip("/"), token
    if args.port is not None:
        chosen = [s for s in servers if s.port == args.port]
        if not chosen:
            running = ", ".join(str(s.port) for s in servers) or "none"
            raise SpacerunnerError(
                f"no 'spacerunner serve' on port {args.port} here (running: {running}). Fix: "
                "pass the port of a running server, or --url and --token for another machine."
            )
        server = chosen[0]
    elif not servers:
        raise SpacerunnerError(
            f"no running 'spacerunner serve' found (none in {state_dir() / 'serve'}). Fix: "
            "start one, or pass --url and --token."
        )
    else:
        server = servers[-1]
        if len(servers) > 1:
            ports = ", ".join(str(s.port) for s in servers)
            print(
                f"spacerunner: {len(servers)} servers run here (ports {ports}); this is the "
                f"one on {server.port}, started last. Pass --port to choose.",
                file=sys.stderr,
            )
    return server.url, args.token or server.token


def _request(args: argparse.Namespace, method: str, path: str, body: bytes | None = None) -> Any:
    url, token = _server(args)
    request = urllib.request.Request(url + path, method=method, data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        return urllib.request.urlopen(request, timeout=None if "follow=1" in path else 600)
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise SpacerunnerError(f"{method} {url}{path}: {exc.code} {message}") from exc
    except urllib.error.URLError as exc:
        raise SpacerunnerError(
            f"cannot reach the server at {url}: {exc.reason}. Fix: is 'spacerunner serve' running?"
        ) from exc


def ps_command(args: argparse.Namespace) -> int:
    with _request(args, "GET", "/api/spaces") as response:
        spaces = json.loads(response.read())["spaces"]
    if args.json:
        print(json.dumps(spaces, indent=2))
        return 0
    print(f"{'NAME':<24} {'SDK':<10} {'STATE':<11} {'MEMORY':>8} {'CPU':>6} {'RESTARTS':>8}  URL")
    for s in spaces:
        usage = s.get("usage") or {}
        memory = format_size(usage["memory"]) if usage.get("memory") is not None else "-"
        cpu = f"{usage['cpu_percent']:.0f}%" if usage.get("cpu_percent") is not None else "-"
        reason = f"  ({s['reason']})" if s["reason"] else ""
        print(
            f"{s['name']:<24} {s['sdk'] or '-':<10} {s['state']:<11} {memory:>8} {cpu:>6} "
            f"{s['restarts']:>8}  {s['url']}{reason}"
        )
        for line in (s.get("isolation") or {}).get("missing", []):
            print(f"{'':<24} isolation MISSING: {line}")
    return 0


def logs_command(args: argparse.Namespace) -> int:
    query = f"?tail={args.tail}" + ("&follow=1" if args.follow else "")
    kind = LogKind.BUILD if args.build else LogKind.RUN
    with _request(args, "GET", space_api(args.name, f"logs/{kind.value}") + query) as response:
        for raw in response:
            sys.stdout.write(raw.decode("utf-8", "replace"))
            sys.stdout.flush()
    return 0


def action_command(args: argparse.Namespace) -> int:
    with _request(args, "POST", space_api(args.name, args.command)) as response:
        facts = json.loads(response.read())
    print(
        f"{facts['name']}: {facts['state']}" + (f" ({facts['reason']})" if facts["reason"] else "")
    )
    return 0


def secrets_command(args: argparse.Namespace) -> int:
    """``secrets set SPACE KEY`` (the value from standard input), ``list``, ``unset``."""
    path = space_api(args.space, "secrets")
    if args.secrets_command == "list":
        with _request(args, "GET", path) as response:
            names = json.loads(response.read())["names"]
        print("\n".join(names) if names else f"{args.space} has no variables or secrets")
        return 0
    key = check_key(args.key)
    if args.secrets_command == "set":
        if sys.stdin.isatty():
            value = getpass.getpass(f"{key} for {args.space} (not echoed): ")
        else:
            value = sys.stdin.read().removesuffix("\n")
        with _request(args, "PUT", f"{path}/{key}", value.encode()) as response:
            response.read()
        print(f"{args.space}: {key} set; the app sees it from its next start")
    else:
        with _request(args, "DELETE", f"{path}/{key}") as response:
            response.read()
        print(f"{args.space}: {key} removed; the app loses it at its next start")
    return 0
