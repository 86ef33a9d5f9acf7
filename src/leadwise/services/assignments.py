"""An offered lead's life: read it, accept it, reject it (it is routed again), record its outcome.

A rep key (``rep_id`` given) reaches only that rep's assignments; another's answers 404 like a missing one.
"""

from __future__ import annotations

from sqlalchemy import select

from leadwise.errors import Conflict, NotFound
from leadwise.services import adapters, context, decisions
from leadwise.services.models import ModelHolder
from leadwise.services.persist import Routed, routed_of
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import ScoredLead, score_for_routing
from leadwise.services.sla import pending_of
from leadwise.services.unit_of_work import UnitOfWork, lead_of, transaction, visible_assignment
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import OPEN_STATES, LeadRow, OutcomeCorrectionRow, OutcomeRow


def get_assignment(*, db: Database, assignment_id: int, rep_id: int | None) -> Routed:
    with db.read_session() as session:
        row = visible_assignment(session, assignment_id, rep_id=rep_id)
        return routed_of(session, row, lead_of(session, row))


def rescore(db: Database, models: ModelHolder, lead_key: int) -> ScoredLead:
    """A stored lead scored again (outside any transaction) for a new decision on it."""
    with db.read_session() as session:
        row = session.get(LeadRow, lead_key)
        if row is None:
            raise NotFound(f"lead {lead_key} not found")
        lead = adapters.lead_with_touches(row, repo.lead_touches(session=session, lead_id=row.id))
    (scored,) = score_for_routing(models=models, leads=[lead], reps=context.active_reps(db))
    return scored


def accept(*, db: Database, assignment_id: int, rep_id: int | None) -> Routed:
    def work(unit: UnitOfWork) -> Routed:
        row = unit.assignment(assignment_id, rep_id=rep_id)
        unit.move(
            row,
            to_state="accepted",
            from_states=["offered"],
            refused=f"assignment {assignment_id} is {{state}}: only an offered lead can be accepted",
            release=False,
            responded_at=unit.now,
        )
        return routed_of(unit.session, row, unit.lead_of(row))

    return transaction(db, work)


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
    manager queue after ``max_reassignments``). Returns the rejected assignment and the new decision."""
    with db.read_session() as session:
        first = visible_assignment(session, assignment_id, rep_id=rep_id)
    scored = rescore(db, models, first.lead_id)

    def work(unit: UnitOfWork) -> tuple[Routed, Routed]:
        row = unit.assignment(assignment_id, rep_id=rep_id)
        unit.move(
            row,
            to_state="rejected",
            from_states=OPEN_STATES,
            refused=f"assignment {assignment_id} is {{state}}: only an open lead can be rejected",
            responded_at=unit.now,
            closed_at=unit.now,
            reason=reason or None,
        )
        lead = unit.lead_of(row)
        pending = pending_of(unit, row, lead)
        new = decisions.reroute(
            unit, settings=settings, row=lead, scored=scored, pending=pending, reason="rejected", source="reroute", prices=prices
        )
        return routed_of(unit.session, row, lead), new

    return transaction(db, work)


def record_outcome(
    *, db: Database, assignment_id: int, rep_id: int | None, result: str, value: float | None
) -> Routed:
    """Won or lost: closes the lead and frees the rep's capacity."""

    def work(unit: UnitOfWork) -> Routed:
        row = unit.assignment(assignment_id, rep_id=rep_id)
        unit.move(
            row,
            to_state=result,
            from_states=OPEN_STATES,
            refused=(
                f"assignment {assignment_id} is {{state}}: an outcome needs an offered or accepted lead "
                f"(a manager corrects a recorded one with POST /v1/assignments/{assignment_id}/outcome/correction)"
            ),
            closed_at=unit.now,
        )
        assert row.rep_id is not None  # an open assignment has its rep
        unit.session.add(
            OutcomeRow(
                assignment_id=row.id,
                lead_id=row.lead_id,
                rep_id=row.rep_id,
                result=result,
                value=value,
                recorded_at=unit.now,
            )
        )
        lead = unit.lead_of(row)
        lead.status = "closed"
        unit.session.flush()
        return routed_of(unit.session, row, lead)

    return transaction(db, work)


def correct_outcome(
    *, db: Database, assignment_id: int, result: str, value: float | None, reason: str, corrected_by: str
) -> tuple[Routed, list[OutcomeCorrectionRow]]:
    """A manager corrects a recorded outcome (won ↔ lost, or its value). The outcome row and the
    assignment's state take the new truth; an ``outcome_corrections`` row keeps what it was, who changed
    it and why. Returns the assignment and every correction of its outcome, oldest first."""

    def work(unit: UnitOfWork) -> tuple[Routed, list[OutcomeCorrectionRow]]:
        session = unit.session
        row = unit.assignment(assignment_id, rep_id=None)
        outcome = session.scalar(select(OutcomeRow).where(OutcomeRow.assignment_id == row.id))
        if outcome is None:
            raise Conflict(
                f"assignment {assignment_id} is {row.state}: it has no outcome to correct "
                f"(record one with POST /v1/assignments/{assignment_id}/outcome)"
            )
        if (outcome.result, outcome.value) == (result, value):
            raise Conflict(f"assignment {assignment_id} is already {result} with value {value}: nothing to correct")
        if outcome.result != result:
            unit.move(
                row,
                to_state=result,
                from_states=[outcome.result],
                refused=f"assignment {assignment_id} is {{state}}: it changed while being corrected; try again",
                release=False,  # a closed lead holds no capacity either way
            )
        session.add(
            OutcomeCorrectionRow(
                outcome_id=outcome.id,
                assignment_id=row.id,
                previous_result=outcome.result,
                previous_value=outcome.value,
                result=result,
                value=value,
                reason=reason,
                corrected_by=corrected_by,
                corrected_at=unit.now,
            )
        )
        outcome.result, outcome.value = result, value
        session.flush()
        history = list(
            session.scalars(
                select(OutcomeCorrectionRow)
                .where(OutcomeCorrectionRow.outcome_id == outcome.id)
                .order_by(OutcomeCorrectionRow.id)
            )
        )
        return routed_of(session, row, unit.lead_of(row)), history

    return transaction(db, work)
