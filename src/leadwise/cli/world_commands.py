"""``leadwise synth`` (write a synthetic world) and ``leadwise evaluate`` (measure the models against its truth)."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
import typer
from pydantic import ValidationError
from rich.table import Table

from leadwise.cli.app import app, console, fail
from leadwise.settings import Settings, get_settings
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

EVALUATION_EXPERIMENT = "leadwise-evaluation"
# The targets, on worlds of 20,000 history rows and 40 reps.
TARGET_LIFT = 0.85
TARGET_AUC_GAP = 0.03
TARGET_CALIBRATION = 0.03
ACCOUNT_COLUMNS = ["account", "sector", "revenue", "employees", "office_location", "year_established"]


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Directory to write the world to (created if needed).")],
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the config's, 42).")] = None,
    history: Annotated[int | None, typer.Option(help="History rows in sales_pipeline.csv.")] = None,
    stream: Annotated[int | None, typer.Option(help="Fresh leads in truth/stream.csv.")] = None,
    reps: Annotated[int | None, typer.Option(help="Sales reps.")] = None,
    accounts: Annotated[int | None, typer.Option(help="Accounts.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="World config, TOML or YAML (see training/worlds/).")
    ] = None,
) -> None:
    """Write a synthetic CRM world with known true win probabilities (a sandbox and a test bench)."""
    try:
        base = WorldConfig.from_file(config) if config is not None else WorldConfig()
    except FileNotFoundError:
        fail(f"{config}: no such file")
    except (ValidationError, ValueError) as error:
        fail(f"{config}: {_first_error(error)}")
    overrides = {
        "seed": seed,
        "n_history": history,
        "n_stream": stream,
        "n_reps": reps,
        "n_accounts": accounts,
    }
    try:
        world_config = WorldConfig.model_validate(
            base.model_dump() | {key: value for key, value in overrides.items() if value is not None}
        )
    except ValidationError as error:
        field = str(error.errors()[0]["loc"][0])
        option = {
            "n_history": "--history",
            "n_stream": "--stream",
            "n_reps": "--reps",
            "n_accounts": "--accounts",
        }
        fail(f"{option.get(field, '--' + field)}: {error.errors()[0]['msg']}")
    started = time.perf_counter()
    world = generate_world(world_config)
    write_world(world, out)
    closed = world.pipeline["deal_stage"].isin(["Won", "Lost"])
    console.print(
        f"wrote {out}: {len(world.pipeline):,} deals ({closed.sum():,} closed, "
        f"{(world.pipeline['deal_stage'] == 'Won').sum() / max(closed.sum(), 1):.0%} won), "
        f"{len(world.accounts):,} accounts, {len(world.teams)} reps, {len(world.stream):,} stream leads "
        f"in {time.perf_counter() - started:.1f}s (seed {world_config.seed})"
    )


@app.command()
def evaluate(
    world: Annotated[Path, typer.Option(help="A directory written by `leadwise synth`.")],
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default from settings).")
    ] = None,
    history_sizes: Annotated[
        str, typer.Option(help="Comma-separated history sizes for the lift curve; '' to skip it.")
    ] = "1000,5000,20000,100000",
    champion: Annotated[
        bool, typer.Option(help="Evaluate the registered champion instead of training.")
    ] = False,
    log: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    train_config: Annotated[
        Path | None, typer.Option(help="Training config (TOML/YAML) to evaluate instead of the default.")
    ] = None,
) -> None:
    """Train on a world (or take the champion) and measure the models against the world's true P(win)."""
    settings = get_settings()
    try:
        sizes = [int(part) for part in history_sizes.split(",") if part.strip()]
    except ValueError:
        fail(f"--history-sizes: expected comma-separated integers, got '{history_sizes}'")
    if any(size < 100 for size in sizes):
        fail("--history-sizes: every size must be at least 100")
    try:
        truth = load_truth(world)
        history = _load_history(world)
        config = _train_config(train_config)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    world_config = WorldConfig.model_validate(truth.params["config"])

    if champion:
        from leadwise.learn.registry import load_champion

        models = load_champion(settings, tracking_uri)
        if models is None:
            fail(
                f"no model registered under alias '{settings.model_alias}' at {tracking_uri or settings.tracking_uri}"
            )
    else:
        console.print(f"training on {world} ({len(history.closed):,} closed deals)")
        models = _train(history, config)
    scored = _score(models, history, truth, seed=settings.random_seed)
    reference = _score(fit_reference_model_on(history), history, truth, seed=settings.random_seed)
    gain = None
    if history.touches is not None and truth.touches is not None and not champion:
        console.print("training again without the touchpoints (what the engagement features add)")
        gain = engagement_gain(history, truth, config, seed=settings.random_seed, scored=scored.report)

    curve: dict[str, list[float]] = {}
    if sizes:
        curve = _lift_curve(world_config, sizes, config)
    _print_table(scored.report, reference.report, world_config, curve, sizes)
    if gain is not None:
        console.print(
            f"lead score AUC with engagement features {gain.with_engagement:.3f}, without "
            f"{gain.without_engagement:.3f} (gain {gain.gain:+.3f}; Bayes {gain.bayes:.3f})"
        )
    if log:
        _log_run(settings, tracking_uri, world, world_config, scored, reference.report, sizes, curve, gain)


# ------------------------------------------------------------------------------------------------ steps


@dataclass
class _Scored:
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


