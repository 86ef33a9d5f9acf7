"""A request body larger than ``Settings.max_body_bytes`` gets a 413 with the usual error body, and is
never read whole: a declared ``Content-Length`` over the limit is answered before any of the body is
read, and a body without one (chunked) is counted as it streams in and refused at the first chunk over.

FastAPI 0.165's own ``max_body_size`` counts the same way, but for a declared length over the limit it
replaces whatever the app answers with a plain-text "Content Too Large" (from outside every user
middleware), so the API could not answer its usual JSON error body; this plain ASGI middleware does both.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadwise.api.errors import problem, too_large


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # Connection: close, so the server does not wait to drain a body nobody will read.
            response = problem(413, "payload_too_large", too_large(self.max_bytes), {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the endpoint's read of the body: FastAPI passes its HTTPException on
                    # to the API's handler, which answers the usual error body (api.errors).
                    raise HTTPException(413, too_large(self.max_bytes), headers={"Connection": "close"})
            return message

        await self.app(scope, counted, send)
