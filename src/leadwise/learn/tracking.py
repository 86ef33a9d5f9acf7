"""The MLflow edge of training: log a run, register the three models, promote the champion alias.

Promotion is a step of its own: the new versions are registered first, then compared with the current
champion on the *new* validation rows (same data for both, so the comparison is fair), and the alias
moves only when the newcomer is not worse, or when the user forces it.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset, from_pandas
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import leadwise
from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import TrainingData
from leadwise.learn.demand_history import DEMAND_ARTIFACT, DEMAND_FILE, DemandHistory
from leadwise.learn.metrics import classification_metrics, regression_metrics
from leadwise.learn.models import LeadwiseModels
from leadwise.learn.plots import calibration_plot, cumulative_gain_plot, importance_plot, value_plot
from leadwise.learn.pyfunc import BUNDLE_ARTIFACT, MODEL_KINDS, PYFUNC_CLASSES, signature_for
from leadwise.learn.registry import champion_models
from leadwise.learn.training import TrainConfig, TrainingOutcome
from leadwise.settings import Settings

RUN_TAG = "leadwise.run_kind"
# Metrics the champion comparison uses, and whether larger is better.
PROMOTION_METRICS = {
    "lead_score": ("roc_auc", True),
    "rep_fit": ("roc_auc", True),
    "deal_value": ("mae", False),
}


@dataclass
class PromotionDecision:
    promoted: bool
    reason: str
    versions: dict[str, str]
    champion_metrics: dict[str, float] | None = None


def configure_tracking(settings: Settings, tracking_uri: str | None = None) -> str:
    """Point MLflow at the store; the embedded default keeps artefacts under ``mlruns/`` here."""
    uri = tracking_uri or settings.tracking_uri
    mlflow.set_tracking_uri(uri)
    return uri


def ensure_experiment(settings: Settings, name: str | None = None) -> str:
    name = name or settings.experiment_name
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if mlflow.get_tracking_uri().startswith("sqlite:"):
        location = Path(settings.artifact_location).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _log_figure(figure: plt.Figure, path: str) -> None:
    mlflow.log_figure(figure, path)
    plt.close(figure)


def training_run_name(data: TrainingData, now: datetime | None = None) -> str:
    """``train crm-sales-opportunities 2026-12-02 02:15:07Z``: what was trained on, and when (UTC)."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"train {data.source.name or data.source} {moment}"


def training_dataset(data: TrainingData) -> PandasDataset:
    """The training history as an MLflow dataset (name, digest, schema and profile; the source path)."""
    return from_pandas(
        data.frame, source=str(data.source), name=data.source.name or "training-data", targets="won"
    )


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if np.isfinite(v)}


