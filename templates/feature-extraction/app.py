"""Feature extraction: the embedding of a text with sentence-transformers (a plain
transformers encoder is mean-pooled).

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import json
import os
from pathlib import Path

import gradio as gr
from huggingface_hub import metadata_load
from sentence_transformers import SentenceTransformer

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else ["The quick brown fox jumps over the lazy dog."]
)

model = SentenceTransformer(MODEL_ID, device="cpu")


def embed(text: str, normalize: bool) -> dict:
    """The text's embedding: its size and its values."""
    if not text.strip():
        raise gr.Error("Give a text to embed.")
    vector = model.encode(text[:8000], normalize_embeddings=normalize)
    return {"dimensions": int(vector.shape[0]), "embedding": [round(float(v), 6) for v in vector]}


demo = gr.Interface(
    fn=embed,
    inputs=[
        gr.Textbox(label="Text", lines=4, value=EXAMPLES[0]),
        gr.Checkbox(label="Normalize", value=True),
    ],
    outputs=gr.JSON(label="Embedding"),
    examples=[[e, True] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="embed",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
