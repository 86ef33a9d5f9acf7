"""On journeys with planted channel effects, data-driven models find the truth and heuristics are fooled
where the world is built to fool them (common useless first touches, a useless 'direct' last touch,
a strong channel that only opens journeys)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from leadwise.marketing.attribution import attribute
from leadwise.marketing.journeys import build_journeys
from leadwise.simulate.journeys import simulate_journeys


@pytest.fixture(scope="module")
def per_journey_credit() -> pd.DataFrame:
    world = simulate_journeys(n=40_000, seed=7)
    journeys = build_journeys(world.touchpoints, world.outcomes)
    results = attribute(journeys, "all")
    # Effects are planted per touched journey, so credit is compared per journey touching the channel.
    frame = pd.DataFrame({name: r.table["conversions"] / r.table["journeys"] for name, r in results.items()})
    frame["effect"] = world.truth["effect"]
    return frame


def rank_agreement(frame: pd.DataFrame, model: str) -> float:
    return float(spearmanr(frame[model], frame["effect"]).statistic)


@pytest.mark.parametrize(("model", "floor"), [("shapley", 0.95), ("markov_2", 0.9), ("markov_1", 0.8)])
def test_data_driven_models_rank_channels_by_planted_effect(
    per_journey_credit: pd.DataFrame, model: str, floor: float
) -> None:
    assert rank_agreement(per_journey_credit, model) >= floor


def test_first_and_last_touch_do_not(per_journey_credit: pd.DataFrame) -> None:
    assert rank_agreement(per_journey_credit, "first_touch") < 0.3
    assert rank_agreement(per_journey_credit, "last_touch") < 0.7


def test_heuristics_disagree_where_the_truth_says_they_should(per_journey_credit: pd.DataFrame) -> None:
    c = per_journey_credit
    # display: common useless opener; referral: rare strong late touch.
    assert c.loc["display", "first_touch"] > c.loc["referral", "first_touch"]
    # direct: useless but usually last; event: strong but usually first.
    assert c.loc["direct", "last_touch"] > c.loc["event", "last_touch"]
    for model in ("shapley", "markov_2"):
        assert c.loc["referral", model] > c.loc["display", model], model
        assert c.loc["event", model] > c.loc["direct", model], model


def test_shapley_puts_the_useless_channels_last(per_journey_credit: pd.DataFrame) -> None:
    useless = set(per_journey_credit.index[per_journey_credit["effect"] == 0])
    assert set(per_journey_credit["shapley"].nsmallest(len(useless)).index) == useless


def test_generator_is_deterministic_and_attaches_to_given_leads() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "engage_date": pd.to_datetime(["2024-03-01", "2024-04-01", "2024-05-01"]),
        }
    )
    first = simulate_journeys(leads, seed=3)
    second = simulate_journeys(leads, seed=3)
    pd.testing.assert_frame_equal(first.touchpoints, second.touchpoints)
    pd.testing.assert_frame_equal(first.outcomes, second.outcomes)
    assert not simulate_journeys(leads, seed=4).touchpoints.equals(first.touchpoints)
    assert set(first.touchpoints["lead_id"]) == {"a", "b", "c"}
    last = first.touchpoints.groupby("lead_id")["timestamp"].max()
    # the last touch is the engage moment (to the second); no touch comes after it
    assert (abs(last - leads.set_index("lead_id")["engage_date"]) <= pd.Timedelta(seconds=1)).all()
    # the planted truth is in the outcomes: p_win follows the logit of the touched channels' effects
    np.testing.assert_allclose(
        first.outcomes["p_win"], 1 / (1 + np.exp(3.0 - first.outcomes["logit_effect"]))
    )
