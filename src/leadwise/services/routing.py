"""Routing with persistence: every decision the routing engine makes is stored in the same transaction
that checks and takes the rep's capacity.

The sequence for one lead, on both databases:
1. score the lead outside any transaction (model inference never holds a database lock);
2. open a write transaction: ``BEGIN IMMEDIATE`` on SQLite (the writer lock), and on PostgreSQL
   ``SELECT ... FOR UPDATE`` on the active reps in id order, so no other router reads the same loads;
3. if the lead id is already stored, return its decision (idempotency); otherwise run the active
   version of the routing flow (``leadwise.routing.route_lead``) on the locked loads, insert the lead,
   take the capacity with a conditional UPDATE (``open_leads < capacity``, which also counts the lead
   into the rep's day, week and fairness-window counters) and insert the assignment with the flow
   version it used;
4. commit. A crash before the commit leaves nothing; after it, everything.
The unique lead id and the partial unique index on live assignments back this up at the database
level should anything get past the locks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from leadwise.routing import Decision, Explanation, Lead, Outcome, Rep, RepLoad, Scores
from leadwise.routing import manual_assign as engine_manual_assign
from leadwise.routing import route_lead as engine_route
from leadwise.routing.domain import AlreadyClaimed, CandidateScore, CapacityExhausted, RepNotFound
from leadwise.routing.eligibility import screen
from leadwise.routing.optimiser import OptimisationFailed, assign_batch
from leadwise.routing.pull import check_claim
from leadwise.routing.sla import PendingLead, SlaPolicy, reassign, start_acceptance
from leadwise.services import adapters, engine_bridge
from leadwise.services.engine_bridge import FLOW_NAME, FlowVersion, PriceBook
from leadwise.services.errors import Conflict, NotAllowed, NotFound, Unavailable
from leadwise.services.models import ModelHolder
from leadwise.services.scoring import LeadFigures, score_or_reason, try_score
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import (
    OPEN_STATES,
    AssignmentRow,
    LeadReturnRow,
    LeadRow,
    OutcomeRow,
    PoolClaimRow,
    RepRow,
    RoutingFlowRow,
    utcnow,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_OF_OUTCOME = {
    Outcome.nurture: "nurture",
    Outcome.manager_queue: "manager",
    Outcome.claim_pool: "pool",
    Outcome.blind_pool: "pool",
}
REASSIGNED_SOURCES = ("reroute", "expiry")  # decisions that count towards ``max_reassignments``


@dataclass(frozen=True)
class Routed:
    assignment: AssignmentRow
    lead: LeadRow
    rep_name: str | None
    flow_version: int | None
    created: bool


class _At:
    """The engine's ``Clock`` fixed at the transaction's instant: every timestamp of a decision agrees."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def sla_policy(settings: Settings) -> SlaPolicy:
    return SlaPolicy(
        accept_within=timedelta(minutes=settings.accept_sla_minutes),
        max_reassignments=settings.max_reassignments,
    )


def with_retries(job: Callable[[], T], *, attempts: int = 4) -> T:
    """Run a write transaction again when the database refused it for contention (PostgreSQL deadlock
    or serialisation failure, SQLite busy past its timeout); then give up with 503."""
    for attempt in range(attempts):
        try:
            return job()
        except OperationalError as exc:
            if attempt == attempts - 1:
                raise Unavailable(f"the database stayed busy: {type(exc.orig).__name__}") from exc
            log.info("write retried after %s", type(exc.orig).__name__)
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------- reading


def _flow_version(session: Session, flow_id: int | None) -> int | None:
    if flow_id is None:
        return None
    flow = session.get(RoutingFlowRow, flow_id)
    return flow.version if flow is not None else None


def _routed(session: Session, assignment: AssignmentRow, lead: LeadRow, *, created: bool) -> Routed:
    rep = session.get(RepRow, assignment.rep_id) if assignment.rep_id is not None else None
    return Routed(
        assignment=assignment,
        lead=lead,
        rep_name=rep.name if rep is not None else None,
        flow_version=_flow_version(session, assignment.flow_id),
        created=created,
    )


def existing_decision(*, session: Session, external_id: str) -> Routed | None:
    lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
    if lead is None:
        return None
    assignment = repo.latest_assignment(session=session, lead_id=lead.id)
    if assignment is None:  # cannot happen: lead and decision are inserted in one transaction
        raise Conflict(f"lead {external_id!r} is stored without a decision")
    return _routed(session, assignment, lead, created=False)


# --------------------------------------------------------------------------------------- deciding

# Ids and names of the active reps, for scoring before the write transaction (and for /v1/score), cached
# per process for a moment: a rep added less than this ago is routed without a model score ("no model
# score for rep") and left out of /v1/score for as long.
_REPS_TTL_SECONDS = 1.0
_reps_cache: dict[str, tuple[float, list[tuple[int, str]]]] = {}
_reps_lock = threading.Lock()


def active_reps_brief(db: Database) -> list[tuple[int, str]]:
    hit = _reps_cache.get(db.url)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    with db.read_session() as session:
        reps = [(r.id, r.name) for r in repo.list_reps(session=session, active_only=True)]
    with _reps_lock:
        _reps_cache[db.url] = (now + _REPS_TTL_SECONDS, reps)
    return reps


def _active_rep_names(db: Database, models: ModelHolder) -> list[str]:
    if models.current is None:  # rules-only: no rep scores to compute
        return []
    return [name for _, name in active_reps_brief(db)]


@dataclass
class _Context:
    """What the engine needs from the locked database state, read once per transaction."""

    heads: list[repo.RepHead]
    flow: FlowVersion
    reps: list[Rep]
    loads: dict[str, RepLoad]
    names: dict[str, str]  # domain rep id -> name
    state: repo.DbRoutingState  # round-robin pointers and the like, read once per transaction

    def prices(self, book: PriceBook | None, scores: Scores) -> dict[str, float] | None:
        if book is None or not scores.has_rep_scores:
            return None
        return book.prices_for({name: rid for rid, name in self.names.items()})


