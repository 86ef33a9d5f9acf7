"""A world on disk as replay inputs: its reps and leads in the routing domain's shapes, and a model's
scores for its stream (what ``leadwise simulate`` and ``benchmarks/bench_optimiser_live.py`` replay)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadwise.routing import Lead, Rep
from leadwise.simulate.replay import ReplayInputs
from leadwise.simulate.world_files import WorldTruth, load_truth

ACCOUNT_COLUMNS = ["account", "sector", "revenue", "employees", "office_location", "year_established"]


@dataclass(frozen=True)
class ReplayWorld:
    truth: WorldTruth
    reps: list[Rep]  # in truth.reps order
    leads: list[Lead]  # in stream order
    accounts: pd.DataFrame

    def model_leads(self) -> pd.DataFrame:
        """The stream as the models read it: the account's fields ride along (an account the model never
        saw can still be scored)."""
        columns = [c for c in ACCOUNT_COLUMNS if c in self.accounts.columns]
        return self.truth.stream[["lead_id", "account", "product", "engage_date"]].merge(
            self.accounts[columns], on="account", how="left"
        )


@dataclass(frozen=True)
class ModelScores:
    p_win: np.ndarray  # (n_leads, n_reps) in truth.reps order
    deal_value: np.ndarray
    lead_score: np.ndarray | None
    version: str
    lead_score_percentile: np.ndarray | None = None


def read_replay_world(directory: Path) -> ReplayWorld:
    """Read a world written by ``leadwise synth``; ValueError when its reps and its truth disagree."""
    from leadwise.routing.directory import leads_from_frame, reps_from_sales_teams

    truth = load_truth(directory)
    teams = pd.read_csv(directory / "sales_teams.csv", dtype={"sales_agent": str})
    accounts = pd.read_csv(directory / "accounts.csv")
    products = pd.read_csv(directory / "products.csv")
    pipeline = pd.read_csv(directory / "sales_pipeline.csv")
    reps = reps_from_sales_teams(teams, pipeline, accounts, products)
    if [r.id for r in reps] != list(truth.reps):
        raise ValueError(f"{directory / 'sales_teams.csv'}: reps do not match truth/p_win.csv")
    frame = truth.stream.merge(accounts, on="account", how="left").merge(products, on="product", how="left")
    return ReplayWorld(truth, reps, leads_from_frame(frame), accounts)


def model_scores(models: Any, world: ReplayWorld) -> ModelScores:
    """``LeadwiseModels``' figures for the world's stream (an engagement world's touches included)."""
    predictions = models.predict(
        world.model_leads(), reps=list(world.truth.reps), touches=world.truth.touches
    )
    return ModelScores(
        np.asarray(predictions.fit, dtype=float),
        np.asarray(predictions.deal_value, dtype=float),
        np.asarray(predictions.lead_score, dtype=float),
        str(models.version),
        predictions.lead_score_percentile,
    )


def replay_inputs(world: ReplayWorld, scores: ModelScores) -> ReplayInputs:
    truth = world.truth
    return ReplayInputs(
        world.leads, world.reps, truth.p_matrix, truth.deal_value,
        scores.p_win, scores.deal_value, scores.lead_score, scores.version, scores.lead_score_percentile,
    )  # fmt: skip
