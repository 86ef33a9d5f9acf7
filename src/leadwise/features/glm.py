"""A joint, regularised additive model of win log-odds, refitted at points in time.

The point-in-time rates in ``builder`` estimate each rep effect on its own (a rep's record in a sector,
in a series...). Those marginal estimates overlap: a rep's sector record also carries the series and
account sizes that rep happened to work in that sector. A logistic regression on all terms at once
(lead terms, rep, rep × sector, rep × series, and a per-rep slope on account size)
separates them, with L2 regularisation doing the shrinkage.

To stay free of leakage the model is refitted at snapshots spread over the history; a lead engaged at
time t is described by the latest snapshot fitted on deals closed *before* a moment <= t. Leads earlier
than the first snapshot get no value (NaN), which the gradient boosting handles as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

REP = "sales_agent"
LEAD_TERMS: tuple[tuple[str, ...], ...] = (("product",), ("sector",), ("size_band",), ("account",))
# Account size enters the rep terms as a per-rep slope on log revenue, not as banded levels too: on
# synthetic worlds the bands only added parameters (captured lift 0.85 with them, 0.86 without).
REP_TERMS: tuple[tuple[str, ...], ...] = ((REP,), (REP, "sector"), (REP, "series"))
SLOPE_COLUMN = "revenue"  # per-rep slope on standardised log account revenue
# The inverse L2 strengths (scikit-learn's ``C``) cross-validation chooses from. A fixed C = 1 shrank too
# little: on five default worlds (20k history) the fit model's captured lift was 0.807-0.888 against the
# true-form reference's 0.839-0.901 (the log loss picks 1/8 to 1/4 there).
STRENGTH_GRID = tuple(2.0**k for k in range(-6, 2))  # 1/64 ... 2
MIN_ROWS_TO_CHOOSE = 300  # fewer closed deals: C = 1 at the last snapshot (3 folds of 100 tell nothing)
DEFAULT_C = 1.0
# A rep's overall effect is shrunk as if its prior were this many times wider than the other terms': each
# of those few effects rests on hundreds of deals, and shrunk as hard as the rep x segment cells the rep's
# raw (confounded) record took their place in the boosting. On five default worlds the captured lift went
# from 0.844 / 0.832 / 0.890 / 0.905 / 0.871 (x1) to 0.859 / 0.836 / 0.894 / 0.896 / 0.874 (x4).
# The wider prior is for a rep whose effect is as well measured as a typical rep's: a rep with fewer deals
# than the median rep gets it in proportion (1 + 3 x its share of the median), a rep with a handful of
# deals about the common one. At x4 for all, a new rep's effect after its first twenty deals was barely
# shrunk, and the highest of ten noisy effects won: after one round of exploration the fit model sent 44 %
# of the leads to new reps where they were best for 32 %, and its captured lift fell from 0.690 to 0.654
# (benchmarks/bench_loop.py, seed 2); in proportion 26 %, 0.751 to 0.749.
REP_MAIN_SCALE = 4.0
FOLDS = 3


@dataclass(frozen=True)
class _Design:
    """The one-hot terms and the per-rep slope column of a frame, with the vocabularies behind them."""

    matrix: sp.csr_matrix
    vocabularies: list[np.ndarray]
    reps: pd.Index
    slope_mean: float
    slope_scale: float
    rep_main_scales: np.ndarray  # each rep's own column's scale, in the order of the rep term's vocabulary

    @classmethod
    def of(cls, frame: pd.DataFrame, terms: Sequence[tuple[str, ...]], rep_main_scale: float = 1.0) -> _Design:
        """``rep_main_scale`` multiplies the rep's own column of a rep with at least the median rep's deals
        (``rep_main_scales``, in proportion below): under one L2 strength, its effect is then shrunk as if
        its prior were that many times wider than the other terms'."""
        blocks, vocabularies = [], []
        keys = {column: frame[column].astype(str).to_numpy(dtype=object) for column in {c for t in terms for c in t}}
        rep_main_scales = np.ones(0)
        for term in terms:
            codes, vocabulary = pd.factorize(_joined(keys, term))
            values = np.ones(len(codes))
            if term == (REP,):
                rep_main_scales = _rep_main_scales(np.bincount(codes, minlength=len(vocabulary)), rep_main_scale)
                values = rep_main_scales[codes]
            blocks.append(sp.csr_matrix((values, (np.arange(len(codes)), codes)), shape=(len(codes), len(vocabulary))))
            vocabularies.append(vocabulary)
        slope_values = np.log1p(frame[SLOPE_COLUMN].fillna(frame[SLOPE_COLUMN].median()).clip(lower=0).to_numpy(float))
        mean, scale = float(slope_values.mean()), float(slope_values.std() or 1.0)
        z = (slope_values - mean) / scale
        rep_codes, reps = pd.factorize(frame[REP].astype(str))
        blocks.append(sp.csr_matrix((z, (np.arange(len(z)), rep_codes)), shape=(len(z), len(reps))))
        return cls(sp.hstack(blocks, format="csr"), vocabularies, reps, mean, scale, rep_main_scales)


