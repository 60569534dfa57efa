import gradio as gr


def check() -> str:
    return "no-main-guard ok"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

demo.launch()
