"""Hostile Space folders and headers: every one is that Space's own error with a short reason;
`check` stays bounded, and `serve` starts, lists them, and keeps serving the good Spaces."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fakes import fake_supervisor
from helpers import SPACES, LoopThread

from spacerunner.config import load_space
from spacerunner.envs import EnvMode
from spacerunner.errors import ConfigError
from spacerunner.launcher import SpaceSettings
from spacerunner.supervisor import Policy
from spacerunner.supervisor.space import SpaceState

FRAGMENTS = [
    "sdk: gradio",
    "sdk: [gradio]",
    "sdk: {a: b}",
    "app_file: ../../etc/passwd",
    'app_file: "a\\0b.py"',
    "app_file: /etc/passwd",
    "title: " + "x" * 5000,
    "tags: " + "[" * 400 + "]" * 400,
    "tags: " + "{a: " * 200 + "b" + "}" * 200,
    "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    "tags: [*d, *d, *d, *d, *d, *d, *d, *d]",
    "colorFrom: !!python/object/apply:os.system ['echo pwned']",
    "python_version: !!binary aGVsbG8=",
    "app_port: 99999999999999999999",
    "app_port: -1",
    "startup_duration_timeout: 1e999",
    'custom_headers: {cross-origin-opener-policy: "a\\r\\nSet-Cookie: x=1"}',
    "models: " + ", ".join(["m"] * 3000),
    'emoji: "\\U0010FFFF"',
    "? [a, b]\n: c",
    "sdk: gradio\nsdk: streamlit",
    "- a\n- b",
    "'unclosed",
    "\t\tbad: indent",
    "\x00",
    "\ufeff\ufeff",
]


def hostile_headers(count: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        lines = rng.sample(FRAGMENTS, rng.randint(1, 4))
        text = "---\n" + "\n".join(lines) + "\n---\nbody\n"
        data = text.encode("utf-8", "surrogatepass")
        roll = rng.random()
        if roll < 0.15:  # flipped bytes
            data = bytes(b ^ rng.choice((0, 0, 0, 0x80, 0xFF)) for b in data)
        elif roll < 0.25:
            data = data.decode().encode("utf-16")
        elif roll < 0.3:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
        found.append(data)
    return found


def test_hostile_headers_are_config_errors_or_configs(tmp_path: Path) -> None:
    started = time.monotonic()
    longest = 0
    for i, data in enumerate(hostile_headers(300)):
        folder = tmp_path / f"s{i}"
        folder.mkdir()
        (folder / "README.md").write_bytes(data)
        (folder / "app.py").write_text("")
        try:
            load_space(folder)
        except ConfigError as exc:
            longest = max(longest, len(str(exc)))
    assert longest < 20_000, "an error message must stay readable"
    assert time.monotonic() - started < 30


def hostile_folders(root: Path) -> list[str]:
    """Space folders that each attack the reader a different way; returns their names."""

    def space(name: str, readme: bytes | None = None) -> Path:
        folder = root / name
        folder.mkdir(parents=True)
        if readme is not None:
            (folder / "README.md").write_bytes(readme)
        return folder

    space("deep", b"---\nsdk: gradio\ntags: " + b"[" * 300 + b"]" * 300 + b"\n---\n")
    space("nul", b'---\nsdk: gradio\napp_file: "a\\0b.py"\n---\n')
    space("bomb", b"---\nsdk: gradio\n" + FRAGMENTS[9].encode() + b"\n---\n")
    space("huge", b"---\nsdk: static\n" + b"# " + b"x" * (3 << 20) + b"\n---\n")
    os.mkfifo(space("fifo") / "README.md")
    os.symlink("/etc/hostname", space("link-out") / "README.md")
    os.symlink("/dev/zero", space("devzero") / "README.md")
    (space("binary", bytes(range(256)) * 10)).mkdir(exist_ok=True)
    return ["deep", "nul", "bomb", "huge", "fifo", "link-out", "devzero", "binary"]


def good_space(root: Path) -> None:
    folder = root / "good"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("---\ntitle: Good\nsdk: gradio\napp_file: server.py\n---\n")
    (folder / "server.py").write_text((SPACES / "http-app" / "server.py").read_text())


def test_a_supervisor_lists_hostile_spaces_as_errors(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    bad = hostile_folders(spaces)
    good_space(spaces)
    supervisor, _ = fake_supervisor(spaces, tmp_path)
    added, _ = supervisor.scan()
    assert "good" in added
    assert supervisor.spaces["good"].state is SpaceState.SLEEPING
    for name in bad:  # every one listed, with its reason
        space = supervisor.spaces[name]
        assert space.state is SpaceState.ERROR, name
        assert space.reason and len(space.reason) < 2000, name


def test_check_refuses_each_hostile_folder_in_a_line(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces"
    for name in hostile_folders(spaces):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "spacerunner"), "check", str(spaces / name)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)
        assert len(done.stderr) < 5000, name


@pytest.mark.slow
def test_serve_starts_beside_hostile_spaces_and_serves_the_good_one(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    from spacerunner.server.serve import Portfolio, ServeOptions

    spaces = tmp_path / "spaces"
    bad = hostile_folders(spaces)
    good_space(spaces)
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            state_dir=tmp_path / "state",
            policy=Policy(health_interval=0, watch=True, watch_debounce_ms=50),
            spaces=SpaceSettings(env_mode=EnvMode.CURRENT),
        )
    )
    loop_thread.run(portfolio.start())
    try:
        base = portfolio.url
        listed = {s["name"]: s for s in httpx.get(f"{base}/api/spaces").json()["spaces"]}
        for name in bad:
            assert listed[name]["state"] == "error", name
            assert "/" + str(tmp_path).strip("/") not in (listed[name]["reason"] or "")
        assert httpx.get(f"{base}/spaces/good/env", timeout=30).status_code == 200
        (spaces / "later").mkdir()  # a folder change while the hostile ones are there
        (spaces / "later" / "README.md").write_bytes(b"---\nsdk: gradio\ntags: " + b"[" * 500)
        deadline = time.monotonic() + 10
        while "later" not in {s["name"] for s in httpx.get(f"{base}/api/spaces").json()["spaces"]}:
            assert time.monotonic() < deadline, "the folder change was not followed"
            time.sleep(0.1)
        assert httpx.get(f"{base}/spaces/good/env", timeout=30).status_code == 200
        assert httpx.get(f"{base}/").status_code == 200
    finally:
        loop_thread.run(portfolio.close())