def _context(session: Session, now: datetime) -> _Context:
    heads = repo.lock_active_reps(session=session, now=now)
    flow = engine_bridge.current_flow(session, FLOW_NAME)
    window = engine_bridge.fairness_window(flow.flow)
    counts = repo.window_counts(session=session, now=now, window=window) if window is not None else None
    return _Context(
        heads=heads,
        flow=flow,
        reps=adapters.domain_reps(session, heads),
        loads=adapters.domain_loads(heads, counts),
        names={str(h.id): h.name for h in heads},
        state=repo.DbRoutingState(session),
    )


def _decide_and_store(
    session: Session,
    *,
    settings: Settings,
    lead: LeadRow,
    figures: LeadFigures | None,
    source: str,
    now: datetime,
    prices: PriceBook | None = None,
    pending: PendingLead | None = None,
    pending_reason: str = "rejected",
    new_lead: bool = False,
    touch_types: frozenset[str] | None = None,
    note: str | None = None,
    ctx: _Context | None = None,
) -> Routed:
    """Run the active flow for ``lead`` on locked reps and store the decision (capacity taken in the same
    step). With ``pending`` the lead comes back (rejected or lapsed): the engine's ``sla.reassign``
    routes it away from every rep who had it, or to the manager queue after ``max_reassignments``.
    ``touch_types``: the lead's marketing touch types (read from the store when not given); ``note`` is
    added to the explanation (e.g. why the model did not score the lead). ``ctx``: the locked state read
    earlier in this transaction (several leads in a row); the decision is counted into its loads."""
    ctx = ctx if ctx is not None else _context(session, now)
    scores = adapters.domain_scores(figures, ctx.heads)
    if touch_types is None:
        touch_types = (
            repo.lead_touch_types(session=session, lead_id=lead.id) if lead.id is not None else frozenset()
        )
    domain_lead = adapters.domain_lead(lead.external_id, lead.payload, touch_types)
    state = ctx.state
    if pending is None:
        decision = engine_route(
            lead=domain_lead,
            reps=ctx.reps,
            loads=ctx.loads,
            flow=ctx.flow.flow,
            scores=scores,
            state=state,
            clock=_At(now),
            prices=ctx.prices(prices, scores),
        )
    else:
        decision, _ = reassign(
            pending,
            reason=pending_reason,
            lead=domain_lead,
            reps=ctx.reps,
            loads=ctx.loads,
            flow=ctx.flow.flow,
            policy=sla_policy(settings),
            state=state,
            clock=_At(now),
            scores=scores,
            prices=ctx.prices(prices, scores),
        )
    if note:
        decision.explanation.notes.append(note)
    routed = _store_decision(
        session,
        settings=settings,
        lead=lead,
        decision=decision,
        flow=ctx.flow,
        scores=scores,
        figures=figures,
        names=ctx.names,
        source=source,
        now=now,
        new_lead=new_lead,
    )
    if routed.assignment.rep_id is not None:  # as ``take_lead`` just counted it in the store
        ctx.loads[str(routed.assignment.rep_id)].record(now, routed.assignment.expected_value or 0.0)
    return routed


_INSERT_LEAD = insert(LeadRow.__table__).returning(LeadRow.__table__.c.id)
_INSERT_ASSIGNMENT = insert(AssignmentRow.__table__).returning(AssignmentRow.__table__.c.id)
_UPDATE_LEAD = (
    update(LeadRow.__table__)
    .where(LeadRow.__table__.c.id == bindparam("lead_key"))
    .values(
        status=bindparam("status"),
        queue=bindparam("queue"),
        pool=bindparam("pool"),
        blind=bindparam("blind"),
        score=bindparam("score"),
        expected_value=bindparam("expected_value"),
    )
)


