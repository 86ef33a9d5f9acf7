"""The routing entry point: one lead in, one explained ``Decision`` out.

``route_lead`` is what the HTTP service (and the CLI) call. It is pure: the caller supplies the reps,
their current loads, the flow, the model scores, a ``RoutingState`` for pointers and a ``Clock``; it
persists the returned decision and updates its loads itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from leadwise.routing import lifecycle
from leadwise.routing.clock import Clock
from leadwise.routing.domain import (
    NO_SCORES,
    Decision,
    Explanation,
    InactiveRep,
    Lead,
    Loads,
    NoEligibleRep,
    Outcome,
    Rep,
    RepLoad,
    RepOutOfOffice,
    Scores,
    StepTrace,
)
from leadwise.routing.eligibility import UNAVAILABLE, screen
from leadwise.routing.exploration import explore
from leadwise.routing.fairness import screen_fairness
from leadwise.routing.flows import Flow, RepFilters, Step
from leadwise.routing.state import RoutingState
from leadwise.routing.strategies import (
    MODEL_STRATEGIES,
    Choice,
    StrategyContext,
    get_strategy,
    load_balancing,
)

_IDLE = RepLoad()
_ACTION_OUTCOME = {
    "nurture": Outcome.nurture,
    "claim_pool": Outcome.claim_pool,
    "blind_pool": Outcome.blind_pool,
    "manager_queue": Outcome.manager_queue,
}


def route_lead(
    *,
    lead: Lead,
    reps: Sequence[Rep],
    loads: Loads,
    flow: Flow,
    scores: Scores = NO_SCORES,
    state: RoutingState,
    clock: Clock,
    prices: Mapping[str, float] | None = None,
    exclude: Collection[str] = (),
    attempt: int = 0,
    pool_loads: Mapping[str, RepLoad] | None = None,
) -> Decision:
    """Run ``flow`` for ``lead`` and return who gets it (or which queue), with the full explanation.

    - ``loads``: each rep's current ``RepLoad`` (missing reps count as idle).
    - ``pool_loads``: the load of each pool with ``capacity_windows`` (missing pools count as empty).
    - ``scores``: the models' output for this lead (``NO_SCORES`` without a model: model-based
      strategies fall back to load balancing and say so).
    - ``prices``: capacity prices λ from a ``CapacityPricer`` for the ``optimised`` strategy.
    - ``exclude``: reps who may not get this lead again (SLA lapse, rejection).
    Raises ``NoEligibleRep`` only when the flow says ``on_no_match = "error"``. A lead meeting one of the
    flow's ``close_when`` rules is not routed (outcome ``closed``); an offer's deadline comes from the
    lead when the flow has a ``due_from`` (``routing.lifecycle``).
    """
    now = clock.now()
    closing = lifecycle.closing_rule(lead, scores, reps, flow, now)
    if closing is not None:
        return lifecycle.closed_decision(lead, *closing, now, scores)
    decision = _route(
        lead=lead, reps=reps, loads=loads, flow=flow, scores=scores, state=state, clock=clock,
        prices=prices, exclude=exclude, attempt=attempt, pool_loads=pool_loads,
    )
    return lifecycle.with_due_date(decision, lead, flow)


def _route(
    *,
    lead: Lead,
    reps: Sequence[Rep],
    loads: Loads,
    flow: Flow,
    scores: Scores,
    state: RoutingState,
    clock: Clock,
    prices: Mapping[str, float] | None,
    exclude: Collection[str],
    attempt: int,
    pool_loads: Mapping[str, RepLoad] | None = None,
) -> Decision:
    now = clock.now()
    traces: list[StepTrace] = []
    notes: list[str] = []
    if scores.model_version is None:
        notes.append(scores.missing_because or "no model loaded")
    for index, step in enumerate(flow.steps):
        name = step.name or f"step {index + 1}"
        unmet = flow.unmet(step.when, lead, now, scores=scores, reps=reps)
        if unmet is not None:
            traces.append(StepTrace(index=index, name=name, matched=False, note=unmet))
            continue
        if step.action != "assign":
            note = f"action {step.action}"
            if step.when.sales_ready is not None:  # say why the lead is (not) sales-ready
                note += f" ({flow.maturity.assess(lead, scores)[1]})"
            traces.append(StepTrace(index=index, name=name, matched=True, note=note))
            return _decision(
                lead,
                _ACTION_OUTCOME[step.action],
                None,
                now,
                step,
                index,
                flow,
                scores,
                traces,
                notes,
                attempt,
            )
        decision = _try_step(
            lead=lead,
            reps=reps,
            loads=loads,
            flow=flow,
            step=step,
            index=index,
            scores=scores,
            state=state,
            now=now,
            prices=prices,
            exclude=exclude,
            traces=traces,
            notes=notes,
            attempt=attempt,
            pool_loads=pool_loads or {},
        )
        if decision is not None:
            return decision
    if flow.on_no_match == "error":
        raise NoEligibleRep(f"no step of flow {flow.name!r} found an eligible rep for lead {lead.lead_id!r}")
    notes.append("no step found an eligible rep: manager queue")
    return _decision(lead, Outcome.manager_queue, None, now, None, None, flow, scores, traces, notes, attempt)


def _try_step(
    *,
    lead: Lead,
    reps: Sequence[Rep],
    loads: Loads,
    flow: Flow,
    step: Step,
    index: int,
    scores: Scores,
    state: RoutingState,
    now: Any,
    prices: Mapping[str, float] | None,
    exclude: Collection[str],
    traces: list[StepTrace],
    notes: list[str],
    attempt: int,
    pool_loads: Mapping[str, RepLoad],
) -> Decision | None:
    name = step.name or f"step {index + 1}"
    assert step.pool is not None and step.strategy is not None  # validated by Step
    full = pool_full(flow, step.pool, pool_loads)
    if full is not None:
        traces.append(StepTrace(index=index, name=name, matched=True, note=f"{full}: fell through"))
        return None
    pool_reps = flow.members(step.pool, reps)  # the pool's filters and the reps tagged with its name
    require_hours = (
        flow.require_availability if step.require_availability is None else step.require_availability
    )
    filters = RepFilters(flow, lead, now, scores=scores, reps=reps)
    refusal = filters.refusal if any(rep.accepts is not None for rep in pool_reps) else None  # no call per rep
    eligible, excluded = screen(pool_reps, loads, now, require_hours=require_hours, exclude=exclude, refusal=refusal)
    bounds = step.fairness or flow.fairness
    if bounds is not None:
        eligible, unfair = screen_fairness(eligible, loads, bounds, pool_reps)
        excluded += unfair
    ctx = StrategyContext(
        lead=lead,
        pool=step.pool,
        pool_reps=pool_reps,
        eligible=eligible,
        loads=loads,
        scores=scores,
        state=state,
        now=now,
        objective=flow.objective,
        params=step.params,
        prices=prices,
        territories=flow.territories,
        preferred=filters.preferring(eligible),
        prefers_bonus=flow.prefers_bonus,
    )
    choice = get_strategy(step.strategy)(ctx)
    excluded += choice.excluded
    if choice.rep_id is None and choice.outcome != Outcome.nurture and step.when_unavailable != "queue":
        unavailable_ids = {e.rep_id for e in excluded if e.reason in UNAVAILABLE}
        fallback = _when_unavailable(step, ctx, pool_reps, loads, now, exclude, unavailable_ids, filters)
        if fallback.rep_id is not None:
            excluded = [e for e in excluded if e.rep_id != fallback.rep_id] + fallback.excluded
            choice = fallback
        else:
            choice.notes.extend(fallback.notes)
    if choice.outcome == Outcome.nurture:
        traces.append(StepTrace(index=index, name=name, matched=True, note="; ".join(choice.notes)))
        return _decision(
            lead, Outcome.nurture, None, now, step, index, flow, scores, traces, notes + choice.notes, attempt
        )
    if choice.rep_id is None:
        reasons = Counter(e.reason.split(":")[0] for e in excluded)
        summary = ", ".join(f"{n} {why}" for why, n in reasons.most_common()) or "empty pool"
        detail = f"; {'; '.join(choice.notes)}" if choice.notes else ""
        traces.append(
            StepTrace(
                index=index,
                name=name,
                matched=True,
                note=f"no eligible rep in pool {step.pool!r} ({summary}){detail}: fell through",
            )
        )
        return None
    traces.append(
        StepTrace(
            index=index, name=name, matched=True, note=f"assigned by {choice.strategy or step.strategy}"
        )
    )
    rep_id, propensity, explored = choice.rep_id, 1.0, False
    if flow.exploration is not None:
        candidates = list(choice.scores) or [choice.rep_id]
        drawn = explore(
            config=flow.exploration,
            lead=lead,
            greedy=choice.rep_id,
            candidates=candidates,
            state=state,
            key=f"explore:{step.pool}",
            attempt=attempt,
            p_win=list(scores.expected_values(candidates)) if scores.has_rep_scores else None,
        )
        rep_id, propensity, explored = drawn.rep_id, drawn.propensity, drawn.explored
        choice.notes.append(drawn.note)
    ranked = choice.ranked
    explanation = Explanation(
        step=name,
        step_index=index,
        pool=step.pool,
        strategy=choice.strategy or step.strategy,
        objective=flow.objective if step.strategy in MODEL_STRATEGIES else None,
        eligible=ranked,
        scores=choice.scores,
        score_means=choice.score_means or None,
        excluded=excluded,
        runner_up=ranked[1].rep_id if len(ranked) > 1 else None,
        margin=ranked[0].score - ranked[1].score if len(ranked) > 1 else None,
        model_version=scores.model_version,
        lead_score=scores.lead_score,
        lead_score_percentile=scores.lead_score_percentile,
        steps_tried=traces,
        notes=notes + choice.notes,
        explored=explored,
    )
    return Decision(
        lead_id=lead.lead_id,
        outcome=Outcome.assigned,
        rep_id=rep_id,
        decided_at=now,
        strategy=explanation.strategy,
        attempt=attempt,
        propensity=propensity,
        explanation=explanation,
    )


def pool_full(flow: Flow, pool: str, pool_loads: Mapping[str, RepLoad]) -> str | None:
    """Which of the pool's ``capacity_windows`` is full, in words, or None when it takes one more lead."""
    definition = flow.pools.get(pool)
    if definition is None or not definition.capacity_windows:
        return None
    blocked = pool_loads.get(pool, _IDLE).capacity_block(definition.capacity)
    return None if blocked is None else f"pool {pool!r} is full ({blocked})"


