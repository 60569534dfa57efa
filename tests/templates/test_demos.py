"""From a model to a working demo, for every task: a tiny random model of that kind made locally,
`spacerunner new NAME --model <its folder>` with no flags, the Space started as a user starts it,
and the app called through gradio_client with an answer of the right shape."""

from __future__ import annotations

import itertools
import math
import os
import struct
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from helpers import LoopThread
from test_template_apps import TINY_MODELS, run_model

from spacerunner.cli.main import main
from spacerunner.config import load_space
from spacerunner.envs import EnvBuilder, spec_for
from spacerunner.scaffold import find_templates, scaffold
from spacerunner.scaffold.tasks import TASKS, Library, Task

pytestmark = pytest.mark.slow
TEMPLATES = find_templates()


@pytest.fixture(scope="module")
def pythons(
    loop_thread: LoopThread, builder: EnvBuilder, tmp_path_factory: pytest.TempPathFactory
) -> dict[Library, str]:
    """The Python of each library's environment (the one its demos get), to make models with."""
    found = {}
    scratch = tmp_path_factory.mktemp("library-envs")
    for library in Library:
        task = next(t for t, info in TASKS.items() if info.library is library)
        folder = scaffold(TEMPLATES[task.value], f"env-{task.value}", scratch)
        env = loop_thread.run(builder.ensure(spec_for(load_space(folder))), timeout=900)
        found[library] = env.python
    return found


def image(path: Path, size: tuple[int, int] = (96, 64)) -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def speech(path: Path, rate: int = 8000) -> Path:
    """A second of a 440 Hz tone at 8 kHz (the app resamples it to the model's 16 kHz)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(rate))
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def label_set(result: dict[str, Any]) -> set[str]:
    return {c["label"] for c in result["confidences"]}


Call = Callable[[Client, Path], None]


def text_classification(client: Client, tmp: Path) -> None:
    result = client.predict("this movie was great", api_name="/classify")
    assert label_set(result) == {"NEGATIVE", "POSITIVE"}


def token_classification(client: Client, tmp: Path) -> None:
    text = "i love the movie"
    spans = client.predict(text, api_name="/recognize")
    assert "".join(s["token"] for s in spans).replace(" ", "") == text.replace(" ", "")
    labels = {s["class_or_confidence"] for s in spans} - {None}
    assert labels <= {"PER", "LOC", "O"}


def question_answering(client: Client, tmp: Path) -> None:
    context = "the film was great and i love it"
    answer, score = client.predict("what was great", context, api_name="/answer")
    assert answer in context and 0 <= score <= 1


def summarization(client: Client, tmp: Path) -> None:
    assert isinstance(client.predict("the movie was great fun", 16, api_name="/summarize"), str)


def translation(client: Client, tmp: Path) -> None:
    assert isinstance(client.predict("hello world", 16, api_name="/translate"), str)


def text_generation(client: Client, tmp: Path) -> None:
    job = client.submit("hello", 12, 0.0, api_name="/chat")
    answers = list(job)  # streamed: the answer grows
    assert answers and isinstance(job.result(), str)
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(answers))


def fill_mask(client: Client, tmp: Path) -> None:
    result = client.predict("the movie was [MASK]", api_name="/fill")
    assert 1 <= len(result["confidences"]) <= 5


def zero_shot(client: Client, tmp: Path) -> None:
    result = client.predict("i love it", "happy, sad, angry", False, api_name="/classify")
    assert label_set(result) == {"happy", "sad", "angry"}
    assert abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-3


def image_classification(client: Client, tmp: Path) -> None:
    result = client.predict(handle_file(image(tmp / "in.png")), api_name="/classify")
    assert label_set(result) <= {"cat", "dog", "fox"} and result["confidences"]


def object_detection(client: Client, tmp: Path) -> None:
    from PIL import Image

    drawn, objects = client.predict(handle_file(image(tmp / "in.png")), 0.0, api_name="/detect")
    with Image.open(drawn) as picture:
        assert picture.size == (96, 64)  # the image itself, boxes drawn on it
    assert objects and all(o["label"] in {"cat", "dog"} for o in objects)
    assert all({"xmin", "ymin", "xmax", "ymax"} <= set(o["box"]) for o in objects)


def speech_recognition(client: Client, tmp: Path) -> None:
    assert isinstance(
        client.predict(handle_file(speech(tmp / "in.wav")), api_name="/transcribe"), str
    )


def text_to_image(client: Client, tmp: Path) -> None:
    from PIL import Image

    with Image.open(client.predict("a great movie", 2, 0.0, 7, api_name="/generate")) as made:
        assert made.size == (64, 64)


def image_to_image(client: Client, tmp: Path) -> None:
    from PIL import Image

    source = handle_file(image(tmp / "in.png", (64, 64)))
    made = client.predict(source, "a fox", 0.5, 2, 0.0, 7, api_name="/generate")
    with Image.open(made) as picture:
        assert picture.size == (64, 64)


def sentence_similarity(client: Client, tmp: Path) -> None:
    rows = client.predict("a great film", "i hate it\nthe film is fun", api_name="/rank")["data"]
    assert sorted(r[0] for r in rows) == ["i hate it", "the film is fun"]


def feature_extraction(client: Client, tmp: Path) -> None:
    result = client.predict("the movie was great", True, api_name="/embed")
    assert result["dimensions"] == 32 == len(result["embedding"])
    assert abs(sum(v * v for v in result["embedding"]) - 1) < 1e-3  # normalized


CALLS: dict[Task, Call] = {
    Task.TEXT_CLASSIFICATION: text_classification,
    Task.TOKEN_CLASSIFICATION: token_classification,
    Task.QUESTION_ANSWERING: question_answering,
    Task.SUMMARIZATION: summarization,
    Task.TRANSLATION: translation,
    Task.TEXT_GENERATION: text_generation,
    Task.FILL_MASK: fill_mask,
    Task.ZERO_SHOT_CLASSIFICATION: zero_shot,
    Task.IMAGE_CLASSIFICATION: image_classification,
    Task.OBJECT_DETECTION: object_detection,
    Task.AUTOMATIC_SPEECH_RECOGNITION: speech_recognition,
    Task.TEXT_TO_IMAGE: text_to_image,
    Task.IMAGE_TO_IMAGE: image_to_image,
    Task.SENTENCE_SIMILARITY: sentence_similarity,
    Task.FEATURE_EXTRACTION: feature_extraction,
}


def test_every_task_has_a_demo_test() -> None:
    assert set(CALLS) == set(Task)


@pytest.mark.parametrize("task", list(Task), ids=str)
def test_a_demo_built_from_a_tiny_model_answers(
    task: Task,
    loop_thread: LoopThread,
    builder: EnvBuilder,
    pythons: dict[Library, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = tmp_path / "tiny-model"
    subprocess.run(
        [pythons[TASKS[task].library], str(TINY_MODELS), task.value, str(model)],
        check=True,
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    name = f"demo-{task.value}"[:40].rstrip("-")
    assert main(["new", name, "--model", str(model), "--dir", str(tmp_path / "spaces")]) == 0
    said = capsys.readouterr().out
    assert f"task: {task.value}, from " in said
    folder = tmp_path / "spaces" / name
    assert load_space(folder).models == ("./model",)  # the model, copied into the Space
    builds = builder.builds
    with run_model(loop_thread, folder, builder, tmp_path / "run") as url:
        assert builder.builds == builds  # one environment per library, shared by its demos
        CALLS[task](Client(url, verbose=False), tmp_path)
