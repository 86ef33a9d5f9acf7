"""What the services tell whoever listens (the API's metrics, the webhooks), after the fact.

A unit of work collects its events and sends them once its transaction has committed, so a retried or
rolled-back transaction announces nothing. Services import nothing from ``leadwise.api``: the API
subscribes here (``leadwise.api.metrics.subscribe``). Signals are blinker's, sent synchronously in the
thread that committed; a receiver must be quick and must not raise.

One signal is sent *before* the commit, inside the transaction: ``changes_ready``, with the session and
the unit's events, so a receiver can write rows that commit (or roll back) with the change they record:
the webhook outbox (``leadwise.services.webhooks``) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from blinker import Signal
from sqlalchemy.orm import Session

decision_stored = Signal("a routing decision was stored (a lead assigned or queued)")
offers_expired = Signal("offers past their acceptance SLA were expired")
leads_routed_together = Signal("leads that arrived together were routed in one transaction")
assignment_changed = Signal(
    "an assignment was offered, accepted, rejected, reassigned, expired, won, lost, returned, withdrawn or closed"
)
changes_ready = Signal("a unit of work's events, in its transaction just before the commit")


@dataclass(frozen=True)
class DecisionStored:
    strategy: str | None
    outcome: str
    source: str


@dataclass(frozen=True)
class OffersExpired:
    count: int


@dataclass(frozen=True)
class LeadsRoutedTogether:
    size: int


@dataclass(frozen=True)
class AssignmentChanged:
    """A move in an assignment's life, named as webhooks name it (``store.models.WEBHOOK_EVENTS``):
    ``offered`` (a new offer; its ``source`` says whether it is the first decision or replaces an earlier
    offer: reroute, expiry, manual, update), or the state the assignment moved to (``reassigned``: a manager
    moved it to another rep; ``withdrawn``: an update of the lead met the flow's ``reroute_when`` or
    ``unassign_when``; ``closed``: its ``close_when``, without an outcome)."""

    event: str
    assignment_id: int
    lead_id: str  # the caller's id of the lead
    rep_id: int | None
    state: str
    source: str
    at: datetime
    reason: str | None = None


Event = DecisionStored | OffersExpired | LeadsRoutedTogether | AssignmentChanged

_SIGNAL_OF = {
    DecisionStored: decision_stored,
    OffersExpired: offers_expired,
    LeadsRoutedTogether: leads_routed_together,
    AssignmentChanged: assignment_changed,
}


def publish(event: Event) -> None:
    _SIGNAL_OF[type(event)].send(event)


def before_commit(session: Session, pending: Sequence[Event]) -> None:
    """Offer a transaction's events to ``changes_ready`` receivers before it commits."""
    if pending and changes_ready.receivers:
        changes_ready.send(session, pending=pending)
