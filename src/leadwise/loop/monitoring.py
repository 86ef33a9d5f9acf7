"""Live monitoring of a served model, pure: calibration of its P(win) against the recorded outcomes
(reliability curve, expected calibration error) and drift of the served leads against the training data
(population stability index per feature), with the thresholds that raise a warning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadwise.learn.metrics import expected_calibration_error

PSI_WARNING = 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moving, > 0.25 shifted
ECE_WARNING_RATIO = 2.0  # live ECE at least twice the validation ECE
_FLOOR = 1e-4  # a share of 0 would make the PSI infinite: an empty bin counts as this share


@dataclass(frozen=True)
class Calibration:
    n: int
    ece: float
    curve: list[dict[str, float]]  # per non-empty bin: mean predicted, observed win rate, count

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "ece": self.ece, "curve": self.curve}


def calibration(p_win: np.ndarray, won: np.ndarray, bins: int = 10) -> Calibration:
    """The reliability curve over equal-width bins and the ECE (``learn.metrics``' definition, the one
    training logs for the validation rows, so the two compare)."""
    p, y = np.asarray(p_win, dtype=float), np.asarray(won, dtype=float)
    if len(p) == 0:
        return Calibration(0, float("nan"), [])
    which = np.clip(np.digitize(p, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    curve = [
        {"predicted": float(p[which == b].mean()), "observed": float(y[which == b].mean()), "count": int((which == b).sum())}
        for b in range(bins)
        if (which == b).any()
    ]
    return Calibration(len(p), expected_calibration_error(y, p, bins), curve)


def psi(reference: pd.Series, served: pd.Series, *, bins: int = 10) -> float:
    """Population stability index of ``served`` against ``reference``: Σ (s − r) ln(s / r) over the
    categories (text) or the reference's deciles (numbers); a missing value is a category of its own."""
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(served):
        finite = reference.dropna().to_numpy(dtype=float)
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if len(finite) else np.array([])

        def binned(values: pd.Series) -> pd.Series:
            codes = np.digitize(values.to_numpy(dtype=float), edges).astype(object)
            codes[values.isna().to_numpy()] = "missing"
            return pd.Series(codes)

        reference, served = binned(reference), binned(served)
    r = reference.astype(object).where(reference.notna(), "missing").value_counts(normalize=True)
    s = served.astype(object).where(served.notna(), "missing").value_counts(normalize=True)
    keys = r.index.union(s.index)
    r_share = r.reindex(keys, fill_value=0.0).clip(lower=_FLOOR).to_numpy()
    s_share = s.reindex(keys, fill_value=0.0).clip(lower=_FLOOR).to_numpy()
    return float(np.sum((s_share - r_share) * np.log(s_share / r_share)))


def drift(reference: pd.DataFrame, served: pd.DataFrame, columns: Iterable[str]) -> dict[str, float]:
    """PSI per column present in both frames."""
    return {c: psi(reference[c], served[c]) for c in columns if c in reference and c in served}


def warnings_for(
    *, ece: float | None, validation_ece: float | None, n_outcomes: int, psi_by_feature: Mapping[str, float],
    n_leads: int, min_outcomes: int, min_leads: int,
) -> list[str]:
    """The monitoring warnings: ECE at least doubled since validation, a feature's PSI above 0.25 (each
    only once there are enough outcomes / leads for the figure to mean something)."""
    out = []
    if (
        ece is not None and validation_ece is not None and n_outcomes >= min_outcomes
        and ece >= ECE_WARNING_RATIO * validation_ece
    ):
        out.append(f"calibration: live ECE {ece:.3f} on {n_outcomes} outcomes is {ece / validation_ece:.1f}x the "
                   f"validation ECE {validation_ece:.3f}")  # fmt: skip
    if n_leads >= min_leads:
        out.extend(
            f"drift: feature {name!r} PSI {value:.2f} > {PSI_WARNING} on {n_leads} served leads"
            for name, value in sorted(psi_by_feature.items())
            if value > PSI_WARNING
        )
    return out