def _rep_main_scales(deals: np.ndarray, scale: float) -> np.ndarray:
    """Per rep, 1 + (``scale`` - 1) x its deals' share of the median rep's, at most ``scale``."""
    typical = max(float(np.median(deals)), 1.0) if len(deals) else 1.0
    return 1.0 + (scale - 1.0) * np.minimum(1.0, deals / typical)


def chosen_strength(
    frame: pd.DataFrame,
    won: np.ndarray,
    terms: Sequence[tuple[str, ...]],
    grid: Sequence[float],
    rep_main_scale: float = REP_MAIN_SCALE,
    seed: int = 0,
) -> float:
    """The inverse L2 strength (scikit-learn's ``C``) of ``grid`` with the best 3-fold log loss on ``frame``,
    the rep's own column scaled by ``rep_main_scale`` (``GlmSnapshots`` turns it into a penalty per deal)."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    search = LogisticRegressionCV(
        Cs=list(grid), l1_ratios=(0.0,), cv=folds, scoring="neg_log_loss", refit=False,
        use_legacy_attributes=False, max_iter=300, tol=1e-4,
    ).fit(_Design.of(frame, terms, rep_main_scale).matrix, won)  # fmt: skip
    mean_score = search.scores_.mean(axis=0)[0]  # (folds, l1 ratios, Cs) -> per C
    return float(search.Cs_[int(np.argmax(mean_score))])


@dataclass
class AdditiveLogit:
    """Logistic regression on one-hot terms, kept as per-term coefficient lookups (fast to score)."""

    intercept: float
    coefficients: dict[tuple[str, ...], dict[str, float]]
    slopes: dict[str, float]
    slope_mean: float
    slope_scale: float

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, won: np.ndarray, terms: Sequence[tuple[str, ...]], C: float, rep_main_scale: float = 1.0
    ) -> AdditiveLogit:
        design = _Design.of(frame, terms, rep_main_scale)
        model = LogisticRegression(C=C, max_iter=300, tol=1e-4).fit(design.matrix, won)
        weights = model.coef_[0]
        coefficients, offset = {}, 0
        for term, vocabulary in zip(terms, design.vocabularies, strict=True):
            scale = design.rep_main_scales if term == (REP,) else 1.0  # the effects of the unscaled columns
            coefficients[term] = dict(zip(vocabulary, scale * weights[offset : offset + len(vocabulary)], strict=True))
            offset += len(vocabulary)
        slopes = dict(zip(design.reps, weights[offset:], strict=True))
        return cls(float(model.intercept_[0]), coefficients, slopes, design.slope_mean, design.slope_scale)

    def _sum(self, term: tuple[str, ...], values: np.ndarray) -> np.ndarray:
        lookup = self.coefficients.get(term, {})
        return np.fromiter((lookup.get(v, 0.0) for v in values), float, len(values))

    def term_sum(self, keys: Mapping[str, np.ndarray], terms: Sequence[tuple[str, ...]]) -> np.ndarray:
        """The terms' coefficients summed per row; ``keys``: per column, the rows' key strings."""
        total = np.zeros(len(next(iter(keys.values()))))
        for term in terms:
            total += self._sum(term, _joined(keys, term))
        return total

    def slope_z(self, revenue: np.ndarray) -> np.ndarray:
        logged = np.log1p(np.clip(np.asarray(revenue, dtype=float), 0, None))
        return np.nan_to_num((logged - self.slope_mean) / self.slope_scale)

    def rep_slopes(self, reps: np.ndarray) -> np.ndarray:
        """Each rep's slope on (standardised log) account size; 0 for a rep the fit never saw."""
        return np.fromiter((self.slopes.get(r, 0.0) for r in reps), float, len(reps))


def _joined(keys: Mapping[str, np.ndarray], term: tuple[str, ...]) -> np.ndarray:
    values = keys[term[0]]
    for column in term[1:]:
        values = values + "|" + keys[column]
    return values


