import gradio as gr


def check() -> str:
    return "hardcoded-7860-b ok"


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", server_port=7860)
