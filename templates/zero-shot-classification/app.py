"""Zero-shot classification: an NLI model scores the text against labels you choose.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
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
    else ["I have a problem with my iphone that needs to be resolved asap!"]
)

classifier = pipeline("zero-shot-classification", model=MODEL_ID, device="cpu")


def classify(text: str, labels: str, multi_label: bool) -> dict[str, float]:
    """Each label with the model's score for it."""
    candidates = [label.strip() for label in labels.split(",") if label.strip()]
    if not text.strip() or not candidates:
        raise gr.Error("Give a text and at least one label (comma-separated).")
    result = classifier(text[:2000], candidate_labels=candidates, multi_label=multi_label)
    return {
        label: float(score) for label, score in zip(result["labels"], result["scores"], strict=True)
    }


demo = gr.Interface(
    fn=classify,
    inputs=[
        gr.Textbox(label="Text", lines=4, value=EXAMPLES[0]),
        gr.Textbox(label="Labels, comma-separated", value="urgent, not urgent, phone, tablet"),
        gr.Checkbox(label="Several labels may apply", value=False),
    ],
    outputs=gr.Label(label="Scores"),
    examples=[[e, "urgent, not urgent, phone, tablet", False] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="classify",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
