import os

import gradio as gr


def check() -> str:
    return "reads-port ok"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch(server_port=int(os.environ["PORT"]))
