"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers call them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from leadwise.api.deps import DbDep, ModelsDep
from leadwise.api.metrics import render
from leadwise.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or schema not migrated"}})
def readyz(db: DbDep, models: ModelsDep) -> Any:
    """Ready when the database answers at the current schema; says whether a model is served or the
    service runs rules-only (still ready: routing never depends on the model)."""
    body: dict[str, Any] = {"database": db.dialect, **models.status()}
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:
        body |= {"status": "unavailable", "detail": f"database: {type(exc).__name__}"}
        return JSONResponse(status_code=503, content=body)
    body["schema_revision"] = revision
    if revision != head_revision():
        body |= {"status": "unavailable", "detail": f"schema at {revision}, expected {head_revision()}"}
        return JSONResponse(status_code=503, content=body)
    body["status"] = "ready"
    return body


@router.get("/metrics", response_class=Response)
def metrics(db: DbDep, models: ModelsDep) -> Response:
    payload, content_type = render(db, models)
    return Response(content=payload, media_type=content_type)
