"""The preloaders' decisions, without processes: when an app may be forked from one, and why
not when it may not (a fake preloader stands in for the process)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from spacerunner.config.model import Sdk
from spacerunner.preload import pool
from spacerunner.preload.pool import Key, Preloaders
from spacerunner.preload.preloader import Preloader, PreloadError, Ready, shared_environment

ENV = {"SYSTEM": "spaces", "HOME": "/home/user", "PYTHONUNBUFFERED": "1"}


@dataclass
class FakePreloader:
    python: str
    modules: tuple[str, ...]
    env: dict[str, str]
    uid: int
    space_uids: frozenset[int]
    log_path: Path
    learned: set[str] = field(default_factory=set)
    pid: int = 4242
    alive: bool = True
    fail: bool = False
    imported: list[list[str]] = field(default_factory=list)
    stopped: bool = False
    last_used: float = field(default_factory=time.monotonic)

    async def start(self) -> None:
        if self.fail:
            raise PreloadError("it broke")

    def mismatch(self, env: dict[str, str]) -> str | None:
        return None if env.get("X") == self.env.get("X") else "X differs"

    async def import_more(self, names: list[str]) -> None:
        self.imported.append(names)
        if "threaded" in names:
            raise PreloadError("an imported module started Python threads (2)")

    async def stop(self) -> None:
        self.stopped = True

    def memory(self) -> dict[str, int]:
        return {"rss": 100, "pss": 40}

    @property
    def ready(self) -> Ready:
        return Ready(reads={}, walks=(), failed={}, modules=1, seconds=0.1)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[FakePreloader]:
    made: list[FakePreloader] = []

    def make(**kwargs: object) -> FakePreloader:
        made.append(FakePreloader(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(pool, "Preloader", make)
    return made


def preloaders(tmp_path: Path, **kwargs: object) -> Preloaders:
    uids = iter(range(300_000, 300_100))
    return Preloaders(tmp_path, tmp_path / "logs", lambda name: next(uids), **kwargs)  # type: ignore[arg-type]


async def warmed(tmp_path: Path, **kwargs: object) -> Preloaders:
    """Preloaders whose first start (of Space "a", uid 1) has made its preloader."""
    p = preloaders(tmp_path, **kwargs)
    p.get("a", Sdk.GRADIO, "py", ENV, 1)
    await settle(p)
    return p


async def settle(p: Preloaders) -> None:
    for _ in range(50):
        if not p._warming:
            return
        await asyncio.sleep(0.01)


def test_the_first_start_warms_one_and_the_next_is_forked(
    tmp_path: Path, made: list[FakePreloader]
) -> None:
    async def scenario() -> None:
        p = preloaders(tmp_path)
        p.expect(Sdk.GRADIO, "/env/bin/python", 200_001)
        own = {**ENV, "SPACE_ID": "me/a", "TOKEN": "secret"}
        found, why = p.get("a", Sdk.GRADIO, "/env/bin/python", own, 200_000, frozenset({"TOKEN"}))
        assert found is None and "being made" in why
        await settle(p)
        assert len(made) == 1
        assert made[0].env == ENV  # made without anything of the Space's own
        assert made[0].space_uids == {200_000, 200_001}  # registered Spaces mapped at once
        assert made[0].modules == ("gradio",)
        assert p.get("a", Sdk.GRADIO, "/env/bin/python", ENV, 200_000)[0] is made[0]
        assert p.get("b", Sdk.GRADIO, "/env/bin/python", ENV, 200_001)[0] is made[0]
        # a Space it does not map: it is made again, the old one stopped once the new is up
        found, why = p.get("c", Sdk.GRADIO, "/env/bin/python", ENV, 200_002)
        assert found is None and "uid" in why
        await settle(p)
        assert len(made) == 2 and made[0].stopped and 200_002 in made[1].space_uids
        # another environment, another preloader
        p.get("d", Sdk.STREAMLIT, "/other/bin/python", ENV, 200_003)
        await settle(p)
        assert made[2].modules == ("streamlit", "streamlit.web.bootstrap")
        assert [m["sdk"] for m in p.memory()] == ["gradio", "streamlit"]
        await p.close()
        assert made[1].stopped and made[2].stopped

    asyncio.run(scenario())


def test_every_fresh_start_says_why(tmp_path: Path, made: list[FakePreloader]) -> None:
    async def scenario() -> None:
        off = preloaders(tmp_path, enabled=False)
        assert off.get("a", Sdk.GRADIO, "py", ENV, 1)[1] == "preloading is off (--no-preload)"
        p = preloaders(tmp_path)
        assert p.get("a", Sdk.DOCKER, "py", ENV, 1)[1] == "no preloading for sdk docker"
        opted = {**ENV, "SPACERUNNER_PRELOAD": "false"}
        assert "opts out (SPACERUNNER_PRELOAD=false)" in p.get("a", Sdk.GRADIO, "py", opted, 1)[1]
        p.get("a", Sdk.GRADIO, "py", {**ENV, "X": "1"}, 1)
        await settle(p)
        assert p.get("b", Sdk.GRADIO, "py", {**ENV, "X": "2"}, 1) == (None, "X differs")
        p.refuse("a", "its preloaded start failed before it served")
        assert p.get("a", Sdk.GRADIO, "py", {**ENV, "X": "1"}, 1) == (
            None,
            "its preloaded start failed before it served",
        )
        await p.close()

    asyncio.run(scenario())


def test_a_preloader_that_fails_to_come_up_is_said_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "Preloader", lambda **kwargs: FakePreloader(**kwargs, fail=True))

    async def scenario() -> None:
        p = await warmed(tmp_path)
        assert p.get("a", Sdk.GRADIO, "py", ENV, 1)[0] is None
        await p.close()

    asyncio.run(scenario())
    log = next((tmp_path / "logs").glob("preload-*.log")).read_text()
    assert "preloader failed: it broke" in log


def test_learned_modules_are_kept_and_a_batch_that_breaks_it_is_refused(
    tmp_path: Path, made: list[FakePreloader]
) -> None:
    async def scenario() -> None:
        p = await warmed(tmp_path, learn_delay=0.0)
        first = made[0]
        for name in ("uvicorn.config", "not a module!"):
            p.learn(first, name)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        p.learn(first, "threaded")  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert first.imported == [["uvicorn.config"], ["threaded"]]
        key = Key("py", Sdk.GRADIO)
        facts = json.loads(p._learned_path(key).read_text())
        assert facts == {"learned": ["uvicorn.config"], "refused": ["threaded"]}
        # a server started later preloads what was learned, never what was refused
        again = await warmed(tmp_path)
        assert made[-1].modules == ("gradio", "uvicorn.config")
        await p.close()
        await again.close()

    asyncio.run(scenario())


def test_what_the_preloader_saw_at_import_decides_which_apps_it_serves() -> None:
    preloader = Preloader("py", ("gradio",), {**ENV, "http_proxy": "a"}, 1, frozenset(), Path())
    assert preloader.mismatch(ENV) == "not ready"
    preloader.ready = Ready(reads={"GRADIO_SERVER_PORT": "7860", "HF_HOME": None}, walks=(),
                            failed={}, modules=1, seconds=0.1)  # fmt: skip
    same = {**ENV, "GRADIO_SERVER_PORT": "7860", "http_proxy": "a", "SPACE_ID": "a/b"}
    assert preloader.mismatch(same) is None
    assert preloader.mismatch({**same, "PYTHONDONTWRITEBYTECODE": "1"}) is None  # set per app
    why = preloader.mismatch({**same, "HF_HOME": "/data", "GRADIO_SERVER_PORT": "7861"})
    assert why == (
        "the preloaded modules read GRADIO_SERVER_PORT, HF_HOME at import, and this app's "
        "value differs"
    )
    assert "PYTHONPATH" in (preloader.mismatch({**same, "PYTHONPATH": "/x"}) or "")
    assert "http_proxy" in (preloader.mismatch({**same, "http_proxy": "b"}) or "")


def test_the_shared_environment_leaves_out_what_is_a_space_s_own() -> None:
    env = {**ENV, "SPACE_ID": "a/b", "GRADIO_ROOT_PATH": "/spaces/b", "TOKEN": "t"}
    assert shared_environment(env, frozenset({"TOKEN"})) == ENV


def test_a_preloader_nothing_started_from_for_a_while_is_stopped(
    tmp_path: Path, made: list[FakePreloader]
) -> None:
    async def scenario() -> None:
        p = await warmed(tmp_path, idle=0.2)
        assert p.get("a", Sdk.GRADIO, "py", ENV, 1)[0] is made[0]
        await asyncio.sleep(0.5)
        assert made[0].stopped and p.memory() == []
        await p.close()

    asyncio.run(scenario())
