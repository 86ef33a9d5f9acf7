from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from leadwise.routing import JsonFileState, Rep, RepLoad, scores_from_models
from leadwise.routing.domain import RepNotFound
from leadwise.routing.engine import find_rep
from leadwise.routing.fairness import RollingWindow


def test_json_state_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "deep" / "state.json"
    state = JsonFileState(path)
    state.set("rr:everyone", "r2")
    state.set("wrr:everyone", {"a": 1.5})
    again = JsonFileState(path)
    assert again.get("rr:everyone") == "r2" and again.get("wrr:everyone") == {"a": 1.5}
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"state.json: line 1"):
        JsonFileState(path)


def test_rolling_window_expires_old_assignments(clock):
    loads = {"a": RepLoad(), "b": RepLoad()}
    window = RollingWindow(timedelta(days=7))
    for rep_id, value in (("a", 10.0), ("b", 5.0)):
        loads[rep_id].record(clock.now(), value)
        window.add(clock.now(), rep_id, value, loads)
    clock.advance(days=5)
    loads["a"].record(clock.now(), 1.0)
    window.add(clock.now(), "a", 1.0, loads)
    clock.advance(days=3)  # the first two fall out of the window, the third stays
    window.expire(clock.now(), loads)
    assert (loads["a"].window_leads, loads["a"].window_value) == (1, 1.0)
    assert (loads["b"].window_leads, loads["b"].window_value) == (0, 0.0)
    assert loads["a"].open_leads == 2  # open leads are not a window figure


def test_scores_from_models_align_reps(world_models) -> None:
    leads = pd.DataFrame({"lead_id": ["a", "b"], "account": [None, None], "product": ["GTX Pro", "MG Special"]})
    reps = ["Ann", "Expert", "Bob"]
    scores = scores_from_models(world_models, leads, reps)
    predicted = world_models.predict(leads, reps)
    assert [s.model_version for s in scores] == ["world-1", "world-1"]
    assert scores[1].deal_value == pytest.approx(predicted.deal_value[1])
    assert scores[1].lead_score == pytest.approx(predicted.lead_score[1])
    assert scores[0].expected_values(["Bob", "Ann", "zz"], "revenue")[:2].tolist() == pytest.approx(
        (predicted.fit[0, [2, 0]] * predicted.deal_value[0]).tolist()
    )
    assert np.isnan(scores[0].expected_values(["zz"])[0])
    assert len(set(predicted.fit[0].round(6))) == 3  # three reps, three figures: the order can be seen


def test_find_rep():
    reps = [Rep(id="a"), Rep(id="b")]
    assert find_rep(reps, "b").id == "b"
    with pytest.raises(RepNotFound):
        find_rep(reps, "c")
