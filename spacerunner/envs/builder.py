"""Building and caching environments: uv (or venv + pip), one build per key, atomic.

A built environment lives at ``<cache>/envs/<key>/`` and is complete once its marker file is
there; it is built in a temporary folder beside it and renamed into place, under a file lock,
so concurrent builds (threads, processes) of one key never see or make a half-built one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from spacerunner.envs import system
from spacerunner.envs.dates import AsOf, Resolutions
from spacerunner.envs.interpreters import Choice, Interpreter, choose
from spacerunner.envs.releases import sdk_window
from spacerunner.envs.spec import EnvSpec
from spacerunner.errors import EnvBuildError

MARKER = ".spacerunner-env.json"
Output = Callable[[bytes], None]
BuildSlot = Callable[[], contextlib.AbstractAsyncContextManager[None]]
"""A place in a queue of builds, held while one builds (see spacerunner.supervisor.builds)."""


RUN_ENV = {"PYTHONDONTWRITEBYTECODE": ""}
"""Set for apps run from a built environment. Bytecode is not compiled for every file at build
time (it tripled the build): the build imports the SDK once (:meth:`EnvBuilder._warm`), which
writes the bytecode of what apps import first, and an app writes the rest on its first start,
where it may, even where the machine sets PYTHONDONTWRITEBYTECODE (an empty value unsets it)."""


@dataclass(frozen=True)
class Environment:
    key: str
    path: Path
    python: str
    interpreter: Interpreter
    reused: bool
    seconds: float
    notes: tuple[str, ...] = ()
    imports: bool = True
    """Whether its SDK imported when it was built (a resolution can install and not work)."""

    @property
    def run_env(self) -> dict[str, str]:
        return dict(RUN_ENV)


def find_uv() -> str | None:
    """The uv binary: from the ``uv`` package beside this Python, else on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


_PIP_TO_UV = {
    "PIP_INDEX_URL": "UV_DEFAULT_INDEX",
    "PIP_EXTRA_INDEX_URL": "UV_INDEX",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
}


