"""Real-Spaces quirks, each reproduced by a small Space of its own in spaces/ (written for these
tests), all served at once by `serve` as a user would: every one must answer.

The pass rate of this corpus is reported in the README.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import LoopThread, streamlit_session
from packaging.version import Version

from spacerunner.config import load_space
from spacerunner.envs import EnvBuilder, EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = [pytest.mark.slow, pytest.mark.shared_processes]
CORPUS = Path(__file__).with_name("spaces")
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "README.md").is_file())
EXPECTED = {
    "python-float": "python-float ok 3.10",  # not 3.1
    "sdk-pin-conflict": "sdk-pin-conflict ok 6.31.0",  # sdk_version wins over requirements.txt
    "src-subfolder": "src-subfolder ok sibling root",
    "writes-own-folder": "writes-own-folder ok 1",  # a fresh working copy each run
    "old-gradio-queue": "old-gradio-queue ok 4.26.0 step 2",  # streamed through the queue
    "old-streamlit-unpinned": "old-streamlit-unpinned ok 1.10.0 3",
}


@dataclass
class Site:
    base: str
    port: int


@pytest.fixture(scope="module")
def site(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("fidelity")
    portfolio = Portfolio(
        ServeOptions(
            dirs=(CORPUS,),
            port=0,
            state_dir=root / "state",
            policy=Policy(watch=False, health_interval=0),
            spaces=SpaceSettings(env_mode=EnvMode.ISOLATED, builder=EnvBuilder(root / "cache")),
        )
    )
    loop_thread.run(portfolio.start())
    site = Site(portfolio.url, portfolio.proxy.port)
    # wake them all at once, as visitors would: hard-coded ports must not collide
    with ThreadPoolExecutor(len(CASES)) as pool:
        list(pool.map(lambda name: _wake(site, name), CASES))
    yield site
    loop_thread.run(portfolio.close(), timeout=120)


def _wake(site: Site, name: str) -> None:
    headers = {"Host": f"{name}.localhost:{site.port}"}
    with contextlib.suppress(httpx.HTTPError):  # the case's own test reports it
        httpx.get(f"{site.base}/", headers=headers, timeout=600)


def _state(site: Site, name: str) -> dict:
    return httpx.get(f"{site.base}/api/spaces/{name}").json()


@pytest.mark.parametrize("name", CASES)
def test_every_quirk_runs(site: Site, name: str) -> None:
    facts = _state(site, name)
    assert facts["state"] == "running", facts
    config = load_space(CORPUS / name)
    marker = EXPECTED.get(name, f"{name} ok")
    old = config.sdk_version is not None and Version(config.sdk_version) < Version(
        "5" if config.sdk.value == "gradio" else "1.18"
    )
    if config.sdk.value == "gradio":
        if old:  # today's client joins a Gradio 4 config's (absent) api_prefix to the site's
            # root, so it reaches a Gradio 4 app only at a root: the Space's own host name
            host = {"Host": f"{name}.localhost:{site.port}"}
            client = Client(f"{site.base}/", headers=host, verbose=False)
        else:
            client = Client(f"{site.base}/spaces/{name}/", verbose=False)
        answer = client.predict(api_name="/check")
        assert answer == marker if name in EXPECTED else answer.startswith(marker)
    elif config.sdk.value == "streamlit":
        stream = "stream" if old else "_stcore/stream"  # (/_stcore came in Streamlit 1.18)
        url = f"ws://127.0.0.1:{site.port}/spaces/{name}/{stream}"
        _, text = streamlit_session(url, timeout=60, subprotocol=not old)
        assert marker in text
    else:
        headers = {"Host": f"{name}.localhost:{site.port}"}
        page = httpx.get(f"{site.base}/", headers=headers)
        assert page.status_code == 200 and marker in page.text
    if name == "writes-own-folder":
        assert not (CORPUS / name / "cache").exists()  # the checkout is never written
    if name == "static-dist":
        headers = {"Host": f"{name}.localhost:{site.port}"}
        script = httpx.get(f"{site.base}/dist/app.js", headers=headers)  # an absolute path
        assert script.status_code == 200 and "static-dist js ok" in script.text
    if name == "static-build":  # the build's output folder is the site's root
        headers = {"Host": f"{name}.localhost:{site.port}"}
        script = httpx.get(f"{site.base}/assets/app.js", headers=headers)
        assert script.status_code == 200 and "static-build js ok" in script.text
        assert not (CORPUS / name / "dist").exists()  # built on a copy


def test_header_quirks_warn_but_run() -> None:
    config = load_space(CORPUS / "quoted-everything")
    assert config.title == "🤗 Quoted"
    assert config.color_to == "gray"  # 'teal' is not a Spaces color: warned, fallen back
    assert any("colorTo" in str(w) for w in config.warnings)
    assert config.pinned is False  # "false", quoted: read as the boolean, with a warning
    assert any("pinned: is the string 'false'" in str(w) for w in config.warnings)
    assert config.python_version == "3.10" and config.models == ()  # the defaults
    assert load_space(CORPUS / "python-float").python_version == "3.10"
