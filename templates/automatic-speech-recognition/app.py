"""Automatic speech recognition: a transformers model transcribes the microphone or a file.

The model is the MODEL_ID variable when set (a Hub id or a local folder), else the first entry
of `models` in README.md; it runs on the CPU. Audio is made mono and
resampled to the model's rate here (no ffmpeg needed).
"""

import os
from pathlib import Path

import gradio as gr
import numpy as np
from huggingface_hub import metadata_load
from transformers import pipeline

MODEL_ID = (
    os.environ.get("MODEL_ID") or metadata_load(Path(__file__).with_name("README.md"))["models"][0]
)

recognizer = pipeline("automatic-speech-recognition", model=MODEL_ID, device="cpu")
RATE = recognizer.feature_extractor.sampling_rate


def transcribe(audio: tuple[int, np.ndarray] | None) -> str:
    """What was said."""
    if audio is None:
        raise gr.Error("Record or upload some audio first.")
    rate, samples = audio
    samples = samples.astype(np.float32)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if np.abs(samples).max(initial=0) > 1:  # integer PCM from the browser or a WAV file
        samples /= 32768.0
    if rate != RATE:
        times = np.arange(0, len(samples) / rate, 1 / RATE)
        samples = np.interp(times, np.arange(len(samples)) / rate, samples).astype(np.float32)
    return recognizer({"raw": samples, "sampling_rate": RATE})["text"].strip()


demo = gr.Interface(
    fn=transcribe,
    inputs=gr.Audio(label="Speech", sources=["microphone", "upload"], type="numpy"),
    outputs=gr.Textbox(label="Transcript"),
    description=f"Model: `{MODEL_ID}`",
    api_name="transcribe",
    flagging_mode="never",
)

if __name__ == "__main__":
    demo.launch()
