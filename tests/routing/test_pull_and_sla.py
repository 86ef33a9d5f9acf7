from __future__ import annotations

from datetime import timedelta

import pytest
from tests.routing.conftest import lead

from leadwise.routing import (
    Capacity,
    CapacityExhausted,
    Flow,
    InMemoryState,
    Outcome,
    Rep,
    RepLoad,
    manual_assign,
    route_lead,
)
from leadwise.routing.domain import InactiveRep, OutOfOffice, RepOutOfOffice
from leadwise.routing.pull import check_claim
from leadwise.routing.sla import SlaPolicy, reassign, start_acceptance


def test_claim_respects_active_flag_and_capacity():
    with pytest.raises(InactiveRep):
        check_claim(Rep(id="x", active=False), RepLoad())
    with pytest.raises(CapacityExhausted):
        check_claim(Rep(id="y", capacity=Capacity(max_open=1)), RepLoad(open_leads=1))
    check_claim(Rep(id="z"), RepLoad())


def test_manual_assignment_ignores_everything_but_active(clock):
    full = Rep(id="m", capacity=Capacity(max_open=0))
    d = manual_assign(lead=lead(), rep=full, manager="boss", clock=clock)
    assert d.manual and d.rep_id == "m" and d.strategy == "manual"
    assert "manual assignment by boss" in d.explanation.notes
    with pytest.raises(InactiveRep):
        manual_assign(lead=lead(), rep=Rep(id="off", active=False), manager="boss", clock=clock)


def test_manual_assignment_to_a_rep_out_of_office_needs_force(clock):
    now = clock.now()
    away = Rep(id="away", out_of_office=(OutOfOffice(start=now - timedelta(hours=1), end=now + timedelta(days=1)),))
    with pytest.raises(RepOutOfOffice, match="out of office until"):
        manual_assign(lead=lead(), rep=away, manager="boss", clock=clock)
    forced = manual_assign(lead=lead(), rep=away, manager="boss", clock=clock, force=True, note="VIP")
    assert forced.rep_id == "away" and "reason: VIP" in forced.explanation.notes
    assert any(n.startswith("warning: rep away is out of office") for n in forced.explanation.notes)


def test_sla_lapse_reassigns_excluding_lapsed_reps_then_manager_queue(clock):
    reps = [Rep(id="a"), Rep(id="b"), Rep(id="c")]
    flow = Flow.single("round_robin")
    state = InMemoryState()
    policy = SlaPolicy(accept_within=timedelta(minutes=30), max_reassignments=2)
    item = lead(1)
    first = route_lead(lead=item, reps=reps, loads={}, flow=flow, state=state, clock=clock)
    pending = start_acceptance(first, policy)
    assert pending is not None and pending.rep_id == "a"
    clock.advance(minutes=29)
    assert not pending.is_overdue(clock.now())
    clock.advance(minutes=2)
    assert pending.is_overdue(clock.now())

    # Round-robin would give the next lead to "b"; make "a" next again to prove exclusion, not luck.
    state.set("rr:everyone", "c")
    second, pending = reassign(
        pending,
        reason="sla",
        lead=item,
        reps=reps,
        loads={},
        flow=flow,
        policy=policy,
        state=state,
        clock=clock,
    )
    assert second.rep_id == "b" and second.attempt == 1
    assert {"rep_id": "a", "reason": "excluded: let this lead lapse or rejected it"} in [
        e.model_dump() for e in second.explanation.excluded
    ]
    assert pending is not None and pending.deadline == clock.now() + timedelta(minutes=30)

    third, pending = reassign(
        pending,
        reason="rejected",
        lead=item,
        reps=reps,
        loads={},
        flow=flow,
        policy=policy,
        state=state,
        clock=clock,
    )
    assert third.rep_id == "c" and "rejected by b" in third.explanation.notes[0]
    assert pending is not None and pending.lapsed_reps == ("a", "b")

    clock.advance(hours=1)
    fourth, pending = reassign(
        pending,
        reason="sla",
        lead=item,
        reps=reps,
        loads={},
        flow=flow,
        policy=policy,
        state=state,
        clock=clock,
    )
    assert fourth.outcome == Outcome.manager_queue and pending is None and fourth.rep_id is None


def test_rejection_when_nobody_else_is_eligible_goes_to_manager_queue(clock):
    reps = [Rep(id="only")]
    flow = Flow.single("load_balancing")
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    pending = start_acceptance(d, SlaPolicy())
    again, nxt = reassign(
        pending,
        reason="rejected",
        lead=lead(),
        reps=reps,
        loads={},
        flow=flow,
        policy=SlaPolicy(),
        state=InMemoryState(),
        clock=clock,
    )
    assert again.outcome == Outcome.manager_queue and nxt is None