def log_training_run(
    outcome: TrainingOutcome,
    data: TrainingData,
    config: TrainConfig,
    settings: Settings,
    *,
    register: bool = True,
    run_name: str | None = None,
) -> tuple[str, dict[str, str]]:
    """Log parameters, the dataset (``mlflow.log_input``), metrics, plots and the three pyfunc models;
    register them unless ``register`` is False (a dry run). Each logged model carries only its own
    metrics (and its baselines'); the run has them all.

    Returns the run id and the registered version of each model kind (none in a dry run).
    """
    experiment_id = ensure_experiment(settings)
    versions: dict[str, str] = {}
    model_ids: dict[str, str] = {}
    tags = {RUN_TAG: "training" if register else "training-dry-run"}
    name = run_name or training_run_name(data)
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        mlflow.log_params({f"config.{k}": v for k, v in config.model_dump().items() if k != "lgbm_params"})
        mlflow.log_params({f"lgbm.{k}": v for k, v in config.lgbm_params.items()})
        mlflow.log_params({f"data.{k}": v for k, v in outcome.fingerprint.items()})
        mlflow.log_params({f"split.{k}": v for k, v in outcome.split.items()})
        dataset = training_dataset(data)
        mlflow.log_input(dataset, context="training")
        mlflow.log_dict({name: report.verdict for name, report in outcome.reports.items()}, "verdicts.json")
        mlflow.log_text("\n".join(str(fix) for fix in data.report.fixes) or "no fixes", "data_cleaning.txt")
        _log_search(outcome, experiment_id, run.info.run_id)
        for name in ("lead_score", "rep_fit"):
            if name not in outcome.validation:
                continue
            frame = outcome.validation[name]
            _log_figure(calibration_plot(frame["y_true"], frame["p"], name), f"plots/{name}_calibration.png")
            _log_figure(
                cumulative_gain_plot(frame["y_true"], frame["p"], name), f"plots/{name}_cumulative_gain.png"
            )
        for name, importance in outcome.importances.items():
            _log_figure(importance_plot(importance, name), f"plots/{name}_feature_importance.png")
        if "deal_value" in outcome.validation:
            frame = outcome.validation["deal_value"]
            _log_figure(value_plot(frame["y_true"], frame["predicted"]), "plots/deal_value_scatter.png")

        example = outcome.input_example
        with tempfile.TemporaryDirectory() as scratch:
            bundle = Path(scratch) / "leadwise_models.joblib"
            joblib.dump(outcome.models, bundle)
            artifacts = {BUNDLE_ARTIFACT: str(bundle)}
            if outcome.demand_history is not None:  # the capacity prices' cold start, read back with the model
                outcome.demand_history.write(Path(scratch) / DEMAND_FILE)
                artifacts[DEMAND_ARTIFACT] = str(Path(scratch) / DEMAND_FILE)
            for kind in MODEL_KINDS:
                if kind not in outcome.reports:
                    continue  # no value column / no rep column: that model was not trained
                info = mlflow.pyfunc.log_model(
                    name=kind,
                    python_model=PYFUNC_CLASSES[kind](),
                    artifacts=artifacts,
                    signature=signature_for(kind, outcome.models),
                    input_example=example,
                    registered_model_name=settings.registered_model_name(kind) if register else None,
                    pip_requirements=_requirements(),
                )
                model_ids[kind] = info.model_id
                if register:
                    versions[kind] = str(info.registered_model_version)
        # The metrics only once every model is logged, each with its model's id: MLflow links a metric
        # logged without one to every model of the run, and a model it logs to every metric the run
        # already has (their history does not say whose they are); a model must carry only its own.
        for kind, model_id in model_ids.items():
            own = {k: v for k, v in outcome.metrics.items() if k.startswith(f"{kind}.")}
            mlflow.log_metrics(_finite(own), model_id=model_id, dataset=dataset)

        for kind, version in versions.items():
            client = MlflowClient()
            name = settings.registered_model_name(kind)
            client.set_model_version_tag(name, version, "leadwise.run_id", run.info.run_id)
            # A pickled bundle only works with code that still matches it: serving checks this tag.
            client.set_model_version_tag(name, version, "leadwise.version", leadwise.__version__)
    return run.info.run_id, versions


def _log_search(outcome: TrainingOutcome, experiment_id: str, parent_run_id: str) -> None:
    """The model search's outcome on the run, and each of its trials as a nested run under it."""
    client = MlflowClient()
    for name, search in outcome.selection.items():
        mlflow.log_params({f"{name}.search.chosen": search.chosen, f"{name}.search.calibration": search.calibration,
                           f"{name}.search.trials": len(search.trials),
                           **{f"{name}.search.skipped.{c}": why[:500] for c, why in search.skipped.items()}})  # fmt: skip
        mlflow.log_metrics({f"{name}.search.log_loss": search.log_loss, f"{name}.search.ece": search.ece,
                            f"{name}.search.seconds": search.seconds,
                            **{f"{name}.search.weight.{c}": w for c, w in search.weights.items()},
                            **{f"{name}.search.calibration_log_loss.{m}": v for m, v in search.calibration_log_loss.items()}})  # fmt: skip
        for number, trial in enumerate(search.trials, start=1):
            tags = {"mlflow.parentRunId": parent_run_id, "mlflow.runName": f"{name} {trial.candidate} #{number}",
                    RUN_TAG: "search-trial", "leadwise.candidate": trial.candidate}  # fmt: skip
            nested = client.create_run(experiment_id, tags=tags)
            metrics = {"inner_cv_log_loss": trial.log_loss, "inner_cv_roc_auc": trial.roc_auc, "seconds": trial.seconds}
            if trial.rounds is not None:
                metrics["rounds"] = trial.rounds
            stamp = int(time.time() * 1000)
            client.log_batch(
                nested.info.run_id,
                metrics=[Metric(key, float(value), stamp, 0) for key, value in metrics.items()],
                params=[Param(key, str(value)[:6000]) for key, value in trial.params.items()],
            )
            client.set_terminated(nested.info.run_id)


