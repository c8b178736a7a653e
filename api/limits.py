"""Request-size limits enforced while the body streams in, before anything is parsed.

A Content-Length above the limit is refused at once; a chunked upload (no Content-Length) is
counted as it arrives and refused as soon as it passes the limit, so neither kind can make the
server buffer an unbounded body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, send_error


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(
            413,
            "payload_too_large",
            f"request body is larger than the limit of {limit} bytes",
        )


def too_large_batch(n: int, limit: int, field: str = "items") -> ApiError:
    return ApiError(
        413,
        "batch_too_large",
        f"{field} holds {n} entries; the limit is {limit} per request",
        field,
    )


def too_long_text(n: int, limit: int, field: str = "text") -> ApiError:
    return ApiError(
        422, "text_too_long", f"{field} has {n} characters; the limit is {limit}", field
    )


class BodySizeLimitMiddleware:
    """Pure ASGI middleware (no buffering) counting the bytes of every request body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(scope, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Only reached when the app did not turn it into a response itself.
            if not started:
                await _send_413(scope, send, limit)
            else:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(scope: Scope, send: Send, limit: int) -> None:
    message = f"request body is larger than the limit of {limit} bytes"
    await send_error(scope, send, 413, "payload_too_large", message, ((b"connection", b"close"),))