def _store_decision(
    session: Session,
    *,
    settings: Settings,
    lead: LeadRow,
    decision: Decision,
    flow: FlowVersion | None,
    scores: Scores,
    figures: LeadFigures | None,
    names: Mapping[str, str],
    source: str,
    now: datetime,
    new_lead: bool = False,
) -> Routed:
    """Store ``decision``: take the rep's capacity (conditional UPDATE), write the lead's new status (a
    new lead is inserted here, once, with it) and the assignment row. Plain Core statements: the ORM's
    unit of work costs more than the decision on this path."""
    explanation = decision.explanation
    # The first ten other eligible reps are stored; dumping only those keeps 40 reps cheap.
    others = (c for c in explanation.eligible if c.rep_id != decision.rep_id)
    alternatives = [c.model_dump(mode="json") for c in islice(others, 10)]
    p_win = expected_value = None
    if decision.rep_id is not None and scores.has_rep_scores:
        p = float(scores.expected_values([decision.rep_id], "wins")[0])
        if not np.isnan(p):
            p_win = p
            expected_value = p * float(scores.deal_value if scores.deal_value is not None else 1.0)
    assignment: dict[str, Any] = {
        "source": source,
        "rule": explanation.step or ("manual assignment" if decision.manual else None),
        "strategy": decision.strategy or explanation.strategy,
        "explanation": decision.to_json_dict(),
        "alternatives": alternatives,
        "model_version": explanation.model_version or (figures.model_version if figures else None),
        "flow_id": flow.id if flow is not None else None,
        "p_win": p_win,
        "expected_value": expected_value,
        "created_at": now,
        "rep_id": None,
        "queue": None,
        "expires_at": None,
    }
    if decision.outcome == Outcome.assigned and decision.rep_id is not None:
        rep_id = int(decision.rep_id)
        if not repo.take_lead(session=session, rep_id=rep_id, now=now, value=expected_value):
            # The engine saw the same locked loads, so this only fires if a lock was bypassed.
            raise CapacityExhausted(f"rep {rep_id} is at capacity")
        pending = start_acceptance(decision, sla_policy(settings))
        assignment |= {
            "rep_id": rep_id,
            "state": "offered",
            "expires_at": pending.deadline if pending else None,
        }
        status: dict[str, Any] = {"status": "assigned", "queue": None, "pool": None, "blind": False}
    else:
        queue = QUEUE_OF_OUTCOME.get(decision.outcome, "manager")
        assignment |= {"queue": queue, "state": "queued"}
        # A claim_pool/blind_pool step's ``pool`` names the claim pool; reps list the pools they may claim from.
        status = {
            "status": "queued",
            "queue": queue,
            "pool": (explanation.pool or "default") if queue == "pool" else None,
            "blind": decision.outcome == Outcome.blind_pool,
        }
    if figures is not None:
        status |= {"score": figures.score, "expected_value": figures.score * figures.deal_value}
    else:
        status |= {"score": lead.score, "expected_value": lead.expected_value}
    if new_lead:
        lead.id = session.connection().scalar(
            _INSERT_LEAD,
            {"external_id": lead.external_id, "payload": lead.payload, "created_at": now, "updated_at": now}
            | status,
        )
        for key, value in status.items():
            setattr(lead, key, value)
    else:
        session.connection().execute(_UPDATE_LEAD, {"lead_key": lead.id, **status})
        for key, value in status.items():  # the row now says so: no second write at flush time
            set_committed_value(lead, key, value)
    assignment["lead_id"] = lead.id
    assignment_id = session.connection().scalar(_INSERT_ASSIGNMENT, assignment)
    row = AssignmentRow(id=assignment_id, **assignment)  # what was written, for the answer (not attached)
    from leadwise.api.metrics import DECISIONS

    DECISIONS.labels(row.strategy or "none", decision.outcome.value, source).inc()
    return Routed(
        assignment=row,
        lead=lead,
        rep_name=names.get(decision.rep_id) if decision.rep_id is not None else None,
        flow_version=flow.version if flow is not None else None,
        created=True,
    )


def route_lead(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    lead: Mapping[str, Any],
    source: str = "route",
    prices: PriceBook | None = None,
) -> Routed:
    """Route one lead (``lead["lead_id"]`` is the caller's id); posting the same id again returns the
    stored decision and changes nothing."""
    external_id = str(lead["lead_id"])
    with db.read_session() as session:
        if repo.lead_id_by_external_id(session=session, external_id=external_id) is not None:
            found = existing_decision(session=session, external_id=external_id)
            if found is not None:
                return found
    scored, scoring_note = score_or_reason(
        models=models, leads=[lead], rep_names=_active_rep_names(db, models)
    )
    figures = scored[0] if scored else None

    def attempt() -> Routed:
        with db.write_session() as session:
            now = utcnow()
            return _route_in_session(
                session,
                settings=settings,
                lead=lead,
                figures=figures,
                note=scoring_note,
                source=source,
                now=now,
                prices=prices,
                ctx=None,
            )

    try:
        routed = with_retries(attempt)
    except IntegrityError:
        # Same lead id inserted by a concurrent request between our check and insert: theirs stands.
        with db.read_session() as session:
            found = existing_decision(session=session, external_id=external_id)
        if found is None:
            raise
        return found
    if routed.created and figures is not None and prices is not None:
        prices.observe(figures.rep_names, figures.p_win, figures.deal_value)
    return routed


def _route_in_session(
    session: Session,
    *,
    settings: Settings,
    lead: Mapping[str, Any],
    figures: LeadFigures | None,
    note: str | None,
    source: str,
    now: datetime,
    prices: PriceBook | None,
    ctx: _Context | None,
) -> Routed:
    """Inside the write transaction: the stored decision when the lead id is known, else the new one."""
    external_id = str(lead["lead_id"])
    if repo.lead_id_by_external_id(session=session, external_id=external_id) is not None:
        found = existing_decision(session=session, external_id=external_id)
        if found is not None:
            return found
    # Touches go to their own table (the payload keeps the lead's fields); the scorer saw them.
    touches = list(lead.get("touches") or ())
    # Inserted with its decision by ``_store_decision`` (one write instead of insert + update).
    row = LeadRow(external_id=external_id, payload=_stored_payload(lead), created_at=now)
    routed = _decide_and_store(
        session,
        settings=settings,
        lead=row,
        figures=figures,
        source=source,
        now=now,
        prices=prices,
        new_lead=True,
        touch_types=frozenset(t["touch_type"] for t in touches),
        note=note,
        ctx=ctx,
    )
    repo.add_touches(session=session, lead_id=routed.lead.id, touches=touches, now=now)
    return routed


