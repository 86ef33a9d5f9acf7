"""Model selection by inner cross-validation, within a time budget.

On the training rows only, three kinds of candidate are scored by the log loss of their out-of-fold
predictions on the same folds: LightGBM, its main parameters searched by Optuna (the first trial is the
fixed default, so the search can only find something better); CatBoost with its defaults (ordered target
statistics for categories); and a logistic regression on one-hot levels (decile bins of the numbers).
The best one, or a non-negative blend of their log-odds when that is better out of fold, is kept; then
sigmoid and isotonic calibration are compared out of fold as well, and the better one maps the final
score to P(win). The kept candidates are refitted on every training row (boosters with the number of
rounds the folds chose together, as ``lgb.cv`` does).

Everything here is pure: the trials are returned (``SelectionReport``) for the MLflow edge to log as
nested runs, and progress goes to a callback.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from leadwise.features.builder import model_array
from leadwise.learn.metrics import expected_calibration_error
from leadwise.learn.models import SINGLE_THREAD_ROWS, _Calibration, _Margin

CANDIDATES = ("lightgbm", "catboost", "logistic")
# The first LightGBM trial: the fixed parameters leadwise used before the search existed.
DEFAULT_TRIAL = {
    "num_leaves": 31,
    "learning_rate": 0.03,
    "min_child_samples": 40,
    "colsample_bytree": 0.8,
    "subsample": 0.8,
    "reg_lambda": 1.0,
}
MAX_ROUNDS = 3000
EARLY_STOPPING_ROUNDS = 50
# CatBoost's learning rate is 0.1 (its folds are the costliest of the search): its curves are smooth
# enough to stop sooner.
CATBOOST_STOPPING_ROUNDS = 30
# CatBoost's share of the budget at most: one cross-validation of it must fit in this, or it is skipped.
# Half: on the categorical lead tables of benchmarks/ it is the strongest single candidate, so it gets
# its chance before further LightGBM trials do.
CATBOOST_SHARE = 0.5
# CatBoost's cross-validation costs about this many times LightGBM's first trial (2.6-2.7 times, in CPU
# time, on the lead tables of benchmarks/ at the settings below).
CATBOOST_COST = 3.0
# The kept LightGBM parameters are refitted with this many seeds and their log-odds averaged: each seed
# draws other rows and columns for its trees, and the average has less of one draw's noise. On the three
# tables of benchmarks/bench_single_table.py, held-out ROC AUC +0.0003, +0.0015, +0.0002 with 3 (5 seeds:
# +0.0004, +0.0011, +0.0003); a lead costs one more predict per seed.
LIGHTGBM_SEEDS = 3
# A blend replaces the best single candidate only when it lowers the out-of-fold log loss by this much:
# a smaller gain is within what choosing weights on the same rows buys by chance.
BLEND_MARGIN = 1e-4
CALIBRATIONS = ("sigmoid", "isotonic")


def _clock() -> float:
    """The budget's clock: this process's CPU time. The search runs on one thread, so on a quiet machine
    this is wall time; on a busy one the search takes longer but does about the same work, where a
    wall-clock budget would let the neighbours decide how many candidates are tried."""
    return time.process_time()


SearchProgress = Callable[[float, str], None]  # (share of the budget used, what is running)


@dataclass(frozen=True)
class Trial:
    """One candidate scored by inner cross-validation (a nested MLflow run)."""

    candidate: str
    params: dict[str, Any]
    log_loss: float
    roc_auc: float
    rounds: int | None
    seconds: float  # CPU seconds


@dataclass
class SelectionReport:
    folds: int
    budget_seconds: float
    trials: list[Trial] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # candidate -> why it was not tried
    weights: dict[str, float] = field(default_factory=dict)  # the kept candidates' weights on their log-odds
    log_loss: float = float("nan")  # out of fold, of the kept blend, calibrated
    calibration: str = "sigmoid"
    calibration_log_loss: dict[str, float] = field(default_factory=dict)
    ece: float = float("nan")  # out of fold, with the chosen calibration
    seconds: float = 0.0  # CPU seconds, as the budget counts them

    @property
    def chosen(self) -> str:
        """The kept model in words: ``lightgbm`` or ``blend 0.62 lightgbm + 0.38 logistic``."""
        if len(self.weights) == 1:
            return next(iter(self.weights))
        total = sum(self.weights.values())
        return "blend " + " + ".join(f"{w / total:.2f} {name}" for name, w in self.weights.items())

    def best(self, candidate: str) -> Trial | None:
        tried = [trial for trial in self.trials if trial.candidate == candidate]
        return min(tried, key=lambda trial: trial.log_loss) if tried else None


# ------------------------------------------------------------------------------------------- members
class _LightGbmMember:
    """LightGBM boosters on the float matrix (categorical columns as codes): the kept parameters fitted
    with ``seeds`` seeds, their log-odds averaged (``LIGHTGBM_SEEDS``)."""

    name = "lightgbm"

    def __init__(self, params: dict[str, Any], rounds: int, categorical: list[int], seeds: int = 1) -> None:
        self.params, self.rounds, self.categorical = params, rounds, categorical
        # Seeds only change which rows and columns each tree samples: without sampling one is enough.
        samples = params.get("subsample", 1.0) < 1.0 or params.get("colsample_bytree", 1.0) < 1.0
        self.seeds = seeds if samples else 1

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> _LightGbmMember:
        dataset = lgb.Dataset(X, y, weight=weight, categorical_feature=self.categorical, free_raw_data=False)
        first = int(self.params.get("seed", 0))
        self.boosters_ = [
            lgb.train({**self.params, "seed": first + k}, dataset, num_boost_round=self.rounds)
            for k in range(self.seeds)
        ]
        return self

    def _boosters(self) -> list[lgb.Booster]:
        # A member pickled before seeds were averaged holds its one booster as ``booster_``.
        return self.__dict__.get("boosters_") or [self.__dict__["booster_"]]

    def margin(self, X: np.ndarray) -> np.ndarray:
        threads = 1 if len(X) <= SINGLE_THREAD_ROWS else 0  # 0: LightGBM's default
        margins = [booster.predict(X, raw_score=True, num_threads=threads) for booster in self._boosters()]
        return np.asarray(margins[0] if len(margins) == 1 else np.mean(margins, axis=0))

    def importance(self) -> np.ndarray:
        gains = [booster.feature_importance(importance_type="gain") for booster in self._boosters()]
        return np.sum(gains, axis=0, dtype=float)


class _CatBoostMember:
    """CatBoost on the float matrix, categorical codes as integers (-1 when missing)."""

    name = "catboost"

    def __init__(self, params: dict[str, Any], rounds: int, categorical: list[int]) -> None:
        self.params, self.rounds, self.categorical = params, rounds, categorical

    def frame(self, X: np.ndarray) -> pd.DataFrame:
        columns = {
            str(i): np.where(np.isnan(X[:, i]), -1, X[:, i]).astype(np.int64) if i in self.categorical else X[:, i]
            for i in range(X.shape[1])
        }
        return pd.DataFrame(columns)

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> _CatBoostMember:
        from catboost import CatBoostClassifier

        self.model_ = CatBoostClassifier(**{**self.params, "iterations": self.rounds})
        self.model_.fit(self.frame(X), y, cat_features=self.categorical, sample_weight=weight)
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        # An object matrix, not a frame: building a frame costs more than scoring one lead (8 ms vs 1 ms).
        rows = X.astype(object)
        for i in self.categorical:
            rows[:, i] = np.where(np.isnan(X[:, i]), -1, X[:, i]).astype(np.int64)
        return np.asarray(self.model_.predict(rows, prediction_type="RawFormulaVal", thread_count=1))

    def importance(self) -> np.ndarray:
        return np.asarray(self.model_.get_feature_importance(), dtype=float)


class _LogisticMember:
    """A scorecard: logistic regression on one-hot bins of every column (numbers cut at their deciles,
    categories as they are, missing as a level of its own), so that a non-linear effect needs no
    hand-made transform. Being additive in the columns, it scores through one lookup per column
    (tables read from the fitted pipeline's own ``decision_function``): microseconds per lead, where the
    scikit-learn pipeline takes milliseconds for one row."""

    name = "logistic"
    BINS = 10

    def __init__(self, categorical: list[int], n_features: int, seed: int) -> None:
        self.categorical, self.n_features, self.seed = categorical, n_features, seed

    def levels(self, X: np.ndarray) -> np.ndarray:
        """Each column as level numbers: a numeric column's decile bin, a categorical code; -1 when
        missing, ``levels_[j]`` for a category code training never saw."""
        out = np.empty(X.shape, dtype=np.int64)
        for j in range(X.shape[1]):
            values = X[:, j]
            known = np.minimum(values, self.levels_[j]) if j in self.categorical else None
            found = known if known is not None else np.searchsorted(self.edges_[j], values, side="right")
            out[:, j] = np.where(np.isnan(values), -1, np.nan_to_num(found, nan=-1))
        return out

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> _LogisticMember:
        quantiles = np.linspace(0, 1, self.BINS + 1)[1:-1]
        self.edges_, self.levels_ = {}, {}
        for j in range(X.shape[1]):
            present = X[~np.isnan(X[:, j]), j]
            if j in self.categorical:
                self.levels_[j] = int(present.max()) + 1 if len(present) else 0
            else:
                self.edges_[j] = np.unique(np.quantile(present, quantiles)) if len(present) else np.empty(0)
                self.levels_[j] = len(self.edges_[j]) + 1
        levels = self.levels(X)
        encode = OneHotEncoder(handle_unknown="ignore", min_frequency=5)
        self.model_ = make_pipeline(encode, LogisticRegression(C=0.5, max_iter=2000))
        self.model_.fit(levels, y, logisticregression__sample_weight=weight)
        # The margin of a reference row, and of that row with one column moved to each of its levels.
        reference = levels[:1]
        self.base_ = float(self.model_.decision_function(reference)[0])
        self.tables_ = []
        for j in range(X.shape[1]):
            probes = np.repeat(reference, self.levels_[j] + 2, axis=0)
            probes[:, j] = np.arange(-1, self.levels_[j] + 1)
            self.tables_.append(self.model_.decision_function(probes) - self.base_)
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        levels = self.levels(np.asarray(X, dtype=float)) + 1  # table positions: 0 is missing
        return self.base_ + np.sum([table[levels[:, j]] for j, table in enumerate(self.tables_)], axis=0)

    def importance(self) -> np.ndarray | None:
        return None


Member = _LightGbmMember | _CatBoostMember | _LogisticMember


# ------------------------------------------------------------------------------------------ the model
def _calibrator(margins: np.ndarray, y: np.ndarray, weight: np.ndarray | None, method: str) -> CalibratedClassifierCV:
    frozen = FrozenEstimator(_Margin().fit(margins[:, None], y))
    return CalibratedClassifierCV(frozen, method=method).fit(margins[:, None], y, sample_weight=weight)


class SelectedClassifier(ClassifierMixin, BaseEstimator):
    """The model that inner cross-validation chose on the training rows, calibrated as it chose.

    Rows must come in time order when ``time_ordered`` (folds are then contiguous blocks, not shuffled).
    ``predict_win`` takes the feature frame or its float matrix, as ``CalibratedBooster`` does.
    """

    def __init__(
        self,
        budget_seconds: float = 30.0,
        folds: int = 5,
        random_state: int = 42,
        time_ordered: bool = False,
        candidates: tuple[str, ...] = CANDIDATES,
        max_trials: int | None = None,
        threads: int = 1,
    ) -> None:
        self.budget_seconds = budget_seconds
        self.folds = folds
        self.random_state = random_state
        self.time_ordered = time_ordered
        self.candidates = candidates
        self.max_trials = max_trials
        self.threads = threads

    # -------------------------------------------------------------------------------------- fitting
    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        progress: SearchProgress | None = None,
    ) -> SelectedClassifier:
        # One thread per library: on a small matrix (and a busy machine) OpenMP and BLAS threads wait
        # on each other far longer than they compute; measured, a 5-fold lgb.cv ran 30 times slower.
        with threadpool_limits(self.threads or None):
            return self._fit(X, y, sample_weight, progress)

    def _fit(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None, progress: SearchProgress | None
    ) -> SelectedClassifier:
        started = _clock()
        deadline = started + self.budget_seconds
        tell = progress or (lambda _share, _message: None)

        def share() -> float:
            return min(1.0, (_clock() - started) / max(self.budget_seconds, 1e-9))

        y = np.asarray(y, dtype=int)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.feature_names_in_ = np.asarray(X.columns)
        self.categorical_ = [i for i, (_, c) in enumerate(X.items()) if isinstance(c.dtype, pd.CategoricalDtype)]
        matrix = model_array(X)
        splitter = (
            KFold(self.folds, shuffle=False)
            if self.time_ordered
            else StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        )
        folds = list(splitter.split(matrix, y))
        report = SelectionReport(self.folds, self.budget_seconds)
        margins: dict[str, np.ndarray] = {}
        members: dict[str, Member] = {}

        def scored(candidate: str, params: dict[str, Any], oof: np.ndarray, rounds: int | None, began: float) -> Trial:
            p = expit(oof)
            trial = Trial(candidate, params, float(log_loss(y, p, sample_weight=weight, labels=[0, 1])),
                          float(roc_auc_score(y, p, sample_weight=weight)), rounds, _clock() - began)  # fmt: skip
            report.trials.append(trial)
            return trial

        if "logistic" in self.candidates:
            tell(share(), "logistic regression")
            began = _clock()
            member = _LogisticMember(self.categorical_, matrix.shape[1], self.random_state)
            oof = np.zeros(len(y))
            for inside, outside in folds:
                fitted = _LogisticMember(member.categorical, member.n_features, member.seed)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", category=UserWarning)
                    fitted.fit(matrix[inside], y[inside], None if weight is None else weight[inside])
                oof[outside] = fitted.margin(matrix[outside])
            scored("logistic", {"C": 0.5, "bins": _LogisticMember.BINS}, oof, None, began)
            margins["logistic"], members["logistic"] = oof, member

        lgbm_best: dict[str, Any] = {}
        search_until = [deadline]  # when the LightGBM search must have ended (set once the rest is known)
        study = None
        if "lightgbm" in self.candidates:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=self.random_state))
            study.enqueue_trial(DEFAULT_TRIAL)

            def objective(trial: optuna.Trial) -> float:
                params = {
                    "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
                    "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                    "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
                    "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
                    "subsample": trial.suggest_float("subsample", 0.5, 1.0),
                    "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
                }
                done = [t.seconds for t in report.trials if t.candidate == "lightgbm"]
                if trial.number and _clock() + float(np.mean(done)) > search_until[0]:
                    trial.study.stop()  # a trial started now would end past the budget
                    raise optuna.TrialPruned()
                tell(share(), f"LightGBM trial {trial.number + 1}")
                began = _clock()
                oof, rounds = self._lightgbm_cv(params, matrix, y, weight, folds)
                result = scored("lightgbm", params, oof, rounds, began)
                if not lgbm_best or result.log_loss < lgbm_best["trial"].log_loss:
                    lgbm_best.update(trial=result, oof=oof)
                return result.log_loss

            study.optimize(objective, n_trials=1)  # the default parameters, whatever the budget

        if "catboost" in self.candidates:
            # Estimated from LightGBM's first trial.
            first = report.trials[-1].seconds if report.trials else 0.0
            room = deadline - _clock()
            if room < CATBOOST_SHARE * self.budget_seconds or CATBOOST_COST * first > room:
                report.skipped["catboost"] = f"needs more of the budget than the {max(room, 0):.0f} s left"
            else:
                tell(share(), "CatBoost")
                began = _clock()
                found, rounds, params = self._catboost_cv(matrix, y, weight, folds, CATBOOST_SHARE * self.budget_seconds)
                if found is None:
                    report.skipped["catboost"] = "one cross-validation did not fit in its share of the budget"
                else:
                    scored("catboost", params, found, rounds, began)
                    margins["catboost"] = found
                    members["catboost"] = _CatBoostMember(params, rounds, self.categorical_)

        if study is not None:
            # What is left of the budget, less what refitting the kept models on every row will take.
            refit = 1.5 * sum(
                trial.seconds / self.folds * (LIGHTGBM_SEEDS if trial.candidate == "lightgbm" else 1)
                for trial in (report.best(c) for c in CANDIDATES)
                if trial
            )
            room = deadline - _clock() - refit
            search_until[0] = deadline - refit
            if room > 0 and (self.max_trials is None or self.max_trials > 1):
                remaining = None if self.max_trials is None else self.max_trials - 1
                study.optimize(objective, n_trials=remaining)  # the objective stops it at the budget
            best: Trial = lgbm_best["trial"]
            margins["lightgbm"] = lgbm_best["oof"]
            members["lightgbm"] = _LightGbmMember(
                self._lgbm_params(best.params), best.rounds or 1, self.categorical_, LIGHTGBM_SEEDS
            )

        tell(share(), "blending and calibrating")
        report.weights = _blend_weights(margins, y, weight, folds)
        score = np.sum([w * margins[name] for name, w in report.weights.items()], axis=0)
        for method in CALIBRATIONS:
            p = _cross_calibrated(score, y, weight, folds, method)
            report.calibration_log_loss[method] = float(log_loss(y, p, sample_weight=weight, labels=[0, 1]))
        report.calibration = min(CALIBRATIONS, key=lambda m: report.calibration_log_loss[m])
        report.log_loss = report.calibration_log_loss[report.calibration]
        report.ece = expected_calibration_error(y, _cross_calibrated(score, y, weight, folds, report.calibration))

        tell(share(), "refitting on every training row")
        self.members_ = [members[name].fit(matrix, y, weight) for name in report.weights]
        self.weights_ = np.array(list(report.weights.values()))
        self.calibrated_ = _calibrator(score, y, weight, report.calibration)
        self.calibration_ = _Calibration.read(self.calibrated_, score, report.calibration)
        report.seconds = _clock() - started
        self.report_ = report
        self.classes_ = np.array([0, 1])
        tell(1.0, f"chose {report.chosen}, {report.calibration} calibration")
        return self

    def _lgbm_params(self, searched: dict[str, Any]) -> dict[str, Any]:
        return {
            "objective": "binary",
            "verbosity": -1,
            "seed": self.random_state,
            "subsample_freq": 1,
            "num_threads": self.threads,
            "max_cat_to_onehot": 8,
            **searched,
        }

    def _lightgbm_cv(
        self, searched: dict[str, Any], X: np.ndarray, y: np.ndarray, weight: np.ndarray | None, folds: list
    ) -> tuple[np.ndarray, int]:
        """``lgb.cv`` on the shared folds: the number of rounds that is best on average, and the
        out-of-fold log-odds at that number."""
        dataset = lgb.Dataset(X, y, weight=weight, categorical_feature=self.categorical_, free_raw_data=False)
        result = lgb.cv(
            {**self._lgbm_params(searched), "metric": "binary_logloss"},
            dataset,
            num_boost_round=MAX_ROUNDS,
            folds=folds,
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            return_cvbooster=True,
        )
        curve = result["valid binary_logloss-mean"]
        assert isinstance(curve, list)  # the mean log loss per round, up to the best one
        rounds = len(curve)
        cvbooster = result["cvbooster"]
        assert isinstance(cvbooster, lgb.CVBooster)  # return_cvbooster=True
        oof = np.zeros(len(y))
        for booster, (_, outside) in zip(cvbooster.boosters, folds, strict=True):
            oof[outside] = booster.predict(X[outside], num_iteration=rounds, raw_score=True)
        return oof, rounds

    def _catboost_cv(
        self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None, folds: list, seconds: float
    ) -> tuple[np.ndarray | None, int, dict[str, Any]]:
        """CatBoost on each fold, its validation curve recorded; the rounds best on average across folds."""
        from catboost import CatBoostClassifier, Pool

        params = {"loss_function": "Logloss", "random_seed": self.random_state, "verbose": False,
                  "allow_writing_files": False, "thread_count": self.threads or -1, "learning_rate": 0.1,
                  # plain boosting and single-feature category statistics: 3 times faster than the
                  # defaults here, at the same log loss on the lead tables of benchmarks/
                  "boosting_type": "Plain", "max_ctr_complexity": 1, "one_hot_max_size": 8}  # fmt: skip
        encode = _CatBoostMember(params, MAX_ROUNDS, self.categorical_).frame
        frame = encode(X)
        began = _clock()
        curves, fitted = [], []
        for number, (inside, outside) in enumerate(folds):
            if number and (_clock() - began) / number * len(folds) > seconds:
                return None, 0, params
            w_in = None if weight is None else weight[inside]
            w_out = None if weight is None else weight[outside]
            model = CatBoostClassifier(**params, iterations=1000, early_stopping_rounds=CATBOOST_STOPPING_ROUNDS,
                                       use_best_model=False)  # fmt: skip
            model.fit(
                Pool(frame.iloc[inside], y[inside], cat_features=self.categorical_, weight=w_in),
                eval_set=Pool(frame.iloc[outside], y[outside], cat_features=self.categorical_, weight=w_out),
            )
            curves.append(np.asarray(model.get_evals_result()["validation"]["Logloss"]))
            fitted.append(model)
        length = min(len(curve) for curve in curves)
        rounds = int(np.argmin(np.mean([curve[:length] for curve in curves], axis=0))) + 1
        oof = np.zeros(len(y))
        for model, (_, outside) in zip(fitted, folds, strict=True):
            oof[outside] = model.predict(frame.iloc[outside], prediction_type="RawFormulaVal", ntree_end=rounds)
        return oof, rounds, params

    def refit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> SelectedClassifier:
        """A copy whose kept models are fitted on more rows (the training and validation rows together)
        with the parameters, rounds and blend weights the search chose, and its calibration (fitted on
        out-of-fold scores); the search is not run again."""
        matrix = model_array(X[self.feature_names_in_])
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        refitted = copy.copy(self)
        with threadpool_limits(self.threads or None):
            refitted.members_ = [copy.copy(m).fit(matrix, np.asarray(y, dtype=int), weight) for m in self.members_]
        return refitted

    # ------------------------------------------------------------------------------------ predicting
    def margin(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The blended log-odds score before calibration."""
        matrix = model_array(X[self.feature_names_in_]) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
        return sum((w * member.margin(matrix) for member, w in zip(self.members_, self.weights_, strict=True)),
                   start=np.zeros(len(matrix)))  # fmt: skip

    def predict_win(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.calibration_(self.margin(X))

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        p = self.predict_win(X)
        return np.vstack((1.0 - p, p)).transpose()

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return (self.predict_win(X) > 0.5).astype(int)

    def feature_importance(self) -> pd.Series:
        """The kept boosters' gains, each normalised to sum 1 and weighted as the blend weighs it."""
        total = np.zeros(len(self.feature_names_in_))
        for member, w in zip(self.members_, self.weights_, strict=True):
            gains = member.importance()
            if gains is not None and gains.sum() > 0:
                total += w * gains / gains.sum()
        return pd.Series(total, index=self.feature_names_in_).sort_values(ascending=False)


# ------------------------------------------------------------------------------ blending, calibrating
def _fit_blend(margins: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """Non-negative weights (and an intercept, last) of the log-odds columns minimising the log loss."""
    w = np.ones(len(y)) if weight is None else weight

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = margins @ theta[:-1] + theta[-1]
        p = np.clip(expit(z), 1e-12, 1 - 1e-12)
        value = -np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum()
        gradient = np.append(margins.T @ (w * (p - y)), np.sum(w * (p - y))) / w.sum()
        return float(value), gradient

    start = np.append(np.full(margins.shape[1], 1.0 / margins.shape[1]), 0.0)
    bounds = [(0.0, None)] * margins.shape[1] + [(None, None)]
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x)


def _blend_weights(
    margins: dict[str, np.ndarray], y: np.ndarray, weight: np.ndarray | None, folds: list
) -> dict[str, float]:
    """The best single candidate, or the blend of all when its cross-fitted log loss is lower."""
    names = list(margins)

    def cross_fitted(columns: list[str]) -> float:
        X = np.column_stack([margins[name] for name in columns])
        p = np.zeros(len(y))
        for inside, outside in folds:
            theta = _fit_blend(X[inside], y[inside], None if weight is None else weight[inside])
            p[outside] = expit(X[outside] @ theta[:-1] + theta[-1])
        return float(log_loss(y, p, sample_weight=weight, labels=[0, 1]))

    single = {name: cross_fitted([name]) for name in names}
    best = min(single, key=lambda name: single[name])
    if len(names) > 1 and cross_fitted(names) < single[best] - BLEND_MARGIN:
        theta = _fit_blend(np.column_stack([margins[n] for n in names]), y, weight)
        kept = {name: float(t) for name, t in zip(names, theta[:-1], strict=True) if t > 1e-6}
        if kept:
            return kept
    return {best: 1.0}


def _cross_calibrated(
    score: np.ndarray, y: np.ndarray, weight: np.ndarray | None, folds: list, method: str
) -> np.ndarray:
    """Each fold's scores calibrated by a calibrator fitted on the other folds."""
    p = np.zeros(len(y))
    for inside, outside in folds:
        fitted = _calibrator(score[inside], y[inside], None if weight is None else weight[inside], method)
        p[outside] = fitted.predict_proba(score[outside][:, None])[:, 1]
    return p
