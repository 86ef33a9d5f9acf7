"""Metrics of trained models against a world's true win probabilities. Pure: arrays in, numbers and figures out.

Conventions: ``p_true`` and ``p_model`` are (n_leads, n_reps) matrices over the same leads and reps, the
true and the predicted P(win | lead, rep).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score


def captured_lift(p_true: np.ndarray, p_model: np.ndarray) -> float:
    """Share of the best achievable gain over random routing that the model's rep choice captures.

    (E[p_true of the model's pick] - E[p_true of a random rep]) / (E[p_true of the best rep] - E[random]),
    expectations over the leads, no capacity limits. 1 is perfect, 0 is no better than random, negative is
    worse than random. Ties in ``p_model`` go to the first rep (what ``argmax`` does).
    """
    p_true, p_model = _check_pair(p_true, p_model)
    rows = np.arange(p_true.shape[0])
    picked = p_true[rows, np.argmax(p_model, axis=1)].mean()
    random = p_true.mean()
    best = p_true.max(axis=1).mean()
    if best - random <= 1e-12:  # float sums of equal values may differ in the last bit
        raise ValueError("captured lift is undefined: every rep has the same true probability for every lead")
    return float((picked - random) / (best - random))


def sample_outcomes(p_true: np.ndarray, seed: int) -> np.ndarray:
    """One Bernoulli outcome per entry of ``p_true`` (what would happen if that rep worked that lead)."""
    return np.random.default_rng(seed).random(np.shape(p_true)) < p_true


@dataclass(frozen=True)
class AucComparison:
    model: float
    bayes: float  # AUC of the true probabilities on the same outcomes: the ceiling for any model

    @property
    def gap(self) -> float:
        return self.bayes - self.model


def auc_against_bayes(p_true: np.ndarray, p_model: np.ndarray, outcomes: np.ndarray) -> AucComparison:
    """ROC AUC of the model and of the truth itself, on the same sampled outcomes (all entries pooled)."""
    p_true, p_model = _check_pair(p_true, p_model)
    y = np.asarray(outcomes, dtype=bool).ravel()
    if y.shape != p_true.ravel().shape:
        raise ValueError(f"outcomes have shape {np.shape(outcomes)}, expected {p_true.shape}")
    return AucComparison(
        model=float(roc_auc_score(y, p_model.ravel())), bayes=float(roc_auc_score(y, p_true.ravel()))
    )


def calibration_error(p_true: np.ndarray, p_model: np.ndarray) -> float:
    """Mean |p_model - p_true|: error against the truth itself, free of outcome sampling noise."""
    p_true, p_model = _check_pair(p_true, p_model)
    return float(np.abs(p_model - p_true).mean())


def reliability_table(p_true: np.ndarray, p_model: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of the prediction: count, mean prediction and mean true probability per bin."""
    p_true, p_model = _check_pair(p_true, p_model)
    pred, true = p_model.ravel(), p_true.ravel()
    # Bin i holds [i/n, (i+1)/n); a prediction of exactly 1 goes to the last bin.
    bins = np.minimum((pred * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(bins, weights=pred, minlength=n_bins) / count
        mean_true = np.bincount(bins, weights=true, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "bin_low": np.arange(n_bins) / n_bins,
            "bin_high": np.arange(1, n_bins + 1) / n_bins,
            "count": count,
            "mean_predicted": mean_pred,
            "mean_true": mean_true,
        }
    )


def expected_calibration_error(p_true: np.ndarray, p_model: np.ndarray, n_bins: int = 10) -> float:
    """Binned ECE against the truth: sum over bins of (bin share) * |mean prediction - mean true p|."""
    table = reliability_table(p_true, p_model, n_bins)
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["mean_predicted"] - filled["mean_true"]).abs()).sum())


def reliability_figure(
    p_true: np.ndarray, p_model: np.ndarray, n_bins: int = 10, title: str = "Fit model vs truth"
) -> Figure:
    """Mean true probability against mean prediction per bin, with the diagonal and bin counts."""
    table = reliability_table(p_true, p_model, n_bins)
    filled = table[table["count"] > 0]
    # A bare Figure (no pyplot): no global state, renders with the Agg canvas, safe in servers and tests.
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    ax.plot(filled["mean_predicted"], filled["mean_true"], marker="o", label="model")
    ax.bar(
        filled["bin_low"], filled["count"] / filled["count"].sum(), width=1 / n_bins, align="edge",
        alpha=0.2, color="tab:blue", label="share of predictions",
    )  # fmt: skip
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(win)", ylabel="true P(win)", title=title)
    ax.legend(loc="upper left")
    return fig


def lift_curve_figure(history_sizes: Sequence[int], series: Mapping[str, Sequence[float]]) -> Figure:
    """Captured lift (or any metric) against history size, one line per named series."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for name, values in series.items():
        ax.plot(history_sizes, values, marker="o", label=name)
    ax.axhline(0.85, linestyle="--", color="grey", linewidth=1, label="target 0.85")
    ax.set_xscale("log")
    ax.set(
        xlabel="history rows", ylabel="captured lift", title="Captured lift vs history size", ylim=(0, 1.05)
    )
    ax.legend(loc="lower right")
    return fig


@dataclass(frozen=True)
class TruthReport:
    """The figures ``leadwise evaluate`` prints and logs."""

    fit_auc: float
    bayes_auc: float
    calibration_error: float
    ece: float
    captured_lift: float
    lead_auc: float
    prior_auc: float
    bayes_lead_auc: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate_against_truth(
    p_true: np.ndarray,
    fit: np.ndarray,
    lead_score: np.ndarray,
    prior: np.ndarray,
    seed: int = 0,
) -> TruthReport:
    """All the figures at once. ``lead_score`` and ``prior`` are P(win | lead) per lead.

    The lead-level outcome of lead i is the sampled outcome of a rep drawn uniformly, so the lead score is
    judged on what random routing would have produced; its ceiling is the row mean of ``p_true``.
    """
    p_true, fit = _check_pair(p_true, fit)
    outcomes = sample_outcomes(p_true, seed)
    auc = auc_against_bayes(p_true, fit, outcomes)
    n_leads, n_reps = p_true.shape
    random_rep = np.random.default_rng(seed + 1).integers(0, n_reps, n_leads)
    y_lead = outcomes[np.arange(n_leads), random_rep]
    return TruthReport(
        fit_auc=auc.model,
        bayes_auc=auc.bayes,
        calibration_error=calibration_error(p_true, fit),
        ece=expected_calibration_error(p_true, fit),
        captured_lift=captured_lift(p_true, fit),
        lead_auc=float(roc_auc_score(y_lead, np.asarray(lead_score, dtype=float))),
        prior_auc=float(roc_auc_score(y_lead, np.asarray(prior, dtype=float))),
        bayes_lead_auc=float(roc_auc_score(y_lead, p_true.mean(axis=1))),
    )


def _check_pair(p_true: np.ndarray, p_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p_true, p_model = np.asarray(p_true, dtype=float), np.asarray(p_model, dtype=float)
    if p_true.ndim != 2 or p_true.shape != p_model.shape:
        raise ValueError(
            f"expected two (n_leads, n_reps) matrices of one shape, got {p_true.shape} and {p_model.shape}"
        )
    return p_true, p_model
