"""What a model is, and which task its demo shows: read from a local folder's files, or from the
Hub's model info when the Hub is reachable.

The facts: ``config.json`` (its ``architectures``, ``model_type``, labels and sizes),
``model_index.json`` (a diffusers pipeline), ``modules.json`` or
``config_sentence_transformers.json`` (sentence-transformers), the model card's
``pipeline_tag`` and widget examples, and the weights' size. The task follows from them in one
order (see :func:`detect`), and the reason is kept to be printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spacerunner.errors import ModelError
from spacerunner.scaffold.tasks import Task, parse_task, supported

WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".msgpack", ".h5")
NLI_LABELS = {"entailment", "contradiction"}


@dataclass(frozen=True)
class ModelFacts:
    source: str
    """The folder or Hub id, as the user gave it."""
    architectures: tuple[str, ...] = ()
    model_type: str | None = None
    labels: tuple[str, ...] = ()
    pipeline_class: str | None = None
    """A diffusers pipeline's ``_class_name``."""
    sentence_transformers: bool = False
    pipeline_tag: str | None = None
    examples: tuple[str, ...] = ()
    weights_bytes: int | None = None
    parameters: int | None = None
    """From the config's sizes, when the weights' size is unknown."""


@dataclass(frozen=True)
class Detection:
    task: Task
    why: str
    others: tuple[Task, ...] = ()
    """Other tasks the model could serve (``--task`` picks one)."""


def read_folder(folder: Path) -> ModelFacts:
    """The facts of a model saved in ``folder``; :class:`ModelError` when it holds none."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder. Fix: give a folder or a Hub id.")
    config = _json(folder / "config.json")
    index = _json(folder / "model_index.json")
    st = (folder / "modules.json").is_file() or (
        folder / "config_sentence_transformers.json"
    ).is_file()
    if config is None and index is None and not st:
        raise ModelError(
            f"{folder}: no config.json, model_index.json or modules.json, so nothing says what "
            "model this is. Fix: save it with save_pretrained (transformers, diffusers) or "
            "save (sentence-transformers), or give --task with a folder that holds one."
        )
    if config is None and st:  # the transformer inside a sentence-transformers folder
        config = _json(folder / "0_Transformer" / "config.json") or {}
    card = _card(folder / "README.md")
    return ModelFacts(
        source=str(folder),
        architectures=tuple(str(a) for a in (config or {}).get("architectures") or ()),
        model_type=(config or {}).get("model_type"),
        labels=_labels(config or {}),
        pipeline_class=(index or {}).get("_class_name"),
        sentence_transformers=st,
        pipeline_tag=card.get("pipeline_tag"),
        examples=_examples(card.get("widget")),
        weights_bytes=_weights_size(folder),
        parameters=_parameters(config or {}),
    )


def read_hub(model_id: str, *, required: bool = True) -> ModelFacts:
    """The facts of Hub model ``model_id`` from huggingface_hub's model info. When the Hub
    cannot be reached: a :class:`ModelError`, or (not ``required``: the task is given) only
    the id, so the demo is written and its app downloads the model when it can."""
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = model_info(model_id, files_metadata=True, timeout=15)
    except RepositoryNotFoundError as exc:
        raise ModelError(f"{model_id}: no such model on the Hub. Fix: check the id.") from exc
    except Exception as exc:  # an HTTP error, or the transport's own (no route, no DNS...)
        if not required:
            return ModelFacts(source=model_id)
        raise ModelError(
            f"{model_id}: the Hub cannot be reached to read what this model is ({exc}). Fix: "
            f"give --task (one of {supported()}), or a local folder of the model."
        ) from exc
    config = dict(info.config or {})
    siblings = info.siblings or []
    names = {s.rfilename for s in siblings}
    parameters = info.safetensors.total if info.safetensors is not None else None
    card = info.card_data.to_dict() if info.card_data is not None else {}
    return ModelFacts(
        source=model_id,
        architectures=tuple(config.get("architectures") or ()),
        model_type=config.get("model_type"),
        labels=_labels(config),
        pipeline_class=(config.get("diffusers") or {}).get("_class_name"),
        sentence_transformers=(
            "modules.json" in names or info.library_name == "sentence-transformers"
        ),
        pipeline_tag=info.pipeline_tag,
        examples=_examples(card.get("widget")),
        weights_bytes=loaded_size((s.rfilename, s.size or 0) for s in siblings),
        parameters=parameters or _parameters(config),
    )


def detect(facts: ModelFacts, task: str | None = None) -> Detection:
    """The task of the demo of ``facts``: ``task`` when given, else from what the files say."""
    if task is not None:
        chosen = parse_task(task)
        if chosen is None:
            raise ModelError(
                f"--task {task!r}: not a task spacerunner builds demos for. Fix: one of "
                f"{supported()}."
            )
        return Detection(chosen, "--task")
    tagged = parse_task(facts.pipeline_tag) if facts.pipeline_tag else None
    if tagged is not None:  # what the model's authors say it is for
        guessed = _by_files(facts)
        others = (guessed.task,) if guessed is not None and guessed.task != tagged else ()
        return Detection(tagged, f"the model card's pipeline_tag: {facts.pipeline_tag}", others)
    found = _by_files(facts)
    if found is None:
        what = ", ".join(facts.architectures) or facts.model_type or "nothing"
        raise ModelError(
            f"{facts.source}: cannot tell which task this model is for (its config names "
            f"{what}). Fix: give --task, one of {supported()}."
        )
    return found


def _by_files(facts: ModelFacts) -> Detection | None:
    """The task the model's files tell: a library's own files first, then the architecture."""
    if facts.sentence_transformers:
        return Detection(
            Task.SENTENCE_SIMILARITY,
            "a sentence-transformers model (modules.json)",
            (Task.FEATURE_EXTRACTION,),
        )
    if facts.pipeline_class:
        if "Img2Img" in facts.pipeline_class or "ImageToImage" in facts.pipeline_class:
            return Detection(Task.IMAGE_TO_IMAGE, f"a diffusers {facts.pipeline_class}")
        return Detection(
            Task.TEXT_TO_IMAGE,
            f"a diffusers {facts.pipeline_class} (model_index.json)",
            (Task.IMAGE_TO_IMAGE,),
        )
    return _by_architecture(facts)


_SEQ2SEQ_TRANSLATION = re.compile(r"^(Marian|M2M100|NllbMoe|FSMT)", re.I)


def _by_architecture(facts: ModelFacts) -> Detection | None:
    if not facts.architectures:
        return None
    arch = facts.architectures[0]
    why = f"its architecture, {arch}"
    if arch.endswith("ForSequenceClassification"):
        if {label.lower() for label in facts.labels} >= NLI_LABELS:
            return Detection(
                Task.ZERO_SHOT_CLASSIFICATION,
                f"{why}, with entailment and contradiction labels (an NLI model)",
                (Task.TEXT_CLASSIFICATION,),
            )
        return Detection(Task.TEXT_CLASSIFICATION, why, (Task.ZERO_SHOT_CLASSIFICATION,))
    if _SEQ2SEQ_TRANSLATION.match(arch) and arch.endswith(("MTModel", "ForConditionalGeneration")):
        return Detection(Task.TRANSLATION, why, (Task.SUMMARIZATION,))
    simple = {
        "ForTokenClassification": Task.TOKEN_CLASSIFICATION,
        "ForQuestionAnswering": Task.QUESTION_ANSWERING,
        "ForMaskedLM": Task.FILL_MASK,
        "ForCausalLM": Task.TEXT_GENERATION,
        "LMHeadModel": Task.TEXT_GENERATION,
        "ForCTC": Task.AUTOMATIC_SPEECH_RECOGNITION,
        "ForSpeechSeq2Seq": Task.AUTOMATIC_SPEECH_RECOGNITION,
        "ForImageClassification": Task.IMAGE_CLASSIFICATION,
        "ForObjectDetection": Task.OBJECT_DETECTION,
    }
    for suffix, task in simple.items():
        if arch.endswith(suffix):
            return Detection(task, why)
    if arch.endswith("ForConditionalGeneration"):
        if arch.startswith(("Whisper", "Speech2Text")):
            return Detection(Task.AUTOMATIC_SPEECH_RECOGNITION, why)
        return Detection(
            Task.SUMMARIZATION,
            f"{why}, a text-to-text model (translation too: --task translation)",
            (Task.TRANSLATION,),
        )
    if arch.endswith("Model"):
        return Detection(
            Task.FEATURE_EXTRACTION,
            f"{why}, an encoder without a task head",
            (Task.SENTENCE_SIMILARITY,),
        )
    return None


# --- reading files ---


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(
            f"{path}: cannot be read as JSON ({exc}). Fix: save the model again."
        ) from exc
    return data if isinstance(data, dict) else None


def _card(readme: Path) -> dict[str, Any]:
    """The model card's metadata (its YAML header), as huggingface_hub reads it; {} when the
    folder has no readable card."""
    from huggingface_hub import metadata_load

    try:
        return metadata_load(readme) or {}
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return {}


def _examples(widget: object) -> tuple[str, ...]:
    """The text of the card's widget examples (``widget: [{text: ...}]``)."""
    if not isinstance(widget, list):
        return ()
    found = []
    for item in widget:
        if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip():
            found.append(item["text"].strip())
    return tuple(found[:5])


