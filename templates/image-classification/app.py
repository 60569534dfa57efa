"""Image classification: a transformers vision model's labels for an image.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import os
from pathlib import Path

import gradio as gr
from huggingface_hub import metadata_load
from PIL import Image
from transformers import pipeline

MODEL_ID = (
    os.environ.get("MODEL_ID") or metadata_load(Path(__file__).with_name("README.md"))["models"][0]
)

classifier = pipeline("image-classification", model=MODEL_ID, device="cpu")


def classify(image: Image.Image) -> dict[str, float]:
    """The model's five likeliest labels with their probabilities."""
    if image is None:
        raise gr.Error("Upload an image first.")
    return {r["label"]: float(r["score"]) for r in classifier(image.convert("RGB"), top_k=5)}


demo = gr.Interface(
    fn=classify,
    inputs=gr.Image(label="Image", type="pil"),
    outputs=gr.Label(label="Labels", num_top_classes=5),
    description=f"Model: `{MODEL_ID}`",
    api_name="classify",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
