"""Intake: what a posted lead goes through before it is scored. Idempotency on the caller's lead id (a
lead routed before gets its stored decision back), one lead per id in a request, no duplicate of an open
lead (the flow's ``[lifecycle.duplicates]``), and the rows a new lead is stored as."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from leadwise.errors import Conflict
from leadwise.routing import Flow, Lead
from leadwise.routing.domain import DuplicateLead
from leadwise.routing.flows import format_duration
from leadwise.routing.lifecycle import duplicate_fingerprint, duplicate_key
from leadwise.services import adapters
from leadwise.services.persist import Routed, existing_decision
from leadwise.services.unit_of_work import UnitOfWork
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import LeadRow


def _stored(session: Session, external_id: str) -> Routed | None:
    # One cheap indexed read first: most leads are new.
    if repo.lead_id_by_external_id(session=session, external_id=external_id) is None:
        return None
    return existing_decision(session=session, external_id=external_id)


def stored_decision(db: Database, external_id: str) -> Routed | None:
    """The decision on a lead routed before; None for a new lead."""
    with db.read_session() as session:
        return _stored(session, external_id)


def decision_of_concurrent_insert(db: Database, external_id: str) -> Routed | None:
    """After the unique lead id refused our insert: the decision of the request that stored it first."""
    with db.read_session() as session:
        return existing_decision(session=session, external_id=external_id)


def stored_decision_in(unit: UnitOfWork, external_id: str) -> Routed | None:
    """As ``stored_decision``, inside the write transaction (a concurrent request may have stored it)."""
    return _stored(unit.session, external_id)


def first_occurrences(leads: Sequence[Lead]) -> dict[str, int]:
    """Each lead id's first position: a later lead with the same id gets that lead's decision."""
    first: dict[str, int] = {}
    for k, lead in enumerate(leads):
        first.setdefault(lead.lead_id, k)
    return first


def refuse_repeated_ids(leads: Sequence[Lead]) -> None:
    """A backlog is one request: the same lead twice in it is the caller's mistake (409)."""
    seen: set[str] = set()
    for lead in leads:
        if lead.lead_id in seen:
            raise Conflict(f"lead id {lead.lead_id!r} appears twice in the batch")
        seen.add(lead.lead_id)


def new_lead_row(unit: UnitOfWork, lead: Lead, flow: Flow) -> LeadRow:
    """The lead's row, not yet written: it is inserted with its decision (one write, not insert + update)."""
    return LeadRow(
        external_id=lead.lead_id,
        payload=adapters.stored_payload(lead),
        duplicate_key=duplicate_fingerprint(lead, flow),
        created_at=unit.now,
    )


def store_touches(unit: UnitOfWork, row: LeadRow, lead: Lead) -> None:
    """The posted touches go to their own table (the payload keeps the lead's fields); the scorer saw them."""
    repo.add_touches(session=unit.session, lead_id=row.id, touches=adapters.touch_rows(lead), now=unit.now)


def refuse_duplicate(unit: UnitOfWork, lead: Lead, flow: Flow) -> None:
    """``DuplicateLead`` (409, naming the original) when an open lead received within the flow's window
    has the same duplicate key as ``lead``; checked in the write transaction, so of two duplicates routed
    at once the second sees the first."""
    key, fingerprint = duplicate_key(lead, flow), duplicate_fingerprint(lead, flow)
    if key is None or fingerprint is None or flow.lifecycle.duplicates is None:
        return
    window = flow.lifecycle.duplicates.window
    original = repo.open_lead_with(session=unit.session, duplicate_key=fingerprint, since=unit.now - window)
    if original is None:
        return
    original_key, original_id, received = original
    latest = repo.latest_assignment(session=unit.session, lead_id=original_key)
    same = ", ".join(f"{name} {value!r}" for name, value in key.items())
    raise DuplicateLead(
        f"lead {lead.lead_id!r} duplicates open lead {original_id!r} (same {same}, received "
        f"{received.isoformat()}, within {format_duration(window)}): not routed",
        lead_id=original_id,
        assignment_id=latest.id if latest is not None else None,
    )
