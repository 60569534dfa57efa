import gradio as gr
import six


def check() -> str:
    return "utf16-requirements ok " + six.__version__


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch()
