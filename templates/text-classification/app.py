"""Text classification: a transformers pipeline behind a Gradio Interface.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md. It runs on the CPU.
"""

import json
import os
from pathlib import Path

import gradio as gr
from huggingface_hub import metadata_load
from transformers import pipeline

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else ["I loved this film!", "The plot was dull and far too long."]
)

classifier = pipeline("text-classification", model=MODEL_ID, device="cpu", top_k=None)


def classify(text: str) -> dict[str, float]:
    """Every label of the model with its probability."""
    scores = classifier(text[:2000])
    if scores and isinstance(scores[0], list):  # one list of labels per input text
        scores = scores[0]
    return {score["label"]: float(score["score"]) for score in scores}


demo = gr.Interface(
    fn=classify,
    inputs=gr.Textbox(label="Text", lines=4, placeholder=EXAMPLES[0]),
    outputs=gr.Label(label="Labels", num_top_classes=5),
    examples=[[e] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="classify",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
