import gradio as gr


def hello(profile: gr.OAuthProfile | None) -> str:
    if profile is None:
        return "Not signed in"
    return f"Hello {profile.name} ({profile.username})"


with gr.Blocks() as demo:
    gr.LoginButton()
    greeting = gr.Markdown(elem_id="greeting")
    demo.load(hello, inputs=None, outputs=greeting)

demo.launch()
