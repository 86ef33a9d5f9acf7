"""Model selection by inner cross-validation: real candidates on small planted tables, then the CLI."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.features.builder import model_array
from leadwise.learn.metrics import expected_calibration_error
from leadwise.learn.selection import (
    DEFAULT_TRIAL,
    LIGHTGBM_SEEDS,
    SelectedClassifier,
    _LightGbmMember,
    _LogisticMember,
)

# Generous budgets bounded by trial counts: the tests do the same work on a busy machine as on an idle one.
QUICK = {"budget_seconds": 120.0, "max_trials": 2}


def planted(n: int, seed: int, linear: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Leads whose true log-odds are additive in two numbers and a category (or, not linear, a
    threshold interaction a tree finds and a logistic regression cannot)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    source = rng.choice(["web", "event", "partner", "referral"], size=n)
    effect = pd.Series(source).map({"web": -0.5, "event": 0.0, "partner": 0.7, "referral": 1.2}).to_numpy()
    logit = 1.2 * x1 - 0.8 * x2 + effect if linear else np.where((x1 > 0) & (x2 > 0), 2.5, -1.5) + 0.3 * effect
    p = expit(logit)
    frame = pd.DataFrame({"x1": x1, "x2": np.where(rng.random(n) < 0.1, np.nan, x2),
                          "source": pd.Categorical(source)})  # fmt: skip
    return frame, (rng.random(n) < p).astype(int), p


def default_lightgbm_auc(X: pd.DataFrame, y: np.ndarray, X_test: pd.DataFrame, y_test: np.ndarray) -> float:
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1).fit(X, y)
    return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))


def test_a_linear_world_is_won_by_the_logistic_candidate_and_beats_default_lightgbm() -> None:
    X, y, _ = planted(1000, 1, linear=True)
    X_test, y_test, p_test = planted(4000, 2, linear=True)
    model = SelectedClassifier(**QUICK, candidates=("lightgbm", "logistic")).fit(X, y)
    report = model.report_
    assert [t.candidate for t in report.trials][:2] == ["logistic", "lightgbm"]
    assert report.trials[1].params == DEFAULT_TRIAL  # the search starts from the fixed parameters
    assert report.weights.get("logistic", 0) > report.weights.get("lightgbm", 0)
    auc = roc_auc_score(y_test, model.predict_win(X_test))
    assert auc > default_lightgbm_auc(X, y, X_test, y_test) + 0.005
    # Calibrated on held-out leads: close to the planted probabilities.
    assert expected_calibration_error(y_test, model.predict_win(X_test)) < 0.04
    assert np.mean(np.abs(model.predict_win(X_test) - p_test)) < 0.07  # 1,000 rows; steps of decile bins


def test_an_interaction_world_is_won_by_lightgbm_and_the_choice_is_reported() -> None:
    X, y, _ = planted(1000, 3, linear=False)
    X_test, y_test, p_test = planted(4000, 4, linear=False)
    model = SelectedClassifier(**QUICK, candidates=("lightgbm", "logistic")).fit(X, y)
    report = model.report_
    assert report.weights.get("lightgbm", 0) > report.weights.get("logistic", 0)
    best = {c: report.best(c) for c in ("lightgbm", "logistic")}
    assert best["lightgbm"] is not None and best["logistic"] is not None
    assert best["lightgbm"].log_loss < best["logistic"].log_loss
    assert report.calibration in ("sigmoid", "isotonic")
    assert report.calibration_log_loss[report.calibration] == min(report.calibration_log_loss.values())
    assert roc_auc_score(y_test, model.predict_win(X_test)) > roc_auc_score(y_test, p_test) - 0.03  # Bayes: 0.815


def test_catboost_joins_when_the_budget_allows_and_the_model_pickles_and_takes_matrices() -> None:
    X, y, _ = planted(600, 5, linear=False)
    model = SelectedClassifier(budget_seconds=300.0, max_trials=2).fit(X, y)
    assert model.report_.best("catboost") is not None and not model.report_.skipped
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.predict_win(X), model.predict_win(model_array(X)), atol=1e-12)
    assert 0 < model.predict_win(X).min() < model.predict_win(X).max() < 1
    assert model.feature_importance().sum() == pytest.approx(sum(model.weights_[i] for i, m in enumerate(
        model.members_) if m.importance() is not None))  # fmt: skip


def test_the_kept_lightgbm_averages_boosters_of_different_seeds() -> None:
    X, y, _ = planted(800, 11, linear=False)
    matrix = model_array(X)
    model = SelectedClassifier(**QUICK, candidates=("lightgbm",)).fit(X, y)
    (member,) = model.members_
    assert isinstance(member, _LightGbmMember) and len(member.boosters_) == LIGHTGBM_SEEDS
    margins = [booster.predict(matrix, raw_score=True) for booster in member.boosters_]
    assert np.abs(margins[0] - margins[1]).max() > 0.01  # each seed sampled other rows and columns
    assert np.allclose(member.margin(matrix), np.mean(margins, axis=0))
    gains = [booster.feature_importance(importance_type="gain") for booster in member.boosters_]
    assert np.allclose(member.importance(), np.sum(gains, axis=0))
    # The refit on more rows keeps the seeds.
    assert len(model.refit(X, y).members_[0].boosters_) == LIGHTGBM_SEEDS


def test_a_lightgbm_member_without_sampling_fits_one_booster_and_old_members_still_score() -> None:
    X, y, _ = planted(500, 12, linear=False)
    matrix = model_array(X)
    params = {"objective": "binary", "verbosity": -1, "seed": 3, "num_threads": 1}
    unsampled = _LightGbmMember({**params, "subsample": 1.0, "colsample_bytree": 1.0}, 20, [2], seeds=3)
    assert len(unsampled.fit(matrix, y, None).boosters_) == 1
    # A member pickled before seeds were averaged kept its one booster as ``booster_``.
    old = _LightGbmMember({**params, "subsample": 0.8, "subsample_freq": 1}, 20, [2], seeds=3).fit(matrix, y, None)
    booster = old.boosters_[0]
    del old.__dict__["boosters_"]
    old.__dict__["booster_"] = booster
    again = pickle.loads(pickle.dumps(old))
    assert np.allclose(again.margin(matrix), booster.predict(matrix, raw_score=True))


def test_the_scorecard_scores_by_lookups_exactly_as_its_pipeline_does() -> None:
    X, y, _ = planted(600, 9, linear=True)
    member = _LogisticMember([2], 3, 0).fit(model_array(X), y, None)
    later = model_array(planted(500, 10, linear=True)[0])
    later[:5, 2] = 9.0  # a category code training never saw
    later[5:10, 0] = 1e6  # beyond the last bin
    expected = member.model_.decision_function(member.levels(later))
    assert np.allclose(member.margin(later), expected, atol=1e-9) and np.ptp(expected) > 1


def test_the_budget_counts_cpu_time_so_a_busy_machine_does_not_cut_the_search() -> None:
    # Each step waits 1 s, as if the neighbours held the CPU: on a wall clock the wait before the first
    # LightGBM trial would spend the whole budget, yet the search goes on to its trial cap.
    X, y, _ = planted(600, 6, linear=False)
    model = SelectedClassifier(budget_seconds=1.0, max_trials=3, candidates=("lightgbm",))
    model.fit(X, y, progress=lambda _share, _message: time.sleep(1.0))
    assert len([t for t in model.report_.trials if t.candidate == "lightgbm"]) == 3


def test_a_tight_budget_skips_catboost_and_says_why() -> None:
    X, y, _ = planted(600, 6, linear=True)
    model = SelectedClassifier(budget_seconds=0.01).fit(X, y)
    assert "catboost" in model.report_.skipped
    assert {t.candidate for t in model.report_.trials} == {"logistic", "lightgbm"}  # each tried once at least


def test_sample_weights_move_the_model() -> None:
    X, y, _ = planted(800, 7, linear=True)
    weight = np.where(X["source"] == "web", 5.0, 1.0)
    plain = SelectedClassifier(budget_seconds=60.0, max_trials=1, candidates=("logistic",)).fit(X, y)
    weighted = SelectedClassifier(budget_seconds=60.0, max_trials=1, candidates=("logistic",)).fit(X, y, weight)
    assert not np.allclose(plain.predict_win(X), weighted.predict_win(X), atol=1e-4)


# ---------------------------------------------------------------------------------------------- the CLI
def lead_table(path: Path, n: int = 600) -> Path:
    X, y, _ = planted(n, 8, linear=True)
    frame = X.assign(converted=y, lead=[f"L{i}" for i in range(n)], source=X["source"].astype(str))
    frame.loc[::17, "source"] = "Select"  # a placeholder: read as missing
    frame.to_csv(path, index=False)
    return path


def test_train_with_a_budget_logs_the_search_as_nested_runs(tmp_path: Path, isolated_settings) -> None:
    data = lead_table(tmp_path / "leads.csv")
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--target", "converted", "--id", "lead",
                                      "--budget", "4s"])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert "chosen by 5-fold inner CV" in said and "ECE" in said and "placeholders" in said
    client = MlflowClient(tracking_uri=isolated_settings.tracking_uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == isolated_settings.experiment_name]
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("leadwise.run_kind") == "training"]
    trials = [r for r in runs if r.data.tags.get("leadwise.run_kind") == "search-trial"]
    assert len(parents) == 1 and len(trials) >= 2
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert all("inner_cv_log_loss" in r.data.metrics for r in trials)
    assert parents[0].data.params["lead_score.search.chosen"]


def test_a_bad_budget_fails_with_one_line(tmp_path: Path, isolated_settings) -> None:
    data = lead_table(tmp_path / "leads.csv", 100)
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--target", "converted", "--budget", "lots"])
    assert result.exit_code == 2
    assert "--budget 'lots': give a duration such as 120s, 2m or 0" in " ".join(result.output.split())
