"""Reading what a model is and picking its demo, on model folders of each kind (configs only:
no weights are needed to tell a task), ambiguous ones and broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spacerunner.cli.main import main
from spacerunner.config import load_space
from spacerunner.errors import ModelError
from spacerunner.hardware import GiB
from spacerunner.scaffold.detect import detect, read_folder, read_hub
from spacerunner.scaffold.fit import check_fit
from spacerunner.scaffold.tasks import Task

NAMES = {
    "config_json": "config.json",
    "model_index_json": "model_index.json",
    "modules_json": "modules.json",
    "README_md": "README.md",
    "weights_bin": "weights.bin",
    "model_safetensors": "model.safetensors",
    "model_safetensors_index_json": "model.safetensors.index.json",
}


def model(tmp_path: Path, name: str = "m", **files: object) -> Path:
    """A model folder of ``files`` (keyword names stand for the file names in NAMES)."""
    folder = tmp_path / name
    folder.mkdir()
    for key, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / NAMES[key]).write_text(text)
    return folder


def config(architecture: str, **more: object) -> dict[str, object]:
    return {"architectures": [architecture], "model_type": "x", **more}


@pytest.mark.parametrize(
    ("architecture", "task"),
    [
        ("BertForSequenceClassification", Task.TEXT_CLASSIFICATION),
        ("RobertaForTokenClassification", Task.TOKEN_CLASSIFICATION),
        ("DistilBertForQuestionAnswering", Task.QUESTION_ANSWERING),
        ("BertForMaskedLM", Task.FILL_MASK),
        ("LlamaForCausalLM", Task.TEXT_GENERATION),
        ("GPT2LMHeadModel", Task.TEXT_GENERATION),
        ("Wav2Vec2ForCTC", Task.AUTOMATIC_SPEECH_RECOGNITION),
        ("WhisperForConditionalGeneration", Task.AUTOMATIC_SPEECH_RECOGNITION),
        ("ViTForImageClassification", Task.IMAGE_CLASSIFICATION),
        ("DetrForObjectDetection", Task.OBJECT_DETECTION),
        ("MarianMTModel", Task.TRANSLATION),  # (opus-mt: no head in its name)
        ("MarianForConditionalGeneration", Task.TRANSLATION),
        ("BertModel", Task.FEATURE_EXTRACTION),
    ],
)
def test_the_architecture_names_the_task(tmp_path: Path, architecture: str, task: Task) -> None:
    assert detect(read_folder(model(tmp_path, config_json=config(architecture)))).task is task


def test_an_nli_classifier_is_a_zero_shot_one(tmp_path: Path) -> None:
    labels = {"0": "contradiction", "1": "neutral", "2": "entailment"}
    found = detect(
        read_folder(
            model(tmp_path, config_json=config("BartForSequenceClassification", id2label=labels))
        )
    )
    assert found.task is Task.ZERO_SHOT_CLASSIFICATION
    assert found.others == (Task.TEXT_CLASSIFICATION,) and "NLI" in found.why


def test_a_text_to_text_model_serves_two_tasks_and_says_so(tmp_path: Path) -> None:
    found = detect(read_folder(model(tmp_path, config_json=config("T5ForConditionalGeneration"))))
    assert found.task is Task.SUMMARIZATION and found.others == (Task.TRANSLATION,)
    assert "--task translation" in found.why


def test_the_model_cards_pipeline_tag_wins_and_the_examples_come_with_it(tmp_path: Path) -> None:
    card = (
        "---\npipeline_tag: translation\nwidget:\n- text: How old are you?\n- text: Hello\n"
        "- src: image.png\n---\n# A model\n"
    )
    folder = model(tmp_path, config_json=config("T5ForConditionalGeneration"), README_md=card)
    facts = read_folder(folder)
    found = detect(facts)
    assert found.task is Task.TRANSLATION and "pipeline_tag" in found.why
    assert found.others == (Task.SUMMARIZATION,)
    assert facts.examples == ("How old are you?", "Hello")


def test_pipelines_and_sentence_transformers_by_their_own_files(tmp_path: Path) -> None:
    text = model(tmp_path, "sd", model_index_json={"_class_name": "StableDiffusionPipeline"})
    found = detect(read_folder(text))
    assert found.task is Task.TEXT_TO_IMAGE and found.others == (Task.IMAGE_TO_IMAGE,)
    img = model(tmp_path, "i2i", model_index_json={"_class_name": "StableDiffusionImg2ImgPipeline"})
    assert detect(read_folder(img)).task is Task.IMAGE_TO_IMAGE
    st = model(tmp_path, "st", modules_json=[{"type": "x"}], config_json=config("BertModel"))
    assert detect(read_folder(st)).task is Task.SENTENCE_SIMILARITY


def test_task_overrides_and_aliases(tmp_path: Path) -> None:
    facts = read_folder(model(tmp_path, config_json=config("BertModel")))
    assert detect(facts, "sentence-similarity").task is Task.SENTENCE_SIMILARITY
    assert detect(facts, "text2text-generation").task is Task.SUMMARIZATION  # a Hub tag
    with pytest.raises(ModelError, match=r"not a task spacerunner builds demos for.*fill-mask"):
        detect(facts, "telepathy")


def test_broken_models_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no config\.json, model_index\.json or modules\.json"):
        read_folder(model(tmp_path, "empty", weights_bin="x"))
    with pytest.raises(ModelError, match=r"config\.json: cannot be read as JSON"):
        read_folder(model(tmp_path, "bad", config_json="{not json"))
    with pytest.raises(ModelError, match="no such model folder"):
        read_folder(tmp_path / "missing")
    unknown = read_folder(model(tmp_path, "odd", config_json=config("SomethingNew")))
    with pytest.raises(ModelError, match=r"cannot tell which task.*SomethingNew.*--task"):
        detect(unknown)


def test_the_fit_check_reads_the_weights_or_the_config(tmp_path: Path) -> None:
    big = model(
        tmp_path,
        "big",
        config_json=config("LlamaForCausalLM"),
        model_safetensors_index_json={"metadata": {"total_size": 20 * GiB}, "weight_map": {}},
    )
    fit = check_fit(read_folder(big))
    assert not fit.fits and fit.flavor == "cpu-upgrade"  # 32 GiB holds 20 GiB of weights
    assert "suggests cpu-upgrade" in fit.describe()
    small = model(tmp_path, "small", config_json=config("BertModel"), model_safetensors="x" * 1000)
    assert check_fit(read_folder(small)).fits
    sized = config("BertModel", hidden_size=768, num_hidden_layers=12, vocab_size=30522)
    estimate = check_fit(read_folder(model(tmp_path, "sized", config_json=sized))).needed
    assert estimate is not None and 1.4 * GiB < estimate < 1.7 * GiB  # BERT-base: 110M params


def test_new_with_a_model_writes_its_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = model(
        tmp_path,
        "big-lm",
        config_json=config("LlamaForCausalLM"),
        model_safetensors_index_json={"metadata": {"total_size": 20 * GiB}, "weight_map": {}},
        README_md="---\nwidget:\n- text: Tell me a joke\n---\n",
    )
    assert main(["new", "chat-demo", "--model", str(big), "--dir", str(tmp_path / "spaces")]) == 0
    said = capsys.readouterr().out
    assert "task: text-generation, from its architecture, LlamaForCausalLM" in said
    assert "suggests cpu-upgrade" in said and "examples: 1 from the model card" in said
    space = load_space(tmp_path / "spaces" / "chat-demo")
    assert space.models == ("./model",) and space.suggested_hardware == "cpu-upgrade"
    assert (space.path / "model" / "config.json").is_file()
    assert json.loads((space.path / "examples.json").read_text()) == ["Tell me a joke"]
    assert main(["new", "x", "--model", str(big), "--task", "nope", "--dir", str(tmp_path)]) == 1
    assert "not a task spacerunner builds demos for" in capsys.readouterr().err


def test_a_hub_model_is_read_from_its_model_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What huggingface_hub's model info says (no Hub here: its answer, as the API gives it)."""
    import huggingface_hub
    from huggingface_hub.hf_api import ModelInfo

    info = ModelInfo(
        id="org/ner",
        pipeline_tag="token-classification",
        library_name="transformers",
        config={"architectures": ["BertForTokenClassification"], "model_type": "bert"},
        siblings=[
            {"rfilename": "model.safetensors", "size": 400 * 2**20},
            {"rfilename": "pytorch_model.bin", "size": 400 * 2**20},
            {"rfilename": "config.json", "size": 900},
        ],
        cardData={"widget": [{"text": "My name is Clara and I live in Berkeley."}]},
    )
    monkeypatch.setattr(huggingface_hub, "model_info", lambda *a, **k: info)
    facts = read_hub("org/ner")
    assert detect(facts).task is Task.TOKEN_CLASSIFICATION
    assert facts.weights_bytes == 400 * 2**20  # one format counts, not both
    assert facts.examples == ("My name is Clara and I live in Berkeley.",)
    assert main(["new", "ner", "--model", "org/ner", "--dir", str(tmp_path)]) == 0
    assert load_space(tmp_path / "ner").models == ("org/ner",)  # named, downloaded at start

    def unreachable(*args: object, **kwargs: object) -> ModelInfo:
        raise OSError("no route to the Hub")  # what a connection error is

    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ModelError, match=r"the Hub cannot be reached.*--task"):
        read_hub("org/ner")
    # with --task the demo is written all the same
    assert (
        main(["new", "ner2", "--model", "org/ner", "--task", "fill-mask", "--dir", str(tmp_path)])
        == 0
    )
    assert load_space(tmp_path / "ner2").models == ("org/ner",)
