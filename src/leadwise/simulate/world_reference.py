"""A reference fit model that knows the world's functional form (but none of its parameters).

It is the yardstick of the evaluation: a regularised logistic regression on exactly the terms the world
plants (product, account, rep, rep x sector, rep x series, rep x log-revenue). What it reaches on a world
is about what the history allows; the gap between it and the production models is what better features
could still win. It reads only the four CRM frames, like any model trained on the world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression


@dataclass
class ReferenceModel:
    products_: list[str]
    accounts_: pd.DataFrame  # indexed by account: sector, z (standardised log revenue), series lookup
    sectors_: list[str]
    series_: dict[str, str]
    reps_: list[str]
    estimator_: LogisticRegression

    def _design(self, account: pd.Series, product: pd.Series, rep: pd.Series) -> sparse.csr_matrix:
        n = len(account)
        n_acc, n_prod, n_rep = len(self.accounts_), len(self.products_), len(self.reps_)
        n_sec, n_ser = len(self.sectors_), len(set(self.series_.values()))
        series_names = sorted(set(self.series_.values()))
        a = self.accounts_.index.get_indexer(pd.Index(account))
        p = pd.Index(self.products_).get_indexer(pd.Index(product))
        r = pd.Index(self.reps_).get_indexer(pd.Index(rep))
        sec = pd.Index(self.sectors_).get_indexer(pd.Index(self.accounts_["sector"].to_numpy()[a]))
        ser = pd.Index(series_names).get_indexer(pd.Index(pd.Series(product).map(self.series_)))
        z = self.accounts_["z"].to_numpy()[a]
        rows = np.arange(n)
        blocks = [
            (p, np.ones(n), n_prod),
            (a, np.ones(n), n_acc),
            (r, np.ones(n), n_rep),
            (r * n_sec + sec, np.ones(n), n_rep * n_sec),
            (r * n_ser + ser, np.ones(n), n_rep * n_ser),
            (r, z, n_rep),
        ]
        parts = [
            sparse.csr_matrix((vals[idx >= 0], (rows[idx >= 0], idx[idx >= 0])), shape=(n, width))
            for idx, vals, width in blocks
        ]
        parts.append(sparse.csr_matrix(z[:, None]))
        return sparse.hstack(parts, format="csr")

    def fit_matrix(self, leads: pd.DataFrame, reps: Sequence[str]) -> np.ndarray:
        n = len(leads)
        account = pd.Series(np.repeat(leads["account"].to_numpy(), len(reps)))
        product = pd.Series(np.repeat(leads["product"].to_numpy(), len(reps)))
        rep = pd.Series(np.tile(np.asarray(reps, dtype=object), n))
        return self.estimator_.predict_proba(self._design(account, product, rep))[:, 1].reshape(n, len(reps))


def fit_reference_model(
    pipeline: pd.DataFrame, accounts: pd.DataFrame, products: pd.DataFrame, c: float = 0.5
) -> ReferenceModel:
    """Fit on the closed deals with a known account. ``c`` is the inverse L2 strength of scikit-learn."""
    closed = pipeline[pipeline["deal_stage"].isin(["Won", "Lost"]) & pipeline["account"].notna()]
    log_rev = np.log(accounts["revenue"].clip(lower=1e-3))
    acc = pd.DataFrame(
        {
            "sector": accounts["sector"].to_numpy(),
            "z": ((log_rev - log_rev.mean()) / log_rev.std()).to_numpy(),
        },
        index=pd.Index(accounts["account"]),
    )
    model = ReferenceModel(
        products_=products["product"].tolist(),
        accounts_=acc,
        sectors_=sorted(acc["sector"].unique()),
        series_=dict(zip(products["product"], products["series"], strict=True)),
        reps_=sorted(pipeline["sales_agent"].unique()),
        estimator_=LogisticRegression(C=c, max_iter=2000),
    )
    x = model._design(closed["account"], closed["product"], closed["sales_agent"])
    model.estimator_.fit(x, (closed["deal_stage"] == "Won").to_numpy())
    return model
