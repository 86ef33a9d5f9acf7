"""Point-in-time totals and shrinkage checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadwise.features.history import as_of_totals, shrunk_rate


def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep": ["a", "a", "a", "b"],
            "close_time": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-10", "2024-01-02"]),
            "n": 1.0,
            "wins": [1.0, 0.0, 1.0, 1.0],
        }
    )


def test_only_deals_closed_strictly_before_count() -> None:
    queries = pd.DataFrame(
        {
            "rep": ["a", "a", "a", "b", "c"],
            "as_of": pd.to_datetime(["2024-01-01", "2024-01-06", "2024-02-01", "2024-01-03", "2024-02-01"]),
        },
        index=[10, 11, 12, 13, 14],
    )
    totals = as_of_totals(events(), queries, ["rep"], ["n", "wins"])
    assert list(totals.index) == [10, 11, 12, 13, 14]
    assert totals["n"].tolist() == [0.0, 2.0, 3.0, 1.0, 0.0]  # closing on the day itself is not yet known
    assert totals["wins"].tolist() == [0.0, 1.0, 2.0, 1.0, 0.0]


def test_after_the_history_uses_the_totals_and_agrees() -> None:
    queries = pd.DataFrame({"rep": ["b", "a"], "as_of": pd.to_datetime(["2030-01-01", "2030-01-01"])})
    totals = as_of_totals(events(), queries, ["rep"], ["n", "wins"])
    assert totals.to_dict("list") == {"n": [1.0, 3.0], "wins": [1.0, 2.0]}
    overall = as_of_totals(events(), queries, [], ["n", "wins"])
    assert overall["n"].tolist() == [4.0, 4.0]


def test_shrinkage_moves_from_prior_to_data() -> None:
    rate = shrunk_rate(np.array([0.0, 9.0, 900.0]), np.array([0.0, 10.0, 1000.0]), np.array([0.5, 0.5, 0.5]), 10.0)
    assert rate[0] == 0.5
    assert rate[1] == (9 + 5) / 20
    assert abs(rate[2] - 0.9) < 0.005
