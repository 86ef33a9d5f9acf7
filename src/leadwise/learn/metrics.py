"""Validation metrics for win probabilities and deal values."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate − mean prediction| over equal-width probability bins, weighted by bin size."""
    y_true, p = np.asarray(y_true, float), np.asarray(p, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(y_true[in_bin].mean() - p[in_bin].mean())
    return float(error)


def lift_at(y_true: np.ndarray, p: np.ndarray, top: float = 0.1) -> float:
    """Win rate among the top ``top`` share of leads by score, over the overall win rate."""
    y_true, p = np.asarray(y_true, float), np.asarray(p, float)
    count = max(1, int(round(top * len(p))))
    best = np.argsort(-p, kind="stable")[:count]
    base = y_true.mean()
    return float(y_true[best].mean() / base) if base > 0 else float("nan")


def classification_metrics(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y_true, p = np.asarray(y_true, float), np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y_true)) == 2
    return {
        "roc_auc": float(roc_auc_score(y_true, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y_true, p)) if both else float("nan"),
        "log_loss": float(log_loss(y_true, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, p)),
        "ece": expected_calibration_error(y_true, p),
        "lift_top10": lift_at(y_true, p, 0.1),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    y_true, predicted = np.asarray(y_true, float), np.asarray(predicted, float)
    return {
        "mae": float(mean_absolute_error(y_true, predicted)),
        "rmse": float(np.sqrt(np.mean((y_true - predicted) ** 2))),
        "r2": float(r2_score(y_true, predicted)) if len(y_true) > 1 else float("nan"),
    }
