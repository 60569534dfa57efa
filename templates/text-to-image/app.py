"""Text to image: a diffusers pipeline behind Gradio, set up for a CPU.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md. The default, sd-turbo, makes a 512x512 image in one step without
classifier-free guidance, which keeps a CPU Space usable; raise the steps for other models.
"""

import json
import os
from pathlib import Path

import gradio as gr
import torch
from diffusers import AutoPipelineForText2Image
from huggingface_hub import metadata_load
from PIL import Image

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else ["a watercolor fox in a snowy forest"]
)
MAX_SEED = 2**31 - 1

torch.set_num_threads(os.cpu_count() or 1)
pipe = AutoPipelineForText2Image.from_pretrained(MODEL_ID, dtype=torch.float32).to("cpu")
pipe.set_progress_bar_config(disable=True)


def generate(prompt: str, steps: int, guidance: float, seed: int) -> Image.Image:
    generator = torch.Generator("cpu").manual_seed(int(seed) % MAX_SEED)
    return pipe(
        prompt,
        num_inference_steps=int(steps),
        guidance_scale=float(guidance),
        generator=generator,
    ).images[0]


with gr.Blocks(title="Text to image") as demo:
    gr.Markdown(f"## Text to image\nModel: `{MODEL_ID}` on the CPU")
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", value=EXAMPLES[0])
            with gr.Accordion("Settings", open=False):
                steps = gr.Slider(1, 50, value=1, step=1, label="Steps")
                guidance = gr.Slider(0.0, 10.0, value=0.0, step=0.5, label="Guidance scale")
                seed = gr.Number(value=0, precision=0, label="Seed")
            run = gr.Button("Generate", variant="primary")
        image = gr.Image(label="Image", type="pil", format="png")
    run.click(generate, [prompt, steps, guidance, seed], image, api_name="generate")
    prompt.submit(generate, [prompt, steps, guidance, seed], image)

if __name__ == "__main__":
    demo.launch()
