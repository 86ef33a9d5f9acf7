"""Routing decisions with persistence: the request path of a lead, as a pipeline of stages.

    intake (``intake``: idempotency) → score (``scoring``, outside any transaction: model inference
    never holds a database lock) → lock the context (``context``, in the write transaction) → decide
    (``leadwise.routing``, pure) → persist (``persist``: capacity taken by a conditional UPDATE in the
    same transaction) → events (``events``, after the commit)

On SQLite the write transaction is ``BEGIN IMMEDIATE`` (the writer lock); on PostgreSQL the active reps
are locked ``FOR UPDATE`` in id order, so no other router reads the same loads. A crash before the
commit leaves nothing; after it, everything. The unique lead id and the partial unique index on live
assignments back this up at the database level should anything get past the locks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from leadwise.routing import Decision, Lead, ManualClock, Scores
from leadwise.routing import route_lead as engine_route
from leadwise.routing.batch import batch_decisions
from leadwise.routing.domain import DuplicateLead
from leadwise.routing.sla import PendingLead, SlaPolicy, reassign
from leadwise.services import adapters, events, intake
from leadwise.services.catalogue import complete_leads
from leadwise.services.context import RoutingContext, active_reps, lock_context
from leadwise.services.models import ModelHolder
from leadwise.services.persist import Routed, store_decision
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import ScoredLead, score_for_routing
from leadwise.services.unit_of_work import UnitOfWork, transaction
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import LeadRow

log = logging.getLogger(__name__)


def sla_policy(settings: Settings) -> SlaPolicy:
    return SlaPolicy(
        accept_within=timedelta(minutes=settings.accept_sla_minutes),
        max_reassignments=settings.max_reassignments,
    )


def decide_and_store(
    unit: UnitOfWork,
    ctx: RoutingContext,
    *,
    settings: Settings,
    row: LeadRow,
    lead: Lead,
    scored: ScoredLead,
    source: str,
    prices: PriceBook | None = None,
    pending: PendingLead | None = None,
    pending_reason: str = "rejected",
    new_lead: bool = False,
    reason: str | None = None,
) -> Routed:
    """Decide ``lead`` on the locked context and store the decision on ``row``. With ``pending`` the lead
    comes back (rejected or lapsed): the engine's ``sla.reassign`` routes it away from every rep who had
    it, or to the manager queue after ``max_reassignments``. The decision is counted into the context's
    loads, for the next lead decided on it. ``reason`` (why the lead is decided again) is stored on the
    decision and leads its explanation's notes."""
    scores = scored.scores
    clock = ManualClock(unit.now)
    lambdas = ctx.prices(prices, scores)
    policy = sla_policy(settings)
    if pending is None:
        decision = engine_route(
            lead=lead, reps=ctx.reps, loads=ctx.loads, flow=ctx.flow.flow, scores=scores,
            state=ctx.state, clock=clock, prices=lambdas, pool_loads=ctx.pool_loads,
        )
    else:
        decision, _ = reassign(
            pending, reason=pending_reason, policy=policy, lead=lead, reps=ctx.reps, loads=ctx.loads,
            flow=ctx.flow.flow, scores=scores, state=ctx.state, clock=clock, prices=lambdas,
            pool_loads=ctx.pool_loads,
        )
    if reason is not None:
        decision.explanation.notes.insert(0, reason)
    optimised = (decision.strategy or decision.explanation.strategy) == "optimised"
    if optimised and prices is not None and (why := prices.explain()) is not None:
        decision.explanation.notes.append(why)
    routed = persist(
        unit, ctx, row=row, decision=decision, scored=scored, policy=policy, source=source, new_lead=new_lead, reason=reason
    )
    ctx.count(decision, unit.now, routed.assignment.expected_value or 0.0)
    return routed


