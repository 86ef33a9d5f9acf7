"""The baselines a user compares a model with: the prior rate, logistic regression, and an Odoo-style
naive Bayes frequency score (Odoo's predictive lead scoring multiplies per-field win frequencies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import CategoricalNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype("object").where(frame.notna(), "__missing__").astype(str)


def _shift_codes(codes: np.ndarray) -> np.ndarray:
    # Unknown categories are encoded -1; shifted by one every code is a valid non-negative index.
    return np.asarray(codes) + 1


def logistic_regression(numeric: list[str], categorical: list[str]) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(
                    FunctionTransformer(_as_text), OneHotEncoder(handle_unknown="ignore", min_frequency=5)
                ),
                categorical,
            ),
        ]
    )
    return make_pipeline(prepare, LogisticRegression(max_iter=500))


def naive_bayes_frequency(numeric: list[str], categorical: list[str]) -> Pipeline:
    """Every field, numbers binned in quintiles, as a frequency table with Laplace smoothing."""
    prepare = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median"),
                    KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="quantile", subsample=None),
                ),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    FunctionTransformer(_as_text),
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ),
                categorical,
            ),
        ]
    )
    return make_pipeline(prepare, FunctionTransformer(_shift_codes), CategoricalNB(alpha=1.0))


def baseline_models(numeric: list[str], categorical: list[str]) -> dict[str, ClassifierMixin]:
    """Fresh, unfitted baselines over the given columns.

    Quantile binning drops empty bins of near-constant columns with a UserWarning; that is expected
    on CRM data (many rates sit at their prior) and is silenced where the baselines are fitted.
    """
    return {
        "prior": DummyClassifier(strategy="prior"),
        "logistic_regression": logistic_regression(numeric, categorical),
        "naive_bayes": naive_bayes_frequency(numeric, categorical),
    }
