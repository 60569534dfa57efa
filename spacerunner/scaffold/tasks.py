"""The tasks a demo can be built for: one template each, named after the task.

A task's template holds an app that loads ``MODEL_ID`` (else the header's first ``models``
entry) and gives the task the interface people expect for it. ``spacerunner new --model``
detects the task of a model (spacerunner.scaffold.detect) and scaffolds that template.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Task(StrEnum):
    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"
    QUESTION_ANSWERING = "question-answering"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    TEXT_GENERATION = "text-generation"
    FILL_MASK = "fill-mask"
    ZERO_SHOT_CLASSIFICATION = "zero-shot-classification"
    IMAGE_CLASSIFICATION = "image-classification"
    OBJECT_DETECTION = "object-detection"
    AUTOMATIC_SPEECH_RECOGNITION = "automatic-speech-recognition"
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    SENTENCE_SIMILARITY = "sentence-similarity"
    FEATURE_EXTRACTION = "feature-extraction"


class Library(StrEnum):
    TRANSFORMERS = "transformers"
    DIFFUSERS = "diffusers"
    SENTENCE_TRANSFORMERS = "sentence-transformers"


@dataclass(frozen=True)
class TaskInfo:
    library: Library
    card_examples: bool
    """Whether its app takes the model card's widget texts as examples (``examples.json``)."""


TASKS: dict[Task, TaskInfo] = {
    Task.TEXT_CLASSIFICATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.TOKEN_CLASSIFICATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.QUESTION_ANSWERING: TaskInfo(Library.TRANSFORMERS, False),
    Task.SUMMARIZATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.TRANSLATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.TEXT_GENERATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.FILL_MASK: TaskInfo(Library.TRANSFORMERS, True),
    Task.ZERO_SHOT_CLASSIFICATION: TaskInfo(Library.TRANSFORMERS, True),
    Task.IMAGE_CLASSIFICATION: TaskInfo(Library.TRANSFORMERS, False),
    Task.OBJECT_DETECTION: TaskInfo(Library.TRANSFORMERS, False),
    Task.AUTOMATIC_SPEECH_RECOGNITION: TaskInfo(Library.TRANSFORMERS, False),
    Task.TEXT_TO_IMAGE: TaskInfo(Library.DIFFUSERS, True),
    Task.IMAGE_TO_IMAGE: TaskInfo(Library.DIFFUSERS, True),
    Task.SENTENCE_SIMILARITY: TaskInfo(Library.SENTENCE_TRANSFORMERS, False),
    Task.FEATURE_EXTRACTION: TaskInfo(Library.SENTENCE_TRANSFORMERS, True),
}

ALIASES: dict[str, Task] = {
    "transformers-text-classification": Task.TEXT_CLASSIFICATION,
    "diffusers-text-to-image": Task.TEXT_TO_IMAGE,
    "text2text-generation": Task.SUMMARIZATION,
    "conversational": Task.TEXT_GENERATION,
    "image-text-to-image": Task.IMAGE_TO_IMAGE,
}
"""Names that mean a task: earlier template names, and Hub pipeline tags of the same task."""


def parse_task(name: str) -> Task | None:
    """The task ``name`` means (a task, an alias, a Hub pipeline tag), else ``None``."""
    key = name.strip().lower().replace("_", "-")
    if key in ALIASES:
        return ALIASES[key]
    try:
        return Task(key)
    except ValueError:
        return None


def supported() -> str:
    return ", ".join(task.value for task in Task)
