"""Marketing and sales hand leads to each other: touches on a known lead (a lead waiting in nurture that is
now sales-ready goes through the flow again), and a rep returning an open lead to marketing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadwise.errors import NotFound
from leadwise.routing import Touch
from leadwise.services import adapters, context, decisions
from leadwise.services.flows import current_flow
from leadwise.services.models import ModelHolder
from leadwise.services.persist import Routed, routed_of
from leadwise.services.pools import take_from_queue
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import ScoredLead, score_for_routing
from leadwise.services.unit_of_work import UnitOfWork, transaction
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import OPEN_STATES, LeadReturnRow, LeadRow


@dataclass(frozen=True)
class TouchesAdded:
    lead: LeadRow
    added: int
    total: int
    sales_ready: bool | None  # judged only for a lead waiting in nurture
    why: str | None
    routed: Routed | None  # the new decision when the lead matured out of nurture


def _in_nurture(row: LeadRow) -> bool:
    return row.status == "queued" and row.queue == "nurture"


def add_touches(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    external_id: str,
    touches: Sequence[Touch],
    prices: PriceBook | None = None,
) -> TouchesAdded:
    """Append touches to a stored lead. A lead waiting in nurture (put there by the flow or handed back
    by a rep) that is now sales-ready under the active flow's ``[maturity]`` goes through the flow again:
    a new decision row, in the same transaction as the touches; the earlier decisions stay. After a
    return, only touches timestamped after it count as revealing acts (the score counts as always)."""
    with db.read_session() as session:
        row = repo.get_lead_by_external_id(session=session, external_id=external_id)
        if row is None:
            raise NotFound(f"lead {external_id!r} not found")
        stored = repo.lead_touches(session=session, lead_id=row.id)
        lead = adapters.lead_with_touches(row, [*stored, *(t.model_dump() for t in touches)])

    def scored_now() -> ScoredLead:
        (scored,) = score_for_routing(models=models, leads=[lead], reps=context.active_reps(db))
        return scored

    # Only a lead waiting in nurture is judged (most touches arrive for leads already with a rep): score it
    # before the write transaction, or inside it should it have gone to nurture meanwhile.
    scored_ahead = scored_now() if _in_nurture(row) else None
    new_rows = [t.model_dump() for t in touches]

    def work(unit: UnitOfWork) -> TouchesAdded:
        row = repo.get_lead_by_external_id(session=unit.session, external_id=external_id)
        if row is None:
            raise NotFound(f"lead {external_id!r} not found")
        repo.add_touches(session=unit.session, lead_id=row.id, touches=new_rows, now=unit.now)
        added, total = len(touches), len(lead.touches)
        if not _in_nurture(row):
            return TouchesAdded(row, added, total, None, None, None)
        scored = scored_ahead if scored_ahead is not None else scored_now()
        # A lead a rep handed back matures *again*: only the acts since the return count.
        returned_at = repo.last_return_at(session=unit.session, lead_id=row.id)
        types = repo.lead_touch_types(session=unit.session, lead_id=row.id, since=returned_at)
        maturing = adapters.domain_lead(row, types)
        ready, why = current_flow(unit.session).flow.maturity.assess(maturing, scored.scores)
        if not ready:
            return TouchesAdded(row, added, total, False, why, None)
        take_from_queue(unit, row)
        routed = decisions.decide_and_store(
            unit,
            context.lock_context(unit),
            settings=settings,
            row=row,
            lead=maturing,
            scored=scored,
            source="matured",
            prices=prices,
        )
        return TouchesAdded(row, added, total, True, why, routed)

    return transaction(db, work)


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

    def work(unit: UnitOfWork) -> Routed:
        row = unit.assignment(assignment_id, rep_id=rep_id)
        unit.move(
            row,
            to_state="returned",
            from_states=OPEN_STATES if row.rep_id is not None else (),
            refused=f"assignment {assignment_id} is {{state}}: only an offered or accepted lead can be returned",
            closed_at=unit.now,
            reason=f"returned to marketing: {reason}" + (f" ({note})" if note else ""),
        )
        assert row.rep_id is not None
        unit.session.add(
            LeadReturnRow(
                assignment_id=row.id,
                lead_id=row.lead_id,
                rep_id=row.rep_id,
                reason=reason,
                note=note or None,
                returned_by=returned_by,
                returned_at=unit.now,
            )
        )
        lead = unit.lead_of(row)
        lead.status, lead.queue, lead.pool, lead.blind = "queued", "nurture", None, False
        unit.session.flush()
        return routed_of(unit.session, row, lead)

    return transaction(db, work)
