"""Validation plots logged beside each training run (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # plots are written to files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402


def calibration_plot(y_true: ArrayLike, p: ArrayLike, title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(y_true, p, n_bins=10, strategy="quantile", ax=axis, name=title)
    axis.set_title(f"Calibration: {title} (validation)")
    return figure


def cumulative_gain_plot(y_true: ArrayLike, p: ArrayLike, title: str) -> Figure:
    order = np.argsort(-np.asarray(p), kind="stable")
    wins = np.asarray(y_true, float)[order]
    share_of_leads = np.arange(1, len(wins) + 1) / len(wins)
    share_of_wins = np.cumsum(wins) / max(wins.sum(), 1.0)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(np.r_[0, share_of_leads], np.r_[0, share_of_wins], label=title)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    axis.set_xlabel("share of leads, best scored first")
    axis.set_ylabel("share of won deals")
    axis.set_title(f"Cumulative gain: {title} (validation)")
    axis.legend(loc="lower right")
    return figure


def importance_plot(importance: pd.Series, title: str, top: int = 20) -> Figure:
    shown = importance.head(top)[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    axis.barh(shown.index.astype(str), shown.to_numpy())
    axis.set_xlabel("total gain")
    axis.set_title(f"Feature importance: {title}")
    figure.tight_layout()
    return figure


def value_plot(actual: ArrayLike, predicted: ArrayLike) -> Figure:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.scatter(actual, predicted, s=6, alpha=0.4)
    top = float(max(np.max(np.asarray(actual), initial=1), np.max(np.asarray(predicted), initial=1)))
    axis.plot([0, top], [0, top], linestyle="--", color="grey")
    axis.set_xlabel("actual value of won deal")
    axis.set_ylabel("predicted value")
    axis.set_title("Deal value (validation)")
    return figure
