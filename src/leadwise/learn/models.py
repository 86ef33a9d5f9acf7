"""The three models and the object that serves them together."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from leadwise.data.training_data import (
    CrmLookup,
    CrmReference,
    prepare_crm_columns,
    prepare_crm_leads,
    prepare_table_leads,
)
from leadwise.features.builder import FeatureBuilder

DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 600,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}
EARLY_STOPPING_ROUNDS = 50
# Scoring-now path (lookups and numpy instead of frames) up to this many leads per call; beyond, the
# frame path's per-call overhead no longer matters and its vectorised pandas steps scale better.
FAST_PATH_MAX_LEADS = 1_000
# LightGBM's OpenMP threads cost more than they bring on a small matrix, and on a busy machine their
# waits stall a request for milliseconds: predictions up to this many rows run on the calling thread.
SINGLE_THREAD_ROWS = 20_000


def _booster_predict(model: lgb.LGBMModel, params: dict[str, Any] | None, X: np.ndarray, **kwargs: Any) -> np.ndarray:
    """The fitted model's ``lgb.Booster.predict`` on a float matrix (no pandas, no scikit-learn checks).

    Prediction-time settings the model was given (``pred_early_stop``...) are passed on as the scikit-learn
    wrapper does; the thread count does not change the numbers.
    """
    settings = {
        key: value
        for key, value in {**DEFAULT_LGBM_PARAMS, **(params or {})}.items()
        if key.startswith("pred") or "predict" in key or key in ("verbose", "verbosity")
    }
    if len(X) <= SINGLE_THREAD_ROWS:
        settings["num_threads"] = 1
    return model.booster_.predict(X, **settings, **kwargs)


def _holdout_tail(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first and last part of rows already in time order (or shuffled when untimed)."""
    cut = int(round(n * (1 - fraction)))
    return np.arange(cut), np.arange(cut, n)


def _offset(values: list[np.ndarray], n: int) -> np.ndarray:
    """Per row, the first finite value of the offset columns, in order; 0 where none is."""
    offset = np.full(n, np.nan)
    for column in values:
        offset = np.where(np.isfinite(offset), offset, np.asarray(column, dtype=float))
    return np.nan_to_num(offset, nan=0.0, posinf=0.0, neginf=0.0)


