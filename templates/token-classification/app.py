"""Token classification: a transformers pipeline behind Gradio, entities highlighted.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU. Examples come from examples.json (the
model card's) when there is one.
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
    else ["My name is Wolfgang and I live in Berlin."]
)

tagger = pipeline(
    "token-classification", model=MODEL_ID, device="cpu", aggregation_strategy="simple"
)


def recognize(text: str) -> dict:
    """The text with each entity the model finds: its group, where it starts and ends."""
    entities = [
        {"entity": e["entity_group"], "start": int(e["start"]), "end": int(e["end"])}
        for e in tagger(text[:4000])
    ]
    return {"text": text, "entities": entities}


demo = gr.Interface(
    fn=recognize,
    inputs=gr.Textbox(label="Text", lines=4, value=EXAMPLES[0]),
    outputs=gr.HighlightedText(label="Entities", combine_adjacent=True),
    examples=[[e] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="recognize",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
