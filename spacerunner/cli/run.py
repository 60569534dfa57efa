"""``spacerunner run PATH``: check, start, wait for readiness, serve, stop cleanly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from spacerunner.cli.limits import space_settings
from spacerunner.config import load_space
from spacerunner.errors import AppExitedError, StartupTimeoutError
from spacerunner.launch.envfile import read_env_file
from spacerunner.paths import cache_dir, log_dir
from spacerunner.runner import RunOptions, SpaceRun
from spacerunner.sources import SourceKind, Sources, parse_source


def event_loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """``uvloop`` when installed (the proxy's benchmark is measured on it), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run
    return lambda coro: asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)


def say(message: str) -> None:
    print(f"spacerunner: {message}", file=sys.stderr, flush=True)


def space_folder(text: str, *, fetch: bool = True) -> Path:
    """The folder of the Space ``text`` names: itself, or a repository's revision fetched into
    the cache (see spacerunner.sources); what the fetch had to settle for is said."""
    source = parse_source(text)
    if source.kind is not SourceKind.FOLDER:
        say(f"fetching {source} ({source.kind.value})")
    sources = Sources(cache_dir() / "sources", offline=not fetch)
    folder = sources.folder(source)
    for note in sources.notes:
        say(note)
    if source.kind is not SourceKind.FOLDER:
        say(f"{source}: {folder}")
    return folder


def run_command(args: argparse.Namespace) -> int:
    config = load_space(space_folder(args.path, fetch=not args.no_fetch))
    for warning in config.warnings:
        say(str(warning))
    variables = read_env_file(args.env_file) if args.env_file else {}
    options = RunOptions(
        host=args.host,
        port=args.port,
        log_dir=args.log_dir or log_dir(),
        allowed_hosts=tuple(args.allowed_host),
        space=space_settings(args, variables),
    )
    return event_loop_runner()(_run(SpaceRun(config, options), quiet=args.quiet))


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; the handlers go when it ends,
    before the caller's clean-up, so a second Ctrl-C during clean-up interrupts as usual."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run(run: SpaceRun, *, quiet: bool) -> int:
    streamer: asyncio.Task[None] | None = None
    try:
        with stop_on_signals() as stop:
            started = time.monotonic()
            instance = await run.start(_echo_build)
            say(f"starting {run.config.title!r} ({run.config.sdk.value}) at {run.url}")
            say(f"log: {instance.log.path}")
            if not quiet:
                streamer = asyncio.create_task(_stream(instance.log.follow()))
            ready = asyncio.create_task(run.wait_ready())
            stopped = asyncio.create_task(stop.wait())
            done: set[asyncio.Task[Any]] = set()
            while not done:
                done, _ = await asyncio.wait(
                    {ready, stopped}, timeout=10, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    limit = run.config.startup_duration_timeout
                    say(
                        f"still starting after {time.monotonic() - started:.0f}s "
                        f"(startup_duration_timeout: {limit:g}s)"
                    )
            if stopped in done:
                ready.cancel()
                say("interrupted while starting; stopping")
                return 130
            try:
                ready.result()
            except (AppExitedError, StartupTimeoutError) as exc:
                say(str(exc))
                return 1
            say(f"ready in {time.monotonic() - started:.1f}s: open {run.url}  (Ctrl-C stops)")
            ended = asyncio.create_task(run.wait())
            done, _ = await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                status = ended.result()
                tail = (
                    "\n".join(f"  | {line}" for line in run.instance.log.tail(25))
                    if run.instance
                    else ""
                )
                say(f"the app {status.reason}; last lines of its log:\n{tail}")
                return 1
            say("stopping")
            return 0
    finally:
        await run.close()
        if streamer is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(streamer, 1.0)


async def _stream(lines: Any) -> None:
    async for line in lines:
        print(line, flush=True)


def _echo_build(data: bytes) -> None:
    sys.stderr.write(data.decode("utf-8", "replace"))
    sys.stderr.flush()