class _MarginModel(ClassifierMixin, BaseEstimator):
    """The booster's log-odds plus the offset: the score the calibrator maps to a probability."""

    def __init__(self, booster: lgb.LGBMClassifier | None = None, offset_columns: tuple[str, ...] = ()) -> None:
        self.booster = booster
        self.offset_columns = offset_columns

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _MarginModel:  # the booster is fitted already
        self.classes_ = self.booster.classes_
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        offset = _offset([X[c].to_numpy() for c in self.offset_columns], len(X))
        return self.booster.predict(X, raw_score=True) + offset

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class CalibratedBooster(ClassifierMixin, BaseEstimator):
    """LightGBM classifier whose probabilities are calibrated on the most recent slice of its training rows.

    The slice also decides when boosting stops. Rows must come in time order (or in a random order
    when there is no time), so the calibration slice is "later" data, as production will be.

    ``offset_columns`` name features that already estimate the log-odds (the first finite one per row
    is used): boosting starts from them and learns corrections, instead of learning how far to trust
    them from training rows whose estimates were made on less history than scoring will have.
    """

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        calibration_fraction: float = 0.2,
        method: str = "sigmoid",
        random_state: int = 42,
        offset_columns: tuple[str, ...] = (),
    ) -> None:
        self.params = params
        self.calibration_fraction = calibration_fraction
        self.method = method
        self.random_state = random_state
        self.offset_columns = offset_columns

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CalibratedBooster:
        y = np.asarray(y, dtype=int)
        fit_rows, calibration_rows = _holdout_tail(len(y), self.calibration_fraction)
        if len(np.unique(y[calibration_rows])) < 2 or len(np.unique(y[fit_rows])) < 2:
            raise ValueError(
                "calibration needs won and lost deals in both the fitting and the calibration rows"
            )
        params = {**DEFAULT_LGBM_PARAMS, **(self.params or {}), "random_state": self.random_state}
        offsets = tuple(c for c in self.offset_columns if c in X.columns)
        start = _offset([X[c].to_numpy() for c in offsets], len(X)) if offsets else None
        self.booster_ = lgb.LGBMClassifier(**params)
        with warnings.catch_warnings():  # lightgbm 4.7 renames eval_set; keep working on 4.5 too
            warnings.filterwarnings("ignore", message=".*eval_set.*")
            self.booster_.fit(
                X.iloc[fit_rows],
                y[fit_rows],
                init_score=None if start is None else start[fit_rows],
                eval_set=[(X.iloc[calibration_rows], y[calibration_rows])],
                eval_init_score=None if start is None else [start[calibration_rows]],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
        self.scorer_ = _MarginModel(self.booster_, offsets).fit(X, y) if offsets else self.booster_
        self.offset_positions_ = [list(X.columns).index(c) for c in offsets]
        self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(self.scorer_), method=self.method)
        self.calibrated_.fit(X.iloc[calibration_rows], y[calibration_rows])
        self.classes_ = self.booster_.classes_
        self.feature_names_in_ = np.asarray(X.columns)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrated_.predict_proba(X[self.feature_names_in_])

    def predict_win(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1]

    @property
    def takes_arrays(self) -> bool:
        """Whether ``predict_win_array`` reproduces ``predict_win`` (a binary model calibrated by sigmoid
        or isotonic regression on top of this booster, as ``fit`` makes it)."""
        calibrated = getattr(self.calibrated_, "calibrated_classifiers_", [])
        return (
            list(self.classes_) == [0, 1]
            and bool(calibrated)
            and all(
                c.method in ("sigmoid", "isotonic")
                and len(c.calibrators) == 1
                and getattr(c.estimator, "estimator", c.estimator) is getattr(self, "scorer_", self.booster_)
                for c in calibrated
            )
        )

    def predict_win_array(self, X: np.ndarray) -> np.ndarray:
        """``predict_win`` on the float matrix LightGBM makes of the feature frame (columns in
        ``feature_names_in_`` order, categoricals as their codes, NaN when missing): the booster and the
        calibrators' own ``predict``, the steps ``CalibratedClassifierCV.predict_proba`` takes."""
        calibrated = self.calibrated_.calibrated_classifiers_
        # scikit-learn calibrates the first of decision_function / predict_proba the model offers.
        raw = hasattr(calibrated[0].estimator, "decision_function")
        scores = _booster_predict(self.booster_, self.params, X, raw_score=raw)
        positions = getattr(self, "offset_positions_", [])
        if positions:
            scores = scores + _offset([X[:, p] for p in positions], len(X))
        total = np.zeros(len(X))
        for classifier in calibrated:
            calibrator = classifier.calibrators[0]
            if classifier.method == "sigmoid":  # _SigmoidCalibration.predict, without its input checks
                p = expit(-(calibrator.a_ * scores + calibrator.b_))
            else:
                p = calibrator.predict(scores)
            p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
            total += p
        total /= len(calibrated)
        return total

    def feature_importance(self) -> pd.Series:
        gains = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.feature_names_in_).sort_values(ascending=False)


class ValueRegressor(RegressorMixin, BaseEstimator):
    """LightGBM regression of the value of a won deal (squared error: the mean is what EV needs).

    With a list price column the target is the value as a multiple of the list price: deals close
    around their price, and a ratio transfers across products where raw values would not.
    """

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        holdout_fraction: float = 0.2,
        random_state: int = 42,
        price_column: str | None = None,
    ) -> None:
        self.params = params
        self.holdout_fraction = holdout_fraction
        self.random_state = random_state
        self.price_column = price_column

    def _scale(self, X: pd.DataFrame) -> np.ndarray:
        if self.price_column is None:
            return np.ones(len(X))
        return _price_scale(X[self.price_column].to_numpy(dtype=float))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ValueRegressor:
        y = np.asarray(y, dtype=float) / self._scale(X)
        fit_rows, holdout_rows = _holdout_tail(len(y), self.holdout_fraction)
        params = {**DEFAULT_LGBM_PARAMS, **(self.params or {}), "random_state": self.random_state}
        self.booster_ = lgb.LGBMRegressor(**params)
        with warnings.catch_warnings():  # lightgbm 4.7 renames eval_set; keep working on 4.5 too
            warnings.filterwarnings("ignore", message=".*eval_set.*")
            self.booster_.fit(
                X.iloc[fit_rows],
                y[fit_rows],
                eval_set=[(X.iloc[holdout_rows], y[holdout_rows])],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
        self.floor_ = float(np.min(y)) if len(y) else 0.0
        self.feature_names_in_ = np.asarray(X.columns)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        # A won deal is worth something: never let a tree extrapolate below the smallest value seen.
        predicted = np.maximum(self.booster_.predict(X[self.feature_names_in_]), self.floor_)
        return predicted * self._scale(X)

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """``predict`` on the float matrix LightGBM makes of the feature frame (``feature_names_in_`` order)."""
        predicted = np.maximum(_booster_predict(self.booster_, self.params, X), self.floor_)
        if self.price_column is None:
            return predicted * np.ones(len(X))
        return predicted * _price_scale(X[:, list(self.feature_names_in_).index(self.price_column)])

    def feature_importance(self) -> pd.Series:
        gains = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.feature_names_in_).sort_values(ascending=False)


