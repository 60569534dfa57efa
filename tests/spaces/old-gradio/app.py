import gradio as gr


def remember(text: str, seen: list) -> tuple:
    seen = [*seen, text]
    return seen, {"count": len(seen), "version": gr.__version__}, [[text, f"seen {len(seen)}"]]


with gr.Blocks() as demo:
    seen = gr.State([])
    text = gr.Textbox()
    facts = gr.JSON()
    chat = gr.Chatbot()
    text.submit(remember, [text, seen], [seen, facts, chat], api_name="remember")

demo.launch()
