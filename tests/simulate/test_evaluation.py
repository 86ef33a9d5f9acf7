"""Evaluation metrics against hand-computed values on a tiny world of two leads and three reps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from leadwise.simulate.evaluation import (
    auc_against_bayes,
    calibration_error,
    captured_lift,
    evaluate_against_truth,
    expected_calibration_error,
    lift_curve_figure,
    reliability_figure,
    reliability_table,
    sample_outcomes,
)

P_TRUE = np.array([[0.2, 0.6, 0.4], [0.5, 0.1, 0.3]])
P_MODEL = np.array([[0.1, 0.3, 0.5], [0.9, 0.2, 0.1]])


def test_captured_lift_by_hand() -> None:
    # Picks: lead 0 -> rep 2 (true 0.4), lead 1 -> rep 0 (true 0.5): mean 0.45.
    # Random rep: mean of all six = 0.35. Best rep: (0.6 + 0.5) / 2 = 0.55. Lift = 0.10 / 0.20.
    assert captured_lift(P_TRUE, P_MODEL) == pytest.approx(0.5)


def test_captured_lift_bounds() -> None:
    assert captured_lift(P_TRUE, P_TRUE) == pytest.approx(1.0)
    # Picking the worst rep of every lead: (0.15 - 0.35) / 0.20.
    assert captured_lift(P_TRUE, -P_TRUE) == pytest.approx(-1.0)
    # A constant model picks rep 0 everywhere (argmax ties go first): (0.35 - 0.35) / 0.20.
    assert captured_lift(P_TRUE, np.zeros_like(P_TRUE)) == pytest.approx(0.0)


def test_captured_lift_refuses_a_world_without_rep_differences() -> None:
    with pytest.raises(ValueError, match="undefined"):
        captured_lift(np.full((2, 3), 0.4), P_MODEL)
    with pytest.raises(ValueError, match="shape"):
        captured_lift(P_TRUE, P_MODEL[:, :2])


def test_auc_against_bayes_by_hand() -> None:
    outcomes = np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)
    auc = auc_against_bayes(P_TRUE, P_MODEL, outcomes)
    # Positives score (0.1, 0.3, 0.1) vs negatives (0.5, 0.9, 0.2): only 0.3 > 0.2 wins, 1 of 9 pairs.
    assert auc.model == pytest.approx(1 / 9)
    # Truth: positives (0.2, 0.6, 0.3) vs negatives (0.4, 0.5, 0.1): 1 + 3 + 1 = 5 of 9 pairs.
    assert auc.bayes == pytest.approx(5 / 9)
    assert auc.gap == pytest.approx(4 / 9)


def test_calibration_error_by_hand() -> None:
    # |differences| = 0.1, 0.3, 0.1, 0.4, 0.1, 0.2 -> mean 0.2.
    assert calibration_error(P_TRUE, P_MODEL) == pytest.approx(0.2)
    assert calibration_error(P_TRUE, P_TRUE) == 0.0


def test_binned_ece_by_hand() -> None:
    # Two bins. [0, 0.5): predictions 0.1, 0.3, 0.2, 0.1 (mean 0.175), truths 0.2, 0.6, 0.1, 0.3 (mean 0.3).
    # [0.5, 1]: predictions 0.5, 0.9 (mean 0.7), truths 0.4, 0.5 (mean 0.45).
    # ECE = 4/6 * 0.125 + 2/6 * 0.25 = 1/6.
    table = reliability_table(P_TRUE, P_MODEL, n_bins=2)
    assert table["count"].tolist() == [4, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.175, 0.7])
    assert table["mean_true"].tolist() == pytest.approx([0.3, 0.45])
    assert expected_calibration_error(P_TRUE, P_MODEL, n_bins=2) == pytest.approx(1 / 6)


def test_ece_ignores_empty_bins_and_is_zero_for_the_truth() -> None:
    assert expected_calibration_error(P_TRUE, P_TRUE, n_bins=10) == pytest.approx(0.0)
    assert reliability_table(P_TRUE, P_TRUE, n_bins=10)["count"].sum() == P_TRUE.size


def test_sampled_outcomes_are_seeded_and_follow_the_probabilities() -> None:
    p = np.full((200, 50), 0.3)
    a, b = sample_outcomes(p, seed=4), sample_outcomes(p, seed=4)
    np.testing.assert_array_equal(a, b)
    assert a.mean() == pytest.approx(0.3, abs=0.01)


def test_perfect_model_matches_bayes_and_has_full_lift() -> None:
    rng = np.random.default_rng(0)
    p_true = rng.uniform(0.05, 0.95, (300, 6))
    report = evaluate_against_truth(p_true, p_true, p_true.mean(axis=1), np.full(300, 0.5), seed=1)
    assert report.captured_lift == pytest.approx(1.0)
    assert report.fit_auc == pytest.approx(report.bayes_auc)
    assert report.calibration_error == 0.0 and report.ece == pytest.approx(0.0)
    assert report.lead_auc == pytest.approx(report.bayes_lead_auc)
    assert report.prior_auc == pytest.approx(0.5)  # a constant prior ranks nothing


def test_a_noisier_model_scores_below_bayes() -> None:
    rng = np.random.default_rng(1)
    p_true = rng.uniform(0.05, 0.95, (400, 8))
    noisy = np.clip(p_true + rng.normal(0, 0.2, p_true.shape), 0.01, 0.99)
    report = evaluate_against_truth(p_true, noisy, noisy.mean(axis=1), np.full(400, 0.5), seed=2)
    assert report.fit_auc < report.bayes_auc
    assert 0 < report.captured_lift < 1
    assert report.calibration_error > 0.1


def test_figures_render() -> None:
    for fig in (
        reliability_figure(P_TRUE, P_MODEL, n_bins=2),
        lift_curve_figure([1000, 5000], {"m": [0.3, 0.6]}),
    ):
        assert isinstance(fig, Figure)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG")
    axes = reliability_figure(P_TRUE, P_MODEL, n_bins=2).axes[0]
    model_line = axes.get_lines()[1]
    assert model_line.get_xdata().tolist() == pytest.approx([0.175, 0.7])
    assert model_line.get_ydata().tolist() == pytest.approx([0.3, 0.45])
