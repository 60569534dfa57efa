"""Image to image: a diffusers pipeline redraws an image after a prompt, on the CPU.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import json
import os
from pathlib import Path

import gradio as gr
import torch
from diffusers import AutoPipelineForImage2Image
from huggingface_hub import metadata_load
from PIL import Image

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else ["a watercolor painting"]
)

MAX_SEED = 2**31 - 1
torch.set_num_threads(os.cpu_count() or 1)
pipe = AutoPipelineForImage2Image.from_pretrained(MODEL_ID, dtype=torch.float32).to("cpu")
pipe.set_progress_bar_config(disable=True)


def generate(
    image: Image.Image, prompt: str, strength: float, steps: int, guidance: float, seed: int
) -> Image.Image:
    if image is None:
        raise gr.Error("Upload an image first.")
    generator = torch.Generator("cpu").manual_seed(int(seed) % MAX_SEED)
    return pipe(
        prompt,
        image=image.convert("RGB"),
        strength=float(strength),
        num_inference_steps=int(steps),
        guidance_scale=float(guidance),
        generator=generator,
    ).images[0]


with gr.Blocks(title="Image to image") as demo:
    gr.Markdown(f"## Image to image\nModel: `{MODEL_ID}` on the CPU")
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Image", type="pil")
            prompt = gr.Textbox(label="Prompt", value=EXAMPLES[0])
            with gr.Accordion("Settings", open=False):
                strength = gr.Slider(0.1, 1.0, value=0.5, step=0.05, label="Strength")
                steps = gr.Slider(1, 50, value=2, step=1, label="Steps")
                guidance = gr.Slider(0.0, 10.0, value=0.0, step=0.5, label="Guidance scale")
                seed = gr.Number(value=0, precision=0, label="Seed")
            run = gr.Button("Generate", variant="primary")
        result = gr.Image(label="Result", type="pil", format="png")
    inputs = [source, prompt, strength, steps, guidance, seed]
    run.click(generate, inputs, result, api_name="generate")

if __name__ == "__main__":
    demo.launch()
