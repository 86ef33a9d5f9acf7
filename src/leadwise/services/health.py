"""What readiness and monitoring read from the database: the schema revision, the active flow, and the
queue and assignment counts (the same whichever worker answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text

from leadwise.services.flows import FLOW_NAME
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, head_revision, upgrade
from leadwise.store.models import AssignmentRow, LeadRow


@dataclass(frozen=True)
class Readiness:
    ready: bool
    body: dict[str, Any] = field(default_factory=dict)


def readiness(db: Database) -> Readiness:
    """Ready when the database answers at the head schema revision."""
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:  # any failure to reach the database is "not ready", with its kind
        return Readiness(False, {"status": "unavailable", "detail": f"database: {type(exc).__name__}"})
    body: dict[str, Any] = {"schema_revision": revision}
    with db.read_session() as session:
        flow = repo.active_flow(session=session, name=FLOW_NAME)
    body["flow"] = {"name": FLOW_NAME, "version": flow.version if flow is not None else None}
    if revision != head_revision():
        body |= {"status": "unavailable", "detail": f"schema at {revision}, expected {head_revision()}"}
        return Readiness(False, body)
    return Readiness(True, body)


def migrate_if_behind(db: Database) -> bool:
    """Upgrade the schema to head when it is behind; True when it ran. ``leadwise serve`` migrates once
    before starting workers; this covers an app run another way."""
    if current_revision(db.engine) == head_revision():
        return False
    upgrade(db.engine)
    return True


def queue_sizes(db: Database) -> dict[str, int]:
    """Leads waiting, by queue."""
    query = select(LeadRow.queue, func.count()).where(LeadRow.status == "queued").group_by(LeadRow.queue)
    with db.read_session() as session:
        return {queue or "none": n for queue, n in session.execute(query)}


def assignment_states(db: Database) -> dict[str, int]:
    """Assignments, by state."""
    query = select(AssignmentRow.state, func.count()).group_by(AssignmentRow.state)
    with db.read_session() as session:
        return {state: n for state, n in session.execute(query)}
