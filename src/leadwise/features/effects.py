"""Effects in log-odds: how much better than expected a rep (or an account) did, shrunk when data is thin.

A raw win rate mixes skill with the quality of the leads a rep was given. Comparing wins with the wins
the same leads were *expected* to bring (judged from their segments when they were engaged) removes
most of that confounding; shrinking towards a prior effect keeps a rep with five deals from looking
like a star.
"""

from __future__ import annotations

import numpy as np

from leadwise.features.history import logit, sigmoid


def relative_effect(
    wins: np.ndarray,
    n: np.ndarray,
    expected: np.ndarray,
    fallback_rate: np.ndarray,
    strength: float,
    prior_effect: np.ndarray | float = 0.0,
) -> np.ndarray:
    """logit(shrunk observed rate) − logit(expected rate), over the deals counted in ``wins`` / ``n``.

    ``expected`` is the sum of those deals' expected win probabilities; ``fallback_rate`` stands in for
    the mean expectation when no deal was seen. With few deals the effect stays near ``prior_effect``.
    """
    wins, n, expected = (np.asarray(a, dtype=float) for a in (wins, n, expected))
    mean_expected = np.where(n > 0, expected / np.maximum(n, 1e-12), np.asarray(fallback_rate, dtype=float))
    anchor = sigmoid(logit(mean_expected) + prior_effect)
    observed = (wins + strength * anchor) / (n + strength)
    return logit(observed) - logit(mean_expected)


def empirical_bayes_strength(
    wins: np.ndarray, n: np.ndarray, expected: np.ndarray, *, floor: float = 1.0, ceiling: float = 1_000.0
) -> float | None:
    """How many deals at the expected rate a group's record should be pulled towards: the weight κ of a
    Beta prior, set by how much the groups truly differ (method of moments), None with under 3 groups.

    A group's observed rate ``wins / n`` differs from its expectation ``e = expected / n`` by its true
    effect plus binomial noise of variance e(1 − e) / n. The spread of the true effects τ² is the
    deal-weighted variance of (rate − e) less that noise; a Beta prior with mean e and weight κ has
    variance e(1 − e) / (κ + 1), so κ = e(1 − e) / τ² − 1. Groups that differ little get a heavy prior
    (a rep's first handful of deals moves its estimate little); no spread beyond noise gives ``ceiling``.
    """
    wins, n, expected = (np.asarray(a, dtype=float) for a in (wins, n, expected))
    seen = n > 0
    if seen.sum() < 3:
        return None
    wins, n, expected = wins[seen], n[seen], expected[seen]
    rate, e = wins / n, np.clip(expected / n, 1e-4, 1 - 1e-4)
    weight = n / n.sum()
    gap = rate - e
    spread = float(np.sum(weight * (gap - np.sum(weight * gap)) ** 2))
    noise = float(np.sum(weight * (1 - weight) * e * (1 - e) / n))
    tau2 = spread - noise
    base = float(np.sum(weight * e * (1 - e)))
    if tau2 <= base / (ceiling + 1):
        return ceiling
    return float(np.clip(base / tau2 - 1.0, floor, ceiling))