def reroute(
    unit: UnitOfWork,
    *,
    settings: Settings,
    row: LeadRow,
    scored: ScoredLead,
    pending: PendingLead,
    reason: str,
    source: str,
    prices: PriceBook | None,
) -> Routed:
    """A lead coming back (rejected, or its offer lapsed) decided again on a freshly locked context, away
    from every rep who had it (``routing.sla.reassign``)."""
    return decide_and_store(
        unit,
        lock_context(unit),
        settings=settings,
        row=row,
        lead=stored_lead(unit, row),
        scored=scored,
        source=source,
        prices=prices,
        pending=pending,
        pending_reason=reason,
    )


def persist(
    unit: UnitOfWork,
    ctx: RoutingContext,
    *,
    row: LeadRow,
    decision: Decision,
    scored: ScoredLead,
    policy: SlaPolicy,
    source: str,
    new_lead: bool,
    reason: str | None = None,
) -> Routed:
    return store_decision(
        unit,
        lead=row,
        decision=decision,
        acceptance=policy,
        flow=ctx.flow,
        scores=scored.scores,
        figures=scored.figures,
        challenger=scored.challenger,
        names=ctx.names,
        source=source,
        new_lead=new_lead,
        reason=reason,
    )


def _route_new(
    unit: UnitOfWork,
    ctx: RoutingContext,
    *,
    settings: Settings,
    lead: Lead,
    scored: ScoredLead,
    source: str,
    prices: PriceBook | None,
) -> Routed:
    """Inside the write transaction: the stored decision when the lead id is known, else the new one."""
    found = intake.stored_decision_in(unit, lead.lead_id)
    if found is not None:
        return found
    intake.refuse_duplicate(unit, lead, ctx.flow.flow)
    row = intake.new_lead_row(unit, lead, ctx.flow.flow)
    routed = decide_and_store(
        unit, ctx, settings=settings, row=row, lead=lead, scored=scored, source=source, prices=prices, new_lead=True
    )
    intake.store_touches(unit, row, lead)
    return routed


def _observe(prices: PriceBook | None, routed: Routed, scores: Scores) -> None:
    """A lead newly routed joins the capacity prices' sample (after the commit: a retry counts once)."""
    if prices is not None and routed.created:
        prices.observe(scores)


def route_lead(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    lead: Lead,
    source: str = "route",
    prices: PriceBook | None = None,
) -> Routed:
    """Route one lead; posting the same lead id again returns the stored decision and changes nothing.
    The lead is routed (and stored) with its product's series and its account's sector and country from
    the catalogue when it does not carry them (``services.catalogue``)."""
    found = intake.stored_decision(db, lead.lead_id)
    if found is not None:
        return found
    (lead,) = complete_leads(models=models, settings=settings, leads=[lead])
    (scored,) = score_for_routing(models=models, leads=[lead], reps=active_reps(db))

    def work(unit: UnitOfWork) -> Routed:
        ctx = lock_context(unit)
        return _route_new(unit, ctx, settings=settings, lead=lead, scored=scored, source=source, prices=prices)

    try:
        routed = transaction(db, work)
    except IntegrityError:
        # Same lead id inserted by a concurrent request between our check and insert: theirs stands.
        found = intake.decision_of_concurrent_insert(db, lead.lead_id)
        if found is None:
            raise
        return found
    _observe(prices, routed, scored.scores)
    return routed


