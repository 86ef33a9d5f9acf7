"""Model-ready feature matrices for leads and for (lead, rep) pairs.

Lead features: the lead's own fields plus the point-in-time record of its segments (its account, sector,
product, series, size band). Pair features add the rep's record overall and in each of the lead's
segments, shrunk towards the rep's and the segment's rates when data is thin, and the rep's *residual*
record (wins minus the wins its leads were expected to bring). The residual is what separates a
skilled rep from a rep who was simply handed good leads: history is confounded by past assignment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadwise.data.training_data import TrainingData
from leadwise.features.effects import relative_effect
from leadwise.features.engagement import EngagementSpec, engagement_features
from leadwise.features.glm import GlmSnapshots
from leadwise.features.history import (
    EVENT_TIME,
    QUERY_TIME,
    TotalsLookup,
    as_of_totals,
    fill_keys,
    key_strings,
    logit,
    shrunk_rate,
    sigmoid,
)

REP = "sales_agent"
# Per closed deal: one deal, won or not, its expected win rate from its segments ("expected") and that
# rate moved by its account's own effect ("lead_expected", the yardstick for rep effects).
COUNTS = ["n", "wins", "expected", "lead_expected"]
# Segments whose rates combine into a lead's expected win rate (the account enters as an effect on top;
# product already refines series).
EXPECTATION_KEYS = ("sector", "product", "size_band")
# Lead dimensions whose rep effects add up, in log-odds, to the rep-lead estimate ``rep_fit_logit``.
INTERACTION_KEYS = ("sector", "series", "size_band")
# Prepared leads: a DataFrame, or plain columns (``prepare_crm_columns``) for the scoring-now path.
Columns = Mapping[str, Any]
# (keys, values) -> the sums of ``values`` over the deals sharing each row's ``keys``, known at its time.
Totals = Callable[[Sequence[str], Sequence[str]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class _NowTables:
    """The fitted history as lookups, for leads that all come after it (see ``FeatureBuilder.scores_now``)."""

    last_event: np.datetime64 | None  # None: no closed deal at all (every total is zero)
    events: pd.DataFrame
    totals: dict[tuple[str, ...], TotalsLookup]  # the fitted ``totals_`` by keys
    category_codes: dict[str, dict[Any, float]]  # categorical feature -> value -> code
    rep_codes: dict[str, dict[Any, float]]  # rep attribute (and rep_id) -> rep -> code
    sums: dict[tuple[str, ...], dict[str, float]] = field(default_factory=dict)
    grouped: dict[tuple[tuple[str, ...], tuple[str, ...]], TotalsLookup] = field(default_factory=dict)

    def lookup(self, keys: tuple[str, ...], values: Sequence[str]) -> TotalsLookup:
        """The fitted totals by ``keys``; for other keys, the events summed as ``as_of_totals`` does."""
        if keys in self.totals:
            return self.totals[keys]
        asked = (keys, tuple(values))
        if asked not in self.grouped:
            sums = self.events.groupby(list(keys), observed=True, sort=False)[list(values)].sum()
            self.grouped[asked] = TotalsLookup(sums)
        return self.grouped[asked]

    def overall(self, values: Sequence[str]) -> dict[str, float]:
        """Sums over every closed deal, computed as ``as_of_totals`` does (same pandas reduction)."""
        key = tuple(values)
        if key not in self.sums:
            sums = self.events[list(values)].sum().to_numpy(dtype=float) if len(self.events) else np.zeros(len(key))
            self.sums[key] = dict(zip(key, sums.tolist(), strict=True))
        return self.sums[key]


class FeatureBuilder:
    """Fitted on a ``TrainingData``; then turns any prepared lead frame into model inputs.

    Follows scikit-learn's conventions: parameters in ``__init__``, state learnt in ``fit`` ends in ``_``.
    """

    def __init__(self, prior_strength: float = 10.0, rep_prior_strength: float = 3.0) -> None:
        self.prior_strength = prior_strength
        self.rep_prior_strength = rep_prior_strength

    # ----------------------------------------------------------------------------------------- fitting
    def fit(self, data: TrainingData) -> FeatureBuilder:
        self.__dict__.pop("_now_lookups", None)  # a refit invalidates the scoring lookups
        self.kind_ = data.kind
        self.numeric_ = list(data.numeric_features)
        self.categorical_ = list(data.categorical_features)
        self.categories_ = {
            column: sorted(data.frame[column].dropna().astype(str).unique()) for column in self.categorical_
        }
        self.use_history_ = bool(data.segment_keys) and data.has_time and "close_date" in data.frame
        self.segment_keys_ = list(data.segment_keys) if self.use_history_ else []
        self.rep_attributes_ = data.rep_attributes if data.rep_attributes is not None else pd.DataFrame()
        self.rep_attribute_categories_ = {
            column: sorted(self.rep_attributes_[column].dropna().astype(str).unique())
            for column in self.rep_attributes_.columns
        }
        known_reps = set(self.rep_attributes_.index)
        if data.has_rep:
            known_reps |= set(data.frame[REP].dropna())
        self.reps_ = sorted(known_reps)
        self.rep_categories_ = self.reps_ if self.kind_ == "table" else []

        self.events_ = pd.DataFrame()
        if self.use_history_:
            closed = data.closed
            self.events_ = fill_keys(closed[[*self.segment_keys_, REP]], [*self.segment_keys_, REP])
            self.events_[EVENT_TIME] = closed["close_date"].to_numpy()
            self.events_["n"] = 1.0
            self.events_["wins"] = closed["won"].to_numpy()
            # In close-time order once, so that every point-in-time lookup can skip sorting them.
            order = np.argsort(self.events_[EVENT_TIME].to_numpy(), kind="stable")
            self.events_ = self.events_.iloc[order]
            closed = closed.iloc[order]
            # What each closed deal was expected to bring, judged when it was engaged: first from its
            # segments, then (once those exist for every deal) with its account's effect on top.
            self.events_["expected"] = self._lead_history(closed)["expected_rate"].to_numpy()
            self.events_["lead_expected"] = self._lead_history(closed)["lead_expected_rate"].to_numpy()
            self.totals_ = {
                keys: self.events_.groupby(list(keys), sort=False)[COUNTS].sum()
                for keys in [(k,) for k in self.segment_keys_]
                + [(REP,)]
                + [(REP, k) for k in self.segment_keys_]
            }
            self.glm_ = GlmSnapshots().fit(self._glm_frame(closed))
        # Engagement features only when the history came with touches (and times to cut them at):
        # without touchpoints the feature columns are exactly those of a history without them.
        touches = getattr(data, "touches", None)
        self.engagement_ = (
            EngagementSpec.from_touches(touches) if touches is not None and len(touches) and data.has_time else None
        )
        return self

    @property
    def engagement(self) -> EngagementSpec | None:
        """The engagement features' spec; None when trained without touchpoints (or pickled before them)."""
        return getattr(self, "engagement_", None)

    # ---------------------------------------------------------------------------------------- features
    @property
    def lead_feature_names(self) -> list[str]:
        history = []
        if self.use_history_:
            history = ["prior_rate", "expected_rate", "account_effect", "lead_expected_rate", "glm_lead_logit"]
            for key in self.segment_keys_:
                history += [f"{key}_rate", f"{key}_log_n"]
        engagement = self.engagement.feature_names if self.engagement is not None else []
        return [*self.numeric_, *self.categorical_, *history, *engagement]

    @property
    def pair_feature_names(self) -> list[str]:
        rep = list(self.rep_attributes_.columns)
        if self.kind_ == "table":
            rep.append("rep_id")
        if self.use_history_:
            for key in ["all", *self.segment_keys_]:
                rep += [f"rep_{key}_rate", f"rep_{key}_residual", f"rep_{key}_log_n", f"rep_{key}_effect"]
            rep += ["rep_fit_logit", "glm_rep_effect", "glm_pair_logit"]
        return [*self.lead_feature_names, *rep]

    def lead_features(self, frame: pd.DataFrame, touches: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per lead: its own fields plus its segments' record before its engage date (and, for a
        model trained with touchpoints, its engagement from ``touches`` before that date)."""
        out = pd.DataFrame(index=frame.index)
        for column in self.numeric_:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        for column in self.categorical_:
            out[column] = pd.Categorical(frame[column].astype("object"), categories=self.categories_[column])
        if self.use_history_:
            history = self._lead_history(frame)
            for column in history.columns:
                out[column] = history[column].to_numpy()
            out["glm_lead_logit"] = self.glm_.features(self._glm_frame(frame), with_rep=False)["glm_lead_logit"]
        if self.engagement is not None:
            at = frame["engage_date"].to_numpy(dtype="datetime64[ns]")
            for name, values in engagement_features(self.engagement, frame["lead_id"].tolist(), at, touches).items():
                out[name] = values
        return out[self.lead_feature_names]

    def pair_features(
        self,
        frame: pd.DataFrame,
        reps: Sequence[str] | None = None,
        lead_matrix: pd.DataFrame | None = None,
        touches: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Rows for (lead, rep) pairs.

        With ``reps`` None the rep is the frame's own ``sales_agent`` (training rows: one pair per lead);
        otherwise every lead is paired with every rep, lead-major (row ``i * len(reps) + j``).
        ``lead_matrix`` (this frame's ``lead_features``) may be passed in to avoid computing it twice.
        """
        leads = self.lead_features(frame, touches) if lead_matrix is None else lead_matrix
        if reps is None:
            pairs = leads.reset_index(drop=True)
            pair_reps = frame[REP].astype(str).to_numpy()
            source = frame.reset_index(drop=True)
        else:
            reps = list(reps)
            pairs = leads.loc[leads.index.repeat(len(reps))].reset_index(drop=True)
            pair_reps = np.tile(np.asarray(reps, dtype=object), len(frame))
            source = frame.loc[frame.index.repeat(len(reps))].reset_index(drop=True)
        for column, categories in self.rep_attribute_categories_.items():
            values = pd.Series(pair_reps).map(self.rep_attributes_[column])
            pairs[column] = pd.Categorical(values, categories=categories)
        if self.kind_ == "table":
            pairs["rep_id"] = pd.Categorical(pair_reps, categories=self.rep_categories_)
        if self.use_history_:
            history = self._rep_history(source, pair_reps, pairs)
            for column in history.columns:
                pairs[column] = history[column].to_numpy()
            glm = self.glm_.features(self._glm_frame(source.assign(**{REP: pair_reps})), with_rep=True)
            pairs["glm_rep_effect"] = glm["glm_rep_effect"]
            pairs["glm_pair_logit"] = glm["glm_pair_logit"]
        return pairs[self.pair_feature_names]

    def _glm_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns the snapshot models read, keys filled as the history features fill them."""
        keys = [*self.segment_keys_, *([REP] if REP in frame else [])]
        columns = [c for c in ("engage_date", "close_date", "won", "revenue") if c in frame]
        return pd.concat([fill_keys(frame[keys], keys), frame[columns]], axis=1)

    # ---------------------------------------------------------------------------------- scoring now
    # The serving case: every lead is engaged after the whole history, so each total the history math
    # asks for is a lookup of fixed sums. ``lead_array`` and ``pair_array`` give exactly the numbers of
    # ``lead_features`` and ``pair_features``, as the float matrix LightGBM makes of those frames
    # (categoricals as codes, NaN when missing), without building frames. The lookups are built on first
    # use and are not pickled.

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_now_lookups", None)
        return state

    def scores_now(self, frame: Columns) -> bool:
        """Whether the lookup path applies: every engage date is after the last close (as ``as_of_totals``
        decides it), or the features have no history at all."""
        tables = self._now_tables()
        if tables is None:
            return False
        if not self.use_history_ or tables.last_event is None:
            return True
        engaged = np.asarray(frame["engage_date"])
        if engaged.dtype.kind != "M":
            return False
        known = engaged[~np.isnat(engaged)]
        return bool(len(known)) and bool(known.min() > tables.last_event)

    @property
    def lead_categories(self) -> list[list[Any]]:
        """Category lists of the categorical lead features, in column order (what LightGBM stored)."""
        return [list(self.categories_[column]) for column in self.categorical_]

    @property
    def pair_categories(self) -> list[list[Any]]:
        rep = [list(categories) for categories in self.rep_attribute_categories_.values()]
        if self.kind_ == "table":
            rep.append(list(self.rep_categories_))
        return [*self.lead_categories, *rep]

    def lead_array(self, frame: Columns, touches: pd.DataFrame | None = None) -> np.ndarray:
        """``lead_features(frame, touches)`` as LightGBM's float matrix, for leads that ``scores_now``.

        The engagement columns come from the same ``engagement_features`` call as in ``lead_features``."""
        tables = self._now_tables_for(frame)
        n = len(frame) if isinstance(frame, pd.DataFrame) else len(next(iter(frame.values())))
        names = self.lead_feature_names
        out = np.empty((n, len(names)))
        for position, column in enumerate(self.numeric_):
            out[:, position] = _numbers(frame[column])
        for position, column in enumerate(self.categorical_, start=len(self.numeric_)):
            codes = tables.category_codes[column]
            out[:, position] = [codes.get(value, np.nan) for value in _values(frame[column])]
        if self.use_history_:
            history = self._lead_history_from(self._now_totals(tables, frame, None, (n,)))
            position = {name: i for i, name in enumerate(names)}
            for name, values in history.items():
                if name in position:  # as ``lead_features`` keeps only the named columns
                    out[:, position[name]] = values
            latest = self.glm_.latest
            keys = {key: key_strings(_values(frame[key])) for key in self.segment_keys_}
            out[:, position["glm_lead_logit"]] = latest.lead_logit(keys) if latest else np.nan
        if self.engagement is not None:
            position = {name: i for i, name in enumerate(names)}
            at = np.asarray(frame["engage_date"], dtype="datetime64[ns]")
            for name, values in engagement_features(self.engagement, _values(frame["lead_id"]), at, touches).items():
                out[:, position[name]] = values
        return out

    def pair_array(self, frame: Columns, reps: Sequence[Any], lead_array: np.ndarray) -> np.ndarray:
        """``pair_features(frame, reps)`` as LightGBM's float matrix (lead-major rows), for leads that
        ``scores_now``; ``lead_array`` is this frame's ``lead_array``."""
        tables = self._now_tables_for(frame)
        reps = list(reps)
        n_leads, n_lead_features = lead_array.shape
        names = self.pair_feature_names
        position = {name: i for i, name in enumerate(names)}
        grid = np.empty((n_leads, len(reps), len(names)))
        grid[:, :, :n_lead_features] = lead_array[:, None, :]
        for attribute, codes in tables.rep_codes.items():
            grid[:, :, position[attribute]] = [codes.get(rep, np.nan) for rep in reps]
        if self.use_history_:
            totals = self._now_totals(tables, frame, key_strings(reps), (n_leads, len(reps)))
            # Each pair's lead features: contiguous copies of the lead columns, repeated over the reps.
            lead = {
                name: np.ascontiguousarray(grid[:, :, position[name]])
                for name in ("prior_rate", "lead_expected_rate", *(f"{key}_rate" for key in self.segment_keys_))
            }
            for name, values in self._rep_history_from(totals, lead).items():
                if name in position:
                    grid[:, :, position[name]] = values
            latest = self.glm_.latest
            if latest is None:
                grid[:, :, position["glm_rep_effect"]] = np.nan
            else:
                keys = {key: key_strings(_values(frame[key])) for key in self.segment_keys_}
                effect = latest.rep_effect_grid(keys, _numbers(frame["revenue"]), key_strings(reps))
                grid[:, :, position["glm_rep_effect"]] = effect
            grid[:, :, position["glm_pair_logit"]] = (
                grid[:, :, position["glm_lead_logit"]] + grid[:, :, position["glm_rep_effect"]]
            )
        return grid.reshape(n_leads * len(reps), len(names))

    def _now_totals(
        self, tables: _NowTables, frame: Columns, rep_keys: list[str] | None, shape: tuple[int, ...]
    ) -> Totals:
        """The ``totals`` the history math asks for, from the lookups: one row per lead, or (with
        ``rep_keys``) a (leads, reps) grid where the rep comes from the column and the rest from the lead."""
        lead_keys: dict[str, list[str]] = {}

        def codes(lookup: TotalsLookup, level: int, key: str) -> np.ndarray:
            if key == REP and rep_keys is not None:
                return lookup.codes(level, rep_keys)[None, :]
            if key not in lead_keys:
                lead_keys[key] = key_strings(_values(frame[key]))
            found = lookup.codes(level, lead_keys[key])
            return found if rep_keys is None else found[:, None]

        def totals(keys: Sequence[str], values: Sequence[str]) -> dict[str, np.ndarray]:
            if not keys:
                return {value: np.full(shape, total) for value, total in tables.overall(values).items()}
            lookup = tables.lookup(tuple(keys), values)
            found = lookup.sums(*(codes(lookup, level, key) for level, key in enumerate(keys)))
            # Contiguous arrays of the full shape, as the frame path's columns are.
            return {value: np.ascontiguousarray(np.broadcast_to(found[value], shape)) for value in values}

        return totals

    def _now_tables_for(self, frame: Columns) -> _NowTables:
        tables = self._now_tables()
        if tables is None or not self.scores_now(frame):
            raise ValueError("the lookup path only scores leads engaged after the whole history")
        return tables

    def _now_tables(self) -> _NowTables | None:
        """The lookups, built on first use; None when they could not answer as the frames do."""
        if "_now_lookups" not in self.__dict__:
            self.__dict__["_now_lookups"] = self._build_now_tables()
        return self.__dict__["_now_lookups"]

    def _build_now_tables(self) -> _NowTables | None:
        rep_codes = {}
        if len(self.rep_attributes_.columns):
            if not self.rep_attributes_.index.is_unique:
                return None  # ``Series.map`` refuses a duplicated rep: keep the frame path's behaviour
            for attribute, categories in self.rep_attribute_categories_.items():
                codes = _category_codes(categories)
                values = self.rep_attributes_[attribute]
                rep_codes[attribute] = {
                    rep: codes.get(value, np.nan) for rep, value in zip(values.index, values.tolist(), strict=True)
                }
        if self.kind_ == "table":
            rep_codes["rep_id"] = _category_codes(self.rep_categories_)
        category_codes = {column: _category_codes(self.categories_[column]) for column in self.categorical_}
        if not self.use_history_:
            return _NowTables(None, self.events_, {}, category_codes, rep_codes)
        return _NowTables(
            # NaT (no close date known) compares as never before: the frame path then applies.
            last_event=np.datetime64(self.events_[EVENT_TIME].max()) if len(self.events_) else None,
            events=self.events_,
            totals={keys: TotalsLookup(totals) for keys, totals in self.totals_.items()},
            category_codes=category_codes,
            rep_codes=rep_codes,
        )

    # ----------------------------------------------------------------------------------------- history
    def _queries(self, frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
        queries = fill_keys(frame[list(keys)], keys) if keys else pd.DataFrame(index=frame.index)
        queries[QUERY_TIME] = frame["engage_date"].to_numpy()
        return queries

    def _lead_history(self, frame: pd.DataFrame) -> pd.DataFrame:
        queries = self._queries(frame, self.segment_keys_)
        return pd.DataFrame(self._lead_history_from(self._as_of(queries)), index=frame.index)

    def _rep_history(self, source: pd.DataFrame, pair_reps: np.ndarray, pairs: pd.DataFrame) -> pd.DataFrame:
        keyed = source[self.segment_keys_].copy()
        keyed[REP] = pair_reps
        keyed["engage_date"] = source["engage_date"].to_numpy()
        queries = self._queries(keyed, [REP, *self.segment_keys_])
        return pd.DataFrame(self._rep_history_from(self._as_of(queries), pairs), index=queries.index)

    def _as_of(self, queries: pd.DataFrame) -> Totals:
        """The totals known at each query's time (``as_of_totals``), as arrays aligned with ``queries``."""

        def totals(keys: Sequence[str], values: Sequence[str]) -> dict[str, np.ndarray]:
            known = getattr(self, "totals_", {}).get(tuple(keys))
            found = as_of_totals(self.events_, queries, keys, values, known)
            return {value: found[value].to_numpy() for value in values}

        return totals

    # The history math, written once for both paths: ``totals`` answers either from the events as of
    # each lead's engage date (``_as_of``) or from the lookups when scoring after the whole history.
    def _lead_history_from(self, totals: Totals) -> dict[str, np.ndarray]:
        strength = self.rep_prior_strength
        out: dict[str, np.ndarray] = {}
        everything = totals([], ["n", "wins"])
        prior = shrunk_rate(everything["wins"], everything["n"], 0.5, 2.0)  # flat start before any history
        out["prior_rate"] = prior
        combined = logit(prior)
        for key in self.segment_keys_:
            found = totals([key], ["n", "wins"])
            rate = shrunk_rate(found["wins"], found["n"], prior, strength)
            out[f"{key}_rate"] = rate
            out[f"{key}_log_n"] = np.log1p(found["n"])
            if key in EXPECTATION_KEYS:
                combined = combined + logit(rate) - logit(prior)
        out["expected_rate"] = sigmoid(combined)
        account_effect = np.zeros_like(prior)
        if "account" in self.segment_keys_ and "expected" in self.events_:
            found = totals(["account"], ["n", "wins", "expected"])
            account_effect = relative_effect(
                found["wins"], found["n"], found["expected"], out["expected_rate"], strength
            )
        out["account_effect"] = account_effect
        out["lead_expected_rate"] = sigmoid(logit(out["expected_rate"]) + account_effect)
        return out

    def _rep_history_from(self, totals: Totals, lead: Columns) -> dict[str, np.ndarray]:
        """``lead`` holds each pair's lead features (``prior_rate``, ``{key}_rate``, ...)."""
        strength = self.prior_strength
        out: dict[str, np.ndarray] = {}
        prior = np.asarray(lead["prior_rate"], dtype=float)
        lead_expected = np.asarray(lead["lead_expected_rate"], dtype=float)

        overall = totals([REP], COUNTS)
        rep_rate = shrunk_rate(overall["wins"], overall["n"], prior, strength)
        out["rep_all_rate"] = rep_rate
        out["rep_all_residual"] = (overall["wins"] - overall["lead_expected"]) / (overall["n"] + strength)
        out["rep_all_log_n"] = np.log1p(overall["n"])
        rep_effect = relative_effect(overall["wins"], overall["n"], overall["lead_expected"], lead_expected, strength)
        out["rep_all_effect"] = rep_effect
        # An additive log-odds estimate of this rep on this lead: the lead's expectation, the rep's
        # overall effect, and how the rep does in each of the lead's dimensions beyond that.
        fit_logit = logit(lead_expected) + rep_effect
        for key in self.segment_keys_:
            found = totals([REP, key], COUNTS)
            # Thin data: start from the rep's overall rate moved by how this segment differs from all.
            key_rate = np.asarray(lead[f"{key}_rate"], dtype=float)
            segment_prior = sigmoid(logit(rep_rate) + logit(key_rate) - logit(prior))
            out[f"rep_{key}_rate"] = shrunk_rate(found["wins"], found["n"], segment_prior, strength)
            out[f"rep_{key}_residual"] = (found["wins"] - found["lead_expected"]) / (found["n"] + strength)
            out[f"rep_{key}_log_n"] = np.log1p(found["n"])
            effect = relative_effect(
                found["wins"], found["n"], found["lead_expected"], lead_expected, strength, prior_effect=rep_effect
            )
            out[f"rep_{key}_effect"] = effect
            if key in INTERACTION_KEYS:
                fit_logit = fit_logit + effect - rep_effect
        out["rep_fit_logit"] = fit_logit
        return out

def model_array(features: pd.DataFrame) -> np.ndarray:
    """A feature frame as LightGBM turns it into floats: categoricals as their codes, NaN when missing."""
    columns = [
        np.where(values.cat.codes.to_numpy() < 0, np.nan, values.cat.codes.to_numpy())
        if isinstance(values.dtype, pd.CategoricalDtype)
        else values.to_numpy(dtype=float)
        for _, values in features.items()
    ]
    return np.column_stack(columns).astype(float) if columns else np.empty((len(features), 0))


def _category_codes(categories: Sequence[Any]) -> dict[Any, float]:
    # ``pd.Categorical`` matches values to categories by equality, as a dict lookup does.
    return {category: float(code) for code, category in enumerate(categories)}


def _values(column: Any) -> list[Any]:
    return column.tolist() if hasattr(column, "tolist") else list(column)


def _numbers(column: Any) -> np.ndarray:
    values = np.asarray(column)
    if values.dtype.kind in "fiub":
        return values.astype(float)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
