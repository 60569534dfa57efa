"""Text generation as a chat: a transformers causal language model, its tokens streamed.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU. The model's chat template formats the
conversation when it has one.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from threading import Thread

import gradio as gr
import torch
from huggingface_hub import metadata_load
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

HERE = Path(__file__).parent
MODEL_ID = os.environ.get("MODEL_ID") or metadata_load(HERE / "README.md")["models"][0]
EXAMPLES = (
    json.loads((HERE / "examples.json").read_text())
    if (HERE / "examples.json").is_file()
    else ["Tell me a short story about a robot."]
)

torch.set_num_threads(os.cpu_count() or 1)
tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)
model = AutoModelForCausalLM.from_pretrained(MODEL_ID, dtype=torch.float32).eval()


def prompt_ids(message: str, history: list[dict]) -> torch.Tensor:
    messages = [*({"role": m["role"], "content": m["content"]} for m in history)]
    messages.append({"role": "user", "content": message})
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    return tokenizer(text, return_tensors="pt")["input_ids"]


def chat(
    message: str, history: list[dict], max_tokens: int = 256, temperature: float = 0.7
) -> Iterator[str]:
    """The model's answer, yielded as it grows."""
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    settings = {
        "input_ids": prompt_ids(message, history),
        "max_new_tokens": int(max_tokens),
        "do_sample": temperature > 0,
        "streamer": streamer,
        "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
    }
    if temperature > 0:
        settings["temperature"] = float(temperature)
    failed: list[Exception] = []

    def generate() -> None:
        try:
            model.generate(**settings)
        except Exception as exc:  # said in the chat, rather than a reply that never comes
            failed.append(exc)
            streamer.end()

    Thread(target=generate, daemon=True).start()
    answer = ""
    for piece in streamer:
        answer += piece
        yield answer
    if failed:
        raise gr.Error(f"The model could not answer: {failed[0]}")


demo = gr.ChatInterface(
    fn=chat,
    additional_inputs=[
        gr.Slider(1, 1024, value=256, step=1, label="Max new tokens"),
        gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="Temperature"),
    ],
    examples=[[e] for e in EXAMPLES],
    description=f"Model: `{MODEL_ID}`",
    api_name="chat",
)

if __name__ == "__main__":
    demo.launch()
