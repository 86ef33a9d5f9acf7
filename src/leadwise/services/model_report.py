"""The served model's live report (``GET /v1/reports/model``, ``leadwise report``, ``/readyz`` warnings).

- **Calibration per model version**: the P(win) each decision served for the rep it chose, against the
  outcome recorded for it; reliability curve and ECE next to the fit model's validation ECE (the
  training run's ``rep_fit.ece`` in MLflow).
- **Drift**: the segment features (sector, product, series, size band) of the last
  ``monitor_window`` leads routed by the served version, against the closed deals it was trained on
  (the history kept inside the model), as PSI per feature.
- **Shadow challenger** (``LEADWISE_CHALLENGER_ALIAS``): on the closed decisions it was scored on, its
  calibration beside the champion's, and ``best_fit`` by each model estimated off-policy on the same log
  (``loop.ope.champion_and_challenger``).
- **Warnings** when the live ECE is at least twice the validation ECE, or a feature's PSI passes 0.25;
  each new warning is logged once per worker.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadwise.loop.monitoring import calibration, drift, warnings_for
from leadwise.loop.ope import ScoredDecision, champion_and_challenger
from leadwise.services.models import LoadedModels, ModelHolder
from leadwise.services.scoring import leads_columns
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow, LeadRow, OutcomeRow, RepRow

log = logging.getLogger(__name__)

DRIFT_FEATURES = ("sector", "product", "series", "size_band")


def calibration_by_version(session: Session) -> dict[str, dict[str, Any]]:
    """Per model version, the calibration of the served P(win) against the recorded outcomes."""
    rows = session.execute(
        select(AssignmentRow.model_version, AssignmentRow.p_win, OutcomeRow.result)
        .join(OutcomeRow, OutcomeRow.assignment_id == AssignmentRow.id)
        .where(AssignmentRow.p_win.is_not(None), AssignmentRow.model_version.is_not(None))
    ).all()
    frame = pd.DataFrame(rows, columns=["version", "p_win", "result"])
    return {
        str(version): calibration(part["p_win"].to_numpy(), (part["result"] == "won").to_numpy()).as_dict()
        for version, part in frame.groupby("version", sort=True)
    }


@dataclass(frozen=True)
class TrainingRun:
    """The MLflow run that trained a registered version: where to find it and its validation metrics."""

    run_id: str
    experiment_id: str
    registry_version: str
    metrics: dict[str, float]  # ``lead_score.roc_auc``, ``rep_fit.ece``, ... (the model search's left out)

    def url(self, ui: str | None) -> str | None:
        return f"{ui}/#/experiments/{self.experiment_id}/runs/{self.run_id}" if ui else None


def training_run(version: str, registered_name: str) -> TrainingRun | None:
    """The run that trained ``version`` (``v7``) of the bundle registered as ``registered_name``, or None
    (a version that is not in the registry, such as models installed in-process, or no registry)."""
    import mlflow

    return _training_run(version, registered_name, mlflow.get_tracking_uri())


def challenger_report(session: Session, *, alias: str | None, served: str | None, n_resamples: int = 500) -> dict[str, Any]:
    """The shadow challenger beside the champion, on the closed decisions it was scored on: calibration of
    each model's P(win) for the rep chosen, per challenger version, and the off-policy estimates of
    ``best_fit`` by each (the expected win rate per lead, 95 % interval)."""
    rows = session.execute(
        select(AssignmentRow.rep_id, AssignmentRow.p_win, AssignmentRow.propensity, AssignmentRow.explanation,
               AssignmentRow.challenger_version, AssignmentRow.challenger_p_win, AssignmentRow.challenger_scores,
               OutcomeRow.result)
        .join(OutcomeRow, OutcomeRow.assignment_id == AssignmentRow.id)
        .where(AssignmentRow.challenger_version.is_not(None), OutcomeRow.result.in_(("won", "lost")))
        .order_by(AssignmentRow.id)
    ).all()  # fmt: skip
    report: dict[str, Any] = {"alias": alias, "model_version": served, "calibration": {}, "ope": None}
    if not rows:
        return report
    by_version: dict[str, list[tuple[float, float, bool]]] = {}
    for r in rows:
        if r.p_win is not None and r.challenger_p_win is not None:
            by_version.setdefault(str(r.challenger_version), []).append((r.p_win, r.challenger_p_win, r.result == "won"))
    for version, figures in sorted(by_version.items()):
        champion, challenger, won = (np.array(column) for column in zip(*figures, strict=True))
        report["calibration"][version] = {
            "champion": calibration(champion, won).as_dict(),
            "challenger": calibration(challenger, won).as_dict(),
        }
    names = {str(key): str(name) for key, name in session.execute(select(RepRow.id, RepRow.name))}

    def champion_scores(explanation: dict[str, Any] | None) -> dict[str, float]:
        scores = (explanation or {}).get("explanation", {}).get("scores", {})
        return {names[k]: float(v) for k, v in scores.items() if k in names}

    logged = [
        ScoredDecision(chosen=names.get(str(r.rep_id), ""), propensity=float(r.propensity), won=r.result == "won",
                       champion=champion_scores(r.explanation), challenger=r.challenger_scores or {})
        for r in rows
        if r.propensity is not None and r.rep_id is not None
    ]  # fmt: skip
    try:
        estimates = champion_and_challenger(logged, n_resamples=n_resamples)
    except ValueError as exc:  # no decision with a propensity and both models' scores yet
        report["ope"] = {"note": str(exc)}
        return report
    report["ope"] = {name: e.as_dict() for name, e in estimates.items()}
    return report


@lru_cache(maxsize=32)
def _training_run(version: str, registered_name: str, tracking_uri: str) -> TrainingRun | None:
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        registered = client.get_model_version(registered_name, version.lstrip("v"))
        if registered.run_id is None:
            return None
        run = client.get_run(registered.run_id)
    except Exception as exc:  # registry unreachable or version gone: no baseline, no ECE warning
        log.info("no training run for model %s: %s", version, exc)
        return None
    metrics = {k: float(v) for k, v in sorted(run.data.metrics.items()) if ".search." not in k}
    return TrainingRun(run.info.run_id, str(run.info.experiment_id), str(registered.version), metrics)


def validation_ece(version: str, registered_name: str) -> float | None:
    """The fit model's validation ECE logged by the run that trained ``version``, or None."""
    run = training_run(version, registered_name)
    return None if run is None else run.metrics.get("rep_fit.ece")


