"""Every template's app, scaffolded and run the way a user runs it, answers a real request.

The model templates run their own loading code on tiny random models that the tests make with
the template's own environment (no model hub is reachable here), passed as MODEL_ID or written
into the header's ``models``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import LoopThread, start_run, streamlit_session

from spacerunner.config import load_space
from spacerunner.envs import EnvBuilder, EnvMode, spec_for
from spacerunner.errors import AppExitedError, StartupTimeoutError
from spacerunner.launch.ports import free_port
from spacerunner.scaffold import find_templates, scaffold

pytestmark = pytest.mark.slow
TEMPLATES = find_templates()
TINY_MODELS = Path(__file__).with_name("tiny_models.py")


@pytest.fixture(scope="module")
def spaces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spaces")


@contextmanager
def running(
    loop_thread: LoopThread, folder: Path, tmp: Path, timeout: float = 120, **options: object
) -> Iterator[str]:
    """The Space at ``folder`` run as ``spacerunner run`` runs it; yields its URL."""
    try:
        run = start_run(loop_thread, folder, tmp, ready=timeout, **options)
    except (AppExitedError, StartupTimeoutError) as exc:
        pytest.fail(f"{folder.name} did not start: {exc}")
    try:
        yield run.url
    finally:
        loop_thread.run(run.close())


def test_gradio(loop_thread: LoopThread, spaces: Path, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES["gradio"], "greeter", spaces)
    with running(loop_thread, folder, tmp_path) as url:
        client = Client(url, verbose=False)
        assert client.predict("Ada", 3, False, api_name="/greet") == "Hello, Ada!!!"
        assert client.predict("Ada", 1, True, api_name="/greet") == "HELLO, ADA!"


def test_gradio_blocks(loop_thread: LoopThread, spaces: Path, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES["gradio-blocks"], "blocks", spaces)
    with running(loop_thread, folder, tmp_path) as url:
        client = Client(url, verbose=False)
        assert client.predict("a bb ccc", api_name="/stats") == (3, 8, "ccc")
        # gr.State: each client session keeps its own notes
        first = client.predict("buy milk", api_name="/add_note")
        second = client.predict("call Ada", api_name="/add_note")
        assert first == ("1. buy milk", "")
        assert second == ("1. buy milk\n2. call Ada", "")


def test_gradio_chat_streams(loop_thread: LoopThread, spaces: Path, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES["gradio-chat"], "chat", spaces)
    with running(loop_thread, folder, tmp_path) as url:
        client = Client(url, verbose=False)
        job = client.submit("Hi there", "Calm", api_name="/chat")
        final = job.result(timeout=60)
        assert final == "You said 'Hi there'. That is message 1 of this chat."
        partial = job.outputs()
        assert len(partial) > 3, partial  # the reply arrived word by word
        assert partial[0] == "You"
        shout = client.predict("hey", "Shouting", api_name="/chat")
        assert shout.startswith("YOU SAID 'HEY'")


def test_streamlit(loop_thread: LoopThread, spaces: Path, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES["streamlit"], "walks", spaces)
    with running(loop_thread, folder, tmp_path) as url:
        page = httpx.get(url)
        assert page.status_code == 200 and "<title>Streamlit</title>" in page.text
        ws_url = url.replace("http://", "ws://") + "_stcore/stream"
        kinds, text = streamlit_session(ws_url, timeout=60)
        assert kinds[0] == "new_session" and "script_finished" in kinds
        assert "Random walks" in text
        assert "3 walks of 200 steps" in text


def test_static(loop_thread: LoopThread, spaces: Path, tmp_path: Path) -> None:
    folder = scaffold(TEMPLATES["static"], "page", spaces, {"title": "Counter"})
    with running(loop_thread, folder, tmp_path) as url:
        page = httpx.get(url)
        assert page.status_code == 200
        assert "<title>Counter</title>" in page.text
        script = httpx.get(url + "script.js")
        assert script.status_code == 200 and "addEventListener" in script.text
        assert httpx.get(url + "style.css").headers["content-type"].startswith("text/css")


def test_docker_app_runs_as_its_dockerfile_runs_it(spaces: Path) -> None:
    """The app of the docker template, started with the Dockerfile's CMD (uvicorn on a port);
    the image itself is built and run by the Docker backend's tests."""
    folder = scaffold(TEMPLATES["docker"], "api", spaces)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env={**os.environ, "SPACE_TITLE": "My API"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(base + "/")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.1)
        assert "<h1>My API</h1>" in page.text
        stats = httpx.post(base + "/api/stats", json={"text": "two words"})
        assert stats.json() == {"words": 2, "characters": 9}
        assert httpx.post(base + "/api/stats", json={}).status_code == 422
        assert httpx.get(base + "/health").json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(10)


