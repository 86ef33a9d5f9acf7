"""Leads (and the training set-up) that the frozen reference in ``data/reference.npz`` was computed on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadwise.learn.training import TrainConfig

AFTER_HISTORY = pd.Timestamp("2018-03-01")  # the bundled history closes by the end of 2017
N_REPS = 40  # the known reps, then names the history never saw, as the API sends them
# A few trees keep training to seconds; the path under test does not depend on their number.
# The reference was frozen with rep records shrunk by a fixed 10 deals, the additive logit at C = 1 and the
# validated models served as they were (the defaults then); the scoring paths are compared at those settings.
QUICK = TrainConfig(
    baselines=False, lgbm_params={"n_estimators": 120}, prior_strength=10.0, refit_all_rows=False, glm_strength=1.0
)


def odd_leads(data) -> pd.DataFrame:
    """Unknown accounts, a lead's own fields over the reference's, missing values, a band edge."""
    known = data.reference.accounts["account"].iloc[0]
    rows = [
        {"lead_id": "known", "account": known, "product": "GTX Pro"},
        {"lead_id": "unknown account", "account": "Nobody Ltd", "product": "MG Special"},
        {"lead_id": "own fields", "account": "Brand New Co", "product": "gtx plus basic", "sector": "retail",
         "revenue": 812.5, "employees": 40, "year_established": 2010, "office_location": "Kenya"},
        {"lead_id": "overrides", "account": known, "product": "GTXPro", "sector": "finance", "revenue": "9000"},
        {"lead_id": "no account", "account": None, "product": "GTK 500"},
        {"lead_id": "odd values", "account": "Brand New Co", "product": "MG Advanced", "sector": "not a sector",
         "office_location": None, "revenue": np.nan, "subsidiary_of": known},
        {"lead_id": "band edge", "account": "Edge Co", "product": "GTX Basic",
         "revenue": data.reference.revenue_edges[0]},
    ]  # fmt: skip
    leads = pd.DataFrame(rows)
    leads["engage_date"] = AFTER_HISTORY
    return leads


def history_leads(data, n: int, seed: int = 0) -> pd.DataFrame:
    """Past deals sent again as new leads, engaged after the history."""
    leads = data.frame.sample(n, random_state=seed)[["lead_id", "account", "product"]].reset_index(drop=True)
    leads["engage_date"] = AFTER_HISTORY + pd.to_timedelta(np.arange(n) % 30, unit="D")
    return leads


def inside_history_leads(data, n: int, seed: int = 1) -> pd.DataFrame:
    """Past deals at their own engage dates: the history known as of each one (as in training)."""
    engaged = data.frame[data.frame["engage_date"].notna()]
    return engaged.sample(n, random_state=seed)[["lead_id", "account", "product", "engage_date"]].reset_index(drop=True)