def _requirements() -> list[str]:
    from importlib.metadata import version

    # Pinned to what trained the model; listing them skips MLflow's slow requirement inference.
    return [
        f"{package}=={version(package)}"
        for package in ("mlflow", "lightgbm", "catboost", "scikit-learn", "pandas", "numpy", "joblib")
    ]


MIN_UNSEEN_ROWS = 100  # new validation rows the champion has not learnt from, needed to compare on them


def _unseen_by(champion: LeadwiseModels, outcome: TrainingOutcome) -> np.ndarray | None:
    """Which of the new run's validation rows the champion did not learn from: None when it learnt from
    none of them (it held its own validation rows out), else a mask (all False when it cannot tell: a
    champion refitted on untimed rows)."""
    if not getattr(champion, "refit_all_rows", False):
        return None
    leads = outcome.validation_leads
    through = getattr(champion, "fitted_through", None)
    if through is None or "engage_date" not in leads:
        return np.zeros(len(leads), dtype=bool)
    return (pd.to_datetime(leads["engage_date"]) > through).to_numpy()


def _candidate_metrics(outcome: TrainingOutcome, rows: np.ndarray | None) -> dict[str, float]:
    """The new models' promotion metrics on their validation rows (``rows``: a mask of them)."""
    metrics = {}
    for kind, (metric, _) in PROMOTION_METRICS.items():
        if kind not in outcome.reports:
            continue
        if rows is None:
            metrics[kind] = outcome.reports[kind].metrics[metric]
            continue
        frame = outcome.validation[kind]
        if kind == "deal_value":  # the won rows only, in order
            won = outcome.validation_leads["won"].to_numpy(int) == 1
            frame = frame[rows[won]]
            metrics[kind] = regression_metrics(frame["y_true"].to_numpy(), frame["predicted"].to_numpy())[metric]
        else:
            frame = frame[rows]
            metrics[kind] = classification_metrics(frame["y_true"].to_numpy(int), frame["p"].to_numpy())[metric]
    return metrics


