from pathlib import Path

import gradio as gr

CACHE = Path("cache")
CACHE.mkdir(exist_ok=True)
(CACHE / "visits.txt").open("a").write("visit\n")
VISITS = str(len((CACHE / "visits.txt").read_text().splitlines()))


def check() -> str:
    return "writes-own-folder ok " + VISITS


demo = gr.Interface(fn=check, inputs=None, outputs="text", api_name="check")

if __name__ == "__main__":
    demo.launch()
