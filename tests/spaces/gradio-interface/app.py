import os

import gradio as gr


def greet(name: str) -> str:
    return f"Hello, {name}! (from {os.environ.get('SPACE_ID')})"


demo = gr.Interface(fn=greet, inputs="text", outputs="text", api_name="greet")

if __name__ == "__main__":
    demo.launch()