def _evaluate_on(models: LeadwiseModels, outcome: TrainingOutcome, rows: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of a (champion) bundle on the new run's validation rows (``rows``: a mask of them)."""
    leads = outcome.validation_leads if rows is None else outcome.validation_leads[rows].reset_index(drop=True)
    reps = sorted(set(leads["sales_agent"])) if "sales_agent" in leads and models.fit_model is not None else []
    prediction = models.predict(leads, reps=reps, touches=outcome.validation_touches)
    y_true = leads["won"].to_numpy(int)
    metrics = {"lead_score": classification_metrics(y_true, prediction.lead_score)["roc_auc"]}
    if reps:
        rep_index = {rep: i for i, rep in enumerate(reps)}
        chosen = prediction.fit[np.arange(len(leads)), leads["sales_agent"].map(rep_index).to_numpy()]
        metrics["rep_fit"] = classification_metrics(y_true, chosen)["roc_auc"]
    won = y_true == 1
    if "close_value" in leads and won.any() and models.value_model is not None:
        metrics["deal_value"] = regression_metrics(
            leads["close_value"].to_numpy()[won], prediction.deal_value[won]
        )["mae"]
    return metrics


def _compared_metrics(
    champion: LeadwiseModels, outcome: TrainingOutcome, settings: Settings
) -> tuple[dict[str, float], dict[str, float], str]:
    """The champion's and the new models' promotion metrics on the same rows, and on which, in words.

    A champion refitted on its validation rows has learnt from some of the new ones: compared only on the
    rows it has not seen, or (too few of them) on what each recorded on its own held-out rows."""
    rows = _unseen_by(champion, outcome)
    won = outcome.validation_leads["won"].to_numpy(int) == 1
    if rows is None or (rows.sum() >= MIN_UNSEEN_ROWS and 0 < won[rows].sum() < rows.sum()):
        basis = (
            "on the same validation rows"
            if rows is None
            else f"on the {int(rows.sum()):,} validation rows newer than the champion's training rows"
        )
        try:
            return _evaluate_on(champion, outcome, rows), _candidate_metrics(outcome, rows), basis
        except (DataValidationError, KeyError, ValueError):
            cause = "the champion cannot score the new data"  # it learnt from other products, columns
    else:
        cause = "it learnt from these rows"
    basis = f"on the metrics each recorded at training ({cause})"
    return _recorded_metrics(settings), _candidate_metrics(outcome, None), basis


def promote(
    outcome: TrainingOutcome, versions: dict[str, str], settings: Settings, force: bool | None
) -> PromotionDecision:
    """Move the champion alias of all three models to the new versions, together or not at all."""
    client = MlflowClient()
    champion = champion_models(settings)
    champion_metrics = None
    if force is False:
        return PromotionDecision(False, "not promoted (--no-promote)", versions)
    if champion is None:
        reason = "first registered models: promoted to champion"
    elif force:
        reason = "promoted (--promote forces it)"
    else:
        champion_metrics, candidate_metrics, basis = _compared_metrics(champion, outcome, settings)
        worse = []
        for kind, (metric, larger_is_better) in PROMOTION_METRICS.items():
            if kind not in champion_metrics or kind not in candidate_metrics:
                continue
            new, old = candidate_metrics[kind], champion_metrics[kind]
            if (new < old) if larger_is_better else (new > old):
                worse.append(f"{kind} {metric} {new:.4f} vs champion {old:.4f}")
        if worse:
            return PromotionDecision(
                False,
                f"champion kept: the new models are worse {basis}: " + "; ".join(worse),
                versions,
                champion_metrics,
            )
        reason = f"promoted: not worse than the champion {basis}"
    for kind, version in versions.items():
        client.set_registered_model_alias(settings.registered_model_name(kind), settings.model_alias, version)
    return PromotionDecision(True, reason, versions, champion_metrics)


def _recorded_metrics(settings: Settings) -> dict[str, float]:
    client = MlflowClient()
    version = client.get_model_version_by_alias(
        settings.registered_model_name("lead_score"), settings.model_alias
    )
    assert version.run_id is not None  # leadwise registers every version from a training run
    logged = client.get_run(version.run_id).data.metrics
    return {
        kind: logged[f"{kind}.{metric}"]
        for kind, (metric, _) in PROMOTION_METRICS.items()
        if f"{kind}.{metric}" in logged
    }


def save_summary(outcome: TrainingOutcome, path: Path) -> None:
    path.write_text(json.dumps({name: report.metrics for name, report in outcome.reports.items()}, indent=2))


def register_bundle(
    bundle: Any, *, settings: Settings, alias: str, run_name: str, demand_history: DemandHistory | None = None
) -> str:
    """Register any object with the serving contract of ``LeadwiseModels`` (``predict``, ``reps``,
    ``builder.engagement``; e.g. a world's truth, ``simulate.truth_model``) as a ``lead_score`` version
    of the same pyfunc class as a trained one, with ``demand_history`` as its artefact, and point
    ``alias`` at it (an alias other than the champion's: serve it with ``LEADWISE_MODEL_ALIAS``).
    Returns the registered version."""
    name = settings.registered_model_name("lead_score")
    with mlflow.start_run(experiment_id=ensure_experiment(settings), run_name=run_name), tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bundle.joblib"
        joblib.dump(bundle, path)
        artifacts = {BUNDLE_ARTIFACT: str(path)}
        if demand_history is not None:
            demand_history.write(Path(scratch) / DEMAND_FILE)
            artifacts[DEMAND_ARTIFACT] = str(Path(scratch) / DEMAND_FILE)
        info = mlflow.pyfunc.log_model(
            name="lead_score",
            python_model=PYFUNC_CLASSES["lead_score"](),
            artifacts=artifacts,
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_model_version_tag(name, version, "leadwise.version", leadwise.__version__)
    client.set_registered_model_alias(name, alias, version)
    return version
