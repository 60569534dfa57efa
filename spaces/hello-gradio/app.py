import gradio as gr


def greet(name: str, intensity: int) -> str:
    return "Hello, " + (name or "world") + "!" * int(intensity)


demo = gr.Interface(
    fn=greet,
    inputs=[gr.Textbox(label="Name"), gr.Slider(1, 5, value=1, step=1, label="Intensity")],
    outputs=gr.Textbox(label="Greeting"),
    title="Hello Gradio",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
