"""Model-ready feature matrices for leads and for (lead, rep) pairs.

Lead features: the lead's own fields plus the point-in-time record of its segments (its account, sector,
product, series, size band). Pair features add the rep's record overall and in each of the lead's
segments, shrunk towards the rep's and the segment's rates when data is thin, and the rep's *residual*
record (wins minus the wins its leads were expected to bring). The residual is what separates a
skilled rep from a rep who was simply handed good leads: history is confounded by past assignment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadwise.data.training_data import TrainingData
from leadwise.features.history import (
    EVENT_TIME,
    QUERY_TIME,
    as_of_totals,
    fill_keys,
    logit,
    shrunk_rate,
    sigmoid,
)

REP = "sales_agent"
COUNTS = ["n", "wins", "expected"]
# Segments whose rates combine into a lead's expected win rate (account is too fine-grained to combine,
# product already refines series).
EXPECTATION_KEYS = ("sector", "product", "size_band")


class FeatureBuilder:
    """Fitted on a ``TrainingData``; then turns any prepared lead frame into model inputs.

    Follows scikit-learn's conventions: parameters in ``__init__``, state learnt in ``fit`` ends in ``_``.
    """

    def __init__(self, prior_strength: float = 10.0) -> None:
        self.prior_strength = prior_strength

    # ----------------------------------------------------------------------------------------- fitting
    def fit(self, data: TrainingData) -> FeatureBuilder:
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
            # What each closed deal was expected to bring, judged when it was engaged: the yardstick
            # for the rep residuals. Computed before "expected" exists on events (it is not needed).
            self.events_["expected"] = self._lead_history(closed)["expected_rate"].to_numpy()
            self.totals_ = {
                keys: self.events_.groupby(list(keys), sort=False)[COUNTS].sum()
                for keys in [(k,) for k in self.segment_keys_]
                + [(REP,)]
                + [(REP, k) for k in self.segment_keys_]
            }
        return self

    # ---------------------------------------------------------------------------------------- features
    @property
    def lead_feature_names(self) -> list[str]:
        history = []
        if self.use_history_:
            history = ["prior_rate", "expected_rate"]
            for key in self.segment_keys_:
                history += [f"{key}_rate", f"{key}_log_n"]
        return [*self.numeric_, *self.categorical_, *history]

    @property
    def pair_feature_names(self) -> list[str]:
        rep = list(self.rep_attributes_.columns)
        if self.kind_ == "table":
            rep.append("rep_id")
        if self.use_history_:
            for key in ["all", *self.segment_keys_]:
                rep += [f"rep_{key}_rate", f"rep_{key}_residual", f"rep_{key}_log_n"]
        return [*self.lead_feature_names, *rep]

    def lead_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per lead: its own fields plus its segments' record before its engage date."""
        out = pd.DataFrame(index=frame.index)
        for column in self.numeric_:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        for column in self.categorical_:
            out[column] = pd.Categorical(frame[column].astype("object"), categories=self.categories_[column])
        if self.use_history_:
            history = self._lead_history(frame)
            for column in history.columns:
                out[column] = history[column].to_numpy()
        return out[self.lead_feature_names]

    def pair_features(
        self, frame: pd.DataFrame, reps: Sequence[str] | None = None, lead_matrix: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Rows for (lead, rep) pairs.

        With ``reps`` None the rep is the frame's own ``sales_agent`` (training rows: one pair per lead);
        otherwise every lead is paired with every rep, lead-major (row ``i * len(reps) + j``).
        ``lead_matrix`` (this frame's ``lead_features``) may be passed in to avoid computing it twice.
        """
        leads = self.lead_features(frame) if lead_matrix is None else lead_matrix
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
        return pairs[self.pair_feature_names]

    # ----------------------------------------------------------------------------------------- history
    def _queries(self, frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
        queries = fill_keys(frame[list(keys)], keys) if keys else pd.DataFrame(index=frame.index)
        queries[QUERY_TIME] = frame["engage_date"].to_numpy()
        return queries

    def _lead_history(self, frame: pd.DataFrame) -> pd.DataFrame:
        strength = self.prior_strength
        queries = self._queries(frame, self.segment_keys_)
        out = pd.DataFrame(index=frame.index)
        everything = as_of_totals(self.events_, queries, [], ["n", "wins"])
        prior = shrunk_rate(everything["wins"], everything["n"], 0.5, 2.0)  # flat start before any history
        out["prior_rate"] = prior
        combined = logit(prior)
        for key in self.segment_keys_:
            totals = as_of_totals(
                self.events_, queries, [key], ["n", "wins"], getattr(self, "totals_", {}).get((key,))
            )
            rate = shrunk_rate(totals["wins"], totals["n"], prior, strength)
            out[f"{key}_rate"] = rate
            out[f"{key}_log_n"] = np.log1p(totals["n"].to_numpy())
            if key in EXPECTATION_KEYS:
                combined = combined + logit(rate) - logit(prior)
        out["expected_rate"] = sigmoid(combined)
        return out

    def _rep_history(self, source: pd.DataFrame, pair_reps: np.ndarray, pairs: pd.DataFrame) -> pd.DataFrame:
        strength = self.prior_strength
        keyed = source[self.segment_keys_].copy()
        keyed[REP] = pair_reps
        keyed["engage_date"] = source["engage_date"].to_numpy()
        queries = self._queries(keyed, [REP, *self.segment_keys_])
        out = pd.DataFrame(index=queries.index)
        prior = pairs["prior_rate"].to_numpy()

        overall = as_of_totals(self.events_, queries, [REP], COUNTS, self.totals_.get((REP,)))
        rep_rate = shrunk_rate(overall["wins"], overall["n"], prior, strength)
        out["rep_all_rate"] = rep_rate
        out["rep_all_residual"] = (overall["wins"] - overall["expected"]) / (overall["n"] + strength)
        out["rep_all_log_n"] = np.log1p(overall["n"].to_numpy())
        for key in self.segment_keys_:
            totals = as_of_totals(self.events_, queries, [REP, key], COUNTS, self.totals_.get((REP, key)))
            # Thin data: start from the rep's overall rate moved by how this segment differs from all.
            segment_prior = sigmoid(logit(rep_rate) + logit(pairs[f"{key}_rate"].to_numpy()) - logit(prior))
            out[f"rep_{key}_rate"] = shrunk_rate(totals["wins"], totals["n"], segment_prior, strength)
            out[f"rep_{key}_residual"] = (totals["wins"] - totals["expected"]) / (totals["n"] + strength)
            out[f"rep_{key}_log_n"] = np.log1p(totals["n"].to_numpy())
        return out
