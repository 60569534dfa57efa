"""Gradio Blocks: a layout of rows, columns and tabs, events wired between components, and
per-session state."""

import gradio as gr


def word_stats(text: str) -> tuple[int, int, str]:
    words = text.split()
    longest = max(words, key=len) if words else ""
    return len(words), len(text), longest


def add_note(note: str, notes: list[str]) -> tuple[list[str], str, str]:
    notes = [*notes, note] if note.strip() else notes
    return notes, "\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1)), ""


with gr.Blocks(title="Blocks demo") as demo:
    gr.Markdown("## Text statistics and a notepad")
    with gr.Tab("Statistics"):
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox(label="Text", lines=6, placeholder="Type or paste text")
                count = gr.Button("Count", variant="primary")
            with gr.Column(scale=1):
                words = gr.Number(label="Words")
                characters = gr.Number(label="Characters")
                longest = gr.Textbox(label="Longest word")
        gr.Examples([["The quick brown fox jumps over the lazy dog"]], inputs=text)
        count.click(word_stats, text, [words, characters, longest], api_name="stats")
        text.submit(word_stats, text, [words, characters, longest])
    with gr.Tab("Notepad"):
        notes = gr.State([])
        note = gr.Textbox(label="Note", placeholder="Press Enter to add")
        listing = gr.Textbox(label="Notes of this session", lines=6, interactive=False)
        note.submit(add_note, [note, notes], [notes, listing, note], api_name="add_note")

if __name__ == "__main__":
    demo.launch()