class GlmSnapshots:
    """``AdditiveLogit`` refitted at ``n_snapshots`` moments over the history (plus one after it all)."""

    def __init__(
        self,
        n_snapshots: int = 6,
        C: float | Literal["auto"] = "auto",
        max_rows: int = 100_000,
        grid: Sequence[float] = STRENGTH_GRID,
    ) -> None:
        self.n_snapshots = n_snapshots
        self.C = C
        self.max_rows = max_rows
        self.grid = tuple(grid)

    def fit(self, closed: pd.DataFrame, strength_until: pd.Timestamp | None = None) -> GlmSnapshots:
        """``closed``: keys filled (no NaN), ``engage_date``, ``close_date``, ``won``, ``revenue``.

        With ``C="auto"`` the strength is chosen once, by cross-validation on the deals closed before
        ``strength_until`` (training passes the validation's start), as a penalty per deal: a snapshot
        fitted on n deals gets C = ``strength_`` × n (as glmnet's cross-validated lambda is applied). Chosen
        at each snapshot on its own deals, C grew in step with them (1/16 on 1,100 deals to 1/4 on 16,000
        on a default world), which is what the per-deal penalty gives."""
        start, end = closed["engage_date"].min(), closed["engage_date"].max()
        # The schedule depends on engage dates only, never on outcomes or close dates.
        step = (end - start) / (self.n_snapshots + 1)
        moments = [start + step * (i + 1) for i in range(self.n_snapshots)]
        self.moments_: list[pd.Timestamp] = []
        self.models_: list[AdditiveLogit] = []
        self.Cs_: list[float] = []  # each snapshot's C
        terms = (*LEAD_TERMS, *REP_TERMS)
        self.strength_ = self._per_deal_strength(closed, terms, strength_until)
        # A last snapshot just after the last close, fitted on everything: what scoring after the
        # history uses (a lead engaged after the last close always lands on it).
        final = max(closed["close_date"].max() + pd.Timedelta(1, "ns"), moments[-1] + pd.Timedelta(1, "ns"))
        for moment in [*moments, final]:
            known = closed[closed["close_date"] < moment]
            if len(known) < 200 or known["won"].nunique() < 2:
                continue
            known = known.sort_values("close_date").tail(self.max_rows)
            if self.strength_ is None:  # a fixed C, every term alike (the default before 2026-12-07)
                assert self.C != "auto"
                C, rep_main_scale = self.C, 1.0
            else:
                C, rep_main_scale = self.strength_ * len(known), REP_MAIN_SCALE
            self.models_.append(AdditiveLogit.fit(known, known["won"].to_numpy(int), terms, C, rep_main_scale))
            self.Cs_.append(C)
            self.moments_.append(moment)
        return self

    def _per_deal_strength(
        self, closed: pd.DataFrame, terms: Sequence[tuple[str, ...]], until: pd.Timestamp | None
    ) -> float | None:
        """With ``C="auto"``, the cross-validated C per deal of the folds it was fitted on; None: fixed C."""
        if self.C != "auto":
            return None
        known = closed if until is None else closed[closed["close_date"] < until]
        if len(known) < MIN_ROWS_TO_CHOOSE or known["won"].nunique() < 2:
            return DEFAULT_C / max(len(closed), 1)  # too few deals to tell strengths apart
        known = known.sort_values("close_date").tail(self.max_rows)
        chosen = chosen_strength(known, known["won"].to_numpy(int), terms, self.grid)
        return chosen / (len(known) * (FOLDS - 1) / FOLDS)  # each fold's model saw (k-1)/k of the deals

    @property
    def latest(self) -> AdditiveLogit | None:
        return self.models_[-1] if self.models_ else None

    def _snapshots(self, at: np.ndarray) -> list[tuple[AdditiveLogit, np.ndarray]]:
        """Per snapshot, the rows it describes: the latest fitted at or before each row's moment (rows
        engaged before the first snapshot get none: nothing was known yet)."""
        which = np.searchsorted(np.asarray(self.moments_, dtype="datetime64[ns]"), at, side="right") - 1
        return [(self.models_[index], np.flatnonzero(which == index)) for index in np.unique(which) if index >= 0]

    def lead_logit(self, keys: Mapping[str, np.ndarray], at: np.ndarray) -> np.ndarray:
        """``glm_lead_logit`` per lead (NaN before the first snapshot); ``keys``: the leads' key strings."""
        lead = np.full(len(at), np.nan)
        for model, rows in self._snapshots(at):
            lead[rows] = model.intercept + model.term_sum({k: v[rows] for k, v in keys.items()}, LEAD_TERMS)
        return lead

    def rep_effect(
        self,
        keys: Mapping[str, np.ndarray],
        revenue: np.ndarray,
        at: np.ndarray,
        pair_lead: np.ndarray,
        rep_keys: np.ndarray,
        pair_rep: np.ndarray,
    ) -> np.ndarray:
        """``glm_rep_effect`` per (lead, rep) pair, its lead ``pair_lead`` (of the leads' ``keys``, ``revenue``
        and ``at``) and its rep ``rep_keys[pair_rep]``; NaN before the first snapshot."""
        effect = np.full(len(pair_lead), np.nan)
        for model, leads in self._snapshots(np.asarray(at)[pair_lead]):
            rows = pair_lead[leads]
            part = {k: v[rows] for k, v in keys.items()}
            part[REP] = rep_keys[pair_rep[leads]]
            slope = model.rep_slopes(rep_keys)[pair_rep[leads]]
            effect[leads] = model.term_sum(part, REP_TERMS) + slope * model.slope_z(np.asarray(revenue)[rows])
        return effect
