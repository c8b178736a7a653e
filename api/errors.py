"""One error shape for every failure: `{"error": {"code", "message", "field"?, "request_id"?}}`.

Clients branch on `code`; `message` is for people. A traceback never leaves the process: the
catch-all answers 500 with a generic message and the request id to quote in a support call.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

from calmdesk.errors import InputError, UnsupportedLanguageError

log = logging.getLogger("calmdesk.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "service_unavailable",
}


class ApiError(StarletteHTTPException):
    """An error we raise on purpose; an HTTPException so FastAPI never rewraps it."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.field = field


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if field:
        body["field"] = field
    request_id = request_id_of(request)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_name(loc: tuple | list) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_message(error: dict) -> tuple[str, str]:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return "malformed_json", f"the request body is not valid JSON: {reason}"
    if error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",):
        return "missing_body", "the request needs a JSON body"
    field = _field_name(error.get("loc", ())) or "request"
    return "validation_error", f"{field}: {error.get('msg', 'invalid value')}"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    code, message = _validation_message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(request, 422, code, message, _field_name(first.get("loc", ())))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(
            request, exc.status_code, exc.code, exc.message, exc.field, headers=exc.headers
        )
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode at all (not UTF-8, truncated, or
        # nested so deep that the decoder ran out of recursion).
        message = "the request body is not valid UTF-8 JSON"
        if isinstance(exc.__cause__, RecursionError):
            message = "the request body is not valid JSON: lists or objects nested too deep"
        return error_response(request, 422, "malformed_json", message)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _on_input_error(request: Request, exc: InputError) -> JSONResponse:
    code = "unsupported_language" if isinstance(exc, UnsupportedLanguageError) else "invalid_input"
    return error_response(request, 422, code, str(exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"request_id": request_id_of(request), "path": request.url.path},
    )
    return error_response(
        request, 500, "internal_error", "internal server error; quote the request id to support"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(InputError, _on_input_error)
    app.add_exception_handler(Exception, _on_unexpected)


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """The usual JSON error body, sent from ASGI middleware (before FastAPI has a request)."""
    error: dict = {"code": code, "message": message}
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        error["request_id"] = request_id
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
