import time

import gradio as gr


def add(a: float, b: float) -> float:
    return a + b


def count(n: float):
    for i in range(int(n)):
        time.sleep(0.05)
        yield f"step {i + 1} of {int(n)}"


with gr.Blocks(title="Blocks") as demo:
    with gr.Row():
        a = gr.Number(label="a")
        b = gr.Number(label="b")
    total = gr.Number(label="a + b")
    gr.Button("Add").click(add, [a, b], total, api_name="add")
    n = gr.Number(value=3, label="steps")
    progress = gr.Textbox(label="progress")
    gr.Button("Count").click(count, n, progress, api_name="count")

if __name__ == "__main__":
    demo.launch()
