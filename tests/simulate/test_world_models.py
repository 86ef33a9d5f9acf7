"""Model behaviour in planted worlds: the lead's fit model finds experts and is not fooled by confounding.

Each test trains the real models (baselines off: they only feed training's report), on worlds small
enough to train in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from leadwise.simulate.world import World, generate_world
from leadwise.simulate.world_config import Confounding, WorldConfig
from leadwise.simulate.world_files import write_world
from leadwise.simulate.world_names import SECTORS

training = pytest.importorskip("leadwise.learn.training")
crm = pytest.importorskip("leadwise.data.crm")
training_data = pytest.importorskip("leadwise.data.training_data")

WORLDS_DIR = Path(__file__).resolve().parents[2] / "training" / "worlds"
ACCOUNT_FIELDS = ["account", "sector", "revenue", "employees", "office_location", "year_established"]


def _trained_fit(world: World, directory: Path) -> np.ndarray:
    """Write the world, train the lead's models on its files, return the stream's (n_leads, n_reps) fit."""
    write_world(world, directory)
    data = training_data.from_crm(crm.load_crm_dir(directory))
    # One thread: on a shared two-core machine LightGBM's default thread pool spins; the model is the same.
    config = training.TrainConfig(baselines=False, lgbm_params={"n_jobs": 1})
    models = training.train_models(data, config).models
    leads = world.stream[["lead_id", "account", "product", "engage_date"]].merge(
        world.accounts[ACCOUNT_FIELDS], on="account", how="left"
    )
    return models.fit_matrix(leads, world.params.reps)


def test_expert_rep_ranks_above_non_experts_in_their_sector(tmp_path: Path) -> None:
    # Only expertise varies between reps; it is planted clearly (a behaviour test, not a benchmark).
    base = WorldConfig.from_file(WORLDS_DIR / "expertise_only.toml")
    config = base.model_copy(
        update={
            "seed": 3, "n_history": 5_000, "n_reps": 6, "n_accounts": 120, "n_stream": 600,
            "sector_expertise": base.sector_expertise.model_copy(update={"strong": 1.2, "weak": -1.0}),
        }
    )  # fmt: skip
    world = generate_world(config)
    fit = _trained_fit(world, tmp_path)
    assert fit.shape == (config.n_stream, config.n_reps) and ((fit > 0) & (fit < 1)).all()
    sector = world.accounts.set_index("account")["sector"].loc[world.stream["account"]].to_numpy()
    margins = []
    for rep, strengths in enumerate(world.params.expertise):
        for s in np.flatnonzero(strengths > 0):
            leads = sector == SECTORS[s]
            others = np.flatnonzero(world.params.expertise[:, s] <= 0)
            margins.append(fit[leads, rep].mean() - fit[leads][:, others].mean())
    margins = np.array(margins)
    # Every expert scores above the average non-expert on their sector's leads, by a real margin.
    assert (margins > 0).all(), margins
    assert margins.mean() > 0.05


def test_confounding_misleads_the_naive_estimate_more_than_the_fit_model(tmp_path: Path) -> None:
    config = WorldConfig(seed=2, n_history=6_000, n_reps=12, n_accounts=150, n_stream=600)
    confounded = generate_world(config)
    random = generate_world(config.model_copy(update={"confounding": Confounding(enabled=False)}))
    truth = confounded.p_matrix.mean(axis=0)  # each rep's true win rate under random routing (shared)

    def naive(world: World) -> np.ndarray:
        closed = world.pipeline[world.pipeline["deal_stage"].isin(["Won", "Lost"])]
        rate = closed["deal_stage"].eq("Won").groupby(closed["sales_agent"]).mean()
        return rate.reindex(world.params.reps).to_numpy()

    def rho(estimate: np.ndarray) -> float:
        return float(spearmanr(estimate, truth).statistic)

    naive_drop = rho(naive(random)) - rho(naive(confounded))
    fit_drop = rho(_trained_fit(random, tmp_path / "random").mean(axis=0)) - rho(
        _trained_fit(confounded, tmp_path / "confounded").mean(axis=0)
    )
    # The switch matters: the raw win rate ranks reps much worse when assignment is confounded.
    assert naive_drop > 0.3
    # Tolerance 0.2: with 12 reps a Spearman correlation near 0.7 has a standard error of about
    # (1 - 0.7**2) / sqrt(11) ~ 0.15, so two trainings on different histories differ by ~0.2 from noise
    # alone; a model that had fallen for the confounding would lose about as much as the naive rate.
    assert fit_drop < 0.2
    assert fit_drop < naive_drop
