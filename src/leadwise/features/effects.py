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
