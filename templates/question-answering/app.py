"""Question answering: the span of a passage that answers a question, found by a transformers model.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU.
"""

import json
import os
from pathlib import Path

import gradio as gr
import torch
from huggingface_hub import metadata_load
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else [["Where do I live?", "My name is Sarah and I live in London."]]
)

tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)
model = AutoModelForQuestionAnswering.from_pretrained(MODEL_ID).eval()
LONGEST = 30
"""Tokens an answer may span."""


def answer(question: str, context: str) -> tuple[str, float]:
    """The span of the passage that answers the question, and the model's confidence in it."""
    if not question.strip() or not context.strip():
        raise gr.Error("Give a question and a passage to find its answer in.")
    inputs = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=384,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = inputs.pop("offset_mapping")[0].tolist()
    in_context = [i == 1 for i in inputs.sequence_ids(0)]
    with torch.no_grad():
        out = model(**inputs)
    start = out.start_logits[0].softmax(-1)
    end = out.end_logits[0].softmax(-1)
    best, span = -1.0, (0, 0)
    for s in (i for i, inside in enumerate(in_context) if inside):
        for e in range(s, min(s + LONGEST, len(in_context))):
            if in_context[e] and float(start[s] * end[e]) > best:
                best, span = float(start[s] * end[e]), (offsets[s][0], offsets[e][1])
    return context[span[0] : span[1]], round(max(best, 0.0), 4)


demo = gr.Interface(
    fn=answer,
    inputs=[
        gr.Textbox(label="Question", value=EXAMPLES[0][0]),
        gr.Textbox(label="Passage", lines=6, value=EXAMPLES[0][1]),
    ],
    outputs=[gr.Textbox(label="Answer"), gr.Number(label="Confidence")],
    examples=EXAMPLES,
    description=f"Model: `{MODEL_ID}`",
    api_name="answer",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