def uv_settings_from_pip(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the machine's pip package sources also given to uv (which does not read
    pip's variables), so that a wheel folder or a mirror set up for pip serves uv builds too;
    uv's own settings, where set, win."""
    env = dict(environ)
    for pip_name, uv_name in _PIP_TO_UV.items():
        if environ.get(pip_name) and not environ.get(uv_name):
            value = environ[pip_name]
            # pip separates several values with spaces; uv's find-links takes commas.
            env[uv_name] = ",".join(value.split()) if uv_name == "UV_FIND_LINKS" else value
    return env


class EnvBuilder:
    def __init__(
        self,
        cache_dir: Path,
        *,
        uv: str | bool | None = True,
        strict_python: bool = False,
        allow_apt: bool = False,
        compat: bool = True,
    ) -> None:
        self.root = cache_dir / "envs"
        self.locks = cache_dir / "locks"
        self.uv: str | None = find_uv() if uv is True else (uv or None)
        self.strict_python = strict_python
        self.allow_apt = allow_apt
        self.compat = compat
        """Apply the compatibility pins of old SDK versions (``--no-compat`` turns them off)."""
        self.builds = 0
        """Environments this builder has built (not reused): for tests and status."""
        self.resolutions = Resolutions(cache_dir / "resolved")
        self._pending: dict[str, tuple[AsOf, ...]] = {}
        """The days each undated spec is tried at in this process, handed to every ensure of
        it (concurrent ones build the same key once); the one that worked, once one has."""
        self._key_locks: dict[str, asyncio.Lock] = {}

    def choose_python(self, spec: EnvSpec) -> Choice:
        return choose(spec.python_version, strict=self.strict_python, uv=self.uv)

    def path_for(self, key: str) -> Path:
        return self.root / key

    @staticmethod
    def complete(path: Path) -> bool:
        return (path / MARKER).is_file()

    async def ensure(
        self,
        spec: EnvSpec,
        out: Output | None = None,
        slot: BuildSlot | None = None,
        *,
        upgrade: bool = False,
    ) -> Environment:
        """The environment for ``spec``: from the cache, or built now (output sent to ``out``).
        A build runs inside ``slot()`` (a place in a queue of builds); a reuse takes none.
        A spec without a day resolves as of its lock (see :class:`Resolutions`); the first
        time, as of the last day its SDK version was the newest (when Spaces most likely built
        it), else, or when that does not install or import, as of now. ``upgrade`` resolves
        it again as of now."""
        if not self.compat:
            spec = dataclasses.replace(spec, compat=False)
        emit = out or (lambda data: None)
        started = time.monotonic()
        choice = await asyncio.to_thread(self.choose_python, spec)
        notes = [choice.note] if choice.note else []
        notes += await self._debian_packages(spec, emit)
        undated: str | None = None
        candidates: tuple[AsOf, ...] = (spec.as_of,) if spec.as_of is not None else ()
        if spec.as_of is None:
            undated = spec.key(choice.interpreter.dotted)
            if upgrade:
                self._pending.pop(undated, None)
            async with self._key_locks.setdefault(f"days-{undated}", asyncio.Lock()):
                candidates = await self._days(spec, undated, upgrade)
        elif upgrade:
            notes.append(
                f"it resolves as of {spec.as_of.day} ({spec.as_of.why}); --upgrade does not "
                "change that day"
            )
        for note in notes:
            emit(f"[spacerunner] note: {note}\n".encode())
        for index, as_of in enumerate(candidates):
            last = index == len(candidates) - 1
            attempt = dataclasses.replace(spec, as_of=as_of)
            try:
                env = await self._obtain(attempt, choice, tuple(notes), emit, slot, started)
            except EnvBuildError:
                if last:
                    raise
                emit(
                    f"[spacerunner] the resolution as of {as_of.text} did not install; "
                    "resolving as of now instead\n".encode()
                )
                continue
            if not env.imports and not last:
                emit(
                    f"[spacerunner] the resolution as of {as_of.text} installs but its SDK does "
                    "not import; resolving as of now instead\n".encode()
                )
                continue
            if undated is not None:
                self._pending[undated] = (as_of,)
                if not env.reused:
                    self.resolutions.keep(undated, as_of)
            return env
        raise AssertionError("no resolution tried")  # candidates is never empty

    async def _days(self, spec: EnvSpec, undated: str, upgrade: bool) -> tuple[AsOf, ...]:
        """The days to try an undated spec at, in order; the same to every ensure of it in
        this process (concurrent ones then build its key once)."""
        if undated not in self._pending:
            recorded = None if upgrade else self.resolutions.recorded(undated)
            if recorded is not None:
                self._pending[undated] = (recorded,)
            else:  # first resolved here: as Spaces built it in its day, else as of now
                window = None if upgrade else await asyncio.to_thread(self._window, spec)
                now = self.resolutions.now() if upgrade else self.resolutions.first(undated)
                self._pending[undated] = (*filter(None, [window]), now)
        return self._pending[undated]

    @staticmethod
    def _window(spec: EnvSpec) -> AsOf | None:
        """The day an undated Space naming an SDK version was most likely built: the last day
        that version was the newest (``None`` for no version, the newest, or no answer)."""
        if spec.sdk_requirement is None or not spec.sdk_version:
            return None
        return sdk_window(spec.sdk.value, spec.sdk_version)  # (gradio, not gradio[oauth])

    async def _obtain(
        self,
        spec: EnvSpec,
        choice: Choice,
        notes: tuple[str, ...],
        emit: Output,
        slot: BuildSlot | None,
        started: float,
    ) -> Environment:
        """The environment of ``spec`` (its day set): reused, or built under the key's lock."""
        key = spec.key(choice.interpreter.dotted)
        path = self.path_for(key)
        if not self.complete(path):
            lock = self._key_locks.setdefault(key, asyncio.Lock())
            async with lock:
                self.locks.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.locks / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                    if not self.complete(path):  # another process may have built it meanwhile
                        async with slot() if slot is not None else contextlib.nullcontext():
                            imports = await self._build(spec, choice.interpreter, key, path, emit)
                        self.builds += 1
                        seconds = time.monotonic() - started
                        return Environment(
                            key,
                            path,
                            str(path / "bin" / "python"),
                            choice.interpreter,
                            False,
                            seconds,
                            notes,
                            imports,
                        )
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        imports = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.utime(path / MARKER)  # last used: what `env gc` goes by
            imports = bool(json.loads((path / MARKER).read_text()).get("imports", True))
        emit(
            f"[spacerunner] environment {key} reused "
            f"(python {choice.interpreter.dotted})\n".encode()
        )
        return Environment(
            key,
            path,
            str(path / "bin" / "python"),
            choice.interpreter,
            True,
            time.monotonic() - started,
            notes,
            imports,
        )

    async def _debian_packages(self, spec: EnvSpec, emit: Output) -> list[str]:
        if not spec.packages:
            return []
        missing = await asyncio.to_thread(system.missing_packages, spec.packages)
        if not missing:
            return []
        if self.allow_apt:
            await self._run(system.apt_command(missing), emit, what="apt-get install")
            return []
        return [
            f"Debian packages from packages.txt are not installed: {' '.join(missing)}. "
            f"Fix: apt-get install {' '.join(missing)} (or pass --apt as root)"
        ]

    async def _build(
        self, spec: EnvSpec, interpreter: Interpreter, key: str, path: Path, emit: Output
    ) -> bool:
        """Build ``spec`` at ``path``; whether its SDK imports."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        emit(
            f"[spacerunner] building environment {key}: python {interpreter.dotted}, "
            f"{spec.sdk_requirement or 'no SDK'}\n".encode()
        )
        try:
            files = tmp.with_name(tmp.name + "-inputs")
            files.mkdir()
            try:
                await self._install(spec, interpreter, tmp, files, emit)
            finally:
                shutil.rmtree(files, ignore_errors=True)
            imports = await self._warm(spec, str(tmp / "bin" / "python"), emit)
            marker = {
                "key": key,
                "python": interpreter.dotted,
                "sdk": spec.sdk_requirement,
                "as_of": spec.as_of.exclude_newer if spec.as_of is not None else None,
                "built_at": time.time(),
                "seconds": round(time.monotonic() - started, 2),
                "imports": imports,
            }
            (tmp / MARKER).write_text(json.dumps(marker))
            try:
                os.rename(tmp, path)
            except OSError:  # a complete one appeared (another builder won): use that
                if not self.complete(path):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        emit(
            f"[spacerunner] environment {key} built in {time.monotonic() - started:.1f}s\n".encode()
        )
        return imports

    async def _install(
        self, spec: EnvSpec, interpreter: Interpreter, tmp: Path, files: Path, emit: Output
    ) -> None:
        python = str(tmp / "bin" / "python")
        sdk = spec.sdk_requirement
        if self.uv:
            await self._run(
                [
                    self.uv,
                    "venv",
                    "--quiet",
                    "--relocatable",
                    "--python",
                    interpreter.path,
                    str(tmp),
                ],
                emit,
                what="uv venv",
            )
            install = [self.uv, "pip", "install", "--python", python]
        else:
            await self._run([interpreter.path, "-m", "venv", str(tmp)], emit, what="venv")
            install = [
                python,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-compile",
            ]
        as_of = spec.as_of
        if as_of is not None and self.uv:
            emit(
                f"[spacerunner] resolving as of {as_of.text}, {as_of.why}: packages uploaded "
                "later are left out\n".encode()
            )
            install = [*install, "--exclude-newer", as_of.exclude_newer]
        elif as_of is not None and as_of.until is None:  # a day the Space names, not a lock
            emit(
                f"[spacerunner] note: resolving as of {as_of.day} needs uv (pip cannot leave "
                "out newer releases); today's releases are used\n".encode()
            )
        if spec.pre_requirements.strip():
            (files / "pre-requirements.txt").write_text(spec.pre_requirements)
            await self._run(
                [*install, "-r", str(files / "pre-requirements.txt")],
                emit,
                what="installing pre-requirements.txt",
            )
        args: list[str] = []
        if spec.requirements.strip():
            (files / "requirements.txt").write_text(spec.requirements)
            args += ["-r", str(files / "requirements.txt")]
        if sdk and self.uv:
            # As on Spaces, sdk_version wins over a different pin in requirements.txt.
            (files / "overrides.txt").write_text(sdk + "\n")
            args += [sdk, *spec.companions, "--overrides", str(files / "overrides.txt")]
        if spec.constraints:
            emit(f"[spacerunner] compatibility pins: {' '.join(spec.constraints)}\n".encode())
            (files / "constraints.txt").write_text("\n".join(spec.constraints) + "\n")
            args += ["-c", str(files / "constraints.txt")]
        if args:
            await self._run([*install, *args], emit, what="installing requirements")
        if sdk and not self.uv:
            pins = ["-c", str(files / "constraints.txt")] if spec.constraints else []
            await self._run(
                [*install, sdk, *spec.companions, *pins], emit, what=f"installing {sdk}"
            )

    async def _warm(self, spec: EnvSpec, python: str, emit: Output) -> bool:
        """Import the SDK once, writing its bytecode: builds run ahead of the first visit, so
        the first start (which may not write into the environment from its sandbox) does not
        compile Gradio's import again (4.7 s against 2.2 s, bench/serve.py). Not fatal: an
        SDK that does not import fails the app's start, with the app's own log."""
        modules = spec.sdk_modules
        if not modules:
            return True
        started = time.monotonic()
        # the SDK must import; its other modules are warmed where this version has them
        # (streamlit.web came in Streamlit 1.12)
        extra = "".join(
            f"\ntry:\n import {module}\nexcept ImportError:\n pass" for module in modules[1:]
        )
        code = (
            "import os; os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False'); "
            f"import {modules[0]}{extra}"
        )
        try:
            await self._run([python, "-c", code], emit, what=f"importing {modules[0]}")
        except EnvBuildError as exc:
            emit(f"[spacerunner] note: {exc}; its first start compiles it instead\n".encode())
            return False
        emit(
            f"[spacerunner] bytecode of {modules[0]} written in "
            f"{time.monotonic() - started:.1f}s\n".encode()
        )
        return True

    async def _run(self, command: list[str], emit: Output, *, what: str) -> None:
        tail: deque[str] = deque(maxlen=25)
        env = {
            **uv_settings_from_pip(os.environ),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_NO_PROGRESS": "1",
            "PYTHONDONTWRITEBYTECODE": "",
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            raise EnvBuildError(f"{what}: cannot run {command[0]}: {exc}") from exc
        assert proc.stdout is not None
        partial = b""
        while data := await proc.stdout.read(65536):
            emit(data)
            *lines, partial = (partial + data).split(b"\n")
            tail.extend(line.decode("utf-8", "replace") for line in lines if line.strip())
        if partial.strip():
            tail.append(partial.decode("utf-8", "replace"))
        code = await proc.wait()
        if code != 0:
            shown = "\n".join(f"  | {line}" for line in tail) or "  | (no output)"
            raise EnvBuildError(f"{what} failed (exit code {code}). The installer said:\n{shown}")
