"""A tiny app for access tests: every path answers the request headers it got, and /ws (a
WebSocket) sends them as its first message."""

import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def headers(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "headers": dict(request.headers)})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"headers": dict(websocket.headers)})
    await websocket.close()


app = Starlette(
    routes=[
        WebSocketRoute("/ws", socket),
        Route("/{path:path}", headers, methods=["GET", "POST"]),
    ]
)
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["GRADIO_SERVER_PORT"]), log_level="warning")
