"""Attribution models against credit computed by hand on small journeys."""

from __future__ import annotations

import numpy as np
import pytest

from leadwise.marketing.attribution import (
    AttributionConfig,
    attribute,
    markov,
    parse_models,
    shapley,
)
from leadwise.marketing.journeys import Journeys


@pytest.fixture
def small() -> Journeys:
    # j0: A B C D converted (100) with W-shaped milestones B (lead) and D (opportunity)
    # j1: A B converted (50); j2: C alone converted (10); j3: D C lost (gets nothing)
    return Journeys.from_paths(
        [["A", "B", "C", "D"], ["A", "B"], ["C"], ["D", "C"]],
        converted=[True, True, True, False],
        revenue=[100.0, 50.0, 10.0, 999.0],
        touch_types=[
            ["visit", "content_download", "call", "demo_request"],
            ["visit", "visit"],
            ["quote_request"],
            ["visit", "demo_request"],
        ],
        ages_days=[[14, 7, 7, 0], [1, 0], [0], [3, 0]],
    )


def credit(journeys: Journeys, model: str, column: str = "conversions", **config) -> dict[str, float]:
    result = attribute(journeys, model, AttributionConfig(**config))[model]
    return {k: round(v, 6) for k, v in result.table[column].items()}


def test_first_and_last_touch(small: Journeys) -> None:
    assert credit(small, "first_touch") == {"A": 2, "B": 0, "C": 1, "D": 0}
    assert credit(small, "last_touch") == {"A": 0, "B": 1, "C": 1, "D": 1}
    assert credit(small, "last_touch", "revenue") == {"A": 0, "B": 50, "C": 10, "D": 100}


def test_linear(small: Journeys) -> None:
    assert credit(small, "linear") == {"A": 0.75, "B": 0.75, "C": 1.25, "D": 0.25}
    assert credit(small, "linear", "revenue") == {"A": 50, "B": 50, "C": 35, "D": 25}


def test_u_shaped_40_20_40_and_50_50_for_two_touches(small: Journeys) -> None:
    # j0: A .4, B .1, C .1, D .4; j1: .5/.5; j2: C 1
    assert credit(small, "u_shaped") == {"A": 0.9, "B": 0.6, "C": 1.1, "D": 0.4}


def test_w_shaped_milestones_from_touch_types(small: Journeys) -> None:
    # j0: first A .3, lead creation B .3, opportunity D .3, the rest (C) .1
    # j1: no form touch -> lead creation is the first touch; no demo/quote -> opportunity is the last:
    #     A holds two milestones (.6), B one (.3) -> scaled to 2/3, 1/3
    # j2: one touch holds all three -> 1
    assert credit(small, "w_shaped") == pytest.approx(
        {"A": 0.3 + 2 / 3, "B": 0.3 + 1 / 3, "C": 1.1, "D": 0.3}
    )


def test_w_shaped_touch_holding_two_milestones_with_other_touches() -> None:
    journeys = Journeys.from_paths(
        [["A", "B", "C", "D"]], [True], touch_types=[["visit", "demo_request", "visit", "visit"]]
    )
    # B both creates the lead and opens the opportunity: .6; A .3; C and D share .1
    assert credit(journeys, "w_shaped") == pytest.approx({"A": 0.3, "B": 0.6, "C": 0.05, "D": 0.05})


def test_time_decay_halves_weight_every_half_life(small: Journeys) -> None:
    # j0 ages 14, 7, 7, 0 days with half-life 7: weights 1/4, 1/2, 1/2, 1 -> /2.25
    # j1 ages 1, 0 with half-life 7: 2^(-1/7), 1
    a1 = 2 ** (-1 / 7) / (1 + 2 ** (-1 / 7))
    expected = {"A": 0.25 / 2.25 + a1, "B": 0.5 / 2.25 + 1 - a1, "C": 0.5 / 2.25 + 1, "D": 1 / 2.25}
    assert credit(small, "time_decay", half_life_days=7) == pytest.approx(expected)
    # A very long half-life tends to linear.
    assert credit(small, "time_decay", half_life_days=1e9) == pytest.approx(credit(small, "linear"))


def test_every_model_distributes_exactly_the_conversions_and_revenue(small: Journeys) -> None:
    for name, result in attribute(small, "all").items():
        assert result.table["conversions"].sum() == pytest.approx(3.0), name
        assert result.table["revenue"].sum() == pytest.approx(160.0), name


def test_side_metrics(small: Journeys) -> None:
    table = attribute(small, "first_touch")["first_touch"].table
    assert table.loc["C", "journeys"] == 3 and table.loc["C", "converted_journeys"] == 2
    assert table.loc["C", "conversion_rate"] == pytest.approx(2 / 3)
    assert np.isnan(table.loc["B", "cost_per_won"])  # no credit, no cost per won deal


