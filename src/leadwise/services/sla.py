"""The acceptance SLA: offers not accepted in time expire and their leads are routed again, away from the
reps who let them lapse (``routing.sla.reassign``), to the manager queue after ``max_reassignments``."""

from __future__ import annotations

from sqlalchemy import select

from leadwise.routing.sla import PendingLead
from leadwise.services import adapters, decisions, events
from leadwise.services.models import ModelHolder
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import ScoredLead
from leadwise.services.unit_of_work import UnitOfWork, transaction
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow, LeadRow, utcnow

REASSIGNED_SOURCES = ("reroute", "expiry")  # decisions that count towards ``max_reassignments``


def pending_of(unit: UnitOfWork, row: AssignmentRow, lead: LeadRow) -> PendingLead:
    """The engine's view of an offer waiting for acceptance: who had the lead before and how many times
    it was already re-routed (rejections and lapses; manual moves do not count)."""
    history = unit.session.execute(
        select(AssignmentRow.rep_id, AssignmentRow.source)
        .where(AssignmentRow.lead_id == lead.id)
        .order_by(AssignmentRow.id)
    ).all()
    assert row.rep_id is not None
    before = [adapters.rep_id(r) for r, _ in history if r is not None and r != row.rep_id]
    return PendingLead(
        lead_id=lead.external_id,
        rep_id=adapters.rep_id(row.rep_id),
        assigned_at=row.created_at,
        deadline=row.expires_at or row.created_at,
        reassignments=sum(1 for _, source in history if source in REASSIGNED_SOURCES),
        lapsed_reps=tuple(dict.fromkeys(before)),
    )


def sweep_expired(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    limit: int = 500,
    prices: PriceBook | None = None,
) -> int:
    """Expire offers past their SLA and route those leads again; returns how many expired.

    Safe with many workers: the conditional UPDATE lets exactly one of them expire a given offer."""
    from leadwise.services.assignments import rescore

    with db.read_session() as session:
        overdue = [(a.id, a.lead_id) for a in repo.overdue_offers(session=session, now=utcnow(), limit=limit)]
    expired = 0
    for assignment_id, lead_key in overdue:
        scored = rescore(db, models, lead_key)

        def work(unit: UnitOfWork, assignment_id: int = assignment_id, scored: ScoredLead = scored) -> bool:
            row = unit.session.get(AssignmentRow, assignment_id)
            lead = unit.session.get(LeadRow, row.lead_id) if row is not None else None
            if row is None or lead is None or row.state != "offered":
                return False
            pending = pending_of(unit, row, lead)
            if not pending.is_overdue(unit.now) or not unit.move(
                row,
                to_state="expired",
                from_states=["offered"],
                refused=None,  # accepted, rejected or expired by another worker meanwhile
                closed_at=unit.now,
                reason="not accepted within the SLA",
            ):
                return False
            decisions.reroute(
                unit, settings=settings, row=lead, scored=scored, pending=pending, reason="sla", source="expiry", prices=prices
            )
            unit.emit(events.OffersExpired(1))
            return True

        if transaction(db, work):
            expired += 1
    return expired
