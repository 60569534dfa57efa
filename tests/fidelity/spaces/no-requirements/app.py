import gradio as gr


def check() -> str:
    return "no-requirements ok"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch()
