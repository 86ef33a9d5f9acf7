"""A backlog routed together: the flow's conditions pick each lead's step, the exact assignment LP
(``optimiser.assign_batch``) places the leads to assign under capacities (every capacity window of each
rep, and the caps of the steps' pools) and the flow's fairness bounds, and what it cannot place goes
through the flow one by one (fall-through, manager queue), on loads that already count the batch."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime

import numpy as np

from leadwise.routing import lifecycle
from leadwise.routing.clock import Clock
from leadwise.routing.domain import (
    CandidateScore,
    Decision,
    Explanation,
    Lead,
    Outcome,
    Rep,
    RepId,
    RepLoad,
    Scores,
)
from leadwise.routing.eligibility import screen
from leadwise.routing.engine import route_lead
from leadwise.routing.flows import Flow, RepFilters, Step
from leadwise.routing.optimiser import GroupCaps, OptimisationFailed, assign_batch
from leadwise.routing.state import RoutingState
from leadwise.routing.strategies import prefers_worth

TOP_CANDIDATES = 10  # candidates kept in a batch decision's explanation


def _room(rep: Rep, load: RepLoad, backlog: int) -> int:
    """How many more leads ``rep`` can take now: the tightest of its windows (``backlog`` when unlimited).
    The batch is placed at one instant, so every window is a plain count of seats left."""
    room = load.room(rep.capacity)
    return backlog if room is None else min(room, backlog)


def _pool_caps(
    flow: Flow, steps: Sequence[Step | None], to_place: Sequence[int], pool_loads: Mapping[str, RepLoad]
) -> GroupCaps | None:
    """The LP's group constraints: the leads of each capped pool, at most its room."""
    pools = [step.pool if step is not None else None for step in (steps[i] for i in to_place)]
    capped = sorted({p for p in pools if p is not None and p in flow.pools and flow.pools[p].capacity_windows})
    if not capped:
        return None
    index = {pool: g for g, pool in enumerate(capped)}
    group = np.array([index.get(p, -1) if p is not None else -1 for p in pools], dtype=np.int64)
    rooms = [pool_loads.get(pool, RepLoad()).room(flow.pools[pool].capacity) for pool in capped]
    return GroupCaps(group, np.array([len(to_place) if r is None else r for r in rooms], dtype=float))


def _matched_step(flow: Flow, lead: Lead, scores: Scores, reps: Sequence[Rep], now: datetime) -> int | None:
    return next(
        (k for k, step in enumerate(flow.steps) if flow.unmet(step.when, lead, now, scores=scores, reps=reps) is None),
        None,
    )


def batch_decisions(
    leads: Sequence[Lead],
    scores: Sequence[Scores],
    *,
    reps: Sequence[Rep],
    loads: MutableMapping[RepId, RepLoad],
    flow: Flow,
    state: RoutingState,
    clock: Clock,
    pool_loads: MutableMapping[str, RepLoad] | None = None,
) -> list[Decision]:
    """The backlog's decisions, in the leads' order. ``loads`` (and ``pool_loads``, of the pools with
    capacity windows) are counted as leads are placed."""
    pool_loads = pool_loads if pool_loads is not None else {}
    for name, pool in flow.pools.items():
        if pool.capacity_windows:
            pool_loads.setdefault(name, RepLoad())  # counted from empty: what this batch places
    now = clock.now()
    steps: list[Step | None] = []
    step_indexes: list[int | None] = []
    for lead, lead_scores in zip(leads, scores, strict=True):
        # A lead the flow closes is decided by ``route_lead`` below (closed, not placed by the LP).
        closes = lifecycle.closing_rule(lead, lead_scores, reps, flow, now) is not None
        k = None if closes else _matched_step(flow, lead, lead_scores, reps, now)
        step_indexes.append(k)
        steps.append(flow.steps[k] if k is not None else None)
    to_place = [i for i, step in enumerate(steps) if step is not None and step.action == "assign"]
    decisions: dict[int, Decision] = {}
    if to_place and reps:
        decisions = _placed_by_lp(
            leads, scores, steps, step_indexes, to_place, reps, loads, flow, now, pool_loads
        )
    out: list[Decision] = []
    for i, lead in enumerate(leads):
        decision = decisions.get(i)
        if decision is not None:
            decision = lifecycle.with_due_date(decision, lead, flow)
        else:
            decision = route_lead(
                lead=lead, reps=reps, loads=loads, flow=flow, scores=scores[i], state=state, clock=clock,
                pool_loads=pool_loads,
            )
            if decision.rep_id is not None:
                record(loads, pool_loads, decision, now)
        out.append(decision)
    return out


def record(
    loads: MutableMapping[RepId, RepLoad],
    pool_loads: MutableMapping[str, RepLoad],
    decision: Decision,
    at: datetime,
    value: float = 0.0,
) -> None:
    """Count an assigned decision into its rep's load and its pool's (the pool's when it is capped)."""
    if decision.rep_id is None:
        return
    loads[decision.rep_id].record(at, value)
    pool = decision.explanation.pool
    if pool is not None and pool in pool_loads:
        pool_loads[pool].record(at, value)


