"""Marketing and sales-ops reports for managers: conversion, speed to lead and SLA, returns, attribution."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from leadwise.api.deps import DbDep, ManagerDep, ModelsDep, SessionDep, SettingsDep
from leadwise.api.schemas import (
    AttributionOut,
    ConversionOut,
    FairnessOut,
    ModelReportOut,
    Problem,
    Responses,
    ReturnsOut,
    SpeedOut,
    WhatIfIn,
    WhatIfJobOut,
)
from leadwise.errors import InvalidInput, NotFound
from leadwise.services import model_report, reports, stats, whatif

router = APIRouter(prefix="/v1/reports", tags=["reports"])
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}}


@router.get("/conversion", response_model=ConversionOut, responses=ERRORS)
def conversion(session: SessionDep, _: ManagerDep) -> ConversionOut:
    """Won / closed leads by first-touch channel, source, customer type, product series and rep."""
    return ConversionOut(**reports.conversion(session=session))


@router.get("/speed", response_model=SpeedOut, responses=ERRORS)
def speed(session: SessionDep, _: ManagerDep) -> SpeedOut:
    """Seconds from lead creation to assignment and to acceptance (median, p90) by rep and by hour of
    day; SLA adherence (accepted by the deadline, expired) by rep."""
    return SpeedOut(**reports.speed(session=session))


@router.get("/returns", response_model=ReturnsOut, responses=ERRORS)
def returns(session: SessionDep, settings: SettingsDep, _: ManagerDep) -> ReturnsOut:
    """Leads handed back to marketing, by reason and by rep."""
    return ReturnsOut(**reports.returns(session=session, reasons=settings.return_reasons))


@router.get("/attribution", response_model=AttributionOut, responses=ERRORS | {422: {"model": Problem}})
def attribution(
    session: SessionDep,
    _: ManagerDep,
    model: Annotated[
        str,
        Query(
            max_length=50,
            description="first_touch, last_touch, linear, u_shaped, w_shaped, time_decay, markov, "
            "markov_2, shapley",
        ),
    ] = "linear",
) -> AttributionOut:
    """Credit per channel for the won deals, from the stored touches and outcomes: credited conversions,
    the conversion rate of the journeys touching the channel, and cost per won deal."""
    try:
        return AttributionOut(**reports.attribution(session=session, model=model))
    except ValueError as exc:
        raise InvalidInput(f"model: {exc}") from exc


@router.get("/model", response_model=ModelReportOut, responses=ERRORS)
def model(db: DbDep, models: ModelsDep, settings: SettingsDep, _: ManagerDep) -> ModelReportOut:
    """The served model against what happened: calibration of the served P(win) against the recorded
    outcomes per model version (reliability curve, ECE, next to the validation ECE), drift of the served
    leads' features against the training deals (PSI), and the warnings ``/readyz`` shows."""
    return ModelReportOut.model_validate(model_report.model_report(db=db, models=models, settings=settings))


@router.get("/fairness", response_model=FairnessOut, responses=ERRORS | {422: {"model": Problem}})
def fairness(
    session: SessionDep,
    _: ManagerDep,
    period: Annotated[Literal["day", "week"], Query(description="UTC days or ISO weeks")] = "day",
    periods: Annotated[int, Query(ge=1, le=104, description="how many periods, the current one last")] = 14,
) -> FairnessOut:
    """Each rep's share of the leads and of the expected value offered to reps, per period, against its
    fair share and the active flow's fairness bounds, with the Gini of each; and over the whole range."""
    return FairnessOut(**stats.fairness_over_time(session=session, period=period, periods=periods))


@router.post("/whatif", response_model=WhatIfJobOut, status_code=202, responses=ERRORS | {422: {"model": Problem}, 503: {"model": Problem}})
def start_whatif(body: WhatIfIn, request: Request, db: DbDep, models: ModelsDep, _: ManagerDep) -> WhatIfJobOut:
    """Compare routing policies in the background (seconds): on synthetic worlds with known truth, or on
    the service's own log by off-policy evaluation. Poll ``GET /v1/reports/whatif/{id}`` for its progress
    and, once ``done``, each policy's estimate with its 95 % interval."""
    fields = body.model_dump(exclude={"source", "policies"})
    job = whatif.submit(
        jobs=request.app.state.whatif, db=db, models=models, source=body.source, policies=tuple(body.policies), **fields
    )
    return WhatIfJobOut.model_validate(job)


@router.get("/whatif/{job_id}", response_model=WhatIfJobOut, responses=ERRORS | {404: {"model": Problem}})
def whatif_job(job_id: str, request: Request, _: ManagerDep) -> WhatIfJobOut:
    """A what-if job: queued, running (with its progress), done (with the result) or failed (why)."""
    job = request.app.state.whatif.get(job_id[:100])
    if job is None:
        raise NotFound(f"job_id: no what-if job {job_id[:100]!r} (jobs are kept an hour after they finish)")
    return WhatIfJobOut.model_validate(job)