def engagement_gain(
    history: CrmHistory, truth: WorldTruth, config: TrainConfig, seed: int, scored: TruthReport | None = None
) -> EngagementGain:
    """Train with the history's touchpoints and without them; score the stream (with its touches, or none)
    and compare the lead scores on the same sampled outcomes. ``scored``: the with-touches report already
    computed, so that model is not trained twice."""
    import dataclasses

    if scored is None:
        scored = _score(_train(history, config), history, truth, seed).report
    cold = dataclasses.replace(history, touches=None)
    without = _score(_train(cold, config), cold, dataclasses.replace(truth, touches=None), seed).report
    return EngagementGain(scored.lead_auc, without.lead_auc, scored.bayes_lead_auc)


def _load_history(directory: Path) -> CrmHistory:
    from leadwise.data.crm import load_crm_dir

    return load_crm_dir(directory)


def _train_config(path: Path | None) -> TrainConfig:
    from leadwise.learn.training import TrainConfig

    config = TrainConfig.from_file(path) if path is not None else TrainConfig()
    # The baselines only feed training's own report; here the truth is the yardstick.
    return config.model_copy(update={"baselines": False})


def _train(history: CrmHistory, config: TrainConfig) -> Any:
    from leadwise.data.training_data import from_crm
    from leadwise.learn.training import train_models

    return train_models(from_crm(history), config).models


def fit_reference_model_on(history: CrmHistory) -> Any:
    """The true-form logistic regression, fitted on the cleaned history (what the production models see)."""
    pipeline = history.deals.rename(columns={"lead_id": "opportunity_id"})
    return fit_reference_model(pipeline, history.accounts, history.products)


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


def _score(models: Any, history: CrmHistory, truth: WorldTruth, seed: int) -> _Scored:
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
    return _Scored(report, fit, truth.p_matrix)


def _lift_curve(config: WorldConfig, sizes: list[int], train_config: TrainConfig) -> dict[str, list[float]]:
    """Captured lift of the trained models and of the true-form reference on worlds of each history size.

    Same seed and parameters: the planted parameters, accounts and stream do not depend on the history
    size (separate random streams), so only the amount of history changes along the curve.
    """
    curve: dict[str, list[float]] = {"leadwise fit model": [], "true-form reference": []}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="leadwise-world-") as tmp:
            world = generate_world(config.model_copy(update={"n_history": size}))
            write_world(world, Path(tmp))
            history = _load_history(Path(tmp))
            sized_truth = load_truth(Path(tmp))
            leads = _leads(sized_truth, history)
            fit = _train(history, train_config).fit_matrix(leads, sized_truth.reps, touches=sized_truth.touches)
            ref = fit_reference_model_on(history).fit_matrix(leads, sized_truth.reps)
        curve["leadwise fit model"].append(captured_lift(sized_truth.p_matrix, fit))
        curve["true-form reference"].append(captured_lift(sized_truth.p_matrix, ref))
        console.print(
            f"  history {size:>9,}: captured lift {curve['leadwise fit model'][-1]:.3f} "
            f"(true-form reference {curve['true-form reference'][-1]:.3f})"
        )
    return curve


def _print_table(
    report: TruthReport,
    reference: TruthReport,
    config: WorldConfig,
    curve: dict[str, list[float]],
    sizes: list[int],
) -> None:
    table = Table(
        title=f"Models vs truth (seed {config.seed}, {config.n_history:,} history rows, {config.n_reps} reps)"
    )
    for column in ("metric", "leadwise", "true-form reference", "ceiling / baseline", "target", "met"):
        table.add_column(column, justify="left" if column in ("metric", "target") else "right")
    rows = [
        ("captured lift", report.captured_lift, reference.captured_lift, "1.000", f">= {TARGET_LIFT}",
         report.captured_lift >= TARGET_LIFT),
        ("fit AUC", report.fit_auc, reference.fit_auc, f"{report.bayes_auc:.3f} (Bayes)",
         f"Bayes - {TARGET_AUC_GAP}", report.bayes_auc - report.fit_auc <= TARGET_AUC_GAP),
        ("calibration error vs truth (ECE)", report.ece, reference.ece, "0.000", f"<= {TARGET_CALIBRATION}",
         report.ece <= TARGET_CALIBRATION),
        ("mean |p_model - p_true|", report.calibration_error, reference.calibration_error, "0.000", "", None),
        ("lead score AUC", report.lead_auc, reference.lead_auc,
         f"{report.prior_auc:.3f} (prior), {report.bayes_lead_auc:.3f} (Bayes)", "> prior", report.lead_auc > report.prior_auc),
    ]  # fmt: skip
    for name, ours, ref, ceiling, target, met in rows:
        mark = "" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        table.add_row(name, f"{ours:.3f}", f"{ref:.3f}", ceiling, target, mark)
    console.print(table)
    if curve:
        lifts = ", ".join(
            f"{size:,}: {lift:.3f}" for size, lift in zip(sizes, curve["leadwise fit model"], strict=True)
        )
        console.print(f"captured lift by history size: {lifts}")


def _log_run(
    settings: Settings,
    tracking_uri: str | None,
    world: Path,
    config: WorldConfig,
    scored: _Scored,
    reference: TruthReport,
    sizes: list[int],
    curve: dict[str, list[float]],
    gain: EngagementGain | None = None,
) -> None:
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
            sizes, curve.get("leadwise fit model", []), curve.get("true-form reference", []), strict=False
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
    console.print(f"logged MLflow run {run.info.run_id} in experiment '{EVALUATION_EXPERIMENT}' at {uri}")


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0]
