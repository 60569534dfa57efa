"""A real ASGI app (starlette on uvicorn) the proxy tests forward to.

Run as: python upstream_app.py PORT STATE_DIR
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

STATE = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")


async def echo(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
    data = {
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
        "query": request.url.query,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
        "body_len": len(body),
        "body_sha": hashlib.sha256(body).hexdigest(),
    }
    return JSONResponse(data, headers={"X-Upstream": "yes", "Keep-Alive": "timeout=5"})


async def sse(request: Request) -> Response:
    n = int(request.query_params.get("n", "3"))
    delay = float(request.query_params.get("delay", "0.5"))

    async def events():
        for i in range(n):
            yield f"data: event {i}\n\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(events(), media_type="text/event-stream")


async def forever(request: Request) -> Response:
    marker = STATE / f"disconnected-{request.query_params.get('id', 'x')}"

    async def events():
        try:
            i = 0
            while True:
                yield f"data: tick {i}\n\n".encode()
                i += 1
                await asyncio.sleep(0.05)
        finally:
            marker.write_text("yes")

    return StreamingResponse(events(), media_type="text/event-stream")


async def big(request: Request) -> Response:
    size = int(request.query_params.get("size", "1000000"))
    block = hashlib.sha256(b"spacerunner").digest() * 2048
    data = (block * (size // len(block) + 1))[:size]
    return Response(data, media_type="application/octet-stream")


async def status(request: Request) -> Response:
    return Response(b"", status_code=int(request.path_params["code"]))


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=(websocket.scope.get("subprotocols") or [None])[0])
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "bye":
                await websocket.close(code=1000)
                return
            if message.get("text") is not None:
                await websocket.send_text("echo: " + message["text"])
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        return


app = Starlette(
    routes=[
        Route("/sse", sse),
        Route("/forever", forever),
        Route("/big", big),
        Route("/status/{code:int}", status, methods=["GET", "POST"]),
        WebSocketRoute("/ws", ws_echo),
        Route(
            "/{path:path}",
            echo,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        ),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