def _price_scale(price: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(price) & (price > 0), price, 1.0)


@dataclass
class LeadwiseModels:
    """The trained trio with everything needed to score raw leads: the serving contract.

    ``lead_score`` = P(win | lead); ``fit_matrix`` = P(win | lead, rep) for every lead and rep;
    ``deal_value`` = expected value of the deal if won (1.0 when the history had no values, so that
    expected value falls back to expected wins).
    """

    builder: FeatureBuilder
    lead_model: CalibratedBooster
    fit_model: CalibratedBooster | None  # None when the history named no reps
    value_model: ValueRegressor | None
    kind: str
    reference: CrmReference | None = None
    table_columns: dict[str, Any] = field(default_factory=dict)
    version: str = "unregistered"

    @property
    def reps(self) -> list[str]:
        return list(self.builder.reps_) if self.fit_model is not None else []

    def prepare(self, leads: pd.DataFrame, *, file: str = "leads") -> pd.DataFrame:
        """Raw leads (as a CRM or a web form sends them) into the frame the features are built from."""
        if self.kind == "crm":
            assert self.reference is not None
            return prepare_crm_leads(leads, self.reference, file=file)
        return prepare_table_leads(leads, self.table_columns, file=file)

    def lead_score(self, leads: pd.DataFrame, touches: pd.DataFrame | None = None) -> np.ndarray:
        return self.predict(leads, reps=[], touches=touches).lead_score

    def fit_matrix(self, leads: pd.DataFrame, reps: Sequence[str], touches: pd.DataFrame | None = None) -> np.ndarray:
        return self.predict(leads, reps=reps, touches=touches).fit

    def deal_value(self, leads: pd.DataFrame, touches: pd.DataFrame | None = None) -> np.ndarray:
        return self.predict(leads, reps=[], touches=touches).deal_value

    def predict(
        self,
        leads: pd.DataFrame | Mapping[str, Sequence[Any]],
        reps: Sequence[str] | None = None,
        *,
        file: str = "leads",
        fast: bool = True,
        touches: pd.DataFrame | None = None,
    ) -> Predictions:
        """All three predictions from one preparation of the leads (``reps`` None: every known rep).

        Leads engaged after the whole history (the serving case) take a lookup path that gives the same
        numbers in a fraction of the time; ``fast=False`` forces the general frame path.

        ``touches`` (``lead_id, timestamp, channel, touch_type``, as ``read_touchpoints`` returns them) are
        the leads' marketing touches; only those before each lead's engage date (or now) count. A model
        trained without touchpoints ignores them.

        ``leads`` may also be columns of equal length by name (the serving path: a frame of one row costs
        more than the lookups); they become a frame when the lookup path does not apply.
        """
        reps = self.reps if reps is None else list(reps)
        touches = touches if self.builder.engagement is not None else None
        n_leads = len(leads) if isinstance(leads, pd.DataFrame) else len(next(iter(leads.values()), ()))
        if fast and 0 < n_leads <= FAST_PATH_MAX_LEADS:
            predictions = self._predict_now(leads, reps, file, touches)
            if predictions is not None:
                return predictions
        if not isinstance(leads, pd.DataFrame):
            leads = pd.DataFrame({name: list(values) for name, values in leads.items()})
        prepared = self.prepare(leads, file=file)
        lead_matrix = self.builder.lead_features(prepared, touches)
        lead_score = self.lead_model.predict_win(lead_matrix) if len(prepared) else np.zeros(0)
        value = (
            np.ones(len(prepared))
            if self.value_model is None or not len(prepared)
            else self.value_model.predict(lead_matrix)
        )
        fit = np.zeros((len(prepared), len(reps)))
        if reps and len(prepared) and self.fit_model is not None:
            pairs = self.builder.pair_features(prepared, reps, lead_matrix=lead_matrix)
            fit = self.fit_model.predict_win(pairs).reshape(len(prepared), len(reps))
        return Predictions(list(prepared["lead_id"]), reps, lead_score, fit, value)

    # ---------------------------------------------------------------------------------- scoring now
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_now_scoring_cache", None)  # rebuilt on first use after loading
        return state

    def _predict_now(
        self,
        leads: pd.DataFrame | Mapping[str, Sequence[Any]],
        reps: list[str],
        file: str,
        touches: pd.DataFrame | None = None,
    ) -> Predictions | None:
        """``predict`` through lookups and float matrices; None when that path does not apply."""
        scoring = self._now_scoring()
        if not scoring.ready:
            return None
        if self.kind == "crm":
            if scoring.crm is None or (isinstance(leads, pd.DataFrame) and not leads.columns.is_unique):
                return None
            prepared: Any = prepare_crm_columns(leads, scoring.crm, file=file)
        elif isinstance(leads, pd.DataFrame):
            prepared = self.prepare(leads, file=file)
        else:
            return None  # single-table leads are prepared as a frame
        if not self.builder.scores_now(prepared):
            return None
        lead_matrix = self.builder.lead_array(prepared, touches)
        n_leads = len(lead_matrix)
        lead_score = self.lead_model.predict_win_array(lead_matrix)
        value = np.ones(n_leads) if self.value_model is None else self.value_model.predict_array(lead_matrix)
        fit = np.zeros((n_leads, len(reps)))
        if reps and self.fit_model is not None:
            pairs = self.builder.pair_array(prepared, reps, lead_matrix)
            fit = self.fit_model.predict_win_array(pairs).reshape(n_leads, len(reps))
        return Predictions(list(prepared["lead_id"]), reps, lead_score, fit, value)

    def _now_scoring(self) -> _NowScoring:
        parts = (self.builder, self.lead_model, self.fit_model, self.value_model, self.reference)
        scoring = self.__dict__.get("_now_scoring_cache")
        if scoring is None or any(a is not b for a, b in zip(scoring.parts, parts, strict=True)):
            scoring = _NowScoring.of(self)
            self.__dict__["_now_scoring_cache"] = scoring
        return scoring


