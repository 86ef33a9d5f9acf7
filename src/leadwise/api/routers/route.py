"""Routing a lead, or a backlog of leads."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from leadwise.api.deps import DbDep, ManagerDep, ModelsDep, RouterDep, SettingsDep
from leadwise.api.routers._convert import route_out
from leadwise.api.schemas import BatchIn, BatchOut, LeadIn, Problem, RouteOut
from leadwise.services import routing as service

router = APIRouter(prefix="/v1/route", tags=["routing"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 409: {"model": Problem}, 503: {"model": Problem}}


@router.post(
    "",
    response_model=RouteOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS | {200: {"model": RouteOut, "description": "the lead was routed before: same decision"}},
)
def route_lead(
    lead: LeadIn, response: Response, db: DbDep, settings: SettingsDep, models: ModelsDep, _: RouterDep
) -> RouteOut:
    """Route one lead to a rep or a queue. Idempotent on ``lead_id``: 201 the first time, then 200 with
    the same decision."""
    routed = service.route_lead(db=db, settings=settings, models=models, lead=lead.model_dump())
    if not routed.created:
        response.status_code = status.HTTP_200_OK
    return route_out(routed)


@router.post("/batch", response_model=BatchOut, responses=ERRORS)
def route_batch(
    body: BatchIn, db: DbDep, settings: SettingsDep, models: ModelsDep, _: ManagerDep
) -> BatchOut:
    """Route a backlog together with the batch optimiser; leads routed before keep their decision."""
    routed = service.route_batch(
        db=db, settings=settings, models=models, leads=[lead.model_dump() for lead in body.leads]
    )
    data = [route_out(r) for r in routed]
    return BatchOut(data=data, count=len(data))