def _when_unavailable(
    step: Step,
    ctx: StrategyContext,
    pool_reps: Sequence[Rep],
    loads: Loads,
    now: Any,
    exclude: Collection[str],
    unavailable_ids: set[str],
    filters: RepFilters,
) -> Choice:
    """The step's ``when_unavailable`` fallback once its strategy found no rep: the pool's reps who are
    only unavailable (away, out of office, outside hours; still active, opted in, with capacity) are
    routed to anyway, all of them (``whole_pool``) or the lead's account owner (``owner_anyway``)."""
    able, _ = screen(pool_reps, loads, now, exclude=exclude, availability=False, refusal=filters.refusal)
    unavailable = [r for r in able if r.id in unavailable_ids]
    rule = f"when_unavailable = {step.when_unavailable}"
    if step.when_unavailable == "owner_anyway":
        account = ctx.lead.account
        owners = [r for r in unavailable if account is not None and account in r.accounts]
        if not owners:
            return Choice(rep_id=None, ranked=[], notes=[f"{rule}: no unavailable owner of account {account!r} with capacity"])
        choice = load_balancing(replace(ctx, eligible=owners, params={}, preferred=filters.preferring(owners)))
        choice.strategy = "account_owner"
        choice.notes.insert(0, f"{rule}: the account owner takes the lead although unavailable")
        return choice
    if not unavailable:
        return Choice(rep_id=None, ranked=[], notes=[f"{rule}: no unavailable rep with capacity either"])
    choice = get_strategy(step.strategy or "load_balancing")(
        replace(ctx, eligible=unavailable, preferred=filters.preferring(unavailable))
    )
    choice.notes.insert(
        0, f"{rule}: no available rep of pool {step.pool!r} took the lead; routed among {len(unavailable)} unavailable rep(s)"
    )
    return choice


