import gradio as gr
import numpy as np


def check():
    total = 0
    for step in range(3):
        total += int(np.arange(step + 1).sum())
        yield f"old-gradio-queue ok {gr.__version__} step {step}"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")
demo.queue().launch()