def _placed_by_lp(
    leads: Sequence[Lead],
    scores: Sequence[Scores],
    steps: Sequence[Step | None],
    step_indexes: Sequence[int | None],
    to_place: Sequence[int],
    reps: Sequence[Rep],
    loads: MutableMapping[RepId, RepLoad],
    flow: Flow,
    now: datetime,
    pool_loads: MutableMapping[str, RepLoad],
) -> dict[int, Decision]:
    eligible, _ = screen(reps, loads, now, require_hours=flow.require_availability)
    ok = {r.id for r in eligible}
    capacity = np.array(
        [_room(rep, loads[rep.id], len(to_place)) if rep.id in ok else 0 for rep in reps], dtype=float
    )
    busiest = max((loads[r.id].open_leads for r in reps), default=0) + 1
    values = np.full((len(to_place), len(reps)), -1.0)  # -1: outside the step's pool, never taken
    bonuses = np.zeros_like(values)
    for row, i in enumerate(to_place):
        step = steps[i]
        assert step is not None and step.pool is not None  # an assign step always names its pool
        pool = {r.id for r in flow.members(step.pool, reps)}
        ev = (
            scores[i].expected_values([r.id for r in reps], flow.objective)
            if scores[i].has_rep_scores
            else np.zeros(len(reps))
        )
        # A rep's own filter keeps it out of the lead's row; its preference adds the flow's bonus.
        filters = RepFilters(flow, leads[i], now, scores=scores[i], reps=reps)
        members = [r for r in reps if r.id in pool and filters.refusal(r) is None]
        preferred = filters.preferring(members)
        bonus = prefers_worth(flow.prefers_bonus, flow.objective, scores[i])
        taking = {r.id for r in members}
        for j, rep in enumerate(reps):
            if rep.id in taking:
                # 1 + value: placing a lead always beats leaving it; a tiny load term spreads ties.
                values[row, j] = 1.0 + np.nan_to_num(ev[j]) - 1e-6 * loads[rep.id].open_leads / busiest
                bonuses[row, j] = bonus if rep.id in preferred else 0.0
                values[row, j] += bonuses[row, j]
    bounds = flow.fairness if flow.fairness is not None and flow.fairness.active else None
    weights = [r.weight for r in reps]
    note = ""
    groups = _pool_caps(flow, steps, to_place, pool_loads)
    try:
        result = assign_batch(values, capacity, bounds=bounds, weights=weights, assign_all=False, groups=groups)
    except (OptimisationFailed, ValueError) as exc:
        result = assign_batch(values, capacity, weights=weights, assign_all=False, groups=groups)
        note = f"; fairness bounds dropped for this batch ({exc})"
    summary = (
        f"batch of {len(leads)} lead(s), {len(to_place)} for the LP: objective {result.objective:.4f}, "
        f"LP bound {result.lp_bound:.4f} (gap {result.gap:.3%}){note}"
    )
    decisions: dict[int, Decision] = {}
    for row, i in enumerate(to_place):
        j = int(result.assignment[row])
        if j < 0 or values[row, j] <= 0:
            continue
        step, step_index = steps[i], step_indexes[i]
        assert step is not None and step_index is not None
        order = [k for k in np.argsort(-values[row], kind="stable")[:TOP_CANDIDATES] if values[row, k] > 0]
        candidate_ids = [reps[k].id for k in order]
        p = scores[i].expected_values(candidate_ids, "wins") if scores[i].has_rep_scores else None
        ranked = [
            CandidateScore(
                rep_id=rid,
                score=float(values[row, k]),
                p_win=None if p is None or np.isnan(p[n]) else float(p[n]),
                price=float(result.prices[k]),
                bonus=float(bonuses[row, k]) or None,
                open_leads=loads[rid].open_leads,
            )
            for n, (k, rid) in enumerate(zip(order, candidate_ids, strict=True))
        ]
        rep_id = reps[j].id
        decisions[i] = Decision(
            lead_id=leads[i].lead_id,
            outcome=Outcome.assigned,
            rep_id=rep_id,
            decided_at=now,
            strategy="batch_lp",
            propensity=1.0,  # the LP is deterministic; a flow's [exploration] applies to online routing only
            explanation=Explanation(
                step=step.name or f"step {step_index + 1}",
                step_index=step_index,
                pool=step.pool,
                strategy="batch_lp",
                objective=flow.objective,
                eligible=ranked,
                model_version=scores[i].model_version,
                lead_score=scores[i].lead_score,
                notes=[summary],
            ),
        )
        value = (
            float(np.nan_to_num(scores[i].expected_values([rep_id], "wins")[0]))
            if scores[i].has_rep_scores
            else 0.0
        )
        record(loads, pool_loads, decisions[i], now, value)
    return decisions