def _decision(
    lead: Lead,
    outcome: Outcome,
    rep_id: str | None,
    now: Any,
    step: Step | None,
    index: int | None,
    flow: Flow,
    scores: Scores,
    traces: list[StepTrace],
    notes: list[str],
    attempt: int,
) -> Decision:
    return Decision(
        lead_id=lead.lead_id,
        outcome=outcome,
        rep_id=rep_id,
        decided_at=now,
        strategy=None if step is None else step.strategy,
        attempt=attempt,
        propensity=1.0,  # a queue or an action the flow's conditions decide
        explanation=Explanation(
            step=None if step is None else (step.name or f"step {(index or 0) + 1}"),
            step_index=index,
            pool=None if step is None else step.pool,
            model_version=scores.model_version,
            lead_score=scores.lead_score,
            lead_score_percentile=scores.lead_score_percentile,
            steps_tried=traces,
            notes=notes,
        ),
    )


def manual_assign(
    *, lead: Lead, rep: Rep, manager: str, clock: Clock, note: str = "", force: bool = False
) -> Decision:
    """A manager's assignment: respects the active flag, refuses a rep who is out of office or has set
    itself away unless ``force`` (then the explanation warns of it), and is logged as manual."""
    if not rep.active:
        raise InactiveRep(f"rep {rep.id!r} is inactive and cannot receive leads")
    now = clock.now()
    notes = [f"manual assignment by {manager}", *([f"reason: {note}"] if note else [])]
    if rep.is_out_of_office(now):
        back = rep.back_from_office(now).isoformat()
        if not force:
            raise RepOutOfOffice(
                f"rep {rep.id!r} ({rep.name}) is out of office until {back}; "
                "send \"force\": true to assign the lead anyway"
            )
        notes.append(f"warning: rep {rep.name or rep.id} is out of office until {back} (assigned with force)")
    elif rep.away:
        if not force:
            raise RepOutOfOffice(
                f"rep {rep.id!r} ({rep.name}) has set itself away; send \"force\": true to assign the lead anyway"
            )
        notes.append(f"warning: rep {rep.name or rep.id} has set itself away (assigned with force)")
    return Decision(
        lead_id=lead.lead_id,
        outcome=Outcome.assigned,
        rep_id=rep.id,
        decided_at=now,
        strategy="manual",
        manual=True,
        explanation=Explanation(strategy="manual", notes=notes),
    )