# ---- model templates: their own environment, tiny local models ---------------------------------


def model_space(
    loop_thread: LoopThread, builder: EnvBuilder, spaces: Path, template: str, kind: str
) -> tuple[Path, str]:
    """Scaffold the template, build its environment, and make a tiny model with that
    environment's Python, inside the Space (an isolated app sees only its own folder, as on
    Spaces). Returns the Space and the model's path as the app names it."""
    folder = scaffold(TEMPLATES[template], template, spaces)
    env = loop_thread.run(builder.ensure(spec_for(load_space(folder))), timeout=900)
    model = folder / "model"
    subprocess.run(
        [env.python, str(TINY_MODELS), kind, str(model)],
        check=True,
        capture_output=True,
        env={**os.environ, **env.run_env, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    return folder, "./model"


def run_model(
    loop_thread: LoopThread, folder: Path, builder: EnvBuilder, tmp: Path, **variables: str
) -> Iterator[str]:
    return running(
        loop_thread,
        folder,
        tmp,
        timeout=240,
        env_mode=EnvMode.ISOLATED,
        builder=builder,
        variables={"HF_HUB_OFFLINE": "1", **variables},
    )


def test_transformers_text_classification(
    loop_thread: LoopThread, builder: EnvBuilder, spaces: Path, tmp_path: Path
) -> None:
    folder, model = model_space(
        loop_thread, builder, spaces, "text-classification", "text-classification"
    )
    # the model named in the header's `models` (no MODEL_ID): the template's default path
    readme = folder / "README.md"
    default = TEMPLATES["text-classification"].defaults()["model"]
    readme.write_text(readme.read_text().replace(default, model))
    assert load_space(folder).models == (model,)
    builds = builder.builds
    with run_model(loop_thread, folder, builder, tmp_path) as url:
        assert builder.builds == builds  # the environment built above is reused
        result = Client(url, verbose=False).predict("this movie was great", api_name="/classify")
        confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
        assert set(confidences) == {"NEGATIVE", "POSITIVE"}
        assert abs(sum(confidences.values()) - 1) < 1e-3
        assert result["label"] == max(confidences, key=confidences.__getitem__)


def test_sentence_similarity(
    loop_thread: LoopThread, builder: EnvBuilder, spaces: Path, tmp_path: Path
) -> None:
    folder, model = model_space(
        loop_thread, builder, spaces, "sentence-similarity", "sentence-similarity"
    )
    with run_model(loop_thread, folder, builder, tmp_path, MODEL_ID=model) as url:
        sentences = "the movie was great\ni hate it\nthe film is fun"
        result = Client(url, verbose=False).predict("a great film", sentences, api_name="/rank")
        rows = result["data"]
        assert sorted(row[0] for row in rows) == sorted(sentences.splitlines())
        scores = [row[1] for row in rows]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0001 <= s <= 1.0001 for s in scores)


def test_diffusers_text_to_image(
    loop_thread: LoopThread, builder: EnvBuilder, spaces: Path, tmp_path: Path
) -> None:
    from PIL import Image

    folder, model = model_space(loop_thread, builder, spaces, "text-to-image", "text-to-image")
    with run_model(loop_thread, folder, builder, tmp_path, MODEL_ID=model) as url:
        path = Client(url, verbose=False).predict("a great movie", 2, 0.0, 7, api_name="/generate")
        with Image.open(path) as image:
            assert image.size == (64, 64)
            assert image.format == "PNG"
