"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers call them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from leadwise.api.deps import DbDep, ModelsDep, PricesDep
from leadwise.api.metrics import render
from leadwise.services.engine_bridge import FLOW_NAME
from leadwise.store.migrate import current_revision, head_revision
from leadwise.store.repositories import active_flow

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or schema not migrated"}})
def readyz(db: DbDep, models: ModelsDep, prices: PricesDep) -> Any:
    """Ready when the database answers at the current schema; says whether a model is served or the
    service runs rules-only (still ready: routing never depends on the model), the leadwise version
    serving it, the routing flow version in use and this worker's capacity prices."""
    body: dict[str, Any] = {"database": db.dialect, **models.status()}
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:
        body |= {"status": "unavailable", "detail": f"database: {type(exc).__name__}"}
        return JSONResponse(status_code=503, content=body)
    body["schema_revision"] = revision
    with db.read_session() as session:
        flow = active_flow(session=session, name=FLOW_NAME)
    body["flow"] = {"name": FLOW_NAME, "version": flow.version if flow is not None else None}
    body["capacity_prices"] = prices.status()
    if revision != head_revision():
        body |= {"status": "unavailable", "detail": f"schema at {revision}, expected {head_revision()}"}
        return JSONResponse(status_code=503, content=body)
    body["status"] = "ready"
    return body


@router.get("/metrics", response_class=Response)
def metrics(db: DbDep, models: ModelsDep) -> Response:
    payload, content_type = render(db, models)
    return Response(content=payload, media_type=content_type)
