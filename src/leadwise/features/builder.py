"""Model-ready feature matrices for leads and for (lead, rep) pairs.

Lead features: the lead's own fields plus the point-in-time record of its segments (its account, sector,
product, series, size band). Pair features add the rep's record overall and in each of the lead's
segments, shrunk towards the rep's and the segment's rates when data is thin, and the rep's *residual*
record (wins minus the wins its leads were expected to bring). The residual is what separates a
skilled rep from a rep who was simply handed good leads: history is confounded by past assignment.

Each feature is defined once, in one of the groups of the feature table (``LEAD_GROUPS``,
``PAIR_GROUPS``): a function of the leads' columns returning its features in column order. The names
of the features are what the groups return, so adding a feature is one edit. Training evaluates the
table over the history (each deal's record as of its engage date, ``as_of_totals``), serving over a few
leads engaged after it (fixed sums, read from lookups): only the ``Totals`` the groups ask differ. The
result is the float matrix LightGBM makes of a frame (categoricals as codes, NaN when missing);
``as_frame`` gives the frame the models are fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from leadwise.data.training_data import Columns, TrainingData
from leadwise.features.effects import empirical_bayes_strength, relative_effect
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
# A rep's record is shrunk as if this many deals at the prior had been seen, unless estimated ("auto").
FIXED_REP_STRENGTH = 10.0
# Segments whose rates combine into a lead's expected win rate (the account enters as an effect on top;
# product already refines series).
EXPECTATION_KEYS = ("sector", "product", "size_band")
# A category seen on fewer training rows than this is pooled with the other rare ones (and with values
# never seen in training) into ``OTHER_CATEGORY``: a level of a handful of leads teaches a tree noise.
MIN_CATEGORY_ROWS = 10
OTHER_CATEGORY = "(other)"
# Lead dimensions whose rep effects add up, in log-odds, to the rep-lead estimate ``rep_fit_logit``.
INTERACTION_KEYS = ("sector", "series", "size_band")
# (keys, values) -> the sums of ``values`` over the deals sharing each row's ``keys``, known at its time.
Totals = Callable[[Sequence[str], Sequence[str]], dict[str, np.ndarray]]
# Fixed-width float columns by name, in column order.
Features = dict[str, np.ndarray]


@dataclass(frozen=True)
class Pairs:
    """(lead, rep) rows: each row's lead (a row of the leads) and its rep (a position in ``reps``)."""

    lead: np.ndarray
    rep: np.ndarray
    reps: list[Any]

    @classmethod
    def grid(cls, n_leads: int, reps: Sequence[Any]) -> Pairs:
        """Every lead with every rep, lead-major (row ``i * len(reps) + j``)."""
        reps = list(reps)
        return cls(np.repeat(np.arange(n_leads), len(reps)), np.tile(np.arange(len(reps)), n_leads), reps)

    @classmethod
    def own(cls, reps: Sequence[Any]) -> Pairs:
        """Each lead with its own rep (the training rows)."""
        rows = np.arange(len(reps))
        return cls(rows, rows, [str(rep) for rep in reps])


@dataclass
class Leads:
    """The leads' columns with what several groups read from them, converted once."""

    columns: Columns
    n: int
    at: np.ndarray | None  # the engage dates (datetime64), None when the leads have none
    now: bool  # every lead engaged after the whole history: totals are lookups of fixed sums
    touches: pd.DataFrame | None = None  # the leads' marketing touches (``engagement_features``)
    _keys: dict[str, list[str]] = field(default_factory=dict)

    def keys(self, name: str) -> list[str]:
        """A key column as ``fill_keys`` strings (``MISSING_KEY`` for gaps)."""
        if name not in self._keys:
            self._keys[name] = key_strings(_values(self.columns[name]))
        return self._keys[name]


# ------------------------------------------------------------------------------------ the feature table
# A lead group: (builder, leads, totals per lead) -> features. A pair group also gets the pairs, their
# totals and the lead features (per lead). Each returns its features in column order.


