"""The models against a world's truth: train on its history (or take given models), score its stream,
compare with the true-form reference, the lift by history size, what the engagement features add, and
the MLflow run that records it all (what ``leadwise evaluate`` runs; the metrics are ``simulate.evaluation``'s).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadwise.simulate.evaluation import (
    TruthReport,
    captured_lift,
    evaluate_against_truth,
    lift_curve_figure,
    reliability_figure,
)
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import PARAMS_FILE, TRUTH_DIR, WorldTruth, load_truth, write_world
from leadwise.simulate.world_reference import fit_reference_model

if TYPE_CHECKING:
    from leadwise.data.crm import CrmHistory
    from leadwise.learn.training import TrainConfig
    from leadwise.settings import Settings

EVALUATION_EXPERIMENT = "leadwise-evaluation"
# The targets, on worlds of 20,000 history rows and 40 reps.
TARGET_LIFT = 0.85
TARGET_AUC_GAP = 0.03
TARGET_CALIBRATION = 0.03
ACCOUNT_COLUMNS = ["account", "sector", "revenue", "employees", "office_location", "year_established"]
LEADWISE_CURVE = "leadwise fit model"
REFERENCE_CURVE = "true-form reference"


@dataclass
class ScoredWorld:
    """One model's figures on a world's stream, with the fit matrix behind them."""

    report: TruthReport
    fit: np.ndarray
    p_true: np.ndarray


@dataclass(frozen=True)
class EngagementGain:
    """Lead-score ROC AUC against the truth's outcomes, trained with and without the touchpoints."""

    with_engagement: float
    without_engagement: float
    bayes: float

    @property
    def gain(self) -> float:
        return self.with_engagement - self.without_engagement

    def as_dict(self) -> dict[str, float]:
        return {
            "engagement.lead_auc_with": self.with_engagement,
            "engagement.lead_auc_without": self.without_engagement,
            "engagement.lead_auc_gain": self.gain,
            "engagement.bayes_lead_auc": self.bayes,
        }


@dataclass(frozen=True)
class TargetCheck:
    """One line of the models-vs-truth table: our figure, the reference's, the ceiling and the target."""

    metric: str
    leadwise: float
    reference: float
    ceiling: str
    target: str
    met: bool | None  # None: no target


# ------------------------------------------------------------------------------------------------ steps


def load_history(directory: Path) -> CrmHistory:
    from leadwise.data.crm import load_crm_dir

    return load_crm_dir(directory)


def evaluation_train_config(path: Path | None) -> TrainConfig:
    """The training config to evaluate (default: ``TrainConfig()``), without the baselines."""
    from leadwise.learn.training import TrainConfig

    config = TrainConfig.from_file(path) if path is not None else TrainConfig()
    # The baselines only feed training's own report; here the truth is the yardstick.
    return config.model_copy(update={"baselines": False})


def train(history: CrmHistory, config: TrainConfig) -> Any:
    """leadwise's models trained on a world's history."""
    from leadwise.data.training_data import from_crm
    from leadwise.learn.training import train_models

    return train_models(from_crm(history), config).models


def fit_reference_model_on(history: CrmHistory) -> Any:
    """The true-form logistic regression, fitted on the cleaned history (what the production models see)."""
    pipeline = history.deals.rename(columns={"lead_id": "opportunity_id"})
    return fit_reference_model(pipeline, history.accounts, history.products)


def score_against_truth(models: Any, history: CrmHistory, truth: WorldTruth, seed: int) -> ScoredWorld:
    """Score the stream with ``models`` (leadwise's or the reference) and measure them against the truth."""
    from leadwise.learn.models import LeadwiseModels

    leads = _leads(truth, history)
    if isinstance(models, LeadwiseModels):
        # One preparation for both outputs; the stream's touches go to leadwise's models only.
        predictions = models.predict(leads, reps=truth.reps, touches=truth.touches)
        fit, lead_score = np.asarray(predictions.fit, dtype=float), predictions.lead_score
    else:  # the true-form reference
        fit = np.asarray(models.fit_matrix(leads, truth.reps), dtype=float)
        lead_score = models.lead_score(leads) if hasattr(models, "lead_score") else fit.mean(axis=1)
    report = evaluate_against_truth(
        truth.p_matrix, fit, np.asarray(lead_score), _product_prior(history, leads), seed
    )
    return ScoredWorld(report, fit, truth.p_matrix)


def has_engagement(history: CrmHistory, truth: WorldTruth) -> bool:
    """Both the history and the stream come with touchpoints (an engagement world)."""
    return history.touches is not None and truth.touches is not None


def engagement_gain(
    history: CrmHistory, truth: WorldTruth, config: TrainConfig, seed: int, scored: TruthReport | None = None
) -> EngagementGain:
    """Train with the history's touchpoints and without them; score the stream (with its touches, or none)
    and compare the lead scores on the same sampled outcomes. ``scored``: the with-touches report already
    computed, so that model is not trained twice."""
    if scored is None:
        scored = score_against_truth(train(history, config), history, truth, seed).report
    cold = dataclasses.replace(history, touches=None)
    without = score_against_truth(
        train(cold, config), cold, dataclasses.replace(truth, touches=None), seed
    ).report
    return EngagementGain(scored.lead_auc, without.lead_auc, scored.bayes_lead_auc)


