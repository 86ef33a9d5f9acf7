"""Routing a lead, or a backlog of leads."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response, status

from leadwise.api.deps import DbDep, ManagerDep, ModelsDep, RouterDep, SettingsDep
from leadwise.api.routers._convert import domain_lead, route_out
from leadwise.api.schemas import BatchIn, BatchOut, LeadIn, Problem, Responses, RouteOut
from leadwise.services import decisions as service

router = APIRouter(prefix="/v1/route", tags=["routing"])
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}, 409: {"model": Problem}, 503: {"model": Problem}}


@router.post(
    "",
    response_model=RouteOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS | {200: {"model": RouteOut, "description": "the lead was routed before: same decision"}},
)
async def route_lead(request: Request, lead: LeadIn, _: RouterDep) -> Response:
    """Route one lead to a rep or a queue. Idempotent on ``lead_id``: 201 the first time, then 200 with
    the same decision."""
    # The worker's routing thread routes this lead with the others waiting (``services.route_queue``).
    routed = await asyncio.wrap_future(request.app.state.router.submit(domain_lead(lead)))
    # Serialised once, by pydantic-core, instead of validated again and re-encoded by FastAPI: this
    # answer carries the whole explanation and is the busiest one.
    return Response(
        content=route_out(routed).model_dump_json(),
        status_code=status.HTTP_201_CREATED if routed.created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.post("/batch", response_model=BatchOut, responses=ERRORS)
def route_batch(
    body: BatchIn, db: DbDep, settings: SettingsDep, models: ModelsDep, _: ManagerDep
) -> BatchOut:
    """Route a backlog together with the exact assignment LP (capacities, fairness bounds, expected value);
    the flow's conditions still send leads to queues, and leads the LP cannot place go through the flow
    one by one. Leads routed before keep their decision."""
    routed = service.route_batch(
        db=db, settings=settings, models=models, leads=[domain_lead(lead) for lead in body.leads]
    )
    data = [route_out(r) for r in routed]
    return BatchOut(data=data, count=len(data))
