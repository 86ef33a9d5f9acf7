"""Routing with persistence: every decision the engine makes is stored in the same transaction that
checks and takes the rep's capacity.

The sequence for one lead, on both databases:
1. score the lead outside any transaction (model inference never holds a database lock);
2. open a write transaction: ``BEGIN IMMEDIATE`` on SQLite (the writer lock), and on PostgreSQL
   ``SELECT ... FOR UPDATE`` on the active reps in id order, so no other router reads the same loads;
3. if the lead id is already stored, return its decision (idempotency); otherwise decide with the
   routing engine on the locked loads, insert the lead, take the capacity with a conditional UPDATE
   (``open_leads < capacity``) and insert the assignment;
4. commit. A crash before the commit leaves nothing; after it, everything.
The unique lead id and the partial unique index on live assignments back this up at the database
level should anything get past the locks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from leadwise.routing.domain import (
    AlreadyClaimed,
    CapacityExhausted,
    Decision,
    InactiveRep,
    Outcome,
    RepNotFound,
)
from leadwise.services import adapters, engine_bridge
from leadwise.services.errors import Conflict, NotFound, Unavailable
from leadwise.services.models import ModelHolder
from leadwise.services.scoring import LeadFigures, try_score
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import (
    OPEN_STATES,
    AssignmentRow,
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


@dataclass(frozen=True)
class Routed:
    assignment: AssignmentRow
    lead: LeadRow
    rep_name: str | None
    flow_version: int | None
    created: bool


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


def _active_rep_names(db: Database, models: ModelHolder) -> list[str]:
    if models.current is None:  # rules-only: no rep scores to compute
        return []
    with db.read_session() as session:
        return repo.active_rep_names(session=session)


def _decide_and_store(
    session: Session,
    *,
    settings: Settings,
    lead: LeadRow,
    figures: LeadFigures | None,
    exclude: Sequence[str] = (),
    source: str,
    now: datetime,
) -> AssignmentRow:
    """Decide for ``lead`` on locked reps and store the decision (capacity taken in the same step)."""
    reps = repo.lock_active_reps(session=session)
    flow_row = repo.active_flow(session=session)
    figures_by_rep = repo.load_figures(
        session=session, now=now, window=engine_bridge.fairness_window(flow_row)
    )
    decision = engine_bridge.decide(
        lead=adapters.domain_lead(lead.external_id, lead.payload),
        reps=adapters.domain_reps(session, reps),
        loads=adapters.domain_loads(reps, figures_by_rep),
        scores=adapters.domain_scores(figures, reps),
        state=repo.DbRoutingState(session),
        flow=flow_row,
        now=now,
        exclude=exclude,
    )
    return _store_decision(
        session,
        settings=settings,
        lead=lead,
        decision=decision,
        flow_row=flow_row,
        figures=figures,
        source=source,
        now=now,
    )


def _store_decision(
    session: Session,
    *,
    settings: Settings,
    lead: LeadRow,
    decision: Decision,
    flow_row: RoutingFlowRow | None,
    figures: LeadFigures | None,
    source: str,
    now: datetime,
) -> AssignmentRow:
    explanation = decision.explanation
    chosen = next((c for c in explanation.eligible if c.rep_id == decision.rep_id), None)
    alternatives = [c.model_dump(mode="json") for c in explanation.eligible if c.rep_id != decision.rep_id]
    row = AssignmentRow(
        lead_id=lead.id,
        source=source,
        rule=explanation.step,
        strategy=decision.strategy or explanation.strategy,
        explanation=decision.to_json_dict(),
        alternatives=alternatives[:10],
        model_version=explanation.model_version or (figures.model_version if figures else None),
        flow_id=flow_row.id if flow_row is not None else None,
        p_win=chosen.p_win if chosen is not None else None,
        expected_value=chosen.expected_value if chosen is not None else None,
        created_at=now,
    )
    if decision.outcome == Outcome.assigned and decision.rep_id is not None:
        rep_id = int(decision.rep_id)
        if not repo.take_capacity(session=session, rep_id=rep_id):
            # The engine saw the same locked loads, so this only fires if a lock was bypassed.
            raise CapacityExhausted(f"rep {rep_id} is at capacity")
        row.rep_id, row.state = rep_id, "offered"
        row.expires_at = now + timedelta(minutes=settings.accept_sla_minutes)
        lead.status, lead.queue, lead.pool, lead.blind = "assigned", None, None, False
    else:
        queue = QUEUE_OF_OUTCOME.get(decision.outcome, "manager")
        row.queue, row.state = queue, "queued"
        lead.status, lead.queue = "queued", queue
        lead.pool = (explanation.pool or "default") if queue == "pool" else None
        lead.blind = decision.outcome == Outcome.blind_pool
    if figures is not None:
        lead.score, lead.expected_value = figures.score, figures.score * figures.deal_value
    session.add(row)
    session.flush()
    from leadwise.api.metrics import DECISIONS

    DECISIONS.labels(row.strategy or "none", decision.outcome.value, source).inc()
    return row


def route_lead(
    *, db: Database, settings: Settings, models: ModelHolder, lead: Mapping[str, Any], source: str = "route"
) -> Routed:
    """Route one lead (``lead["lead_id"]`` is the caller's id); posting the same id again returns the
    stored decision and changes nothing."""
    external_id = str(lead["lead_id"])
    with db.read_session() as session:
        found = existing_decision(session=session, external_id=external_id)
        if found is not None:
            return found
    payload = {k: v for k, v in lead.items() if k != "lead_id" and v is not None}
    scored = try_score(models=models, leads=[lead], rep_names=_active_rep_names(db, models))
    figures = scored[0] if scored else None

    def attempt() -> Routed:
        with db.write_session() as session:
            found = existing_decision(session=session, external_id=external_id)
            if found is not None:
                return found
            now = utcnow()
            row = LeadRow(external_id=external_id, payload=_json_payload(payload), created_at=now)
            session.add(row)
            session.flush()
            assignment = _decide_and_store(
                session, settings=settings, lead=row, figures=figures, source=source, now=now
            )
            return _routed(session, assignment, row, created=True)

    try:
        return with_retries(attempt)
    except IntegrityError:
        # Same lead id inserted by a concurrent request between our check and insert: theirs stands.
        with db.read_session() as session:
            found = existing_decision(session=session, external_id=external_id)
        if found is None:
            raise
        return found


def _json_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in payload.items()}


def route_batch(
    *, db: Database, settings: Settings, models: ModelHolder, leads: Sequence[Mapping[str, Any]]
) -> list[Routed]:
    """Route a backlog together: the engine's batch optimiser assigns all new leads at once."""
    ids = [str(lead["lead_id"]) for lead in leads]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise Conflict(f"lead id {dup!r} appears twice in the batch")
    names = _active_rep_names(db, models)
    scored = try_score(models=models, leads=leads, rep_names=names)

    def attempt() -> list[Routed]:
        results: list[Routed | None] = [None] * len(leads)
        with db.write_session() as session:
            now = utcnow()
            reps = repo.lock_active_reps(session=session)
            flow_row = repo.active_flow(session=session)
            new: list[int] = []
            for k, external_id in enumerate(ids):
                found = existing_decision(session=session, external_id=external_id)
                if found is not None:
                    results[k] = found
                else:
                    new.append(k)
            rows: dict[int, LeadRow] = {}
            for k in new:
                payload = {f: v for f, v in leads[k].items() if f != "lead_id" and v is not None}
                rows[k] = LeadRow(external_id=ids[k], payload=_json_payload(payload), created_at=now)
                session.add(rows[k])
            session.flush()
            figures_by_rep = repo.load_figures(
                session=session, now=now, window=engine_bridge.fairness_window(flow_row)
            )
            decisions = engine_bridge.decide_batch(
                leads=[adapters.domain_lead(ids[k], rows[k].payload) for k in new],
                reps=adapters.domain_reps(session, reps),
                loads=adapters.domain_loads(reps, figures_by_rep),
                scores=[adapters.domain_scores(scored[k] if scored else None, reps) for k in new],
                state=repo.DbRoutingState(session),
                flow=flow_row,
                now=now,
            )
            for k, decision in zip(new, decisions, strict=True):
                assignment = _store_decision(
                    session,
                    settings=settings,
                    lead=rows[k],
                    decision=decision,
                    flow_row=flow_row,
                    figures=scored[k] if scored else None,
                    source="batch",
                    now=now,
                )
                results[k] = _routed(session, assignment, rows[k], created=True)
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


def _previous_reps(session: Session, lead_id: int) -> list[str]:
    query = select(AssignmentRow.rep_id).where(
        AssignmentRow.lead_id == lead_id, AssignmentRow.rep_id.is_not(None)
    )
    return [str(r) for r in session.scalars(query)]


def _lead_figures(db: Database, models: ModelHolder, lead_id: int) -> LeadFigures | None:
    with db.read_session() as session:
        lead = session.get(LeadRow, lead_id)
        payload = {"lead_id": lead.external_id, **lead.payload} if lead else None
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
) -> tuple[Routed, Routed]:
    """Reject an offered or accepted lead; it is routed again, away from every rep who had it.

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
                exclude=_previous_reps(session, lead.id),
                source="reroute",
                now=now,
            )
            return _routed(session, row, lead, created=False), _routed(session, new, lead, created=True)

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


def sweep_expired(*, db: Database, settings: Settings, models: ModelHolder, limit: int = 500) -> int:
    """Expire offers past their SLA and route those leads again (away from the reps who let them lapse).

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
                if row is None or not repo.transition(
                    session=session,
                    assignment_id=assignment_id,
                    from_states=["offered"],
                    to_state="expired",
                    closed_at=now,
                    reason="not accepted within the SLA",
                ):
                    return False  # accepted, rejected or expired by another worker meanwhile
                assert row.rep_id is not None
                repo.release_capacity(session=session, rep_id=row.rep_id)
                lead = session.get(LeadRow, row.lead_id)
                assert lead is not None
                _decide_and_store(
                    session,
                    settings=settings,
                    lead=lead,
                    figures=figures,
                    exclude=_previous_reps(session, lead.id),
                    source="expiry",
                    now=now,
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
    """A rep takes a lead from one of their pools (accepted at once: claiming is accepting)."""

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
            if not rep.active:
                raise InactiveRep(f"rep {rep_id} is inactive")
            now = utcnow()
            _take_from_queue(session, lead, now=now)
            if not repo.take_capacity(session=session, rep_id=rep_id):
                raise CapacityExhausted(f"rep {rep_id} is at capacity ({rep.capacity} open leads)")
            pool = lead.pool
            row = AssignmentRow(
                lead_id=lead.id,
                rep_id=rep_id,
                state="accepted",
                source="claim",
                strategy="claim",
                rule=f"claimed from pool {pool}",
                explanation={"claimed_by": rep_id, "pool": pool},
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
            return _routed(session, row, lead, created=True)

    return with_retries(attempt)


def manual_assign(*, db: Database, settings: Settings, external_id: str, rep_id: int, reason: str) -> Routed:
    """A manager gives the lead to a rep: from a queue, or away from the rep who has it now."""

    def attempt() -> Routed:
        with db.write_session() as session:
            rep = repo.lock_rep(session=session, rep_id=rep_id)
            if rep is None:
                raise RepNotFound(f"rep {rep_id} not found")
            if not rep.active:
                raise InactiveRep(f"rep {rep_id} ({rep.name}) is inactive")
            lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
            if lead is None:
                raise NotFound(f"lead {external_id!r} not found")
            now = utcnow()
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
            if not repo.take_capacity(session=session, rep_id=rep_id):
                raise CapacityExhausted(
                    f"rep {rep_id} ({rep.name}) is at capacity: {rep.capacity} open leads"
                )
            row = AssignmentRow(
                lead_id=lead.id,
                rep_id=rep_id,
                state="offered",
                source="manual",
                strategy="manual",
                rule="manual assignment",
                explanation={"manual": True, "reason": reason},
                alternatives=[],
                created_at=now,
                expires_at=now + timedelta(minutes=settings.accept_sla_minutes),
            )
            session.add(row)
            lead.status, lead.queue, lead.pool, lead.blind = "assigned", None, None, False
            session.flush()
            return _routed(session, row, lead, created=True)

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
