"""Pull distribution: shared pools that reps claim from, first come first served.

``ClaimPool`` keeps its leads in memory behind a lock, which makes a claim atomic within a process.
A database-backed service gets the same guarantee from a conditional update
(``UPDATE ... SET owner = :rep WHERE lead_id = :id AND owner IS NULL``) and uses ``check_claim`` for
the eligibility rules.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadwise.routing.clock import Clock
from leadwise.routing.domain import (
    AlreadyClaimed,
    CapacityExhausted,
    Decision,
    Explanation,
    InactiveRep,
    Lead,
    LeadNotFound,
    Loads,
    Outcome,
    Rep,
    RepLoad,
)

# What a blind pool shows before a claim: enough to choose, not enough to cherry-pick the account.
BLIND_FIELDS = ("lead_id", "product", "series", "created_at")


@dataclass
class PooledLead:
    lead: Lead
    blind: bool
    offered_at: datetime
    lead_score: float | None = None
    owner: str | None = None
    claimed_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        data = self.lead.model_dump(mode="json")
        if self.blind and self.owner is None:
            data = {k: v for k, v in data.items() if k in BLIND_FIELDS}
        data["lead_score"] = self.lead_score
        data["blind"] = self.blind
        return data


def check_claim(rep: Rep, load: RepLoad) -> None:
    """A claim respects the active flag and capacity (hours do not matter: the rep is at work to claim)."""
    if not rep.active:
        raise InactiveRep(f"rep {rep.id!r} is inactive")
    blocked = load.capacity_block(rep.capacity)
    if blocked is not None:
        raise CapacityExhausted(f"rep {rep.id!r} cannot claim: {blocked}")


class ClaimPool:
    """A shared (or blind) pool: leads wait until a rep claims them; a claimed lead cannot be claimed again."""

    def __init__(self, name: str = "shared", *, blind: bool = False) -> None:
        self.name = name
        self.blind = blind
        self._leads: dict[str, PooledLead] = {}
        self._lock = threading.Lock()

    def offer(self, lead: Lead, clock: Clock, lead_score: float | None = None) -> None:
        with self._lock:
            self._leads[lead.lead_id] = PooledLead(lead, self.blind, clock.now(), lead_score)

    def open_leads(self) -> list[dict[str, Any]]:
        """What reps see: unclaimed leads (details hidden in a blind pool), oldest first."""
        with self._lock:
            waiting = [p for p in self._leads.values() if p.owner is None]
        return [p.view() for p in sorted(waiting, key=lambda p: p.offered_at)]

    def claim(self, lead_id: str, rep: Rep, loads: Loads, clock: Clock) -> Decision:
        load = loads.get(rep.id, RepLoad())
        check_claim(rep, load)
        with self._lock:
            pooled = self._leads.get(lead_id)
            if pooled is None:
                raise LeadNotFound(f"lead {lead_id!r} is not in pool {self.name!r}")
            if pooled.owner is not None:
                raise AlreadyClaimed(f"lead {lead_id!r} was already claimed by {pooled.owner!r}")
            now = clock.now()
            pooled.owner, pooled.claimed_at = rep.id, now
        waited = (now - pooled.offered_at).total_seconds()
        return Decision(
            lead_id=lead_id,
            outcome=Outcome.assigned,
            rep_id=rep.id,
            decided_at=now,
            strategy="blind_claim" if self.blind else "claim",
            explanation=Explanation(
                pool=self.name,
                strategy="blind_claim" if self.blind else "claim",
                notes=[f"claimed from pool {self.name!r} after {waited:.0f}s"],
            ),
        )

    def reveal(self, lead_id: str, rep_id: str) -> Lead:
        """The full lead, for its owner only (a blind pool's details open up after the claim)."""
        with self._lock:
            pooled = self._leads.get(lead_id)
        if pooled is None:
            raise LeadNotFound(f"lead {lead_id!r} is not in pool {self.name!r}")
        if pooled.owner != rep_id:
            raise AlreadyClaimed(f"lead {lead_id!r} belongs to {pooled.owner!r}, not {rep_id!r}")
        return pooled.lead

    def owner(self, lead_id: str) -> str | None:
        with self._lock:
            pooled = self._leads.get(lead_id)
        return None if pooled is None else pooled.owner
