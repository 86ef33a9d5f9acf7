"""One write transaction and what it owns: its instant, the retries when the database refuses it for
contention, every assignment state transition, and the events announced once it has committed.

Every service that changes stored state runs its work as ``transaction(db, work)``: ``work`` gets a
``UnitOfWork`` and may be run again from the start (a retry), so it must do all its writing through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from leadwise.errors import Conflict, DatabaseBusy, NotFound
from leadwise.services import events
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import WEBHOOK_EVENTS, AssignmentRow, LeadRow, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 4


class UnitOfWork:
    """The open write session, the transaction's instant (every timestamp of a decision agrees) and the
    events to publish after the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.now: datetime = utcnow()
        self.events: list[events.Event] = []

    def emit(self, event: events.Event) -> None:
        self.events.append(event)

    def announce(self, row: AssignmentRow, event: str, *, lead_id: str) -> None:
        """Emit the ``AssignmentChanged`` of ``row`` (its state as it is now) as ``event``."""
        self.emit(
            events.AssignmentChanged(
                event=event,
                assignment_id=row.id,
                lead_id=lead_id,
                rep_id=row.rep_id,
                state=row.state,
                source=row.source,
                at=self.now,
                reason=row.reason,
            )
        )

    def assignment(self, assignment_id: int, *, rep_id: int | None) -> AssignmentRow:
        return visible_assignment(self.session, assignment_id, rep_id=rep_id)

    def lead_of(self, row: AssignmentRow) -> LeadRow:
        return lead_of(self.session, row)

    def move(
        self,
        row: AssignmentRow,
        *,
        to_state: str,
        from_states: Sequence[str],
        refused: str | None,
        release: bool = True,
        **fields: object,
    ) -> bool:
        """Move ``row`` from one of ``from_states`` to ``to_state`` with a conditional UPDATE (concurrent
        moves of the same assignment: exactly one wins) and free its rep's capacity when asked.

        When the row is no longer in ``from_states``: ``Conflict(refused)`` with ``{state}`` filled in,
        or False when ``refused`` is None (the caller treats it as "someone else did it")."""
        moved = repo.transition(
            session=self.session,
            assignment_id=row.id,
            from_states=list(from_states),
            to_state=to_state,
            **fields,
        )
        if not moved:
            self.session.refresh(row)
            if refused is None:
                return False
            raise Conflict(refused.format(state=row.state))
        if release and row.rep_id is not None:
            repo.release_capacity(session=self.session, rep_id=row.rep_id)
        self.session.refresh(row)
        if to_state in WEBHOOK_EVENTS:
            self.announce(row, to_state, lead_id=self.lead_of(row).external_id)
        return True


def visible_assignment(session: Session, assignment_id: int, *, rep_id: int | None) -> AssignmentRow:
    """The assignment, or NotFound also when a rep key (``rep_id``) asks for someone else's: both
    answer alike, so nothing leaks an assignment's existence."""
    row = repo.get_assignment(session=session, assignment_id=assignment_id)
    if row is None or (rep_id is not None and row.rep_id != rep_id):
        raise NotFound(f"assignment {assignment_id} not found")
    return row


def lead_of(session: Session, row: AssignmentRow) -> LeadRow:
    lead = session.get(LeadRow, row.lead_id)
    assert lead is not None  # a foreign key
    return lead


def transaction(db: Database, work: Callable[[UnitOfWork], T]) -> T:
    """Run ``work`` in a write transaction; run it again when the database refused it for contention
    (PostgreSQL deadlock or serialisation failure, SQLite busy past its timeout), then give up with
    ``DatabaseBusy`` (503). The events of the attempt that committed are published after the commit."""
    try:
        # The first attempt outside tenacity: nearly every transaction commits at once, and building the
        # retry machinery per request is measurable on the routing path.
        result, unit = _attempt(db, work)
    except OperationalError as first:
        log.info("write retried after %s", type(first.orig).__name__)
        retrying = Retrying(
            retry=retry_if_exception_type(OperationalError),
            stop=stop_after_attempt(WRITE_ATTEMPTS - 1),
            wait=wait_incrementing(start=0.02, increment=0.02),
            before=lambda _: time.sleep(0.02),  # the first attempt's back-off
            before_sleep=lambda state: log.info(
                "write retried after %s", type(state.outcome.exception()).__name__ if state.outcome else "?"
            ),
            reraise=True,
        )
        try:
            result, unit = retrying(_attempt, db, work)
        except OperationalError as exc:
            raise DatabaseBusy(f"the database stayed busy: {type(exc.orig).__name__}") from exc
    for event in unit.events:
        events.publish(event)
    return result


def _attempt(db: Database, work: Callable[[UnitOfWork], T]) -> tuple[T, UnitOfWork]:
    with db.write_session() as session:
        unit = UnitOfWork(session)
        result = work(unit)
        events.before_commit(session, unit.events)  # the webhook outbox commits with the change
    return result, unit