def _own_fields(builder: FeatureBuilder, leads: Leads, totals: Totals) -> Features:
    out = {column: _numbers(leads.columns[column]) for column in builder.numeric_}
    for column in builder.categorical_:
        codes = builder._codes[column]
        out[column] = _coded(codes, _values(leads.columns[column]), codes.get(OTHER_CATEGORY, np.nan))
    return out


def _lead_history(builder: FeatureBuilder, leads: Leads, totals: Totals) -> Features:
    if not builder.use_history_:
        return {}
    keys = {key: np.asarray(leads.keys(key), dtype=object) for key in builder.segment_keys_}
    at = leads.at
    assert at is not None  # history is only used when the data has engage dates
    return builder._lead_history_from(totals, lambda: builder.glm_.lead_logit(keys, at))


def _engagement(builder: FeatureBuilder, leads: Leads, totals: Totals) -> Features:
    if builder.engagement is None:
        return {}
    at = np.asarray(leads.columns["engage_date"], dtype="datetime64[ns]")
    return engagement_features(builder.engagement, _values(leads.columns["lead_id"]), at, leads.touches)


def _rep_fields(builder: FeatureBuilder, leads: Leads, pairs: Pairs, totals: Totals, lead: Features) -> Features:
    codes = builder._rep_codes
    return {name: np.array([by_rep.get(rep, np.nan) for rep in pairs.reps])[pairs.rep] for name, by_rep in codes.items()}


def _rep_history(builder: FeatureBuilder, leads: Leads, pairs: Pairs, totals: Totals, lead: Features) -> Features:
    if not builder.use_history_:
        return {}
    names = ("prior_rate", "lead_expected_rate", *(f"{key}_rate" for key in builder.segment_keys_))
    out = builder._rep_history_from(totals, {name: lead[name][pairs.lead] for name in names})
    keys = {key: np.asarray(leads.keys(key), dtype=object) for key in builder.segment_keys_}
    assert leads.at is not None
    effect = builder.glm_.rep_effect(keys, _numbers(leads.columns["revenue"]), leads.at, pairs.lead,
                                     np.asarray(key_strings(pairs.reps), dtype=object), pairs.rep)  # fmt: skip
    out["glm_rep_effect"] = effect
    out["glm_pair_logit"] = lead["glm_lead_logit"][pairs.lead] + effect
    return out


LEAD_GROUPS: tuple[Callable[[FeatureBuilder, Leads, Totals], Features], ...] = (_own_fields, _lead_history, _engagement)
PAIR_GROUPS: tuple[Callable[[FeatureBuilder, Leads, Pairs, Totals, Features], Features], ...] = (_rep_fields, _rep_history)


@dataclass(frozen=True)
class _Lookups:
    """The fitted builder as dictionaries and arrays, built on first use (and not pickled)."""

    last_event: np.datetime64 | None  # None: no closed deal at all (every total is zero)
    events: pd.DataFrame
    totals: dict[tuple[str, ...], TotalsLookup]  # the fitted ``totals_`` by keys
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


# Built on first use from the fitted state; a refit and a pickle drop them.
_CACHED = ("_codes", "_rep_codes", "_lookups", "lead_feature_names", "pair_feature_names")


