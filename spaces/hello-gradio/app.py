"""A Gradio Interface: a function, the components of its inputs and outputs, and examples."""

import gradio as gr


def greet(name: str, enthusiasm: int, shout: bool) -> str:
    greeting = f"Hello, {name or 'world'}" + "!" * enthusiasm
    return greeting.upper() if shout else greeting


demo = gr.Interface(
    fn=greet,
    inputs=[
        gr.Textbox(label="Name", placeholder="Ada"),
        gr.Slider(1, 5, value=1, step=1, label="Enthusiasm"),
        gr.Checkbox(label="Shout"),
    ],
    outputs=gr.Textbox(label="Greeting"),
    examples=[["Ada", 2, False], ["Grace", 5, True]],
    api_name="greet",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
