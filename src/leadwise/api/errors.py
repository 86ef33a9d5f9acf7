"""Errors to HTTP statuses, in one place. Bodies are ``{"error": code, "detail": sentence}``.

Every layer raises a kind of ``leadwise.errors.LeadwiseError``; the kind decides the status (``NotFound``
also for what the caller may not see), the subclass its ``code``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadwise.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LeadwiseError,
    NotFound,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUS_OF_KIND: dict[type[LeadwiseError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Unauthorized: 401,
    Forbidden: 403,
    Unavailable: 503,
}


def status_of(error: LeadwiseError) -> int:
    """The status of the first kind in the error's class hierarchy (a subclass may be of two kinds)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF_KIND:
            return STATUS_OF_KIND[cls]
    return 400


def problem(
    status: int, error: str, detail: object, headers: dict[str, str] | None = None, **links: object
) -> JSONResponse:
    """The error body; ``links`` name related objects (a duplicate lead's ``original``)."""
    content = {"error": error, "detail": detail} | {k: v for k, v in links.items() if v is not None}
    return JSONResponse(status_code=status, content=content, headers=headers)


def too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes (LEADWISE_MAX_BODY_BYTES)"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LeadwiseError)
    async def _leadwise(_: Request, exc: LeadwiseError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "1"} if status == 503 else None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        # An invalid flow lists every problem (each names its line and field), not only the first.
        problems = getattr(exc, "problems", None)
        detail = "; ".join(problems) if problems else str(exc)
        return problem(status, exc.code, detail, headers=headers, original=getattr(exc, "original", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(422, "invalid_request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return problem(409, "conflict", "the change conflicts with stored data (a concurrent update?)")

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return problem(
            503, "database_unavailable", "the database is busy or unreachable; retry", {"Retry-After": "1"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "an unexpected error happened; it has been logged")