def _labels(config: dict[str, Any]) -> tuple[str, ...]:
    labels = config.get("id2label")
    if not isinstance(labels, dict):
        return ()
    return tuple(str(labels[k]) for k in sorted(labels, key=lambda k: int(k)))


def _weights_size(folder: Path) -> int | None:
    index = _json(folder / "model.safetensors.index.json")
    if index is not None:
        total = (index.get("metadata") or {}).get("total_size")
        if isinstance(total, int):
            return total
    return loaded_size((p.name, p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def loaded_size(files: Iterable[tuple[str, int]]) -> int | None:
    """The bytes of weights a model loads, from its files' names and sizes: a repository often
    ships the same weights in several formats and loads one, safetensors where there are,
    else the largest format."""
    by_format: dict[str, int] = {}
    for name, size in files:
        suffix = Path(name).suffix
        if suffix in WEIGHTS:
            by_format[suffix] = by_format.get(suffix, 0) + size
    return by_format.get(".safetensors") or max(by_format.values(), default=None)


def _parameters(config: dict[str, Any]) -> int | None:
    """A transformer's parameters from its sizes: 12 h^2 per layer plus the embeddings."""
    hidden = config.get("hidden_size") or config.get("d_model") or config.get("n_embd")
    layers = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    vocab = config.get("vocab_size") or 0
    if not isinstance(hidden, int) or not isinstance(layers, int):
        return None
    return 12 * hidden * hidden * layers + int(vocab) * hidden