@dataclass(frozen=True)
class _NowScoring:
    """Whether a ``LeadwiseModels`` can score through arrays, checked once per set of parts."""

    parts: tuple[Any, ...]
    ready: bool
    crm: CrmLookup | None

    @classmethod
    def of(cls, models: LeadwiseModels) -> _NowScoring:
        builder = models.builder
        lead = (builder.lead_feature_names, builder.lead_categories)
        pair = (builder.pair_feature_names, builder.pair_categories)

        def matches(model: CalibratedBooster | ValueRegressor, expected: tuple[list[str], list[list[Any]]]) -> bool:
            # Same columns, and LightGBM's stored category lists are the builder's: codes mean the same.
            stored = model.booster_.booster_.pandas_categorical or []
            return list(model.feature_names_in_) == expected[0] and [list(c) for c in stored] == expected[1]

        ready = (
            models.lead_model.takes_arrays
            and matches(models.lead_model, lead)
            and (models.fit_model is None or (models.fit_model.takes_arrays and matches(models.fit_model, pair)))
            and (
                models.value_model is None
                or (
                    matches(models.value_model, lead)
                    and models.value_model.price_column in (None, *builder.lead_feature_names)
                )
            )
        )
        crm = CrmLookup.of(models.reference) if models.kind == "crm" and models.reference is not None else None
        parts = (builder, models.lead_model, models.fit_model, models.value_model, models.reference)
        return cls(parts, ready, crm)


@dataclass(frozen=True)
class Predictions:
    lead_ids: list[str]
    reps: list[str]
    lead_score: np.ndarray  # (n_leads,)
    fit: np.ndarray  # (n_leads, n_reps)
    deal_value: np.ndarray  # (n_leads,)

    @property
    def expected_value(self) -> np.ndarray:
        """P(win | lead, rep) × value if won, (n_leads, n_reps)."""
        return self.fit * self.deal_value[:, None]
