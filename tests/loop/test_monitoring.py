"""Calibration and drift figures of the live monitoring, and when they warn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadwise.loop.monitoring import calibration, psi, warnings_for


def test_calibration_of_a_calibrated_and_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    won = rng.random(len(p)) < p
    good = calibration(p, won)
    assert good.n == 20_000 and good.ece < 0.02
    assert sum(b["count"] for b in good.curve) == 20_000
    assert all(abs(b["predicted"] - b["observed"]) < 0.05 for b in good.curve)
    bad = calibration(np.clip(p * 1.6, 0, 1), won)  # says 0.8 where 0.5 wins
    assert bad.ece > 0.15
    assert calibration(np.array([]), np.array([])).n == 0


def test_psi_is_zero_for_the_same_mix_and_large_for_a_new_one() -> None:
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]))
    same = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]))
    shifted = pd.Series(rng.choice(["a", "b", "c", "d"], 5000, p=[0.1, 0.2, 0.2, 0.5]))
    assert psi(reference, same) < 0.01
    assert psi(reference, shifted) > 0.25
    numbers = pd.Series(rng.normal(0, 1, 5000))
    assert psi(numbers, pd.Series(rng.normal(0, 1, 5000))) < 0.02
    assert psi(numbers, pd.Series(rng.normal(1.0, 1, 5000))) > 0.25


@pytest.mark.parametrize(
    ("ece", "n", "psi_value", "expected"),
    [(0.05, 500, 0.1, 0), (0.09, 500, 0.1, 1), (0.09, 50, 0.1, 0), (0.03, 500, 0.4, 1), (0.09, 500, 0.4, 2)],
)
def test_warnings(ece: float, n: int, psi_value: float, expected: int) -> None:
    got = warnings_for(ece=ece, validation_ece=0.04, n_outcomes=n, psi_by_feature={"sector": psi_value},
                       n_leads=n, min_outcomes=200, min_leads=200)  # fmt: skip
    assert len(got) == expected
