"""The leakage guard: no feature of a lead uses anything known only after its engage date.

Everything that happens on or after a cutoff (outcomes, close dates, values) is rewritten; the features
of every lead engaged on or before the cutoff must not move, while later leads' features do (so the
rewrite is strong enough to be seen).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadwise.data.crm import load_crm_dir
from leadwise.data.training_data import from_crm
from leadwise.features.builder import FeatureBuilder


def features(builder: FeatureBuilder, leads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    lead_matrix = builder.lead_features(leads)
    pairs = builder.pair_features(leads, reps=builder.reps_, lead_matrix=lead_matrix)
    return lead_matrix.reset_index(drop=True), pairs


def rewrite_the_future(data, cutoff: pd.Timestamp, seed: int):
    rng = np.random.default_rng(seed)
    frame = data.frame.copy()
    later = frame["close_date"] >= cutoff
    frame.loc[later, "won"] = 1.0 - frame.loc[later, "won"]  # every later outcome flipped
    frame.loc[later, "close_value"] = rng.uniform(0, 50_000, later.sum())
    frame.loc[later, "close_date"] = frame.loc[later, "close_date"] + pd.to_timedelta(rng.integers(0, 90, later.sum()), "D")
    data.frame = frame
    return data


@pytest.mark.parametrize("strength", [10.0, "auto"])
@pytest.mark.parametrize("cutoff", ["2017-03-15", "2017-08-01"])
def test_features_ignore_everything_after_the_engage_date(bundled_dir, cutoff: str, strength) -> None:
    """With ``strength="auto"`` the rep records' prior weight is estimated from the deals closed before
    the cutoff, as training does from the deals closed before its validation starts."""
    cutoff = pd.Timestamp(cutoff)
    original = from_crm(load_crm_dir(bundled_dir))
    leads = original.frame[original.frame["engage_date"].notna()].reset_index(drop=True)
    # The latest leads before the cutoff are the ones most exposed to a leak.
    before = leads[leads["engage_date"] <= cutoff].sort_values("engage_date").tail(300).reset_index(drop=True)
    after = leads[leads["engage_date"] > cutoff + pd.Timedelta(days=30)].head(300).reset_index(drop=True)

    fitted = FeatureBuilder(strength).fit(original, strength_until=cutoff)
    rewritten = FeatureBuilder(strength).fit(
        rewrite_the_future(from_crm(load_crm_dir(bundled_dir)), cutoff, seed=1), strength_until=cutoff
    )
    lead_before, pairs_before = features(fitted, before)
    lead_after, pairs_after = features(fitted, after)
    lead_before_2, pairs_before_2 = features(rewritten, before)
    lead_after_2, pairs_after_2 = features(rewritten, after)

    pd.testing.assert_frame_equal(lead_before, lead_before_2)
    pd.testing.assert_frame_equal(pairs_before, pairs_before_2)
    # The rewrite is visible to leads engaged after the cutoff: the comparison above can fail.
    numeric = pairs_after.select_dtypes("number").columns
    assert not np.allclose(pairs_after[numeric].to_numpy(), pairs_after_2[numeric].to_numpy())


def test_no_post_outcome_field_is_a_feature(bundled_dir) -> None:
    builder = FeatureBuilder().fit(from_crm(load_crm_dir(bundled_dir)))
    names = " ".join(builder.pair_feature_names)
    for forbidden in ("close_value", "close_date", "deal_length", "deal_stage", "won"):
        assert forbidden not in names