def served_drift(session: Session, loaded: LoadedModels, window: int) -> tuple[int, dict[str, float]]:
    """(leads compared, PSI per feature) of the latest ``window`` leads the served version routed."""
    payloads: list[dict[str, Any]] = list(
        session.scalars(
            select(LeadRow.payload)
            .join(AssignmentRow, AssignmentRow.lead_id == LeadRow.id)
            .where(AssignmentRow.model_version == loaded.version)
            .order_by(AssignmentRow.id.desc())
            .limit(window)
        )
    )
    reference = loaded.models.builder.events_
    if not payloads or reference.empty:
        return len(payloads), {}
    served = pd.DataFrame(loaded.models.prepare(leads_columns(payloads)))
    features = [f for f in DRIFT_FEATURES if f in served.columns and f in reference.columns]
    return len(payloads), drift(reference[features], served[features], features)


def model_report(
    *, db: Database, models: ModelHolder, settings: Settings, with_challenger: bool = True
) -> dict[str, Any]:
    """The whole report: the served version, calibration of every version, drift, warnings, and the shadow
    challenger beside the champion when one is configured (``with_challenger``: ``/readyz`` only needs
    the warnings)."""
    loaded = models.current
    shadow: dict[str, Any] | None = None
    with db.read_session() as session:
        by_version = calibration_by_version(session)
        n_leads, psi = served_drift(session, loaded, settings.monitor_window) if loaded else (0, {})
        if with_challenger and settings.challenger_alias:
            served = models.challenger.version if models.challenger is not None else None
            shadow = challenger_report(session, alias=settings.challenger_alias, served=served)
    report: dict[str, Any] = {"model_version": loaded.version if loaded else None, "calibration": by_version}
    if shadow is not None:
        report["challenger"] = shadow
    if loaded is None:
        return report | {"drift": {}, "warnings": []}
    live = by_version.get(loaded.version, {})
    baseline = validation_ece(loaded.version, settings.registered_model_name("lead_score"))
    ece = live.get("ece")
    report["validation_ece"] = baseline
    run = training_run(loaded.version, settings.registered_model_name("lead_score"))
    report["training_run"] = (
        None if run is None else {**asdict(run), "url": run.url(settings.mlflow_ui_url)}
    )
    report["drift"] = {"leads": n_leads, "psi": psi}
    report["warnings"] = warnings_for(
        ece=None if ece is None or np.isnan(ece) else float(ece), validation_ece=baseline,
        n_outcomes=int(live.get("n", 0)), psi_by_feature=psi, n_leads=n_leads,
        min_outcomes=settings.monitor_min_outcomes, min_leads=settings.monitor_min_outcomes,
    )  # fmt: skip
    return report


class MonitorCache:
    """The report's warnings for ``/readyz``, recomputed at most every ``seconds`` per worker; a new
    warning is logged once."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._at = -float("inf")
        self._warnings: list[str] = []
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def warnings(self, *, db: Database, models: ModelHolder, settings: Settings) -> list[str]:
        with self._lock:
            if time.monotonic() - self._at >= self.seconds:
                try:
                    self._warnings = model_report(
                        db=db, models=models, settings=settings, with_challenger=False
                    )["warnings"]
                except Exception:  # monitoring must never make the service unready
                    log.exception("model monitoring failed")
                    self._warnings = []
                self._at = time.monotonic()
                for warning in self._warnings:
                    if warning not in self._logged:
                        self._logged.add(warning)
                        log.warning("model monitoring: %s", warning)
            return list(self._warnings)
