"""A rep's record is shrunk by empirical Bayes: as much as the spread between the history's reps calls for,
so that a new rep's lucky first deals do not make it look like the best rep of the team."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadwise.data.crm import load_crm_dir
from leadwise.data.training_data import from_crm
from leadwise.features.builder import FeatureBuilder
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import RepSkill, WorldConfig
from leadwise.simulate.world_files import write_world


def history(directory: Path, skill_sd: float, lucky_newcomer: bool = False):
    world = generate_world(WorldConfig(seed=11, n_history=6000, n_stream=10, n_reps=20, n_accounts=100, rep_skill=RepSkill(sd=skill_sd)))
    write_world(world, directory)
    if lucky_newcomer:  # six deals, all won, by a rep the history has not seen before
        pipeline = pd.read_csv(directory / "sales_pipeline.csv", dtype=str, keep_default_na=False)
        closed = pipeline[pipeline["deal_stage"].isin(["Won", "Lost"])]
        lucky = closed.sort_values("close_date").head(6).copy()
        lucky["opportunity_id"] = [f"LUCKY{k}" for k in range(6)]
        lucky["sales_agent"], lucky["deal_stage"], lucky["close_value"] = "Newcomer", "Won", "1000"
        pd.concat([pipeline, lucky]).to_csv(directory / "sales_pipeline.csv", index=False)
        teams = pd.read_csv(directory / "sales_teams.csv", dtype=str)
        newcomer = teams.iloc[[0]].assign(sales_agent="Newcomer")
        pd.concat([teams, newcomer]).to_csv(directory / "sales_teams.csv", index=False)
    return from_crm(load_crm_dir(directory))


def test_reps_who_truly_differ_more_are_shrunk_less(tmp_path: Path) -> None:
    alike = FeatureBuilder("auto").fit(history(tmp_path / "alike", skill_sd=0.1))
    apart = FeatureBuilder("auto").fit(history(tmp_path / "apart", skill_sd=0.8))
    assert apart.rep_strength("all") < alike.rep_strength("all") / 3
    assert 2 <= apart.rep_strength("all") <= 40  # logit sd 0.8 at ~0.65: κ = p(1 − p)/τ² ≈ 10
    # A rep's record per segment keeps the fixed weight (estimating it too lost lift on default worlds).
    assert {apart.rep_strength(key) for key in apart.segment_keys_} == {10.0}


def test_a_newcomers_lucky_first_deals_move_it_less_than_a_fixed_prior_would(tmp_path: Path) -> None:
    data = history(tmp_path / "w", skill_sd=0.3, lucky_newcomer=True)
    fixed, estimated = FeatureBuilder(10.0).fit(data), FeatureBuilder("auto").fit(data)
    assert estimated.rep_strength("all") > 20  # the planted spread (logit sd 0.3) calls for ~50 deals
    later = data.frame[data.frame["engage_date"].notna()].sort_values("engage_date").tail(200)
    rates = {}
    for name, builder in (("fixed", fixed), ("estimated", estimated)):
        pairs = builder.pair_features(later, reps=["Newcomer"])
        rates[name] = (pairs["rep_all_rate"] - pairs["prior_rate"]).mean()
    # Six wins of six lift the newcomer above the prior either way, much less when estimated.
    assert 0 < rates["estimated"] < rates["fixed"] / 2


def test_a_fixed_strength_is_used_as_given(tmp_path: Path) -> None:
    builder = FeatureBuilder(25.0).fit(history(tmp_path / "w", skill_sd=0.3))
    assert {builder.rep_strength(level) for level in ["all", *builder.segment_keys_]} == {25.0}


@pytest.mark.parametrize("strength", ["auto", 10.0])
def test_a_builder_pickled_before_the_estimate_existed_keeps_its_fixed_strength(strength) -> None:
    builder = FeatureBuilder(strength)
    assert builder.rep_strength("all") == 10.0
