from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from leadwise.routing import Flow, InMemoryState, Lead, ManualClock, Rep, Scores, route_lead
from leadwise.routing.state import OverlayState

NOW = datetime(2024, 5, 6, 10, tzinfo=UTC)


def test_in_memory_state_round_trip():
    state = InMemoryState({"rr:everyone": "r1"})
    state.set("wrr:everyone", {"a": 1.5})
    assert state.get("rr:everyone") == "r1" and state.get("missing") is None
    assert state.snapshot() == {"rr:everyone": "r1", "wrr:everyone": {"a": 1.5}}


def test_scores_expected_values_align_reps():
    scores = Scores(
        model_version="v3",
        lead_score=0.4,
        rep_ids=("r1", "r2", "r3"),
        p_win=np.array([0.1, 0.5, 0.9]),
        deal_value=100.0,
    )
    assert scores.expected_values(["r3", "r1", "zz"], "revenue")[:2].tolist() == pytest.approx([90.0, 10.0])
    assert scores.expected_values(["r3", "r1"]).tolist() == pytest.approx([0.9, 0.1])
    assert np.isnan(scores.expected_values(["zz"])[0])
    with pytest.raises(ValueError, match="3 rep ids but 2 win probabilities"):
        Scores(model_version="v3", rep_ids=("r1", "r2", "r3"), p_win=np.array([0.1, 0.5]))


def test_overlay_state_reads_the_base_and_keeps_its_writes_to_itself():
    base = InMemoryState({"rr:everyone": 3})
    reps = [Rep(id="a"), Rep(id="b"), Rep(id="c")]
    overlay = OverlayState(base)
    flow = Flow.single("round_robin")
    picks = [
        route_lead(lead=Lead(lead_id=f"L{i}"), reps=reps, loads={}, flow=flow, state=overlay, clock=ManualClock(NOW)).rep_id
        for i in range(2)
    ]
    assert picks[0] != picks[1]  # the overlay moves its own pointer ...
    assert base.snapshot() == {"rr:everyone": 3}  # ... and never the base's
    fresh = route_lead(lead=Lead(lead_id="L9"), reps=reps, loads={}, flow=flow, state=OverlayState(base), clock=ManualClock(NOW))
    assert fresh.rep_id == picks[0]  # a new overlay starts from the base again
