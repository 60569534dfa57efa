"""Compatibility pins for old SDK versions: the table, and real old Spaces that fail without it
and run with it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import SPACES, LoopThread, start_run

from spacerunner.config import Sdk, load_space
from spacerunner.envs import EnvBuilder, EnvMode, EnvSpec, spec_for
from spacerunner.envs.compat import companions, constraints_for
from spacerunner.errors import AppExitedError
from spacerunner.runner import SpaceRun

IMAGE = ("setuptools<81",)  # what every Gradio or Streamlit environment gets (pkg_resources)


def test_the_table() -> None:
    assert constraints_for(Sdk.GRADIO, "4.44.1") == (
        *IMAGE,
        "huggingface_hub<1",
        "fastapi<0.116",
        "pydantic<2.11",
    )
    assert constraints_for(Sdk.GRADIO, "5.0.0") == IMAGE
    assert constraints_for(Sdk.STREAMLIT, "1.10.0") == (*IMAGE, "altair<5", "numpy<2", "pyarrow<17")
    assert constraints_for(Sdk.STREAMLIT, "1.28.0") == (*IMAGE, "numpy<2", "pyarrow<17")
    assert constraints_for(Sdk.STREAMLIT, "1.40.0") == IMAGE
    assert constraints_for(Sdk.GRADIO, None) == IMAGE  # no version: today's SDK, today's stack
    assert constraints_for(Sdk.STATIC, None) == ()


def test_a_space_that_pins_a_package_itself_keeps_its_pin() -> None:
    own = "Pydantic==2.9.2  # tested with\nnumpy\n-r other.txt\nsetuptools>=82\n"
    assert constraints_for(Sdk.GRADIO, "4.44.1", own) == ("huggingface_hub<1", "fastapi<0.116")


def test_a_bare_package_name_does_not_lift_a_constraint() -> None:
    """``numpy`` in requirements.txt asks for numpy, not for today's numpy: an old Streamlit
    keeps numpy<2 (lifting it gave "numpy.dtype size changed")."""
    own = "numpy\npandas\npyarrow>=14\naltair @ https://example.org/altair-4.2.2.whl\n"
    assert constraints_for(Sdk.STREAMLIT, "1.10.0", own) == (*IMAGE, "numpy<2")


def test_environments_hold_what_spaces_images_hold() -> None:
    assert companions(Sdk.STREAMLIT, "1.10.0") == ("pip", "setuptools", "wheel")
    assert companions(Sdk.GRADIO, "4.44.1") == ("pip", "setuptools", "wheel")
    assert companions(Sdk.GRADIO, "5.0.0") == ("pip", "setuptools", "wheel", "spaces")
    assert companions(Sdk.GRADIO, None) == ("pip", "setuptools", "wheel", "spaces")
    assert companions(Sdk.STATIC, None) == ()


def test_the_pins_are_part_of_the_cache_key() -> None:
    spec = EnvSpec("3.11", Sdk.GRADIO, "4.44.1", "", "", ())
    off = EnvSpec("3.11", Sdk.GRADIO, "4.44.1", "", "", (), compat=False)
    assert spec.constraints and not off.constraints
    assert spec.key("3.11") != off.key("3.11")


def run_old(loop_thread: LoopThread, folder: Path, tmp: Path, builder: EnvBuilder) -> SpaceRun:
    return start_run(loop_thread, folder, tmp, env_mode=EnvMode.ISOLATED, builder=builder)


@pytest.mark.slow
@pytest.mark.parametrize("compat", [True, False])
def test_gradio_4(loop_thread: LoopThread, tmp_path: Path, compat: bool) -> None:
    builder = EnvBuilder(tmp_path / "cache", compat=compat)
    run = run_old(loop_thread, SPACES / "old-gradio", tmp_path, builder)
    log = (tmp_path / "logs" / "old-gradio.build.log").read_text()
    # not dated by git: resolved as of 4.44.1's window (tests/envs/test_dates.py), where the
    # table's pins change nothing; as of now, without them, `import gradio` fails (below)
    assert "as of 2024-10-08 (to its end, UTC), the last day gradio 4.44.1 was its newest" in log
    try:
        info = httpx.get(run.url + "info")  # the API schema code that pydantic 2.11 breaks
        assert info.status_code == 200 and "/remember" in info.text
        client = Client(run.url, verbose=False)
        facts = client.predict("hi", api_name="/remember")[0]
        assert facts == {"count": 1, "version": "4.44.1"}
    finally:
        loop_thread.run(run.close())
    spec = spec_for(load_space(SPACES / "old-gradio"))
    today = loop_thread.run(builder.ensure(spec, upgrade=True), timeout=600)
    assert today.imports == compat  # as of now, only the table's pins keep it working


@pytest.mark.slow
@pytest.mark.parametrize("compat", [True, False])
def test_streamlit_1_10(loop_thread: LoopThread, tmp_path: Path, compat: bool) -> None:
    builder = EnvBuilder(tmp_path / "cache", compat=compat)
    folder = tmp_path / "old-streamlit"
    shutil.copytree(SPACES / "old-streamlit", folder)
    if not compat:
        # the resolution as of 1.10.0's window (July 2022) has no pyarrow wheel for Python
        # 3.11, which this Space names; as of now, without the pins, altair 5 (no
        # vegalite.v4) breaks `import streamlit`, and the app fails as it would
        with pytest.raises(AppExitedError, match=r"altair\.vegalite\.v4"):
            run_old(loop_thread, folder, tmp_path, builder)
        log = (tmp_path / "logs" / "old-streamlit.build.log").read_text()
        assert "the resolution as of 2022-07-13 (to its end, UTC) did not install" in log
        assert "importing streamlit failed" in log  # as of now, without the table
        return
    run = run_old(loop_thread, folder, tmp_path, builder)
    try:
        assert httpx.get(run.url).status_code == 200
        assert httpx.get(run.url + "healthz").text == "ok"  # its era's health endpoint
        env = loop_thread.run(builder.ensure(spec_for(load_space(folder))))
        check = "import streamlit, altair, pyarrow, numpy; print(streamlit.__version__)"
        proc = asyncio.run(_output(env.python, check))
        assert proc == "1.10.0"
    finally:
        loop_thread.run(run.close())


async def _output(python: str, code: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        python, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode().strip()
