"""The one place the service calls the routing engine (``leadwise.routing``), pure code."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

from leadwise.routing.domain import (
    NO_SCORES,
    Decision,
    Explanation,
    Lead,
    Outcome,
    Rep,
    RepLoad,
    Scores,
)
from leadwise.routing.eligibility import screen
from leadwise.routing.state import RoutingState
from leadwise.routing.strategies import StrategyContext, get_strategy
from leadwise.store.models import RoutingFlowRow

DEFAULT_WINDOW = timedelta(days=7)


def fairness_window(flow: RoutingFlowRow | None) -> timedelta:
    days = (flow.definition or {}).get("fairness_window_days") if flow is not None else None
    return timedelta(days=float(days)) if days else DEFAULT_WINDOW


def decide(
    *,
    lead: Lead,
    reps: Sequence[Rep],
    loads: Mapping[str, RepLoad],
    scores: Scores | None,
    state: RoutingState,
    flow: RoutingFlowRow | None,
    now: datetime,
    exclude: Collection[str] = (),
) -> Decision:
    definition = (flow.definition if flow is not None else None) or {}
    strategy_name = str(definition.get("strategy", "best_fit"))
    pool = str(definition.get("pool", "default"))
    scores = scores or NO_SCORES
    eligible, excluded = screen(reps, loads, now, exclude=exclude)
    ctx = StrategyContext(
        lead=lead,
        pool=pool,
        pool_reps=reps,
        eligible=eligible,
        loads=loads,
        scores=scores,
        state=state,
        now=now,
    )
    choice = get_strategy(strategy_name)(ctx)
    explanation = Explanation(
        step="default",
        step_index=0,
        pool=pool,
        strategy=choice.strategy or strategy_name,
        eligible=choice.ranked,
        excluded=[*excluded, *choice.excluded],
        runner_up=choice.ranked[1].rep_id if len(choice.ranked) > 1 else None,
        margin=choice.ranked[0].score - choice.ranked[1].score if len(choice.ranked) > 1 else None,
        model_version=scores.model_version,
        lead_score=scores.lead_score,
        notes=choice.notes,
    )
    assigned = choice.rep_id is not None
    return Decision(
        lead_id=lead.lead_id,
        outcome=Outcome.assigned if assigned else Outcome.claim_pool,
        rep_id=choice.rep_id,
        decided_at=now,
        strategy=choice.strategy or strategy_name,
        explanation=explanation,
    )


def decide_batch(
    *,
    leads: Sequence[Lead],
    reps: Sequence[Rep],
    loads: Mapping[str, RepLoad],
    scores: Sequence[Scores | None],
    state: RoutingState,
    flow: RoutingFlowRow | None,
    now: datetime,
) -> list[Decision]:
    working = {k: RepLoad(**{f: getattr(v, f) for f in v.__slots__}) for k, v in loads.items()}
    decisions = []
    for lead, lead_scores in zip(leads, scores, strict=True):
        decision = decide(
            lead=lead, reps=reps, loads=working, scores=lead_scores, state=state, flow=flow, now=now
        )
        if decision.rep_id is not None:
            working.setdefault(decision.rep_id, RepLoad()).record(now)
        decisions.append(decision)
    return decisions