def route_leads(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    leads: Sequence[Mapping[str, Any]],
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
    rep_names = _active_rep_names(db, models)
    scored, note = score_or_reason(models=models, leads=leads, rep_names=rep_names)
    figures: list[LeadFigures | None] = list(scored) if scored else [None] * len(leads)
    notes: list[str | None] = [note] * len(leads)  # None, or why the one lead was not scored
    if scored is None and note is not None and len(leads) > 1:  # one lead spoiled the shared call
        alone = [score_or_reason(models=models, leads=[lead], rep_names=rep_names) for lead in leads]
        figures = [f[0] if f else None for f, _ in alone]
        notes = [n for _, n in alone]
    external_ids = [str(lead["lead_id"]) for lead in leads]
    first_of = {external_id: k for k, external_id in reversed(list(enumerate(external_ids)))}

    def attempt() -> list[Routed | None]:
        out: list[Routed | None] = []
        with db.write_session() as session:
            now = utcnow()
            ctx = _context(session, now)
            for k, lead in enumerate(leads):
                if first_of[external_ids[k]] != k:  # the same id earlier in this batch decides it
                    out.append(None)
                    continue
                out.append(
                    _route_in_session(
                        session,
                        settings=settings,
                        lead=lead,
                        figures=figures[k],
                        note=notes[k],
                        source=source,
                        now=now,
                        prices=prices,
                        ctx=ctx,
                    )
                )
        return out

    try:
        together = with_retries(attempt)
    except Exception as exc:  # noqa: BLE001 - rolled back whole; each lead alone finds its own answer
        log.info("routing %d leads together failed (%s); routing each alone", len(leads), type(exc).__name__)
        return [
            _route_alone(db=db, settings=settings, models=models, lead=lead, source=source, prices=prices)
            for lead in leads
        ]
    results: list[Routed | Exception] = []
    for k, routed in enumerate(together):
        if routed is None:
            first = together[first_of[external_ids[k]]]
            assert first is not None
            routed = replace(first, created=False)
        elif routed.created and figures[k] is not None and prices is not None:
            f = figures[k]
            prices.observe(f.rep_names, f.p_win, f.deal_value)
        results.append(routed)
    return results


def _route_alone(**route: Any) -> Routed | Exception:
    try:
        return route_lead(**route)
    except Exception as exc:  # noqa: BLE001 - handed to this lead's caller, as route_lead would raise it
        return exc


def _stored_payload(lead: Mapping[str, Any]) -> dict[str, Any]:
    """What a lead row keeps of a posted lead: its given fields, JSON-ready (touches have their own table)."""
    return _json_payload({k: v for k, v in lead.items() if k not in ("lead_id", "touches") and v is not None})


def _json_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in payload.items()}


# ------------------------------------------------------------------------------------------ batch


