"""Team figures for managers."""

from __future__ import annotations

from fastapi import APIRouter

from leadwise.api.deps import ManagerDep, ModelsDep, SessionDep
from leadwise.api.schemas import Problem, StatsOut
from leadwise.services.stats import team_stats

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get("", response_model=StatsOut, responses={401: {"model": Problem}, 403: {"model": Problem}})
def stats(session: SessionDep, models: ModelsDep, _: ManagerDep) -> StatsOut:
    """Per rep: open load, leads and expected value received, wins, losses; queue sizes; fairness (Gini)."""
    return StatsOut(**team_stats(session=session), model_version=models.version)
