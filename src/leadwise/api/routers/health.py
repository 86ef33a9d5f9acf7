"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers call them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from leadwise import timekeeping
from leadwise.api.deps import DbDep, ModelsDep, MonitorDep, PricesDep, SettingsDep
from leadwise.api.metrics import render
from leadwise.services import health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or schema not migrated"}})
def readyz(db: DbDep, models: ModelsDep, prices: PricesDep, monitor: MonitorDep, settings: SettingsDep) -> Any:
    """Ready when the database answers at the current schema; says whether a model is served or the
    service runs rules-only (still ready: routing never depends on the model), the leadwise version
    serving it, the routing flow version in use, this worker's capacity prices and the model monitoring's
    warnings (calibration, drift: ``GET /v1/reports/model``; they never make the service unready)."""
    body: dict[str, Any] = {"database": db.dialect, **models.status()}
    if isinstance(timekeeping.current(), timekeeping.AcceleratedClock):  # never mistaken for production
        body["clock"] = timekeeping.current().describe()
    readiness = health.readiness(db)
    body |= readiness.body
    if "schema_revision" in body:  # the database answered
        body["capacity_prices"] = prices.status()
        if readiness.ready:
            body["warnings"] = monitor.warnings(db=db, models=models, settings=settings)
    if not readiness.ready:
        return JSONResponse(status_code=503, content=body)
    body["status"] = "ready"
    return body


@router.get("/metrics", response_class=Response)
def metrics(db: DbDep, models: ModelsDep) -> Response:
    payload, content_type = render(db, models)
    return Response(content=payload, media_type=content_type)
