"""Customer journeys: each lead's touches in time order, joined to its outcome.

Journeys are stored column-wise ("exploded"): one array entry per touch, journeys contiguous and in
time order, plus one entry per journey for the outcome. Every attribution model is then a handful
of numpy operations over these arrays, which is what makes a million journeys a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from leadwise.marketing.touchpoints import TOUCH_TYPES, TouchpointsError

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, eq=False)
class Journeys:
    """Ordered channel paths of many leads with their outcomes.

    ``channel[t]``, ``touch_type[t]``, ``time_days[t]`` describe touch ``t``; the touches of journey
    ``j`` are ``starts[j]:starts[j + 1]`` in time order. ``channels[channel[t]]`` is the channel name and
    ``TOUCH_TYPES[touch_type[t]]`` the touch type. ``time_days`` is days since the epoch.
    """

    ids: np.ndarray
    channels: tuple[str, ...]
    starts: np.ndarray
    channel: np.ndarray
    touch_type: np.ndarray
    time_days: np.ndarray
    converted: np.ndarray
    revenue: np.ndarray
    channel_cost: np.ndarray
    dropped_without_outcome: int = 0

    @property
    def n_journeys(self) -> int:
        return len(self.starts) - 1

    @property
    def n_touches(self) -> int:
        return len(self.channel)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @cached_property
    def journey(self) -> np.ndarray:
        """Journey index of every touch."""
        return np.repeat(np.arange(self.n_journeys, dtype=np.int64), self.lengths)

    @cached_property
    def position(self) -> np.ndarray:
        """0-based position of every touch inside its journey."""
        return np.arange(self.n_touches, dtype=np.int64) - self.starts[:-1][self.journey]

    @cached_property
    def _touch_pairs(self) -> np.ndarray:
        """Distinct (journey, channel) pairs encoded as ``journey * n_channels + channel``."""
        code = self.journey * self.n_channels + self.channel
        if self.n_journeys * self.n_channels <= 200_000_000:
            # A boolean matrix is linear time; a sort-based unique over millions of touches is not.
            seen = np.zeros(self.n_journeys * self.n_channels, dtype=bool)
            seen[code] = True
            return np.flatnonzero(seen)
        return np.unique(code)

    @cached_property
    def touched(self) -> np.ndarray:
        """(n_channels,) how many journeys touch each channel at least once."""
        return np.bincount(self._touch_pairs % self.n_channels, minlength=self.n_channels)

    @cached_property
    def touched_converted(self) -> np.ndarray:
        """(n_channels,) how many converted journeys touch each channel at least once."""
        pairs = self._touch_pairs
        won = self.converted[pairs // self.n_channels]
        return np.bincount(pairs[won] % self.n_channels, minlength=self.n_channels)

    def paths(self, sep: str = " > ") -> list[str]:
        """Journeys as path strings (for display and for the reference libraries in the tests)."""
        names = np.asarray(self.channels, dtype=object)[self.channel]
        return [sep.join(names[a:b]) for a, b in zip(self.starts[:-1], self.starts[1:], strict=True)]

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Sequence[str]],
        converted: Sequence[bool],
        revenue: Sequence[float] | None = None,
        *,
        touch_types: Sequence[Sequence[str]] | None = None,
        ages_days: Sequence[Sequence[float]] | None = None,
    ) -> Journeys:
        """Journeys written by hand: channel lists, outcomes, optionally touch types and each touch's age
        in days before the journey's last touch (for time decay). Touch types default to ``visit``."""
        rows = []
        for j, path in enumerate(paths):
            n = len(path)
            types = touch_types[j] if touch_types is not None else ["visit"] * n
            ages = ages_days[j] if ages_days is not None else [float(n - 1 - i) for i in range(n)]
            for i, channel in enumerate(path):
                rows.append(
                    (f"j{j}", pd.Timestamp("2024-01-01") - pd.Timedelta(days=ages[i]), channel, types[i])
                )
        touches = pd.DataFrame(rows, columns=["lead_id", "timestamp", "channel", "touch_type"])
        touches["cost"] = 0.0
        outcomes = pd.DataFrame(
            {
                "lead_id": [f"j{j}" for j in range(len(paths))],
                "converted": np.asarray(converted, dtype=bool),
                "revenue": np.zeros(len(paths)) if revenue is None else np.asarray(revenue, dtype=float),
            }
        )
        return build_journeys(touches, outcomes)


def build_journeys(touchpoints: pd.DataFrame, outcomes: pd.DataFrame) -> Journeys:
    """Join validated touchpoints to outcomes (``lead_id, converted, revenue``) and order each journey.

    Journeys without an outcome (open deals, or ids the pipeline does not know) are left out and
    counted in ``dropped_without_outcome``; outcomes without touches have no journey to credit.
    Touch costs count towards their channel even when the journey is left out: the money was spent.
    """
    if touchpoints.empty:
        raise TouchpointsError("no touchpoints to build journeys from")
    channel_codes, channel_names = pd.factorize(touchpoints["channel"], sort=True)
    channel_cost = np.bincount(
        channel_codes, weights=touchpoints["cost"].to_numpy(dtype=float), minlength=len(channel_names)
    )

    outcome_index = pd.Index(outcomes["lead_id"].astype(str))
    if outcome_index.has_duplicates:
        raise TouchpointsError("outcomes name the same lead more than once", column="lead_id")
    lead_ids = touchpoints["lead_id"].astype(str)
    position_in_outcomes = outcome_index.get_indexer(pd.Index(lead_ids))
    keep = position_in_outcomes >= 0
    if not keep.any():
        raise TouchpointsError(
            "no touchpoint id matches a closed (Won/Lost) deal of the pipeline", column="lead_id"
        )

    journey_codes, journey_ids = pd.factorize(lead_ids[keep], sort=False)
    times = touchpoints["timestamp"].to_numpy(dtype="datetime64[ns]")[keep]
    time_days = (times.astype(np.int64) / 1e9 / _SECONDS_PER_DAY).astype(float)
    # Stable order: by journey, then time; equal timestamps keep their file order.
    order = np.lexsort((time_days, journey_codes))
    journey_sorted = journey_codes[order]
    counts = np.bincount(journey_sorted, minlength=len(journey_ids))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    type_codes = pd.Categorical(touchpoints["touch_type"].to_numpy()[keep], categories=TOUCH_TYPES).codes
    first_touch_row = position_in_outcomes[keep][order][starts[:-1]]
    converted = outcomes["converted"].to_numpy(dtype=bool)[first_touch_row]
    revenue = outcomes["revenue"].to_numpy(dtype=float)[first_touch_row]

    n_dropped = int(pd.unique(lead_ids[~keep]).size) if (~keep).any() else 0
    return Journeys(
        ids=np.asarray(journey_ids, dtype=object),
        channels=tuple(str(c) for c in channel_names),
        starts=starts,
        channel=channel_codes[keep][order].astype(np.int32),
        touch_type=type_codes[order].astype(np.int8),
        time_days=time_days[order],
        converted=converted,
        revenue=np.where(converted, revenue, 0.0),
        channel_cost=channel_cost,
        dropped_without_outcome=n_dropped,
    )
