"""The synthetic world generator: determinism, schema, planted structure, confounding, noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import Confounding, WorldConfig
from leadwise.simulate.world_files import P_WIN_FILE, TRUTH_DIR, load_truth, write_world
from leadwise.simulate.world_names import PRODUCTS, SECTORS

WORLDS_DIR = Path(__file__).resolve().parents[2] / "training" / "worlds"
SMALL = WorldConfig(seed=11, n_history=3_000, n_stream=150, n_reps=9, n_accounts=60)


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def _naive_rates(world) -> np.ndarray:
    """Raw win rate per rep over the closed history: what a model that ignores lead quality would learn."""
    closed = world.pipeline[world.pipeline["deal_stage"].isin(["Won", "Lost"])]
    won = closed["deal_stage"].eq("Won").groupby(closed["sales_agent"]).mean()
    return won.reindex(world.params.reps).to_numpy()


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    write_world(generate_world(SMALL), tmp_path / "a")
    write_world(generate_world(SMALL), tmp_path / "b")
    write_world(generate_world(SMALL.model_copy(update={"seed": 12})), tmp_path / "c")
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert set(a) == {
        "sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv",
        "truth/stream.csv", "truth/p_win.csv", "truth/world.json",
    }  # fmt: skip
    assert a == b
    assert a["sales_pipeline.csv"] != c["sales_pipeline.csv"]


def test_files_pass_the_training_validation(tmp_path: Path) -> None:
    crm = pytest.importorskip("leadwise.data.crm")
    world = generate_world(SMALL)
    write_world(world, tmp_path)
    history = crm.load_crm_dir(tmp_path)
    assert len(history.deals) == SMALL.n_history
    assert set(history.closed["won"].unique()) == {0.0, 1.0}
    # Nothing in a world needs repairing: the cleaning report lists only the open deals without account.
    assert {fix.column for fix in history.report.fixes} <= {"account"}


def test_load_truth_aligns_probabilities_to_sales_teams(tmp_path: Path) -> None:
    world = generate_world(SMALL)
    write_world(world, tmp_path)
    truth = load_truth(tmp_path)
    teams = pd.read_csv(tmp_path / "sales_teams.csv")
    assert truth.reps == teams["sales_agent"].tolist()
    assert truth.p_matrix.shape == (SMALL.n_stream, SMALL.n_reps)
    np.testing.assert_allclose(truth.p_matrix, world.p_matrix, atol=1e-6)
    assert truth.stream["account"].isin(world.accounts["account"]).all()
    assert truth.params["seed"] == SMALL.seed
    assert WorldConfig.model_validate(truth.params["config"]) == SMALL


def test_load_truth_names_the_missing_pair(tmp_path: Path) -> None:
    write_world(generate_world(SMALL), tmp_path)
    p_win = tmp_path / TRUTH_DIR / P_WIN_FILE
    frame = pd.read_csv(p_win)
    frame.iloc[1:].to_csv(p_win, index=False)
    with pytest.raises(ValueError, match="p_win.csv: no p_win for"):
        load_truth(tmp_path)


def test_probabilities_follow_the_logistic_model() -> None:
    world = generate_world(SMALL)
    p = world.params
    accounts = pd.Index(p.accounts).get_indexer(world.stream["account"])
    products = pd.Index([name for name, _, _ in PRODUCTS]).get_indexer(world.stream["product"])
    i, r = 7, 3
    expected_logit = (
        SMALL.intercept
        + p.product_base[products[i]]
        + p.account_base[accounts[i]]
        + p.skill[r]
        + p.expertise[r, p.account_sector[accounts[i]]]
        + p.series_skill[r, p.product_series[products[i]]]
        + SMALL.size_seniority.scale * p.z_size[accounts[i]] * p.z_senior[r]
    )
    assert world.p_matrix[i, r] == pytest.approx(1 / (1 + np.exp(-expected_logit)))


def test_every_rep_is_strong_in_one_or_two_sectors_and_weak_in_one() -> None:
    expertise = generate_world(SMALL).params.expertise
    strong = (expertise == SMALL.sector_expertise.strong).sum(axis=1)
    weak = (expertise == SMALL.sector_expertise.weak).sum(axis=1)
    assert set(strong) <= {1, 2} and (weak == 1).all()
    assert expertise.shape == (SMALL.n_reps, len(SECTORS))


def test_with_every_part_switched_off_all_reps_and_leads_are_equal() -> None:
    off = {"enabled": False}
    config = SMALL.model_copy(
        update={
            part: getattr(SMALL, part).model_copy(update=off)
            for part in (
                "product_base",
                "account_base",
                "rep_skill",
                "sector_expertise",
                "series_skill",
                "size_seniority",
            )
        }  # fmt: skip
    )
    world = generate_world(config)
    np.testing.assert_allclose(world.p_matrix, 1 / (1 + np.exp(-SMALL.intercept)))


def test_switching_one_part_off_leaves_the_others_and_the_stream_unchanged() -> None:
    full = generate_world(SMALL)
    no_skill = generate_world(
        SMALL.model_copy(update={"rep_skill": SMALL.rep_skill.model_copy(update={"enabled": False})})
    )
    assert not no_skill.params.skill.any()
    np.testing.assert_array_equal(full.params.expertise, no_skill.params.expertise)
    np.testing.assert_array_equal(full.params.account_base, no_skill.params.account_base)
    pd.testing.assert_frame_equal(full.stream, no_skill.stream)


def test_history_size_changes_neither_parameters_nor_stream() -> None:
    small = generate_world(SMALL)
    large = generate_world(SMALL.model_copy(update={"n_history": 6_000}))
    pd.testing.assert_frame_equal(small.stream, large.stream)
    np.testing.assert_array_equal(small.p_matrix, large.p_matrix)
    assert len(large.pipeline) == 6_000


def test_bayes_auc_is_in_the_learnable_but_not_trivial_band() -> None:
    from sklearn.metrics import roc_auc_score

    world = generate_world(WorldConfig(seed=3, n_history=1_000, n_stream=1_000))
    outcomes = np.random.default_rng(0).random(world.p_matrix.shape) < world.p_matrix
    assert 0.70 <= roc_auc_score(outcomes.ravel(), world.p_matrix.ravel()) <= 0.80


def test_confounding_switch_misleads_the_naive_per_rep_win_rate() -> None:
    config = WorldConfig(seed=2, n_history=12_000, n_reps=20, n_accounts=200, n_stream=1_000)
    confounded = generate_world(config)
    random = generate_world(config.model_copy(update={"confounding": Confounding(enabled=False)}))
    # Same reps, same leads: the truth is shared, only who got which past deal differs.
    truth = confounded.p_matrix.mean(axis=0)  # each rep's true win rate under random routing
    np.testing.assert_array_equal(truth, random.p_matrix.mean(axis=0))
    error_confounded = np.abs(_naive_rates(confounded) - truth).mean()
    error_random = np.abs(_naive_rates(random) - truth).mean()
    assert error_confounded > 2 * error_random
    rho_confounded = spearmanr(_naive_rates(confounded), truth).statistic
    rho_random = spearmanr(_naive_rates(random), truth).statistic
    assert rho_confounded < rho_random  # and ranks the reps worse
    # The bias has the planted direction: big accounts (which win more) went to senior reps.
    bias = _naive_rates(confounded) - truth
    assert np.corrcoef(bias, confounded.params.z_senior)[0, 1] > 0.2


def test_history_looks_like_a_real_pipeline() -> None:
    world = generate_world(WorldConfig(seed=5, n_history=8_000, n_stream=50))
    deals = world.pipeline
    stage = deals["deal_stage"]
    closed = stage.isin(["Won", "Lost"])
    assert set(stage) == {"Won", "Lost", "Engaging", "Prospecting"}
    assert 0.15 < (~closed).mean() < 0.25
    # Open deals: no close; a good share have no account; prospects have no engage date either.
    assert deals.loc[~closed, ["close_date", "close_value"]].isna().all().all()
    assert deals.loc[~closed, "account"].isna().mean() > 0.5
    assert deals.loc[closed, "account"].notna().all()
    assert deals.loc[stage == "Prospecting", "engage_date"].isna().all()
    assert (deals.loc[stage == "Lost", "close_value"] == 0).all()
    price = deals["product"].map({name: p for name, _, p in PRODUCTS})
    ratio = deals.loc[stage == "Won", "close_value"] / price[stage == "Won"]
    assert 0.95 < ratio.median() < 1.1 and ratio.between(0.5, 1.8).all()
    engage = pd.to_datetime(deals["engage_date"])
    close = pd.to_datetime(deals["close_date"])
    assert engage.min() >= pd.Timestamp("2016-01-01") and close.max() <= pd.Timestamp("2017-12-31")
    assert (engage.max() - engage.min()).days > 700
    assert (close[closed] >= engage[closed]).all()
    assert deals["opportunity_id"].is_unique and deals["opportunity_id"].str.fullmatch(r"[0-9A-Z]{8}").all()
    assert not set(world.stream["lead_id"]) & set(deals["opportunity_id"])
    assert pd.to_datetime(world.stream["engage_date"]).min() > engage.max()


def test_bundled_world_configs_load() -> None:
    configs = {path.stem: WorldConfig.from_file(path) for path in WORLDS_DIR.glob("*.toml")}
    assert configs["default"] == WorldConfig()
    assert not configs["random_assignment"].confounding.enabled
    assert (
        configs["expertise_only"].sector_expertise.enabled and not configs["expertise_only"].rep_skill.enabled
    )


def test_unknown_config_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[confounding]\nenabeld = false\n")
    with pytest.raises(ValueError, match="enabeld"):
        WorldConfig.from_file(path)
