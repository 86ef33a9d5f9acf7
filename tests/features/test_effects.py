"""Empirical-Bayes shrinkage: the prior weight that the spread between reps calls for."""

from __future__ import annotations

import numpy as np
import pytest

from leadwise.features.effects import empirical_bayes_strength


def planted(kappa: float, groups: int, deals: int, mean: float, seed: int) -> tuple[np.ndarray, ...]:
    """Groups whose true rates are Beta(κ·mean, κ·(1 − mean)), each with ``deals`` deals."""
    rng = np.random.default_rng(seed)
    rates = rng.beta(kappa * mean, kappa * (1 - mean), groups)
    n = np.full(groups, float(deals))
    return rng.binomial(deals, rates).astype(float), n, n * mean


@pytest.mark.parametrize("kappa", [5.0, 50.0, 200.0])
def test_the_planted_prior_weight_is_recovered(kappa: float) -> None:
    estimates = [empirical_bayes_strength(*planted(kappa, 400, 300, 0.6, seed)) for seed in range(5)]
    assert np.median(estimates) == pytest.approx(kappa, rel=0.35)


def test_reps_that_differ_only_by_chance_get_the_heaviest_prior() -> None:
    rng = np.random.default_rng(3)
    n = np.full(40, 200.0)
    wins = rng.binomial(200, 0.55, 40).astype(float)  # one true rate for all
    assert empirical_bayes_strength(wins, n, n * 0.55, ceiling=1_000.0) >= 300


def test_each_rep_is_judged_against_its_own_expectation() -> None:
    """Reps handed different leads differ in raw rate, not in skill: the expectation takes that out."""
    rng = np.random.default_rng(4)
    expected_rate = rng.uniform(0.2, 0.8, 60)  # lead mix
    n = np.full(60, 400.0)
    wins = rng.binomial(400, expected_rate).astype(float)
    against_mix = empirical_bayes_strength(wins, n, n * expected_rate)
    against_one_rate = empirical_bayes_strength(wins, n, n * wins.sum() / n.sum())
    assert against_mix >= 300 and against_one_rate < 20


def test_too_few_groups_estimate_nothing() -> None:
    assert empirical_bayes_strength(np.array([3.0, 4.0]), np.array([10.0, 10.0]), np.array([5.0, 5.0])) is None
    assert empirical_bayes_strength(np.array([3.0, 0.0, 4.0, 1.0]), np.array([10.0, 0.0, 10.0, 0.0]), np.array([5.0, 0.0, 5.0, 0.0])) is None
