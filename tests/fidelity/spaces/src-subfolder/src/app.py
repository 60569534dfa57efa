import gradio as gr
from helpers import WORD


def check() -> str:
    return "src-subfolder ok " + WORD + " " + open("data/word.txt").read().strip()


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch()
