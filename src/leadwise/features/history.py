"""Point-in-time history: what was known about a segment (an account, a rep, a rep in a sector...) at a moment.

Every history feature goes through ``as_of_totals``, which only counts deals *closed strictly before* the
moment asked about. That is the whole leakage guard: a lead's features never see its own outcome nor any
outcome that was not known at its engage date.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Stands in for "no value" in a key column: merge_asof cannot match on NaN.
MISSING_KEY = "__missing__"
EVENT_TIME = "close_time"
QUERY_TIME = "as_of"


def as_of_totals(
    events: pd.DataFrame,
    queries: pd.DataFrame,
    keys: Sequence[str],
    values: Sequence[str],
    totals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Sums of ``values`` over the events with the query's keys and ``close_time`` < the query's ``as_of``.

    ``events`` has ``keys``, ``close_time`` and ``values``; ``queries`` has ``keys`` and ``as_of``.
    Returns a frame aligned with ``queries`` (same index), zeros where nothing was known yet.
    ``totals`` (the events summed by ``keys``) may be passed in to make scoring after the history cheap.
    """
    keys = list(keys)
    values = list(values)
    result = pd.DataFrame(0.0, index=queries.index, columns=values)
    if events.empty or queries.empty:
        return result

    if queries[QUERY_TIME].min() > events[EVENT_TIME].max():
        # Every query comes after the whole history (scoring now): a plain lookup of the totals.
        if not keys:
            result.loc[:, values] = events[values].sum().to_numpy()
            return result
        if totals is None:
            totals = events.groupby(keys, observed=True, sort=False)[values].sum()
        found = queries[keys].merge(totals, left_on=keys, right_index=True, how="left")
        result.loc[:, values] = found[values].fillna(0.0).to_numpy()
        return result

    ordered = events.sort_values(EVENT_TIME, kind="stable")
    cumulative = ordered[[*keys, EVENT_TIME]].copy()
    grouped = ordered.groupby(keys, sort=False)[values] if keys else ordered[values]
    cumulative[values] = grouped.cumsum()
    asked = queries[[*keys, QUERY_TIME]].copy()
    asked["_position"] = np.arange(len(asked))
    asked = asked.sort_values(QUERY_TIME, kind="stable")
    matched = pd.merge_asof(
        asked,
        cumulative,
        left_on=QUERY_TIME,
        right_on=EVENT_TIME,
        by=keys or None,
        allow_exact_matches=False,  # a deal closing on the engage date itself is not yet known
        direction="backward",
    )
    matched = matched.sort_values("_position")
    result.loc[:, values] = matched[values].fillna(0.0).to_numpy()
    return result


def logit(p: np.ndarray | pd.Series) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def shrunk_rate(wins: np.ndarray, n: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Win rate pulled towards ``prior`` as if ``strength`` deals at the prior rate had been seen.

    With few deals the estimate stays near the prior; with many it follows the data.
    """
    return (np.asarray(wins) + strength * np.asarray(prior)) / (np.asarray(n) + strength)


def fill_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Key columns as plain strings with ``MISSING_KEY`` for gaps, so that joins treat gaps as a value."""
    out = frame.copy()
    for key in keys:
        out[key] = out[key].astype("object").where(out[key].notna(), MISSING_KEY).astype(str)
    return out
