"""Point-in-time history: what was known about a segment (an account, a rep, a rep in a sector...) at a moment.

Every history feature goes through ``as_of_totals``, which only counts deals *closed strictly before* the
moment asked about. That is the whole leakage guard: a lead's features never see its own outcome nor any
outcome that was not known at its engage date.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

    # Events are kept in close-time order by the builder; sorting again is only for other callers.
    ordered = events if events[EVENT_TIME].is_monotonic_increasing else events.sort_values(EVENT_TIME, kind="stable")
    # One integer per key combination, shared by events and queries: the cumulative sums, the sort and
    # the as-of join then run on numbers, not on a million strings each.
    if keys:
        combined = pd.concat([ordered[keys], queries[keys]], ignore_index=True)
        group = combined.groupby(keys, sort=False).ngroup().to_numpy()
        event_group, query_group = group[: len(ordered)], group[len(ordered) :]
    else:
        event_group, query_group = np.zeros(len(ordered), int), np.zeros(len(queries), int)
    cumulative = pd.DataFrame(ordered[values].to_numpy(dtype=float), columns=values)
    cumulative = cumulative.groupby(event_group).cumsum()
    cumulative["_group"] = event_group
    cumulative[EVENT_TIME] = ordered[EVENT_TIME].to_numpy()
    asked = pd.DataFrame({"_group": query_group, QUERY_TIME: queries[QUERY_TIME].to_numpy()})
    asked["_position"] = np.arange(len(asked))
    asked = asked.sort_values(QUERY_TIME, kind="stable")
    matched = pd.merge_asof(
        asked,
        cumulative,
        left_on=QUERY_TIME,
        right_on=EVENT_TIME,
        by="_group",
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


def shrunk_rate(wins: np.ndarray, n: np.ndarray, prior: np.ndarray | float, strength: float) -> np.ndarray:
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


class TotalsLookup:
    """``as_of_totals`` for queries after the whole history (scoring now), as array lookups.

    Built once from the events summed by their keys (one index level per key, one column per value).
    ``codes`` turns key values (already ``fill_keys`` strings) into integer codes per level; ``sums``
    answers for code arrays that broadcast together. A combination never seen gives zeros, as the merge does.
    """

    # Up to this many key combinations the totals sit in a dense array (one indexing step per lookup);
    # beyond, only the combinations seen are kept and found by binary search.
    DENSE_MAX_CELLS = 250_000

    def __init__(self, totals: pd.DataFrame) -> None:
        index = totals.index
        self.values_ = [str(column) for column in totals.columns]
        self.levels_: list[dict[object, int]] = []
        level_codes: list[np.ndarray] = []
        for level in range(index.nlevels):
            codes, uniques = pd.factorize(index.get_level_values(level))
            self.levels_.append({value: code for code, value in enumerate(uniques.tolist())})
            level_codes.append(codes.astype(np.int64))
        rows = totals.fillna(0.0).to_numpy(dtype=float)
        sizes = [len(mapping) + 1 for mapping in self.levels_]  # + a slot of zeros, where code -1 lands
        self.dense_: np.ndarray | None = None
        if int(np.prod(sizes)) <= self.DENSE_MAX_CELLS:
            self.dense_ = np.zeros((len(self.values_), *sizes))
            cells: tuple[slice | np.ndarray, ...] = (slice(None), *level_codes)
            self.dense_[cells] = rows.T
            return
        # Mixed-radix ids of the combinations seen, sorted for ``searchsorted``.
        self.strides_ = np.cumprod([1] + [len(m) for m in self.levels_[:0:-1]])[::-1].astype(np.int64)
        ids = self._ids(level_codes)
        order = np.argsort(ids, kind="stable")
        self.ids_ = ids[order]
        # One row per value; the extra last column of zeros answers for every combination never seen.
        self.columns_ = np.hstack([rows[order].T, np.zeros((len(self.values_), 1))])

    def codes(self, level: int, keys: Sequence[object]) -> np.ndarray:
        """Integer codes of ``keys`` at index level ``level``; -1 for a value never seen there."""
        mapping = self.levels_[level]
        return np.fromiter((mapping.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))

    def sums(self, *codes: np.ndarray) -> dict[str, np.ndarray]:
        """Totals for broadcast code arrays (one per index level): a contiguous array per value."""
        if self.dense_ is not None:
            cells: tuple[slice | np.ndarray, ...] = (slice(None), *codes)
            found = self.dense_[cells]
        else:
            broadcast = np.broadcast_arrays(*codes)
            ids = self._ids(broadcast)
            seen = len(self.ids_)
            position = np.searchsorted(self.ids_, ids)
            hit = np.logical_and.reduce([c >= 0 for c in broadcast]) & (position < seen)
            if seen:
                hit &= self.ids_[np.minimum(position, seen - 1)] == ids
            found = self.columns_[:, np.where(hit, position, seen)]
        return {value: np.ascontiguousarray(column) for value, column in zip(self.values_, found, strict=True)}

    def _ids(self, codes: Sequence[np.ndarray]) -> np.ndarray:
        ids = np.zeros(np.shape(codes[0]), dtype=np.int64)
        for level_codes, stride in zip(codes, self.strides_, strict=True):
            ids += level_codes * stride
        return ids


def key_strings(values: Sequence[object]) -> list[str]:
    """``fill_keys`` for a handful of values: plain strings, ``MISSING_KEY`` for gaps."""
    return [value if type(value) is str else MISSING_KEY if _missing(value) else str(value) for value in values]


def _missing(value: Any) -> bool:
    missing = pd.isna(value)
    return bool(missing) if isinstance(missing, bool | np.bool_) else False
