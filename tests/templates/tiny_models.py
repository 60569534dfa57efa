"""Make tiny random models for the model templates (no hub is reachable in tests).

Run with the Python of the template's own environment: ``python tiny_models.py KIND DIR``, where
KIND is text-classification, sentence-similarity or text-to-image. Weights are random; the models
have the real architectures, configs and tokenizers, so the templates' loading code runs as is.
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


def bert(path: Path, *, classifier: bool) -> None:
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model = BertForSequenceClassification(config) if classifier else BertModel(config)
    model.save_pretrained(path)
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(path)


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


def main() -> None:
    kind, path = sys.argv[1], Path(sys.argv[2])
    makers = {
        "text-classification": lambda p: bert(p, classifier=True),
        "sentence-similarity": sentence_transformer,
        "text-to-image": stable_diffusion,
    }
    makers[kind](path)


if __name__ == "__main__":
    main()
