from __future__ import annotations

import numpy as np
import pytest

from leadwise.routing import InMemoryState, Scores


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