def _batch_decisions(
    leads: Sequence[Lead], scores: Sequence[Scores], ctx: _Context, *, now: datetime, state: Any
) -> list[Decision]:
    """The backlog's decisions: the flow's conditions pick each lead's step (a queue action, or the pool
    to assign from), the exact assignment LP (``routing.optimiser.assign_batch``) places the leads to
    assign under capacities and the flow's fairness bounds, and what it cannot place goes through the
    flow one by one (fall-through, manager queue), on loads that already count the batch."""
    flow = ctx.flow.flow
    reps = ctx.reps
    matched: list[int | None] = []
    for lead, lead_scores in zip(leads, scores, strict=True):
        step = next(
            (
                k
                for k, s in enumerate(flow.steps)
                if s.when.check(lead, lead_scores, reps, flow.territories, flow.maturity) is None
            ),
            None,
        )
        matched.append(step)
    to_place = [i for i, k in enumerate(matched) if k is not None and flow.steps[k].action == "assign"]
    decisions: dict[int, Decision] = {}
    if to_place and reps:
        eligible, _ = screen(reps, ctx.loads, now, require_hours=flow.require_availability)
        ok = {r.id for r in eligible}
        capacity = np.zeros(len(reps))
        for j, rep in enumerate(reps):
            if rep.id in ok:
                load, cap = ctx.loads[rep.id], rep.capacity
                room = [
                    (cap.max_open - load.open_leads) if cap.max_open is not None else len(to_place),
                    (cap.max_per_day - load.assigned_today) if cap.max_per_day is not None else len(to_place),
                    (cap.max_per_week - load.assigned_this_week)
                    if cap.max_per_week is not None
                    else len(to_place),
                ]
                capacity[j] = max(0, min(room))
        busiest = max((ctx.loads[r.id].open_leads for r in reps), default=0) + 1
        values = np.full((len(to_place), len(reps)), -1.0)  # -1: outside the step's pool, never taken
        for row, i in enumerate(to_place):
            step = flow.steps[matched[i]]  # type: ignore[index]
            pool = {r.id for r in flow.pools[step.pool].select(reps)}  # type: ignore[index]
            ev = (
                scores[i].expected_values([r.id for r in reps], flow.objective)
                if scores[i].has_rep_scores
                else np.zeros(len(reps))
            )
            for j, rep in enumerate(reps):
                if rep.id in pool:
                    # 1 + value: placing a lead always beats leaving it; a tiny load term spreads ties.
                    values[row, j] = (
                        1.0 + np.nan_to_num(ev[j]) - 1e-6 * ctx.loads[rep.id].open_leads / busiest
                    )
        bounds = flow.fairness if flow.fairness is not None and flow.fairness.active else None
        weights = [r.weight for r in reps]
        note = ""
        try:
            result = assign_batch(values, capacity, bounds=bounds, weights=weights, assign_all=False)
        except (OptimisationFailed, ValueError) as exc:
            result = assign_batch(values, capacity, weights=weights, assign_all=False)
            note = f"; fairness bounds dropped for this batch ({exc})"
        summary = (
            f"batch of {len(leads)} lead(s), {len(to_place)} for the LP: objective {result.objective:.4f}, "
            f"LP bound {result.lp_bound:.4f} (gap {result.gap:.3%}){note}"
        )
        for row, i in enumerate(to_place):
            j = int(result.assignment[row])
            if j < 0 or values[row, j] <= 0:
                continue
            step_index = matched[i]
            step = flow.steps[step_index]  # type: ignore[index]
            order = np.argsort(-values[row], kind="stable")[:10]
            ev_ids = [reps[k].id for k in order if values[row, k] > 0]
            p = scores[i].expected_values(ev_ids, "wins") if scores[i].has_rep_scores else None
            ranked = [
                CandidateScore(
                    rep_id=rid,
                    score=float(values[row, k]),
                    p_win=None if p is None or np.isnan(p[n]) else float(p[n]),
                    price=float(result.prices[k]),
                    open_leads=ctx.loads[rid].open_leads,
                )
                for n, (k, rid) in enumerate(
                    zip([k for k in order if values[row, k] > 0], ev_ids, strict=True)
                )
            ]
            rep_id = reps[j].id
            decisions[i] = Decision(
                lead_id=leads[i].lead_id,
                outcome=Outcome.assigned,
                rep_id=rep_id,
                decided_at=now,
                strategy="batch_lp",
                explanation=Explanation(
                    step=step.name or f"step {step_index + 1}",  # type: ignore[operator]
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
            ctx.loads[rep_id].record(now, value)
    out: list[Decision] = []
    for i, lead in enumerate(leads):
        decision = decisions.get(i)
        if decision is None:
            decision = engine_route(
                lead=lead,
                reps=reps,
                loads=ctx.loads,
                flow=flow,
                scores=scores[i],
                state=state,
                clock=_At(now),
            )
            if decision.rep_id is not None:
                ctx.loads[decision.rep_id].record(now)
        out.append(decision)
    return out


def route_batch(
    *, db: Database, settings: Settings, models: ModelHolder, leads: Sequence[Mapping[str, Any]]
) -> list[Routed]:
    """Route a backlog together with the batch optimiser; leads routed before keep their decision."""
    ids = [str(lead["lead_id"]) for lead in leads]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise Conflict(f"lead id {dup!r} appears twice in the batch")
    scored = try_score(models=models, leads=leads, rep_names=_active_rep_names(db, models))

    def attempt() -> list[Routed]:
        results: list[Routed | None] = [None] * len(leads)
        with db.write_session() as session:
            now = utcnow()
            new: list[int] = []
            for k, external_id in enumerate(ids):
                found = existing_decision(session=session, external_id=external_id)
                if found is not None:
                    results[k] = found
                else:
                    new.append(k)
            rows: dict[int, LeadRow] = {}
            for k in new:
                rows[k] = LeadRow(external_id=ids[k], payload=_stored_payload(leads[k]), created_at=now)
            if new:
                ctx = _context(session, now)
                figures = [scored[k] if scored else None for k in new]
                scores = [adapters.domain_scores(f, ctx.heads) for f in figures]
                decisions = _batch_decisions(
                    [
                        adapters.domain_lead(
                            ids[k],
                            rows[k].payload,
                            frozenset(t["touch_type"] for t in leads[k].get("touches") or ()),
                        )
                        for k in new
                    ],
                    scores,
                    ctx,
                    now=now,
                    state=repo.DbRoutingState(session),
                )
                for n, k in enumerate(new):
                    results[k] = _store_decision(
                        session,
                        settings=settings,
                        lead=rows[k],
                        decision=decisions[n],
                        flow=ctx.flow,
                        scores=scores[n],
                        figures=figures[n],
                        names=ctx.names,
                        source="batch",
                        now=now,
                        new_lead=True,
                    )
                    repo.add_touches(
                        session=session,
                        lead_id=rows[k].id,
                        touches=list(leads[k].get("touches") or ()),
                        now=now,
                    )
            return [r for r in results if r is not None]

    return with_retries(attempt)


# ------------------------------------------------------------------------------------ after offer


def _load_assignment(session: Session, assignment_id: int, *, rep_id: int | None) -> AssignmentRow:
    """The assignment, or NotFound also when a rep asks for someone else's (no existence leak)."""
    row = repo.get_assignment(session=session, assignment_id=assignment_id)
    if row is None or (rep_id is not None and row.rep_id != rep_id):
        raise NotFound(f"assignment {assignment_id} not found")
    return row


def get_assignment(*, session: Session, assignment_id: int, rep_id: int | None) -> Routed:
    row = _load_assignment(session, assignment_id, rep_id=rep_id)
    lead = session.get(LeadRow, row.lead_id)
    assert lead is not None
    return _routed(session, row, lead, created=False)


def accept(*, db: Database, assignment_id: int, rep_id: int | None) -> Routed:
    def attempt() -> Routed:
        with db.write_session() as session:
            row = _load_assignment(session, assignment_id, rep_id=rep_id)
            now = utcnow()
            if not repo.transition(
                session=session,
                assignment_id=row.id,
                from_states=["offered"],
                to_state="accepted",
                responded_at=now,
            ):
                session.refresh(row)
                raise Conflict(
                    f"assignment {assignment_id} is {row.state}: only an offered lead can be accepted"
                )
            session.refresh(row)
            lead = session.get(LeadRow, row.lead_id)
            assert lead is not None
            return _routed(session, row, lead, created=False)

    return with_retries(attempt)


def _pending(session: Session, row: AssignmentRow, lead: LeadRow) -> PendingLead:
    """The engine's view of an offer waiting for acceptance: who had the lead before and how many times
    it was already re-routed (rejections and lapses; manual moves do not count)."""
    history = session.execute(
        select(AssignmentRow.rep_id, AssignmentRow.source)
        .where(AssignmentRow.lead_id == lead.id)
        .order_by(AssignmentRow.id)
    ).all()
    assert row.rep_id is not None
    before = [str(r) for r, _ in history if r is not None and r != row.rep_id]
    return PendingLead(
        lead_id=lead.external_id,
        rep_id=str(row.rep_id),
        assigned_at=row.created_at,
        deadline=row.expires_at or row.created_at,
        reassignments=sum(1 for _, source in history if source in REASSIGNED_SOURCES),
        lapsed_reps=tuple(dict.fromkeys(before)),
    )


def _lead_figures(db: Database, models: ModelHolder, lead_id: int) -> LeadFigures | None:
    with db.read_session() as session:
        lead = session.get(LeadRow, lead_id)
        payload = (
            {
                "lead_id": lead.external_id,
                **lead.payload,
                "touches": repo.lead_touches(session=session, lead_id=lead.id),
            }
            if lead
            else None
        )
    if payload is None:
        return None
    scored = try_score(models=models, leads=[payload], rep_names=_active_rep_names(db, models))
    return scored[0] if scored else None


def reject(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    assignment_id: int,
    rep_id: int | None,
    reason: str,
    prices: PriceBook | None = None,
) -> tuple[Routed, Routed]:
    """Reject an offered or accepted lead; it is routed again, away from every rep who had it (the
    manager queue after ``max_reassignments``).

    Returns the rejected assignment and the new decision."""
    with db.read_session() as session:
        first = _load_assignment(session, assignment_id, rep_id=rep_id)
    figures = _lead_figures(db, models, first.lead_id)

    def attempt() -> tuple[Routed, Routed]:
        with db.write_session() as session:
            row = _load_assignment(session, assignment_id, rep_id=rep_id)
            now = utcnow()
            if not repo.transition(
                session=session,
                assignment_id=row.id,
                from_states=list(OPEN_STATES),
                to_state="rejected",
                responded_at=now,
                closed_at=now,
                reason=reason or None,
            ):
                session.refresh(row)
                raise Conflict(
                    f"assignment {assignment_id} is {row.state}: only an open lead can be rejected"
                )
            assert row.rep_id is not None
            repo.release_capacity(session=session, rep_id=row.rep_id)
            session.refresh(row)
            lead = session.get(LeadRow, row.lead_id)
            assert lead is not None
            new = _decide_and_store(
                session,
                settings=settings,
                lead=lead,
                figures=figures,
                source="reroute",
                now=now,
                prices=prices,
                pending=_pending(session, row, lead),
                pending_reason="rejected",
            )
            return _routed(session, row, lead, created=False), new

    return with_retries(attempt)


def record_outcome(
    *, db: Database, assignment_id: int, rep_id: int | None, result: str, value: float | None
) -> Routed:
    def attempt() -> Routed:
        with db.write_session() as session:
            row = _load_assignment(session, assignment_id, rep_id=rep_id)
            now = utcnow()
            if not repo.transition(
                session=session,
                assignment_id=row.id,
                from_states=list(OPEN_STATES),
                to_state=result,
                closed_at=now,
            ):
                session.refresh(row)
                raise Conflict(
                    f"assignment {assignment_id} is {row.state}: an outcome needs an offered or accepted lead"
                )
            assert row.rep_id is not None
            repo.release_capacity(session=session, rep_id=row.rep_id)
            session.add(
                OutcomeRow(
                    assignment_id=row.id,
                    lead_id=row.lead_id,
                    rep_id=row.rep_id,
                    result=result,
                    value=value,
                    recorded_at=now,
                )
            )
            lead = session.get(LeadRow, row.lead_id)
            assert lead is not None
            lead.status = "closed"
            session.flush()
            session.refresh(row)
            return _routed(session, row, lead, created=False)

    return with_retries(attempt)


# --------------------------------------------------------------------------- marketing: touches, returns


@dataclass(frozen=True)
class TouchesAdded:
    lead: LeadRow
    added: int
    total: int
    sales_ready: bool | None  # judged only for a lead waiting in nurture
    why: str | None
    routed: Routed | None  # the new decision when the lead matured out of nurture


def add_touches(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    external_id: str,
    touches: Sequence[Mapping[str, Any]],
    prices: PriceBook | None = None,
) -> TouchesAdded:
    """Append touches to a stored lead. A lead waiting in nurture (put there by the flow or handed back
    by a rep) that is now sales-ready under the active flow's ``[maturity]`` goes through the flow again:
    a new decision row, in the same transaction as the touches; the earlier decisions stay. After a
    return, only touches timestamped after it count as revealing acts (the score counts as always)."""
    with db.read_session() as session:
        lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
        if lead is None:
            raise NotFound(f"lead {external_id!r} not found")
        everything = [*repo.lead_touches(session=session, lead_id=lead.id), *touches]
        payload = {"lead_id": lead.external_id, **lead.payload, "touches": everything}

    def in_nurture(row: LeadRow) -> bool:
        return row.status == "queued" and row.queue == "nurture"

    def figures_of() -> LeadFigures | None:
        scored = try_score(models=models, leads=[payload], rep_names=_active_rep_names(db, models))
        return scored[0] if scored else None

    # Only a lead waiting in nurture is judged (most touches arrive for leads already with a rep): score it
    # before the write transaction, or inside it should it have gone to nurture meanwhile.
    scored_ahead = in_nurture(lead)
    figures_ahead = figures_of() if scored_ahead else None

    def attempt() -> TouchesAdded:
        with db.write_session() as session:
            lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
            if lead is None:
                raise NotFound(f"lead {external_id!r} not found")
            now = utcnow()
            repo.add_touches(session=session, lead_id=lead.id, touches=list(touches), now=now)
            total = len(everything)
            if not in_nurture(lead):
                return TouchesAdded(lead, len(touches), total, None, None, None)
            figures = figures_ahead if scored_ahead else figures_of()
            # A lead a rep handed back matures *again*: only the acts since the return count.
            returned_at = repo.last_return_at(session=session, lead_id=lead.id)
            types = repo.lead_touch_types(session=session, lead_id=lead.id, since=returned_at)
            flow = engine_bridge.current_flow(session, FLOW_NAME).flow
            ready, why = flow.maturity.assess(
                adapters.domain_lead(lead.external_id, lead.payload, types),
                adapters.domain_scores(figures, []),
            )
            if not ready:
                return TouchesAdded(lead, len(touches), total, False, why, None)
            _take_from_queue(session, lead, now=now)
            routed = _decide_and_store(
                session,
                settings=settings,
                lead=lead,
                figures=figures,
                source="matured",
                now=now,
                prices=prices,
                touch_types=types,
            )
            return TouchesAdded(lead, len(touches), total, True, why, routed)

    return with_retries(attempt)


def return_to_marketing(
    *,
    db: Database,
    assignment_id: int,
    rep_id: int | None,
    reason: str,
    note: str | None,
    returned_by: str,
) -> Routed:
    """The rep (or a manager) hands an open lead back to marketing: the assignment ends as ``returned``,
    the rep's capacity is freed in the same transaction, the reason is stored and the lead waits in
    nurture until new touches make it sales-ready (``add_touches``). ``rep_id`` restricts to that rep's
    assignments (a rep key); the reason is checked against ``Settings.return_reasons`` by the caller."""

    def attempt() -> Routed:
        with db.write_session() as session:
            row = repo.get_assignment(session=session, assignment_id=assignment_id)
            if row is None:
                raise NotFound(f"assignment {assignment_id} not found")
            if rep_id is not None and row.rep_id != rep_id:
                raise NotAllowed(
                    f"assignment {assignment_id} is not yours: only its rep (or a manager) may return it"
                )
            now = utcnow()
            if row.rep_id is None or not repo.transition(
                session=session,
                assignment_id=row.id,
                from_states=list(OPEN_STATES),
                to_state="returned",
                closed_at=now,
                reason=f"returned to marketing: {reason}" + (f" ({note})" if note else ""),
            ):
                session.refresh(row)
                raise Conflict(
                    f"assignment {assignment_id} is {row.state}: only an offered or accepted lead can be returned"
                )
            repo.release_capacity(session=session, rep_id=row.rep_id)
            session.add(
                LeadReturnRow(
                    assignment_id=row.id,
                    lead_id=row.lead_id,
                    rep_id=row.rep_id,
                    reason=reason,
                    note=note or None,
                    returned_by=returned_by,
                    returned_at=now,
                )
            )
            lead = session.get(LeadRow, row.lead_id)
            assert lead is not None
            lead.status, lead.queue, lead.pool, lead.blind = "queued", "nurture", None, False
            session.flush()
            session.refresh(row)
            return _routed(session, row, lead, created=False)

    return with_retries(attempt)


def sweep_expired(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    limit: int = 500,
    prices: PriceBook | None = None,
) -> int:
    """Expire offers past their SLA and route those leads again (``routing.sla.reassign``: away from the
    reps who let them lapse, to the manager queue after ``max_reassignments``).

    Safe with many workers: the conditional UPDATE lets exactly one of them expire a given offer."""
    with db.read_session() as session:
        overdue = [(a.id, a.lead_id) for a in repo.overdue_offers(session=session, now=utcnow(), limit=limit)]
    expired = 0
    for assignment_id, lead_id in overdue:
        figures = _lead_figures(db, models, lead_id)

        def attempt(assignment_id: int = assignment_id, figures: LeadFigures | None = figures) -> bool:
            with db.write_session() as session:
                now = utcnow()
                row = session.get(AssignmentRow, assignment_id)
                lead = session.get(LeadRow, row.lead_id) if row is not None else None
                if row is None or lead is None or row.state != "offered":
                    return False
                pending = _pending(session, row, lead)
                if not pending.is_overdue(now) or not repo.transition(
                    session=session,
                    assignment_id=assignment_id,
                    from_states=["offered"],
                    to_state="expired",
                    closed_at=now,
                    reason="not accepted within the SLA",
                ):
                    return False  # accepted, rejected or expired by another worker meanwhile
                repo.release_capacity(session=session, rep_id=int(pending.rep_id))
                _decide_and_store(
                    session,
                    settings=settings,
                    lead=lead,
                    figures=figures,
                    source="expiry",
                    now=now,
                    prices=prices,
                    pending=pending,
                    pending_reason="sla",
                )
                return True

        if with_retries(attempt):
            expired += 1
    if expired:
        from leadwise.api.metrics import EXPIRED

        EXPIRED.inc(expired)
    return expired


# ------------------------------------------------------------------------------------- pools, manual


def pool_leads(*, session: Session, pools: Sequence[str] | None, queues: Sequence[str]) -> list[LeadRow]:
    """Queued leads in ``queues``; ``pools`` restricts the pool queue to those names (None: all)."""
    query = select(LeadRow).where(LeadRow.status == "queued", LeadRow.queue.in_(list(queues)))
    if pools is not None:
        query = query.where((LeadRow.queue != "pool") | LeadRow.pool.in_(list(pools)))
    return list(session.scalars(query.order_by(LeadRow.created_at, LeadRow.id).limit(500)))


def _take_from_queue(session: Session, lead: LeadRow, *, now: datetime) -> None:
    """Move the lead out of its queue; the conditional UPDATE makes concurrent claims lose cleanly."""
    result = session.execute(
        update(LeadRow)
        .where(LeadRow.id == lead.id, LeadRow.status == "queued")
        .values(status="assigned", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyClaimed(f"lead {lead.external_id!r} is no longer waiting in a queue")
    session.execute(
        update(AssignmentRow)
        .where(
            AssignmentRow.lead_id == lead.id,
            AssignmentRow.state == "queued",
            AssignmentRow.closed_at.is_(None),
        )
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )


def claim(*, db: Database, settings: Settings, external_id: str, rep_id: int) -> Routed:
    """A rep takes a lead from one of their pools (accepted at once: claiming is accepting).

    The rules are the routing package's (``routing.pull.check_claim``: active, within capacity); the
    first-come guarantee is a conditional UPDATE on the lead's status."""

    def attempt() -> Routed:
        with db.write_session() as session:
            rep = repo.lock_rep(session=session, rep_id=rep_id)
            lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
            visible = (
                lead is not None
                and rep is not None
                and lead.queue == "pool"
                and lead.pool in (rep.pools or [])
            )
            if not visible:
                raise NotFound(f"lead {external_id!r} is not in any of your pools")
            assert lead is not None and rep is not None
            if lead.status != "queued":
                raise AlreadyClaimed(f"lead {external_id!r} was already claimed")
            now = utcnow()
            check_claim(adapters.domain_rep(rep), _row_load(rep, now))
            _take_from_queue(session, lead, now=now)
            if not repo.take_lead(session=session, rep_id=rep_id, now=now, value=lead.expected_value):
                raise CapacityExhausted(f"rep {rep_id} is at capacity ({rep.capacity} open leads)")
            pool = lead.pool
            waited = (now - lead.created_at).total_seconds()
            strategy = "blind_claim" if lead.blind else "claim"
            decision = Decision(
                lead_id=external_id,
                outcome=Outcome.assigned,
                rep_id=str(rep_id),
                decided_at=now,
                strategy=strategy,
                explanation=Explanation(
                    pool=pool, strategy=strategy, notes=[f"claimed from pool {pool!r} after {waited:.0f}s"]
                ),
            )
            row = AssignmentRow(
                lead_id=lead.id,
                rep_id=rep_id,
                state="accepted",
                source="claim",
                strategy=strategy,
                rule=f"claimed from pool {pool}",
                explanation=decision.to_json_dict(),
                alternatives=[],
                created_at=now,
                responded_at=now,
            )
            session.add(row)
            session.flush()
            session.add(
                PoolClaimRow(lead_id=lead.id, rep_id=rep_id, pool=pool, assignment_id=row.id, claimed_at=now)
            )
            lead.queue, lead.pool, lead.blind = None, None, False
            session.flush()
            return Routed(assignment=row, lead=lead, rep_name=rep.name, flow_version=None, created=True)

    return with_retries(attempt)


def _row_load(rep: RepRow, now: datetime) -> RepLoad:
    day, week = repo.day_and_week(now)
    return RepLoad(
        open_leads=rep.open_leads,
        assigned_today=rep.assigned_today if rep.count_day == day else 0,
        assigned_this_week=rep.assigned_week if rep.count_week == week else 0,
    )


def manual_assign(
    *,
    db: Database,
    settings: Settings,
    external_id: str,
    rep_id: int,
    reason: str,
    manager: str = "a manager",
) -> Routed:
    """A manager gives the lead to a rep: from a queue, or away from the rep who has it now. Respects
    nothing but the active flag and the open-lead capacity (``routing.manual_assign``); logged as manual."""

    def attempt() -> Routed:
        with db.write_session() as session:
            rep = repo.lock_rep(session=session, rep_id=rep_id)
            if rep is None:
                raise RepNotFound(f"rep {rep_id} not found")
            lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
            if lead is None:
                raise NotFound(f"lead {external_id!r} not found")
            now = utcnow()
            decision = engine_manual_assign(
                lead=adapters.domain_lead(lead.external_id, lead.payload),
                rep=adapters.domain_rep(rep),
                manager=manager,
                clock=_At(now),
                note=reason,
            )
            if lead.status == "closed":
                raise Conflict(f"lead {external_id!r} is closed (won or lost)")
            if lead.status == "queued":
                _take_from_queue(session, lead, now=now)
            else:
                live = session.scalar(
                    select(AssignmentRow).where(
                        AssignmentRow.lead_id == lead.id, AssignmentRow.state.in_(OPEN_STATES)
                    )
                )
                if live is not None:
                    if live.rep_id == rep_id:
                        raise Conflict(f"lead {external_id!r} is already with rep {rep_id}")
                    repo.transition(
                        session=session,
                        assignment_id=live.id,
                        from_states=list(OPEN_STATES),
                        to_state="rejected",
                        closed_at=now,
                        reason=f"reassigned by a manager to rep {rep_id}",
                    )
                    assert live.rep_id is not None
                    repo.release_capacity(session=session, rep_id=live.rep_id)
                    session.flush()
            if rep.open_leads >= rep.capacity:
                raise CapacityExhausted(
                    f"rep {rep_id} ({rep.name}) is at capacity: {rep.capacity} open leads"
                )
            return _store_decision(
                session,
                settings=settings,
                lead=lead,
                decision=decision,
                flow=None,
                scores=adapters.domain_scores(None, []),
                figures=None,
                names={str(rep.id): rep.name},
                source="manual",
                now=now,
            )

    return with_retries(attempt)


# -------------------------------------------------------------------------------------------- checks


def consistency_problems(*, session: Session) -> list[str]:
    """Invariants a crash must not break (used by tests and worth running after an incident)."""
    problems: list[str] = []
    counts = repo.open_assignment_counts(session=session)
    for rep in repo.list_reps(session=session):
        if rep.open_leads != counts.get(rep.id, 0):
            problems.append(
                f"rep {rep.id}: counter {rep.open_leads} != {counts.get(rep.id, 0)} open assignments"
            )
        if rep.open_leads > rep.capacity:
            problems.append(f"rep {rep.id}: {rep.open_leads} open leads over capacity {rep.capacity}")
    orphan = session.scalar(
        select(func.count())
        .select_from(LeadRow)
        .where(~select(AssignmentRow.id).where(AssignmentRow.lead_id == LeadRow.id).exists())
    )
    if orphan:
        problems.append(f"{orphan} lead(s) stored without a decision")
    assigned_without_live = session.scalar(
        select(func.count())
        .select_from(LeadRow)
        .where(
            LeadRow.status == "assigned",
            ~select(AssignmentRow.id)
            .where(AssignmentRow.lead_id == LeadRow.id, AssignmentRow.state.in_(OPEN_STATES))
            .exists(),
        )
    )
    if assigned_without_live:
        problems.append(f"{assigned_without_live} assigned lead(s) without an open assignment")
    return problems