def test_markov_removal_effect_by_hand() -> None:
    # start->A 2, start->B 1; A->B 1, A->null 1; B->conv 2.  P(conv) = 2/3*1/2 + 1/3 = 2/3.
    # Without A: 1/3 -> effect 1/2; without B: 0 -> effect 1. Shares 1/3, 2/3 of 2 conversions.
    journeys = Journeys.from_paths([["A", "B"], ["A"], ["B"]], [True, False, True], [30.0, 0.0, 60.0])
    result = markov(journeys, 1)
    assert result.removal_effects.to_dict() == pytest.approx({"A": 0.5, "B": 1.0})
    assert result.table["conversions"].to_dict() == pytest.approx({"A": 2 / 3, "B": 4 / 3})
    # Revenue is paid on the step B -> conversion: 45 on average, so the expected revenue is
    # 2/3 * 45 = 30, 15 without A, 0 without B: the same effects, shares of 90.
    assert result.table["revenue"].to_dict() == pytest.approx({"A": 30.0, "B": 60.0})
    # Revenue paid at different states weighs them differently: A converting alone with 300.
    richer = Journeys.from_paths([["A", "B"], ["A"], ["B"]], [True, True, True], [30.0, 300.0, 60.0])
    # From start: A (2/3): 1/2 -> B (pays 45), 1/2 -> conversion paying 300; B (1/3) pays 45.
    # V = 2/3*(22.5 + 150) + 1/3*45 = 130; without A: 15 (effect 115/130); without B: 100 (30/130).
    value = markov(richer, 1).table["revenue"]
    assert value.to_dict() == pytest.approx({"A": 390 * 115 / 145, "B": 390 * 30 / 145})


def test_markov_ignores_repeats_and_higher_order_uses_windows() -> None:
    once = Journeys.from_paths([["A", "B"], ["A"], ["B"]], [True, False, True])
    repeated = Journeys.from_paths([["A", "A", "B", "B"], ["A", "A"], ["B"]], [True, False, True])
    assert markov(repeated, 1).table["share"].to_dict() == pytest.approx(
        markov(once, 1).table["share"].to_dict()
    )
    # Order 2: states A B / A / B; removing A kills "A B" and "A" -> P drops from 2/3 to 1/3.
    second = markov(once, 2)
    assert "3 states" in second.note
    assert second.removal_effects.to_dict() == pytest.approx({"A": 0.5, "B": 1.0})


def test_shapley_by_hand() -> None:
    # {A}: 10 journeys, 2 won (.2); {B}: 10, 4 won (.4); {A,B}: 10, 8 won (.8).
    # For {A,B}: phi_A = (.2 + (.8-.4))/2 = .3, phi_B = (.4 + (.8-.2))/2 = .5 -> 8 won split 3 / 5.
    paths = [["A"]] * 10 + [["B"]] * 10 + [["B", "A"]] * 10
    won = [i < 2 for i in range(10)] + [i < 4 for i in range(10)] + [i < 8 for i in range(10)]
    result = shapley(Journeys.from_paths(paths, won, [10.0 * w for w in won]))
    assert result.exact and "exact" in result.note
    assert result.table["conversions"].to_dict() == pytest.approx({"A": 2 + 3, "B": 4 + 5})
    assert result.table["revenue"].to_dict() == pytest.approx({"A": 50, "B": 90})


def test_shapley_samples_beyond_the_exact_limit_and_says_so() -> None:
    rng = np.random.default_rng(0)
    channels = list("ABCDE")
    paths = [list(rng.choice(channels, size=rng.integers(1, 6), replace=True)) for _ in range(3000)]
    won = [rng.random() < 0.1 + 0.15 * ("E" in p) + 0.05 * ("D" in p) for p in paths]
    journeys = Journeys.from_paths(paths, won)
    exact = shapley(journeys)
    sampled = shapley(
        journeys, AttributionConfig(shapley_max_exact_channels=3, shapley_permutations=4000, seed=1)
    )
    assert exact.exact and not sampled.exact
    assert "sampled" in sampled.note and "4000 random permutations" in sampled.note
    assert sampled.table["conversions"].sum() == pytest.approx(exact.table["conversions"].sum())
    np.testing.assert_allclose(sampled.table["share"], exact.table["share"], atol=0.01)
    again = shapley(
        journeys, AttributionConfig(shapley_max_exact_channels=3, shapley_permutations=4000, seed=1)
    )
    assert again.table.equals(sampled.table)  # deterministic per seed


def test_model_names() -> None:
    assert parse_models("markov, shapley,markov_1") == ["markov_1", "shapley"]
    assert parse_models("all")[:2] == ["first_touch", "last_touch"]
    assert parse_models("markov_3") == ["markov_3"]
    with pytest.raises(ValueError, match="unknown attribution model 'magic'"):
        parse_models("magic")
    with pytest.raises(ValueError, match="not a touch type"):
        AttributionConfig(lead_creation_types=("handshake",))