def lift_curve(
    config: WorldConfig,
    sizes: list[int],
    train_config: TrainConfig,
    on_point: Callable[[int, float, float], None] | None = None,
) -> dict[str, list[float]]:
    """Captured lift of the trained models and of the true-form reference on worlds of each history size;
    ``on_point(size, lift, reference_lift)`` is called as each size is done.

    Same seed and parameters: the planted parameters, accounts and stream do not depend on the history
    size (separate random streams), so only the amount of history changes along the curve.
    """
    curve: dict[str, list[float]] = {LEADWISE_CURVE: [], REFERENCE_CURVE: []}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="leadwise-world-") as tmp:
            world = generate_world(config.model_copy(update={"n_history": size}))
            write_world(world, Path(tmp))
            history = load_history(Path(tmp))
            sized_truth = load_truth(Path(tmp))
            leads = _leads(sized_truth, history)
            fit = train(history, train_config).fit_matrix(
                leads, sized_truth.reps, touches=sized_truth.touches
            )
            ref = fit_reference_model_on(history).fit_matrix(leads, sized_truth.reps)
        curve[LEADWISE_CURVE].append(captured_lift(sized_truth.p_matrix, fit))
        curve[REFERENCE_CURVE].append(captured_lift(sized_truth.p_matrix, ref))
        if on_point is not None:
            on_point(size, curve[LEADWISE_CURVE][-1], curve[REFERENCE_CURVE][-1])
    return curve


def target_checks(report: TruthReport, reference: TruthReport) -> list[TargetCheck]:
    """The models' figures next to the reference's, each against its ceiling and the issue's target."""
    return [
        TargetCheck("captured lift", report.captured_lift, reference.captured_lift, "1.000", f">= {TARGET_LIFT}",
                    report.captured_lift >= TARGET_LIFT),
        TargetCheck("fit AUC", report.fit_auc, reference.fit_auc, f"{report.bayes_auc:.3f} (Bayes)",
                    f"Bayes - {TARGET_AUC_GAP}", report.bayes_auc - report.fit_auc <= TARGET_AUC_GAP),
        TargetCheck("calibration error vs truth (ECE)", report.ece, reference.ece, "0.000",
                    f"<= {TARGET_CALIBRATION}", report.ece <= TARGET_CALIBRATION),
        TargetCheck("mean |p_model - p_true|", report.calibration_error, reference.calibration_error, "0.000",
                    "", None),
        TargetCheck("lead score AUC", report.lead_auc, reference.lead_auc,
                    f"{report.prior_auc:.3f} (prior), {report.bayes_lead_auc:.3f} (Bayes)", "> prior",
                    report.lead_auc > report.prior_auc),
    ]  # fmt: skip


def log_evaluation_run(
    settings: Settings,
    tracking_uri: str | None,
    world: Path,
    config: WorldConfig,
    scored: ScoredWorld,
    reference: TruthReport,
    sizes: list[int],
    curve: dict[str, list[float]],
    gain: EngagementGain | None = None,
) -> tuple[str, str]:
    """One MLflow run in ``EVALUATION_EXPERIMENT`` with the figures, the plots and the world's config;
    returns the run id and the tracking URI."""
    import mlflow

    from leadwise.learn.tracking import configure_tracking, ensure_experiment

    uri = configure_tracking(settings, tracking_uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(settings, EVALUATION_EXPERIMENT))
    with mlflow.start_run(run_name=f"world-seed{config.seed}-{config.n_history}") as run:
        mlflow.log_params(
            {"world": str(world), "seed": config.seed, "n_history": config.n_history, "n_reps": config.n_reps,
             "n_accounts": config.n_accounts, "n_stream": config.n_stream,
             "confounding": config.confounding.enabled,
             **({"engagement": True} if config.engagement.enabled else {})}
        )  # fmt: skip
        mlflow.log_metrics(scored.report.as_dict())
        if gain is not None:
            mlflow.log_metrics(gain.as_dict())
        mlflow.log_metrics({f"reference_{key}": value for key, value in reference.as_dict().items()})
        for size, lift, ref_lift in zip(
            sizes, curve.get(LEADWISE_CURVE, []), curve.get(REFERENCE_CURVE, []), strict=False
        ):
            mlflow.log_metric("captured_lift_by_history", lift, step=size)
            mlflow.log_metric("reference_captured_lift_by_history", ref_lift, step=size)
        mlflow.log_figure(reliability_figure(scored.p_true, scored.fit), "reliability.png")
        if curve:
            mlflow.log_figure(lift_curve_figure(sizes, curve), "lift_vs_history.png")
        mlflow.log_dict(
            {"leadwise": scored.report.as_dict(), "true_form_reference": reference.as_dict(),
             "lift_curve": {"history_sizes": sizes, **curve},
             **({"engagement": gain.as_dict()} if gain is not None else {})},
            "evaluation.json",
        )  # fmt: skip
        world_json = world / TRUTH_DIR / PARAMS_FILE
        if world_json.is_file():
            mlflow.log_dict(json.loads(world_json.read_text(encoding="utf-8"))["config"], "world_config.json")
    return run.info.run_id, uri


# ------------------------------------------------------------------------------------------- internals


def _leads(truth: WorldTruth, history: CrmHistory) -> pd.DataFrame:
    # The account fields ride along so that a model meeting an account it never saw can still score it.
    fields = history.accounts[ACCOUNT_COLUMNS]
    return truth.stream[["lead_id", "account", "product", "engage_date"]].merge(
        fields, on="account", how="left"
    )


def _product_prior(history: CrmHistory, leads: pd.DataFrame) -> np.ndarray:
    """The prior the lead score must beat: each product's historical win rate."""
    closed = history.closed
    rate = closed.groupby("product")["won"].mean()
    return leads["product"].map(rate).fillna(closed["won"].mean()).to_numpy(dtype=float)
