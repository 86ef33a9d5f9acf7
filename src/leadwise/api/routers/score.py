"""Scoring: a lead's P(win), expected value, and each active rep's P(win) and expected value."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from leadwise.api.deps import DbDep, ModelsDep, ScorerDep
from leadwise.api.routers._convert import domain_lead
from leadwise.api.schemas import LeadIn, Problem, RepScore, ScoreOut
from leadwise.services.context import active_reps
from leadwise.services.scoring import score_for_api

router = APIRouter(prefix="/v1/score", tags=["scoring"])


@router.post(
    "",
    response_model=ScoreOut,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        422: {"model": Problem},
        503: {"model": Problem},
    },
)
def score(
    lead: LeadIn,
    db: DbDep,
    models: ModelsDep,
    _: ScorerDep,
    top: Annotated[int | None, Query(ge=1, le=1000, description="only the best reps")] = None,
) -> Response:
    """503 in rules-only mode (no model served)."""
    reps = active_reps(db)
    figures = score_for_api(models=models, lead=domain_lead(lead), rep_names=[r.name for r in reps])
    by_name = dict(zip(figures.rep_names, figures.p_win, strict=True))
    rep_scores = sorted(
        (
            RepScore(
                rep_id=int(rep_id),
                name=name,
                p_win=float(by_name[name]),
                expected_value=float(by_name[name]) * figures.deal_value,
            )
            for rep_id, name in reps
            if name in by_name
        ),
        key=lambda s: -s.expected_value,
    )
    out = ScoreOut(
        lead_id=lead.lead_id,
        score=figures.score,
        score_percentile=figures.percentile,
        deal_value=figures.deal_value,
        expected_value=figures.score * figures.deal_value,
        model_version=figures.model_version,
        reps=rep_scores[:top] if top else rep_scores,
    )
    return Response(content=out.model_dump_json(), media_type="application/json")
