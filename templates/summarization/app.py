"""Summarization: a transformers text-to-text (seq2seq) model behind Gradio.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import json
import os
from pathlib import Path

import gradio as gr
import torch
from huggingface_hub import metadata_load
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else [
        "The tower is 324 metres tall, about the same height as an 81-storey building, "
        "and the tallest structure in Paris."
    ]
)

tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)
model = AutoModelForSeq2SeqLM.from_pretrained(MODEL_ID).eval()
# T5-style models read the task from a prefix their config names
PREFIX = next(
    (
        params.get("prefix", "")
        for name, params in (getattr(model.config, "task_specific_params", None) or {}).items()
        if name.startswith("summarization")
    ),
    "",
)


def summarize(text: str, max_tokens: int) -> str:
    if not text.strip():
        return ""
    inputs = tokenizer(PREFIX + text[:8000], truncation=True, return_tensors="pt")
    with torch.no_grad():
        made = model.generate(**inputs, max_new_tokens=int(max_tokens))
    return tokenizer.decode(made[0], skip_special_tokens=True).strip()


demo = gr.Interface(
    fn=summarize,
    inputs=[
        gr.Textbox(label="Text", lines=6, value=EXAMPLES[0]),
        gr.Slider(8, 512, value=128, step=8, label="At most this many tokens"),
    ],
    outputs=gr.Textbox(label="Summary", lines=6),
    examples=[[e, 128] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="summarize",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
