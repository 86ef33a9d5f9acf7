"""Acceptance SLAs and reassignment.

An assigned lead must be accepted within its SLA. When it lapses (or the rep rejects it) the lead goes
back through the flow without the reps who let it go; after ``max_reassignments`` it goes to the
manager queue. ``PendingLead`` is a plain value the service stores; these functions are pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leadwise.routing.clock import Clock
from leadwise.routing.domain import (
    NO_SCORES,
    Decision,
    Explanation,
    Lead,
    Loads,
    Outcome,
    Rep,
    RepLoad,
    Scores,
)
from leadwise.routing.engine import route_lead
from leadwise.routing.flows import Flow
from leadwise.routing.state import RoutingState


@dataclass(frozen=True)
class SlaPolicy:
    accept_within: timedelta = timedelta(hours=1)
    max_reassignments: int = 2


@dataclass(frozen=True)
class PendingLead:
    """An assignment waiting for the rep's acceptance."""

    lead_id: str
    rep_id: str
    assigned_at: datetime
    deadline: datetime
    reassignments: int = 0
    lapsed_reps: tuple[str, ...] = ()

    def is_overdue(self, now: datetime) -> bool:
        return now >= self.deadline


def start_acceptance(
    decision: Decision, policy: SlaPolicy, *, previous: PendingLead | None = None
) -> PendingLead | None:
    """The pending acceptance for a decision that assigned a rep (None for queues)."""
    if decision.outcome != Outcome.assigned or decision.rep_id is None:
        return None
    base = PendingLead(
        lead_id=decision.lead_id,
        rep_id=decision.rep_id,
        assigned_at=decision.decided_at,
        # A due date from the lead (the flow's ``[lifecycle] due_from``) replaces the service's SLA.
        deadline=decision.due_at or decision.decided_at + policy.accept_within,
    )
    if previous is not None:
        base = replace(base, reassignments=previous.reassignments, lapsed_reps=previous.lapsed_reps)
    return base


def reassign(
    pending: PendingLead,
    *,
    reason: str,
    lead: Lead,
    reps: Sequence[Rep],
    loads: Loads,
    flow: Flow,
    policy: SlaPolicy,
    state: RoutingState,
    clock: Clock,
    scores: Scores = NO_SCORES,
    prices: Mapping[str, float] | None = None,
    pool_loads: Mapping[str, RepLoad] | None = None,
) -> tuple[Decision, PendingLead | None]:
    """Route a lapsed or rejected lead again without the reps who let it go (manager queue after N tries).

    ``reason`` is ``"sla"`` or ``"rejected"``; returns the new decision and the new pending acceptance.
    """
    lapsed = (*pending.lapsed_reps, pending.rep_id)
    attempt = pending.reassignments + 1
    why = "SLA lapsed" if reason == "sla" else "rejected"
    if attempt > policy.max_reassignments:
        decision = Decision(
            lead_id=lead.lead_id,
            outcome=Outcome.manager_queue,
            decided_at=clock.now(),
            attempt=attempt,
            propensity=1.0,
            explanation=Explanation(
                notes=[
                    f"{why} by {pending.rep_id}; {pending.reassignments} reassignment(s) already: manager queue"
                ],
            ),
        )
        return decision, None
    decision = route_lead(
        lead=lead,
        reps=reps,
        loads=loads,
        flow=flow,
        scores=scores,
        state=state,
        clock=clock,
        prices=prices,
        exclude=set(lapsed),
        attempt=attempt,
        pool_loads=pool_loads,
    )
    decision.explanation.notes.insert(
        0, f"reassignment {attempt}: {why} by {pending.rep_id}; excluded {list(lapsed)}"
    )
    nxt = start_acceptance(decision, policy)
    if nxt is not None:
        nxt = replace(nxt, reassignments=attempt, lapsed_reps=lapsed)
    return decision, nxt