def route_leads(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    leads: Sequence[Lead],
    source: str = "route",
    prices: PriceBook | None = None,
) -> list[Routed | Exception]:
    """Route leads that arrived together as ``route_lead`` routes each, in their order, with one scoring
    call and one write transaction for all of them: under load the fixed costs of a request (the
    model calls, the locked reads of the reps and the flow, the commit) are paid once per batch.

    Each lead is decided on the loads its predecessors left, so the decisions are those of the same
    leads routed one after another. Returns one entry per lead: its ``Routed`` (a lead id repeated in
    the batch, or stored before, gets the stored decision with ``created`` False) or the exception that
    routing it alone raised. Should the shared transaction fail, nothing of it is kept and each lead is
    routed alone, so one lead's problem never becomes another's.
    """
    if not leads:
        return []
    events.publish(events.LeadsRoutedTogether(len(leads)))
    leads = complete_leads(models=models, settings=settings, leads=leads)
    scored = score_for_routing(models=models, leads=leads, reps=active_reps(db))
    first_of = intake.first_occurrences(leads)

    def work(unit: UnitOfWork) -> list[Routed | DuplicateLead | None]:
        ctx = lock_context(unit)
        out: list[Routed | DuplicateLead | None] = []
        for k, lead in enumerate(leads):
            if first_of[lead.lead_id] != k:  # the same id earlier in this batch decides it
                out.append(None)
                continue
            try:
                routed = _route_new(
                    unit, ctx, settings=settings, lead=lead, scored=scored[k], source=source, prices=prices
                )
            except DuplicateLead as duplicate:  # refused before anything of this lead was written
                out.append(duplicate)
                continue
            out.append(routed)
        return out

    try:
        together = transaction(db, work)
    except Exception as exc:  # noqa: BLE001 - rolled back whole; each lead alone finds its own answer
        log.info("routing %d leads together failed (%s); routing each alone", len(leads), type(exc).__name__)
        return [_route_alone(db=db, settings=settings, models=models, lead=lead, source=source, prices=prices) for lead in leads]
    results: list[Routed | Exception] = []
    for k, routed in enumerate(together):
        if routed is None:
            first = together[first_of[leads[k].lead_id]]
            assert first is not None
            results.append(first if isinstance(first, DuplicateLead) else replace(first, created=False))
            continue
        if isinstance(routed, DuplicateLead):
            results.append(routed)
            continue
        _observe(prices, routed, scored[k].scores)
        results.append(routed)
    return results


def _route_alone(
    *, db: Database, settings: Settings, models: ModelHolder, lead: Lead, source: str, prices: PriceBook | None
) -> Routed | Exception:
    try:
        return route_lead(db=db, settings=settings, models=models, lead=lead, source=source, prices=prices)
    except Exception as exc:  # noqa: BLE001 - handed to this lead's caller, as route_lead would raise it
        return exc


def route_batch(*, db: Database, settings: Settings, models: ModelHolder, leads: Sequence[Lead]) -> list[Routed]:
    """Route a backlog together with the batch optimiser (``routing.batch``); leads routed before keep
    their decision."""
    intake.refuse_repeated_ids(leads)
    leads = complete_leads(models=models, settings=settings, leads=leads)
    scored = score_for_routing(models=models, leads=leads, reps=active_reps(db))
    policy = sla_policy(settings)

    def work(unit: UnitOfWork) -> list[Routed]:
        results: list[Routed | None] = [intake.stored_decision_in(unit, lead.lead_id) for lead in leads]
        new = [k for k, found in enumerate(results) if found is None]
        if new:
            ctx = lock_context(unit)
            for k in new:  # a backlog holding a duplicate of an open lead is refused whole (409), as a repeated id
                intake.refuse_duplicate(unit, leads[k], ctx.flow.flow)
            decisions = batch_decisions(
                [leads[k] for k in new],
                [scored[k].scores for k in new],
                reps=ctx.reps,
                loads=ctx.loads,
                flow=ctx.flow.flow,
                state=ctx.state,
                clock=ManualClock(unit.now),
                pool_loads=ctx.pool_loads,
            )
            for k, decision in zip(new, decisions, strict=True):
                row = intake.new_lead_row(unit, leads[k], ctx.flow.flow)
                results[k] = persist(
                    unit, ctx, row=row, decision=decision, scored=scored[k], policy=policy, source="batch", new_lead=True
                )
                intake.store_touches(unit, row, leads[k])
        return [r for r in results if r is not None]

    return transaction(db, work)


def stored_lead(unit: UnitOfWork, row: LeadRow) -> Lead:
    """The routing lead of a stored lead, with every touch type stored on it."""
    return adapters.domain_lead(row, repo.lead_touch_types(session=unit.session, lead_id=row.id))
