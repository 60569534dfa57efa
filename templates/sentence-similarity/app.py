"""Sentence similarity: sentence-transformers embeddings and cosine similarity, in Gradio.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md. It runs on the CPU.
"""

import os
from pathlib import Path

import gradio as gr
from huggingface_hub import metadata_load
from sentence_transformers import SentenceTransformer

MODEL_ID = (
    os.environ.get("MODEL_ID") or metadata_load(Path(__file__).with_name("README.md"))["models"][0]
)

model = SentenceTransformer(MODEL_ID, device="cpu")


def rank(query: str, sentences: str) -> list[list]:
    """The sentences (one per line) ordered by cosine similarity to the query."""
    candidates = [line.strip() for line in sentences.splitlines() if line.strip()]
    if not query.strip() or not candidates:
        return []
    embeddings = model.encode([query, *candidates], normalize_embeddings=True)
    scores = model.similarity(embeddings[:1], embeddings[1:])[0].tolist()
    ranked = sorted(zip(candidates, scores, strict=True), key=lambda pair: -pair[1])
    return [[sentence, round(score, 4)] for sentence, score in ranked]


demo = gr.Interface(
    fn=rank,
    inputs=[
        gr.Textbox(label="Query", value="A man is eating food."),
        gr.Textbox(
            label="Sentences, one per line",
            lines=6,
            value="A man is eating a piece of bread.\nA man is riding a horse.\n"
            "Someone is having lunch.\nThe girl is carrying a baby.",
        ),
    ],
    outputs=gr.Dataframe(headers=["Sentence", "Cosine similarity"], label="Ranking"),
    description=f"Model: `{MODEL_ID}`",
    api_name="rank",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
