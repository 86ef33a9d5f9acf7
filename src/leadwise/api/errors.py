"""Exceptions to HTTP statuses, in one place. Bodies are ``{"error": code, "detail": sentence}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadwise.services import errors as svc

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


def _routing_statuses() -> dict[type[Exception], tuple[int, str]]:
    # The routing domain's errors, imported lazily so the API works while routing/ is incomplete.
    try:
        from leadwise.routing import domain as d
    except ImportError:  # pragma: no cover
        return {}
    return {
        d.LeadNotFound: (404, "lead_not_found"),
        d.RepNotFound: (404, "rep_not_found"),
        d.AlreadyClaimed: (409, "already_claimed"),
        d.CapacityExhausted: (409, "capacity_exhausted"),
        d.InactiveRep: (409, "inactive_rep"),
        d.NoEligibleRep: (409, "no_eligible_rep"),
        d.InvalidFlow: (422, "invalid_flow"),
    }


_SERVICE_STATUSES: dict[type[Exception], int] = {
    svc.NotFound: 404,
    svc.NotAllowed: 403,
    svc.Conflict: 409,
    svc.InvalidInput: 422,
    svc.ModelNotReady: 503,
    svc.ModelFailed: 503,
    svc.Unavailable: 503,
}


def problem(status: int, error: str, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    routing = _routing_statuses()

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return problem(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, "forbidden", str(exc))

    @app.exception_handler(svc.ServiceError)
    async def _service(_: Request, exc: svc.ServiceError) -> JSONResponse:
        status = next((s for cls, s in _SERVICE_STATUSES.items() if isinstance(exc, cls)), 400)
        headers = {"Retry-After": "1"} if status == 503 else None
        return problem(status, exc.code, str(exc), headers=headers)

    for cls, (status, code) in routing.items():

        async def _routing(
            _: Request, exc: Exception, status: int = status, code: str = code
        ) -> JSONResponse:
            # An invalid flow lists every problem (each names its line and field), not only the first.
            problems = getattr(exc, "problems", None)
            return problem(status, code, "; ".join(problems) if problems else str(exc))

        app.add_exception_handler(cls, _routing)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(422, "invalid_request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
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
