"""Object detection: a transformers detector's boxes, drawn on the image.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import os
from pathlib import Path

import gradio as gr
from huggingface_hub import metadata_load
from PIL import Image, ImageDraw
from transformers import pipeline

MODEL_ID = (
    os.environ.get("MODEL_ID") or metadata_load(Path(__file__).with_name("README.md"))["models"][0]
)

detector = pipeline("object-detection", model=MODEL_ID, device="cpu")
COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]


def detect(image: Image.Image, threshold: float) -> tuple[Image.Image, list[dict]]:
    """The image with a box per object found, and the objects: label, score, box."""
    if image is None:
        raise gr.Error("Upload an image first.")
    image = image.convert("RGB")
    found = detector(image, threshold=float(threshold))
    drawn = image.copy()
    pen = ImageDraw.Draw(drawn)
    objects = []
    for index, item in enumerate(found):
        box = item["box"]
        corners = (box["xmin"], box["ymin"], box["xmax"], box["ymax"])
        color = COLORS[index % len(COLORS)]
        pen.rectangle(corners, outline=color, width=3)
        pen.text(
            (box["xmin"] + 4, box["ymin"] + 2), f"{item['label']} {item['score']:.2f}", fill=color
        )
        objects.append(
            {"label": item["label"], "score": round(float(item["score"]), 4), "box": box}
        )
    return drawn, objects


demo = gr.Interface(
    fn=detect,
    inputs=[
        gr.Image(label="Image", type="pil"),
        gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Score threshold"),
    ],
    outputs=[gr.Image(label="Objects", type="pil", format="png"), gr.JSON(label="Found")],
    description=f"Model: `{MODEL_ID}`",
    api_name="detect",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
