"""Fill-mask: the words a masked language model puts in the blank.

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
    json.loads((HERE / "examples.json").read_text()) if (HERE / "examples.json").is_file() else None
)

unmasker = pipeline("fill-mask", model=MODEL_ID, device="cpu")
MASK = unmasker.tokenizer.mask_token
EXAMPLES = EXAMPLES or [f"Paris is the {MASK} of France."]


def fill(text: str) -> dict[str, float]:
    """The likeliest words for the blank, with their probabilities."""
    if MASK not in text:
        raise gr.Error(f"Put {MASK} where the missing word goes.")
    guesses = unmasker(text[:2000], top_k=5)
    if guesses and isinstance(guesses[0], list):  # several blanks: the first one's guesses
        guesses = guesses[0]
    return {g["token_str"].strip(): float(g["score"]) for g in guesses}


demo = gr.Interface(
    fn=fill,
    inputs=gr.Textbox(label=f"Text with {MASK}", value=EXAMPLES[0]),
    outputs=gr.Label(label="Guesses", num_top_classes=5),
    examples=[[e] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="fill",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
