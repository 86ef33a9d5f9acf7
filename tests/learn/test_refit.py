"""The validated models are boosted again on the training and validation rows (``refit_all_rows``): the
served models learn from the latest deals, which the time-ordered validation holds out. The served lead
model keeps its scores of the validation leads, where a new lead's percentile is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.data.table import TableSpec, load_lead_table
from leadwise.data.training_data import from_table
from leadwise.learn.models import SCORE_REFERENCE_LEVELS, score_percentile, score_reference
from leadwise.learn.training import TrainConfig, TrainingOutcome, train_models
from leadwise.settings import Settings

runner = CliRunner()

N_ROWS = 2_400


@pytest.fixture(scope="module")
def late_channel_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Leads in time order; a channel that only starts in the latest sixth of the history wins 95 % of
    its leads, every other lead wins about a third (a little more with a higher ``budget``)."""
    rng = np.random.default_rng(7)
    days = pd.date_range("2026-01-01", periods=N_ROWS, freq="2h")
    late = np.arange(N_ROWS) >= N_ROWS * 5 // 6
    channel = np.where(
        late & (rng.random(N_ROWS) < 0.4), "webinar", rng.choice(["web", "ads", "partner"], size=N_ROWS)
    )
    budget = rng.normal(size=N_ROWS)
    p = np.where(channel == "webinar", 0.95, 1 / (1 + np.exp(-(-0.7 + 0.5 * budget))))
    frame = pd.DataFrame(
        {
            "created": days.strftime("%Y-%m-%d %H:%M"),
            "channel": channel,
            "budget": budget.round(3),
            "converted": (rng.random(N_ROWS) < p).astype(int),
        }
    )
    path = tmp_path_factory.mktemp("late-channel") / "leads.csv"
    frame.to_csv(path, index=False)
    return path


def _train(path: Path, refit: bool) -> TrainingOutcome:
    data = from_table(load_lead_table(path, TableSpec("converted", time="created")))
    config = TrainConfig(
        baselines=False, refit_all_rows=refit, lgbm_params={"n_estimators": 200, "n_jobs": 1}
    )
    return train_models(data, config, progress=lambda _message: None)


def _webinar_score(outcome: TrainingOutcome) -> float:
    leads = pd.DataFrame({"lead_id": ["a", "b"], "channel": ["webinar", "web"], "budget": [0.0, 0.0]})
    return float(outcome.models.lead_score(leads)[0])


def test_the_served_model_learns_the_channel_that_only_the_validation_rows_hold(late_channel_table: Path) -> None:
    validated_only, refitted = _train(late_channel_table, refit=False), _train(late_channel_table, refit=True)
    assert refitted.split["kind"] == "time-ordered"
    # Held out, the webinar leads never reached the boosting: the validated model scores them as any lead.
    held_out = _webinar_score(validated_only)
    assert held_out < 0.55
    # Boosted on every row, the served model has seen them win (its calibration, fitted out of sample on
    # rows without webinars, keeps it below their 95 %).
    assert _webinar_score(refitted) > max(0.65, held_out + 0.2)
    # The figures reported are the validated model's, the same either way (the refit is never validated).
    assert refitted.reports["lead_score"].metrics == validated_only.reports["lead_score"].metrics
    assert np.array_equal(refitted.validation["lead_score"]["p"], validated_only.validation["lead_score"]["p"])


def test_the_refit_keeps_the_validated_model_untouched(late_channel_table: Path) -> None:
    data = from_table(load_lead_table(late_channel_table, TableSpec("converted", time="created")))
    outcome = train_models(data, TrainConfig(baselines=False, refit_all_rows=False, lgbm_params={"n_jobs": 1}))
    lead_model = outcome.models.lead_model
    rows = outcome.models.builder.lead_features(data.closed, None)
    before = lead_model.predict_win(rows)
    refitted = lead_model.refit(rows, data.closed["won"].to_numpy(int))
    assert refitted is not lead_model
    assert np.array_equal(lead_model.predict_win(rows), before)  # a copy was boosted, not the original
    assert not np.allclose(refitted.predict_win(rows), before)


def test_a_refitted_champion_is_compared_only_on_rows_it_has_not_learnt_from(
    isolated_settings: Settings, late_channel_table: Path, tmp_path: Path
) -> None:
    earlier = tmp_path / "earlier.csv"
    pd.read_csv(late_channel_table).head(1_500).to_csv(earlier, index=False)

    def train(path: Path, *extra: str) -> str:
        result = runner.invoke(app, ["train", "--data", str(path), "--target", "converted", "--time", "created", *extra])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert "first registered models: promoted to champion" in train(earlier)
    # The champion learnt from rows up to the 1,500th; the new validation rows (the latest 480) are all later.
    # (Promoted or kept, the decision says what it compared on.)
    assert "on the 480 validation rows newer than the champion's training rows" in train(late_channel_table)
    # A champion trained on the same rows has learnt from every validation row: each model's own held-out
    # figures are compared instead (here the same, so the new ones are not worse).
    assert "promoted (--promote forces it)" in train(late_channel_table, "--promote")
    again = train(late_channel_table)
    assert "promoted: not worse than the champion on the metrics each recorded at training" in again
    assert "it learnt from these rows" in again


def test_the_served_model_keeps_its_scores_of_the_validation_leads_for_percentiles(late_channel_table: Path) -> None:
    outcome = _train(late_channel_table, refit=False)
    reference = outcome.models.lead_score_reference
    assert reference is not None and len(reference) == SCORE_REFERENCE_LEVELS
    # Without the refit the served model is the validated one: the reference is its validation scores.
    assert np.allclose(reference, score_reference(outcome.validation["lead_score"]["p"].to_numpy()))
    # The validation leads, placed among themselves, spread over the whole range (half below the median).
    placed = outcome.models.lead_score_percentile(outcome.validation["lead_score"]["p"].to_numpy())
    assert placed is not None and 45 < placed.mean() < 55 and placed.min() < 5 and placed.max() > 95
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "channel": ["web"] * 3, "budget": [-2.0, 0.0, 2.0]})
    predictions = outcome.models.predict(leads, reps=[])
    assert predictions.lead_score_percentile is not None
    assert list(np.argsort(predictions.lead_score_percentile)) == list(np.argsort(predictions.lead_score))
    # A bundle pickled before the reference existed says so with None (flow conditions then say why).
    outcome.models.lead_score_reference = None
    assert outcome.models.predict(leads, reps=[]).lead_score_percentile is None


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([-1.0, 0.0, 49.5, 99.0, 200.0], [0.0, 0.5, 50.0, 99.5, 100.0])],
)
def test_a_percentile_counts_the_reference_below_and_ties_half(scores: list[float], expected: list[float]) -> None:
    assert np.allclose(score_percentile(np.arange(100.0), np.array(scores)), expected)
    # A model whose reference leads all score the same puts that score at the middle, not at an end.
    assert score_percentile(np.full(2001, 0.6), np.array([0.6]))[0] == pytest.approx(50.0)
