"""A chat app: gr.ChatInterface with a reply streamed word by word.

`respond` is where a model goes: it gets the new message and the history (a list of
{"role": ..., "content": ...} messages, the format chat models take) and yields the reply as it
grows. The stand-in below answers from the conversation itself, so the app runs without a model.
"""

import time
from collections.abc import Iterator

import gradio as gr


def respond(message: str, history: list[dict], style: str) -> Iterator[str]:
    asked = sum(1 for turn in history if turn["role"] == "user") + 1
    reply = f"You said {message!r}. That is message {asked} of this chat."
    if style == "Shouting":
        reply = reply.upper()
    words = reply.split(" ")
    for end in range(1, len(words) + 1):
        time.sleep(0.02)  # a model would produce tokens here
        yield " ".join(words[:end])


demo = gr.ChatInterface(
    respond,
    additional_inputs=[gr.Radio(["Calm", "Shouting"], value="Calm", label="Style")],
    examples=[["Hello!", "Calm"], ["What can you do?", "Shouting"]],
    title="Chat",
    api_name="chat",
)

if __name__ == "__main__":
    demo.launch()
