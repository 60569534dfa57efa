import sys

import gradio as gr


def check() -> str:
    return f"python-float ok {sys.version_info[0]}.{sys.version_info[1]}"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch()
