"""The three models and the object that serves them together."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from leadwise.data.training_data import CrmLookup, CrmReference, prepare_crm_columns, prepare_table_leads
from leadwise.features.builder import Columns, FeatureBuilder, model_array
from leadwise.learn.demand_history import DemandHistory

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
    predicted = model.booster_.predict(X, **settings, **kwargs)
    # A dense matrix without ``pred_contrib`` always comes back as one array (never sparse, never a list).
    assert isinstance(predicted, np.ndarray)
    return predicted


def _kept_rounds_params(fitted: lgb.LGBMModel, params: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """A fitted booster's parameters with the rounds its early stopping kept, for a refit on more rows."""
    rounds = int(fitted.best_iteration_ or fitted.booster_.current_iteration())
    return {**DEFAULT_LGBM_PARAMS, **(params or {}), "random_state": seed, "n_estimators": rounds}


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


def _matrix(X: pd.DataFrame | np.ndarray, names: np.ndarray) -> np.ndarray:
    """The float matrix the boosters score: a feature frame (columns ``names``) becomes what LightGBM
    makes of it (categoricals as codes, NaN when missing); a matrix is taken as it is."""
    return model_array(X[names]) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)


class _MarginScore(ClassifierMixin, BaseEstimator):
    """The booster's log-odds plus the offset (the columns at ``offset_positions``) on float matrices:
    the score the calibrator maps to a probability (what scikit-learn calibrates on a LightGBM >= 4.7
    classifier, whose ``decision_function`` it prefers to ``predict_proba``)."""

    def __init__(
        self,
        booster: lgb.LGBMClassifier | None = None,
        params: dict[str, Any] | None = None,
        offset_positions: tuple[int, ...] = (),
    ) -> None:
        self.booster = booster
        self.params = params
        self.offset_positions = offset_positions

    def fit(self, X: pd.DataFrame | np.ndarray, y: np.ndarray) -> _MarginScore:  # the booster is fitted already
        assert self.booster is not None  # None only as scikit-learn's default parameter
        self.classes_ = self.booster.classes_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        assert self.booster is not None  # None only as scikit-learn's default parameter
        score = _booster_predict(self.booster, self.params, X, raw_score=True)
        if not self.offset_positions:
            return score
        return score + _offset([X[:, p] for p in self.offset_positions], len(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class _Margin(ClassifierMixin, BaseEstimator):
    """Margins already computed, as a one-column matrix: what the calibrator is fitted on."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Margin:
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


@dataclass(frozen=True)
class _Calibration:
    """A fitted ``CalibratedClassifierCV``'s map from margin to P(win), read through its public
    ``predict_proba``: Platt's sigmoid from two of its points, isotonic regression's piecewise-linear
    curve from its values at the calibration margins (its knots are among them). Applying it costs
    microseconds; ``predict_proba``'s checks cost more than scoring a lead."""

    sigmoid: tuple[float, float] | None  # (a, b): P = expit(-(a * margin + b)), as Platt writes it
    margins: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def read(cls, calibrated: CalibratedClassifierCV, margins: np.ndarray, method: str) -> _Calibration:
        def public(at: np.ndarray) -> np.ndarray:
            return calibrated.predict_proba(np.asarray(at, dtype=float)[:, None])[:, 1]

        if method == "sigmoid":
            low, high = np.quantile(margins, [0.25, 0.75])
            if not high - low > 1e-3:
                low, high = low - 1.0, low + 1.0
            p = public(np.array([low, high]))
            z = np.log((1.0 - p) / p)  # a * margin + b at the two points
            a = float((z[1] - z[0]) / (high - low))
            return cls((a, float(z[0] - a * low)), np.empty(0), np.empty(0))
        if method == "isotonic":
            knots = np.unique(margins)
            return cls(None, knots, public(knots))
        raise ValueError(f"calibration method {method!r}: only 'sigmoid' and 'isotonic' are served")

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        if self.sigmoid is not None:
            a, b = self.sigmoid
            return expit(-(a * margin + b))
        return np.interp(margin, self.margins, self.probabilities)


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

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> CalibratedBooster:
        """``sample_weight`` (e.g. inverse propensities of the service's own decisions) weighs the boosting
        and the calibration rows alike."""
        y = np.asarray(y, dtype=int)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
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
                sample_weight=None if w is None else w[fit_rows],
                init_score=None if start is None else start[fit_rows],
                eval_set=[(X.iloc[calibration_rows], y[calibration_rows])],
                eval_sample_weight=None if w is None else [w[calibration_rows]],
                eval_init_score=None if start is None else [start[calibration_rows]],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
        self.feature_names_in_ = np.asarray(X.columns)
        positions = tuple(list(X.columns).index(c) for c in offsets)
        self.scorer_ = _MarginScore(self.booster_, self.params, positions).fit(X, y)
        # scikit-learn's calibration of the margins of the calibration rows (what it fits on a LightGBM
        # >= 4.7 classifier, whose decision_function it prefers), applied as ``calibration_``.
        margins = self.scorer_.decision_function(_matrix(X.iloc[calibration_rows], self.feature_names_in_))
        y_calibration = y[calibration_rows]
        frozen = FrozenEstimator(_Margin().fit(margins[:, None], y_calibration))
        self.calibrated_ = CalibratedClassifierCV(frozen, method=self.method).fit(
            margins[:, None], y_calibration, sample_weight=None if w is None else w[calibration_rows]
        )
        self.calibration_ = _Calibration.read(self.calibrated_, margins, self.method)
        self.classes_ = self.booster_.classes_
        return self

    def refit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> CalibratedBooster:
        """A copy boosted on more rows (the training and validation rows together) for the rounds early
        stopping kept here, with this fit's calibration (fitted out of sample, where a calibration on the
        new rows would be in sample). Measured against repeating the whole fit on the new rows, and
        against more rounds in proportion to the rows: higher fit AUC on 5 worlds (see README)."""
        y = np.asarray(y, dtype=int)
        params = _kept_rounds_params(self.booster_, self.params, self.random_state)
        offsets = tuple(c for c in self.offset_columns if c in X.columns)
        start = _offset([X[c].to_numpy() for c in offsets], len(X)) if offsets else None
        booster = lgb.LGBMClassifier(**params).fit(
            X[list(self.feature_names_in_)], y, sample_weight=sample_weight, init_score=start
        )
        refitted = copy.copy(self)
        refitted.booster_ = booster
        positions = tuple(list(self.feature_names_in_).index(c) for c in offsets)
        refitted.scorer_ = _MarginScore(booster, self.params, positions).fit(X, y)
        return refitted

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probabilities of a feature frame, or of its float matrix (``feature_names_in_``
        order, categoricals as codes, NaN when missing: what ``FeatureBuilder.lead_matrix`` makes)."""
        p = self.predict_win(X)
        return np.vstack((1.0 - p, p)).transpose()

    def predict_win(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.calibration_(self.scorer_.decision_function(_matrix(X, self.feature_names_in_)))

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

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ValueRegressor:
        price = None if self.price_column is None else X[self.price_column].to_numpy(dtype=float)
        y = np.asarray(y, dtype=float) / _price_scale(price, len(X))
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

    def refit(self, X: pd.DataFrame, y: np.ndarray) -> ValueRegressor:
        """A copy boosted on more won deals for the rounds early stopping kept here (as
        ``CalibratedBooster.refit``)."""
        price = None if self.price_column is None else X[self.price_column].to_numpy(dtype=float)
        target = np.asarray(y, dtype=float) / _price_scale(price, len(X))
        params = _kept_rounds_params(self.booster_, self.params, self.random_state)
        refitted = copy.copy(self)
        refitted.booster_ = lgb.LGBMRegressor(**params).fit(X[list(self.feature_names_in_)], target)
        refitted.floor_ = float(np.min(target)) if len(target) else 0.0
        return refitted

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The value of a won deal, for a feature frame or its float matrix (as ``predict_proba`` takes)."""
        X = _matrix(X, self.feature_names_in_)
        # A won deal is worth something: never let a tree extrapolate below the smallest value seen.
        predicted = np.maximum(_booster_predict(self.booster_, self.params, X), self.floor_)
        names = list(self.feature_names_in_)
        price = None if self.price_column is None else X[:, names.index(self.price_column)]
        return predicted * _price_scale(price, len(X))

    def feature_importance(self) -> pd.Series:
        gains = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.feature_names_in_).sort_values(ascending=False)


class WinModel(Protocol):
    """What serving asks of a win-probability model: ``CalibratedBooster`` or ``SelectedClassifier``."""

    def predict_win(self, X: pd.DataFrame | np.ndarray) -> np.ndarray: ...

    def feature_importance(self) -> pd.Series: ...

    def refit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> WinModel: ...


SCORE_REFERENCE_LEVELS = 2001  # quantiles kept of the reference scores: steps of 0.05 percentile


def score_reference(scores: np.ndarray) -> np.ndarray:
    """The quantiles of ``scores`` that ``score_percentile`` reads (a fixed size, whatever the rows)."""
    return np.quantile(np.asarray(scores, dtype=float), np.linspace(0.0, 1.0, SCORE_REFERENCE_LEVELS))


def score_percentile(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Percentile (0-100) of each score among ``reference`` (sorted): the share below it, ties counted
    half, so a score equal to every reference score sits at 50 rather than at 0 or 100."""
    scores = np.asarray(scores, dtype=float)
    below = np.searchsorted(reference, scores, side="left")
    at_most = np.searchsorted(reference, scores, side="right")
    return 100.0 * (below + at_most) / (2 * len(reference))


def _price_scale(price: np.ndarray | None, n: int) -> np.ndarray:
    if price is None:
        return np.ones(n)
    return np.where(np.isfinite(price) & (price > 0), price, 1.0)


@dataclass
class LeadwiseModels:
    """The trained trio with everything needed to score raw leads: the serving contract.

    ``lead_score`` = P(win | lead); ``fit_matrix`` = P(win | lead, rep) for every lead and rep;
    ``deal_value`` = expected value of the deal if won (1.0 when the history had no values, so that
    expected value falls back to expected wins).
    """

    builder: FeatureBuilder
    lead_model: WinModel
    fit_model: WinModel | None  # None when the history named no reps
    value_model: ValueRegressor | None
    kind: str
    reference: CrmReference | None = None
    table_columns: dict[str, Any] = field(default_factory=dict)
    # Whether the models were boosted again on their validation rows (``TrainConfig.refit_all_rows``), and
    # the latest engage date among the rows they learnt from: a later training compares against them only
    # on rows they have not seen (``learn.tracking.promote``). Bundles pickled before lack both.
    refit_all_rows: bool = False
    fitted_through: pd.Timestamp | None = None
    version: str = "unregistered"
    # The served lead model's scores of the validation leads (the latest ones), as quantiles: where a new
    # lead's score falls among them is its percentile, which flow conditions read so that "the top 40 %"
    # stays the top 40 % after a retraining moves every score. None in bundles pickled before.
    lead_score_reference: np.ndarray | None = None
    # What the history says about demand (``learn.demand_history``): attached when loaded from the
    # registry, where it is an artefact of its own, not part of the pickled bundle.
    demand_history: DemandHistory | None = None

    @property
    def reps(self) -> list[str]:
        return list(self.builder.reps_) if self.fit_model is not None else []

    def prepare(self, leads: Columns, *, file: str = "leads") -> Columns:
        """Raw leads (as a CRM or a web form sends them) into the columns the features are built from."""
        if self.kind == "crm":
            return prepare_crm_columns(leads, self._crm_lookup(), file=file)
        if not isinstance(leads, pd.DataFrame):
            leads = pd.DataFrame({name: list(values) for name, values in leads.items()})
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
        touches: pd.DataFrame | None = None,
    ) -> Predictions:
        """All three predictions from one preparation of the leads (``reps`` None: every known rep).

        ``leads`` is a frame, or columns of equal length by name (the serving path: a frame of one row
        costs more than scoring it). Leads engaged after the whole history (the serving case) read the
        history's totals from lookups, others as of their engage date: the same features either way.

        ``touches`` (``lead_id, timestamp, channel, touch_type``, as ``read_touchpoints`` returns them) are
        the leads' marketing touches; only those before each lead's engage date (or now) count. A model
        trained without touchpoints ignores them.
        """
        reps = self.reps if reps is None else list(reps)
        touches = touches if self.builder.engagement is not None else None
        prepared = self.prepare(leads, file=file)
        lead_ids = [str(lead_id) for lead_id in prepared["lead_id"]]
        n_leads = len(lead_ids)
        fit = np.zeros((n_leads, len(reps)))
        if not n_leads:
            return Predictions(lead_ids, reps, np.zeros(0), fit, np.zeros(0))
        lead_matrix = self.builder.lead_matrix(prepared, touches)
        lead_score = self.lead_model.predict_win(lead_matrix)
        value = np.ones(n_leads) if self.value_model is None else self.value_model.predict(lead_matrix)
        if reps and self.fit_model is not None:
            pairs = self.builder.pair_matrix(prepared, reps, lead_matrix)
            fit = self.fit_model.predict_win(pairs).reshape(n_leads, len(reps))
        return Predictions(lead_ids, reps, lead_score, fit, value, self.lead_score_percentile(lead_score))

    def lead_score_percentile(self, scores: np.ndarray) -> np.ndarray | None:
        """Each score's percentile (0-100) among the validation leads' scores; None without them."""
        if self.lead_score_reference is None:
            return None
        return score_percentile(self.lead_score_reference, scores)

    def _crm_lookup(self) -> CrmLookup:
        """The reference as dictionaries, built once per reference (and not pickled)."""
        assert self.reference is not None
        cached = self.__dict__.get("_crm_lookup_cache")
        if cached is None or cached.reference is not self.reference:
            cached = CrmLookup.of(self.reference)
            self.__dict__["_crm_lookup_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_crm_lookup_cache", None)  # rebuilt on first use after loading
        return state


@dataclass(frozen=True)
class Predictions:
    lead_ids: list[str]
    reps: list[str]
    lead_score: np.ndarray  # (n_leads,)
    fit: np.ndarray  # (n_leads, n_reps)
    deal_value: np.ndarray  # (n_leads,)
    lead_score_percentile: np.ndarray | None = None  # (n_leads,), 0-100; None: the model keeps no reference

    @property
    def expected_value(self) -> np.ndarray:
        """P(win | lead, rep) × value if won, (n_leads, n_reps)."""
        return self.fit * self.deal_value[:, None]
