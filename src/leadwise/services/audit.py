"""Reading the decisions back: a rep's or a team's inbox (filtered, newest first, paged) and a lead's
audit trail (every decision made about it, with its explanation, and its outcomes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadwise.errors import NotFound
from leadwise.services.persist import Routed, routed_of
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import LeadRow, OutcomeRow


@dataclass(frozen=True)
class Page:
    data: list[Routed]
    total: int


def inbox(
    *,
    db: Database,
    states: Sequence[str] = (),
    rep_id: int | None = None,
    lead_id: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The assignments matching every filter given (``lead_id`` is the caller's id of the lead)."""
    with db.read_session() as session:
        lead_key = None
        if lead_id is not None:
            lead_key = repo.lead_id_by_external_id(session=session, external_id=lead_id)
            if lead_key is None:
                return Page(data=[], total=0)
        rows, total = repo.find_assignments(
            session=session, states=states, rep_id=rep_id, lead_key=lead_key, since=since, limit=limit, offset=offset
        )
        leads: dict[int, LeadRow] = {}
        data = []
        for row in rows:
            if row.lead_id not in leads:
                lead = repo.get_lead(session=session, lead_id=row.lead_id)
                assert lead is not None  # a foreign key
                leads[row.lead_id] = lead
            data.append(routed_of(session, row, leads[row.lead_id]))
        return Page(data=data, total=total)


@dataclass(frozen=True)
class LeadHistory:
    lead: LeadRow
    decisions: list[Routed]
    outcomes: list[OutcomeRow]
    touches: int


def lead_history(*, db: Database, lead_id: str) -> LeadHistory:
    """The lead the caller calls ``lead_id`` and every decision made about it, oldest first."""
    with db.read_session() as session:
        lead = repo.get_lead_by_external_id(session=session, external_id=lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id!r} not found")
        decisions = [routed_of(session, row, lead) for row in repo.lead_assignments(session=session, lead_id=lead.id)]
        return LeadHistory(
            lead=lead,
            decisions=decisions,
            outcomes=repo.lead_outcomes(session=session, lead_id=lead.id),
            touches=len(repo.lead_touches(session=session, lead_id=lead.id)),
        )
