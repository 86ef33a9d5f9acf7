"""What the services tell whoever listens (the API's metrics, later webhooks), after the fact.

A unit of work collects its events and sends them once its transaction has committed, so a retried or
rolled-back transaction announces nothing. Services import nothing from ``leadwise.api``: the API
subscribes here (``leadwise.api.metrics.subscribe``). Signals are blinker's, sent synchronously in the
thread that committed; a receiver must be quick and must not raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from blinker import Signal

decision_stored = Signal("a routing decision was stored (a lead assigned or queued)")
offers_expired = Signal("offers past their acceptance SLA were expired")
leads_routed_together = Signal("leads that arrived together were routed in one transaction")


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


Event = DecisionStored | OffersExpired | LeadsRoutedTogether

_SIGNAL_OF = {
    DecisionStored: decision_stored,
    OffersExpired: offers_expired,
    LeadsRoutedTogether: leads_routed_together,
}


def publish(event: Event) -> None:
    _SIGNAL_OF[type(event)].send(event)