class FeatureBuilder:
    """Fitted on a ``TrainingData``; then turns any prepared leads into model inputs.

    Follows scikit-learn's conventions: parameters in ``__init__``, state learnt in ``fit`` ends in ``_``.
    """

    def __init__(
        self,
        prior_strength: float | Literal["auto"] = 10.0,
        rep_prior_strength: float = 3.0,
        glm_strength: float | Literal["auto"] = "auto",
    ) -> None:
        # ``prior_strength``: the weight, in deals, of the prior a rep's record is shrunk towards; "auto"
        # estimates it for a rep's overall record from how much the history's reps truly differ.
        self.prior_strength = prior_strength
        self.rep_prior_strength = rep_prior_strength
        # ``glm_strength``: the additive logit's inverse L2 strength (scikit-learn's C); "auto" chooses it by
        # cross-validation on the deals closed before ``strength_until``, as a penalty per deal.
        self.glm_strength = glm_strength

    # ----------------------------------------------------------------------------------------- fitting
    def fit(self, data: TrainingData, strength_until: pd.Timestamp | None = None) -> FeatureBuilder:
        """``strength_until``: with ``prior_strength="auto"``, only deals closed before it set the
        strengths (training passes the validation's start, so validation leads learn nothing from it)."""
        self._forget()
        self.rep_strength_: float | None = None  # the estimated weight of a rep's overall record
        self.kind_ = data.kind
        self.numeric_ = list(data.numeric_features)
        self.categorical_ = list(data.categorical_features)
        self.categories_, self.pooled_ = {}, {}
        for column in self.categorical_:
            counts = data.frame[column].dropna().astype(str).value_counts()
            rare = counts.index[counts < MIN_CATEGORY_ROWS]
            self.categories_[column] = sorted(counts.index[counts >= MIN_CATEGORY_ROWS])
            if len(rare):
                self.categories_[column].append(OTHER_CATEGORY)
                self.pooled_[column] = sorted(rare)
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
            for column, rate in (("expected", "expected_rate"), ("lead_expected", "lead_expected_rate")):
                self.events_[column] = self._lead_history_from(self._as_of(self._leads(closed, now=False)))[rate]
            self.totals_ = {
                keys: self.events_.groupby(list(keys), sort=False)[COUNTS].sum()
                for keys in [(k,) for k in self.segment_keys_]
                + [(REP,)]
                + [(REP, k) for k in self.segment_keys_]
            }
            keyed = fill_keys(closed[[*self.segment_keys_, REP]], [*self.segment_keys_, REP])
            known = [c for c in ("engage_date", "close_date", "won", "revenue") if c in closed]
            self.glm_ = GlmSnapshots(C=self.glm_strength).fit(keyed.join(closed[known]), strength_until)
            if self.prior_strength == "auto":
                self.rep_strength_ = self._estimated_rep_strength(strength_until)
        # Engagement features only when the history came with touches (and times to cut them at):
        # without touchpoints the feature columns are exactly those of a history without them.
        touches = getattr(data, "touches", None)
        self.engagement_ = (
            EngagementSpec.from_touches(touches) if touches is not None and len(touches) and data.has_time else None
        )
        return self

    def _estimated_rep_strength(self, until: pd.Timestamp | None) -> float | None:
        """The prior weight of a rep's overall record by empirical Bayes on the deals closed before ``until``
        (None when it cannot be estimated). Only the overall record is estimated: on five default worlds
        (``leadwise evaluate``, 20k history, ~400 deals a rep) the captured lift was 0.857 (fixed), 0.856
        (overall estimated), 0.852 (every segment level estimated too), each seed within ±0.02: with that
        much history the weight hardly matters; it decides for a rep with a handful of deals."""
        events = self.events_ if until is None else self.events_[self.events_[EVENT_TIME] < until]
        reps = events.groupby(REP, sort=False)[["wins", "n", "lead_expected"]].sum()
        return empirical_bayes_strength(
            reps["wins"].to_numpy(), reps["n"].to_numpy(), reps["lead_expected"].to_numpy()
        )

    def rep_strength(self, level: str) -> float:
        """The prior weight of a rep's record at ``level``: for "all" the estimated one when there is one,
        otherwise (and for every segment key) the fixed one."""
        estimated = getattr(self, "rep_strength_", None)  # absent from builders pickled before it existed
        if level == "all" and estimated is not None:
            return estimated
        return FIXED_REP_STRENGTH if self.prior_strength == "auto" else float(self.prior_strength)

    @property
    def engagement(self) -> EngagementSpec | None:
        """The engagement features' spec; None when trained without touchpoints."""
        return getattr(self, "engagement_", None)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in _CACHED:
            state.pop(name, None)
        return state

    def _forget(self) -> None:
        for name in _CACHED:
            self.__dict__.pop(name, None)

    # ---------------------------------------------------------------------------------------- features
    @cached_property
    def lead_feature_names(self) -> list[str]:
        """The lead groups' features, in column order (what they return for no lead)."""
        return list(self._lead_columns(self._leads(self._no_leads(), now=False)))

    @cached_property
    def pair_feature_names(self) -> list[str]:
        leads = self._leads(self._no_leads(), now=False)
        return [*self.lead_feature_names, *self._pair_columns(leads, Pairs.grid(0, []), self._lead_columns(leads))]

    @property
    def categories(self) -> dict[str, list[Any]]:
        """Categories of every categorical feature (its codes index them), lead and pair ones."""
        out = {column: list(self.categories_[column]) for column in self.categorical_}
        out.update({column: list(values) for column, values in self.rep_attribute_categories_.items()})
        if self.kind_ == "table":
            out["rep_id"] = list(self.rep_categories_)
        return out

    def lead_matrix(self, leads: Columns, touches: pd.DataFrame | None = None) -> np.ndarray:
        """One row per lead: its own fields, its segments' record before its engage date and (for a model
        trained with touchpoints) its engagement from ``touches`` before that date."""
        columns = self._lead_columns(self._leads(leads, touches=touches))
        return _stack(columns, self.lead_feature_names, _length(leads))

    def pair_matrix(self, leads: Columns, reps: Sequence[Any] | None, lead_matrix: np.ndarray) -> np.ndarray:
        """Rows for (lead, rep) pairs; ``lead_matrix`` is these leads' ``lead_matrix``.

        With ``reps`` None the rep is the leads' own ``sales_agent`` (training rows: one pair per lead);
        otherwise every lead is paired with every rep, lead-major (row ``i * len(reps) + j``).
        """
        state = self._leads(leads)
        pairs = Pairs.own(_values(leads[REP])) if reps is None else Pairs.grid(state.n, reps)
        lead = dict(zip(self.lead_feature_names, lead_matrix.T, strict=True))
        names = self.pair_feature_names[len(lead) :]
        pair_part = _stack(self._pair_columns(state, pairs, lead), names, len(pairs.lead))
        return np.hstack([lead_matrix[pairs.lead], pair_part])

    def lead_features(self, frame: pd.DataFrame, touches: pd.DataFrame | None = None) -> pd.DataFrame:
        """``lead_matrix`` as the frame the models are fitted on (categoricals as pandas categoricals)."""
        return self.as_frame(self.lead_matrix(frame, touches), self.lead_feature_names, frame.index)

    def pair_features(
        self,
        frame: pd.DataFrame,
        reps: Sequence[str] | None = None,
        lead_matrix: pd.DataFrame | None = None,
        touches: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """``pair_matrix`` as a frame; ``lead_matrix`` (this frame's ``lead_features``) may be passed in."""
        leads = self.lead_matrix(frame, touches) if lead_matrix is None else model_array(lead_matrix)
        return self.as_frame(self.pair_matrix(frame, reps, leads), self.pair_feature_names)

    def as_frame(self, matrix: np.ndarray, names: Sequence[str], index: pd.Index | None = None) -> pd.DataFrame:
        categories = self.categories
        columns: dict[str, Any] = {}
        for name, values in zip(names, matrix.T, strict=True):
            if name in categories:
                codes = np.where(np.isnan(values), -1, values).astype(np.int64)
                # pandas takes any list-like as ``categories`` (its docs: "index-like") and infers their
                # Index itself; the stubs accept only an Index, and building one here could infer differently.
                columns[name] = pd.Categorical.from_codes(codes, categories=cast(pd.Index, categories[name]))
            else:
                columns[name] = values
        return pd.DataFrame(columns, index=index, columns=list(names))

    def _lead_columns(self, leads: Leads) -> Features:
        totals = self._lookup(leads) if leads.now else self._as_of(leads)
        out: Features = {}
        for group in LEAD_GROUPS:
            out.update(group(self, leads, totals))
        return out

    def _pair_columns(self, leads: Leads, pairs: Pairs, lead: Features) -> Features:
        totals = self._lookup(leads, pairs) if leads.now else self._as_of(leads, pairs)
        out: Features = {}
        for group in PAIR_GROUPS:
            out.update(group(self, leads, pairs, totals, lead))
        return out

    # ------------------------------------------------------------------------------------------ inputs
    def _leads(self, columns: Columns, *, now: bool | None = None, touches: pd.DataFrame | None = None) -> Leads:
        at = None
        if "engage_date" in columns:
            engaged = np.asarray(columns["engage_date"])
            at = engaged if engaged.dtype.kind == "M" else engaged.astype("datetime64[ns]")
        if now is None:
            now = self._after_history(at)
        return Leads(columns, _length(columns), at, now, touches)

    def _after_history(self, at: np.ndarray | None) -> bool:
        """Whether every engage date comes after the last close (as ``as_of_totals`` decides it)."""
        if not self.use_history_:
            return True  # no totals are asked for
        last = self._lookups.last_event
        if last is None:
            return True
        if at is None:
            return False
        known = at[~np.isnat(at)]
        return bool(len(known)) and bool(known.min() > last)

    def _no_leads(self) -> dict[str, np.ndarray]:
        columns = {name: np.empty(0, dtype=object) for name in [*self.numeric_, *self.categorical_, *self.segment_keys_]}
        return {**columns, "lead_id": np.empty(0, dtype=object), "revenue": np.empty(0),
                "engage_date": np.empty(0, dtype="datetime64[ns]")}  # fmt: skip

    @cached_property
    def _codes(self) -> dict[str, dict[Any, float]]:
        """Categorical lead feature -> value -> code."""
        out = {column: _category_codes(self.categories_[column]) for column in self.categorical_}
        for column, rare in getattr(self, "pooled_", {}).items():
            out[column].update(dict.fromkeys(rare, out[column][OTHER_CATEGORY]))
        return out

    @cached_property
    def _rep_codes(self) -> dict[str, dict[Any, float]]:
        """Rep attribute (and ``rep_id``) -> rep -> code."""
        out = {}
        for attribute, categories in self.rep_attribute_categories_.items():
            codes = _category_codes(categories)
            values = self.rep_attributes_[attribute]
            out[attribute] = {rep: codes.get(v, np.nan) for rep, v in zip(values.index, values.tolist(), strict=True)}
        if self.kind_ == "table":
            out["rep_id"] = _category_codes(self.rep_categories_)
        return out

    # ------------------------------------------------------------------------------------------ totals
    @cached_property
    def _lookups(self) -> _Lookups:
        if not self.use_history_:
            return _Lookups(None, self.events_, {})
        return _Lookups(
            # NaT (no close date known) compares as never before: the as-of totals then apply.
            last_event=np.datetime64(self.events_[EVENT_TIME].max()) if len(self.events_) else None,
            events=self.events_,
            totals={keys: TotalsLookup(totals) for keys, totals in self.totals_.items()},
        )

    def _as_of(self, leads: Leads, pairs: Pairs | None = None) -> Totals:
        """The totals known at each row's engage date (``as_of_totals``): a row per lead, or per pair."""
        rows = slice(None) if pairs is None else pairs.lead

        def column(key: str) -> np.ndarray:
            if key == REP and pairs is not None:
                return np.asarray(key_strings(pairs.reps), dtype=object)[pairs.rep]
            return np.asarray(leads.keys(key), dtype=object)[rows]

        def totals(keys: Sequence[str], values: Sequence[str]) -> dict[str, np.ndarray]:
            queries = pd.DataFrame({key: column(key) for key in keys})
            queries[QUERY_TIME] = np.asarray(leads.at)[rows]
            known = getattr(self, "totals_", {}).get(tuple(keys))
            found = as_of_totals(self.events_, queries, keys, values, known)
            return {value: found[value].to_numpy() for value in values}

        return totals

    def _lookup(self, leads: Leads, pairs: Pairs | None = None) -> Totals:
        """The same totals for leads engaged after the whole history: lookups of the fitted sums."""
        tables = self._lookups
        shape = (leads.n,) if pairs is None else (len(pairs.lead),)

        def codes(lookup: TotalsLookup, level: int, key: str) -> np.ndarray:
            if key == REP and pairs is not None:
                return lookup.codes(level, key_strings(pairs.reps))[pairs.rep]
            found = lookup.codes(level, leads.keys(key))
            return found if pairs is None else found[pairs.lead]

        def totals(keys: Sequence[str], values: Sequence[str]) -> dict[str, np.ndarray]:
            if not keys:
                return {value: np.full(shape, total) for value, total in tables.overall(values).items()}
            lookup = tables.lookup(tuple(keys), values)
            return lookup.sums(*(codes(lookup, level, key) for level, key in enumerate(keys)))

        return totals

    # ----------------------------------------------------------------------------------------- history
    def _lead_history_from(self, totals: Totals, glm_logit: Callable[[], np.ndarray] | None = None) -> Features:
        """The lead history features; ``glm_logit`` (the snapshot models' lead logit) once those exist."""
        strength = self.rep_prior_strength
        everything = totals([], ["n", "wins"])
        prior = shrunk_rate(everything["wins"], everything["n"], 0.5, 2.0)  # flat start before any history
        found = {key: totals([key], ["n", "wins"]) for key in self.segment_keys_}
        rates = {key: shrunk_rate(f["wins"], f["n"], prior, strength) for key, f in found.items()}
        combined = logit(prior)
        for key in self.segment_keys_:
            if key in EXPECTATION_KEYS:
                combined = combined + logit(rates[key]) - logit(prior)
        out: Features = {"prior_rate": prior, "expected_rate": sigmoid(combined)}
        account_effect = np.zeros_like(prior)
        if "account" in self.segment_keys_ and "expected" in self.events_:
            account = totals(["account"], ["n", "wins", "expected"])
            account_effect = relative_effect(
                account["wins"], account["n"], account["expected"], out["expected_rate"], strength
            )
        out["account_effect"] = account_effect
        out["lead_expected_rate"] = sigmoid(logit(out["expected_rate"]) + account_effect)
        if glm_logit is not None:
            out["glm_lead_logit"] = glm_logit()
        for key in self.segment_keys_:
            out[f"{key}_rate"] = rates[key]
            out[f"{key}_log_n"] = np.log1p(found[key]["n"])
        return out

    def _rep_history_from(self, totals: Totals, lead: Columns) -> Features:
        """``lead`` holds each pair's lead features (``prior_rate``, ``{key}_rate``, ...)."""
        strength = self.rep_strength("all")
        out: Features = {}
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
            strength = self.rep_strength(key)
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


def _stack(columns: Features, names: Sequence[str], n: int) -> np.ndarray:
    out = np.empty((n, len(names)))
    for position, name in enumerate(names):
        out[:, position] = columns[name]
    return out


def _length(columns: Columns) -> int:
    if isinstance(columns, pd.DataFrame):
        return len(columns)
    return len(columns["lead_id"]) if "lead_id" in columns else len(next(iter(columns.values()), ()))


def _category_codes(categories: Sequence[Any]) -> dict[Any, float]:
    # ``pd.Categorical`` matches values to categories by equality, as a dict lookup does.
    return {category: float(code) for code, category in enumerate(categories)}


def _coded(codes: dict[Any, float], values: list[Any], unseen: float = np.nan) -> np.ndarray:
    """Codes of ``values``; ``unseen`` for a value training never saw, NaN for a missing one."""
    return np.array(
        [np.nan if _missing(value) else codes.get(value, unseen) if _hashable(value) else unseen for value in values],
        dtype=float,
    )


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _values(column: Any) -> list[Any]:
    return column.tolist() if hasattr(column, "tolist") else list(column)


def _numbers(column: Any) -> np.ndarray:
    values = np.asarray(column)
    if values.dtype.kind in "fiub":
        return values.astype(float)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
