"""Make tiny random models for the model templates (no hub is reachable in tests).

Run with the Python of the template's own environment: ``python tiny_models.py KIND DIR``, where
KIND is a task (see MAKERS). Weights are random; the models have the real architectures, configs,
tokenizers and processors, so the templates' loading code runs as is. A model whose files alone
do not tell its task (a text-to-text model for translation, a pipeline for image-to-image) gets
a model card with that ``pipeline_tag``, as such models have on the Hub.
"""

from __future__ import annotations

import sys
from pathlib import Path

WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "is",
    "great",
    "good",
    "bad",
    "awful",
    "fun",
    "boring",
    "i",
    "love",
    "hate",
    "it",
    "this",
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def bert(
    path: Path,
    *,
    classifier: bool = False,
    head: str | None = None,
    labels: tuple[str, ...] = ("NEGATIVE", "POSITIVE"),
) -> None:
    import transformers
    from transformers import BertConfig, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    name = head or ("BertForSequenceClassification" if classifier else "BertModel")
    getattr(transformers, name)(config).save_pretrained(path)
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(path)


def card(path: Path, pipeline_tag: str) -> None:
    (path / "README.md").write_text(f"---\npipeline_tag: {pipeline_tag}\n---\n# A tiny model\n")


def byte_level_bpe(path: Path) -> object:
    """A byte-level BPE tokenizer trained on a few sentences (as GPT-2's and BART's are)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    trainer = ByteLevelBPETokenizer()
    text = [" ".join(WORDS)] * 20 + ["hello world, how are you today?"] * 5
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer.train_from_iterator(text, vocab_size=300, min_frequency=1, special_tokens=special)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trainer,
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
    )
    tokenizer.save_pretrained(path)
    return tokenizer


def gpt2(path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = byte_level_bpe(path)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(path)


def bart(path: Path, pipeline_tag: str | None = None) -> None:
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = byte_level_bpe(path)
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=37,
        decoder_ffn_dim=37, max_position_embeddings=128,
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    BartForConditionalGeneration(config).save_pretrained(path)
    if pipeline_tag:
        card(path, pipeline_tag)


def vit(path: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = ("cat", "dog", "fox")
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )  # fmt: skip
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)


def yolos(path: Path) -> None:
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    labels = ("cat", "dog")
    config = YolosConfig(
        image_size=[64, 64], patch_size=16, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=37, num_detection_tokens=5,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )  # fmt: skip
    YolosForObjectDetection(config).save_pretrained(path)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}).save_pretrained(path)


def wav2vec2(path: Path) -> None:
    import json

    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    path.mkdir(parents=True, exist_ok=True)
    letters = ["<pad>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    (path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(letters)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=False)
    config = Wav2Vec2Config(
        vocab_size=len(letters), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 8),
        num_feat_extract_layers=2, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )  # fmt: skip
    Wav2Vec2ForCTC(config).save_pretrained(path)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)


def sentence_transformer(path: Path) -> None:
    from sentence_transformers import SentenceTransformer, models

    bert(path / "bert", classifier=False)
    encoder = models.Transformer(str(path / "bert"), max_seq_length=64)
    pooling = models.Pooling(encoder.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(path))


def stable_diffusion(path: Path) -> None:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=32,
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for word in WORDS:
        vocab.setdefault(word + "</w>", len(vocab))
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(char + "</w>", len(vocab))
        vocab.setdefault(char, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=16,
            vocab_size=len(vocab),
        )
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(path)


def image_to_image(path: Path) -> None:
    stable_diffusion(path)
    card(path, "image-to-image")


MAKERS = {
    "text-classification": lambda p: bert(p, classifier=True),
    "token-classification": lambda p: bert(
        p, head="BertForTokenClassification", labels=("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
    ),
    "question-answering": lambda p: bert(p, head="BertForQuestionAnswering"),
    "fill-mask": lambda p: bert(p, head="BertForMaskedLM"),
    "zero-shot-classification": lambda p: bert(
        p, classifier=True, labels=("contradiction", "neutral", "entailment")
    ),
    "feature-extraction": lambda p: bert(p),
    "text-generation": gpt2,
    "summarization": bart,
    "translation": lambda p: bart(p, "translation"),
    "image-classification": vit,
    "object-detection": yolos,
    "automatic-speech-recognition": wav2vec2,
    "sentence-similarity": sentence_transformer,
    "text-to-image": stable_diffusion,
    "image-to-image": image_to_image,
}


def main() -> None:
    kind, path = sys.argv[1], Path(sys.argv[2])
    MAKERS[kind](path)


if __name__ == "__main__":
    main()
