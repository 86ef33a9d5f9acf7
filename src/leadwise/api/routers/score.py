"""Scoring: a lead's P(win), expected value, and each active rep's P(win) and expected value."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from leadwise.api.deps import ModelsDep, ScorerDep, SessionDep
from leadwise.api.schemas import LeadIn, Problem, RepScore, ScoreOut
from leadwise.services.scoring import score_for_api
from leadwise.store import repositories as repo

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
    session: SessionDep,
    models: ModelsDep,
    _: ScorerDep,
    top: Annotated[int | None, Query(ge=1, le=1000, description="only the best reps")] = None,
) -> ScoreOut:
    """503 in rules-only mode (no model served)."""
    reps = repo.list_reps(session=session, active_only=True)
    figures = score_for_api(models=models, lead=lead.model_dump(), rep_names=[r.name for r in reps])
    by_name = dict(zip(figures.rep_names, figures.p_win, strict=True))
    rep_scores = sorted(
        (
            RepScore(
                rep_id=r.id,
                name=r.name,
                p_win=float(by_name[r.name]),
                expected_value=float(by_name[r.name]) * figures.deal_value,
            )
            for r in reps
            if r.name in by_name
        ),
        key=lambda s: -s.expected_value,
    )
    return ScoreOut(
        lead_id=lead.lead_id,
        score=figures.score,
        deal_value=figures.deal_value,
        expected_value=figures.score * figures.deal_value,
        model_version=figures.model_version,
        reps=rep_scores[:top] if top else rep_scores,
    )
