"""Marketing and sales-ops reports for managers: conversion, speed to lead and SLA, returns, attribution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from leadwise.api.deps import DbDep, ManagerDep, ModelsDep, SessionDep, SettingsDep
from leadwise.api.schemas import (
    AttributionOut,
    ConversionOut,
    ModelReportOut,
    Problem,
    Responses,
    ReturnsOut,
    SpeedOut,
)
from leadwise.errors import InvalidInput
from leadwise.services import model_report, reports

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
