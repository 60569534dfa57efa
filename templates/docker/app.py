"""A FastAPI app for a Docker Space: a page, a JSON API and a health check."""

import os

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

app = FastAPI(title=os.environ.get("SPACE_TITLE", "Docker Space"))


class Text(BaseModel):
    text: str


class Stats(BaseModel):
    words: int
    characters: int


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    title = app.title
    return (
        f"<!doctype html><title>{title}</title><h1>{title}</h1>"
        '<p>POST JSON like {"text": "..."} to <code>/api/stats</code>; '
        'the API is described at <a href="docs">docs</a>.</p>'
    )


@app.post("/api/stats")
def stats(body: Text) -> Stats:
    return Stats(words=len(body.text.split()), characters=len(body.text))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
