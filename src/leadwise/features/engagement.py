"""Point-in-time engagement features: what a lead did before the moment it is scored.

Pure: a touches frame (``lead_id, timestamp, channel, touch_type``, as ``read_touchpoints`` returns it) and,
per lead, its id and scoring moment (a deal's ``engage_date`` in training, the lead's engage date or now
when scoring) in; float columns out. Only touches *strictly before* the scoring moment count, so a touch
at or after it can never move a lead's features (the leakage guard in ``tests/features``).

Per lead: counts per touch type, counts per channel (the most frequent channels of the training touches,
the rest pooled as ``other``), the total, days since the last touch (NaN when none), touches in the last 7
and 30 days, and whether a revealing act (a demo or a quote request) happened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadwise.data.errors import DataValidationError
from leadwise.marketing.touchpoints import TOUCH_TYPES, normalise_touch_type

REVEALING_TYPES = ("demo_request", "quote_request")
MAX_CHANNELS = 8
_DAY_NS = 86_400e9


@dataclass(frozen=True)
class EngagementSpec:
    """Which channels get a column of their own (learnt from the training touches)."""

    channels: tuple[str, ...]

    @classmethod
    def from_touches(cls, touches: pd.DataFrame, max_channels: int = MAX_CHANNELS) -> EngagementSpec:
        counts = touches["channel"].astype(str).value_counts()
        # Most frequent first, ties by name: the same touches always give the same columns.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls(tuple(str(name) for name, _ in ranked[:max_channels]))

    @property
    def channel_columns(self) -> list[str]:
        columns: list[str] = []
        for position, channel in enumerate(self.channels):
            slug = re.sub(r"[^0-9a-z]+", "_", channel.lower()).strip("_") or "channel"
            name = f"touch_channel_{slug}"
            columns.append(name if name not in columns and slug != "other" else f"{name}_{position}")
        return columns

    @property
    def feature_names(self) -> list[str]:
        return [
            "touch_total",
            *(f"touch_{kind}" for kind in TOUCH_TYPES),
            *self.channel_columns,
            "touch_channel_other",
            "touch_days_since_last",
            "touch_last_7d",
            "touch_last_30d",
            "touch_revealing",
        ]


def touch_times(values: Any) -> np.ndarray:
    """Timestamps as naive UTC ``datetime64[ns]`` (aware ones converted, naive ones taken as they are)."""
    stamps = pd.to_datetime(pd.Series(values), utc=False)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    elif stamps.dtype == object:  # mixed aware and naive: take every aware one in UTC
        stamps = pd.to_datetime(stamps, utc=True).dt.tz_localize(None)
    return stamps.to_numpy(dtype="datetime64[ns]")


def engagement_features(
    spec: EngagementSpec, lead_ids: Sequence[Any], at: Any, touches: pd.DataFrame | None
) -> dict[str, np.ndarray]:
    """The features of ``spec.feature_names`` for each lead, from its touches strictly before ``at``.

    ``lead_ids`` and ``at`` (datetime64, NaT: no touch counts) are aligned per lead; touches link to leads
    by ``lead_id`` (a CRM touch names the opportunity). Touches of other leads are ignored.
    """
    n = len(lead_ids)
    names = spec.feature_names
    out = {name: np.zeros(n) for name in names}
    out["touch_days_since_last"] = np.full(n, np.nan)
    if touches is None or not len(touches) or not n:
        return out
    leads = pd.DataFrame(
        {"lead_id": pd.Series(list(lead_ids), dtype=object).astype(str), "_row": np.arange(n)}
    )
    linked = touches[["lead_id", "timestamp", "channel", "touch_type"]].copy()
    linked["lead_id"] = linked["lead_id"].astype(str)
    linked = linked.merge(leads, on="lead_id", how="inner")
    if not len(linked):
        return out
    rows = linked["_row"].to_numpy()
    moments = np.asarray(at, dtype="datetime64[ns]")[rows]
    stamps = touch_times(linked["timestamp"])
    before = ~np.isnat(moments) & ~np.isnat(stamps) & (stamps < moments)
    rows = rows[before]
    age = (moments[before] - stamps[before]).astype(np.int64) / _DAY_NS
    kinds = linked["touch_type"].astype(str).to_numpy()[before]
    channels = linked["channel"].astype(str).to_numpy()[before]

    def count(mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(rows, weights=None if mask is None else mask.astype(float), minlength=n).astype(
            float
        )

    out["touch_total"] = count()
    for kind in TOUCH_TYPES:
        out[f"touch_{kind}"] = count(kinds == kind)
    for channel, column in zip(spec.channels, spec.channel_columns, strict=True):
        out[column] = count(channels == channel)
    out["touch_channel_other"] = count(~np.isin(channels, list(spec.channels)))
    last = np.full(n, np.inf)
    np.minimum.at(last, rows, age)
    out["touch_days_since_last"] = np.where(np.isfinite(last), last, np.nan)
    out["touch_last_7d"] = count(age <= 7)
    out["touch_last_30d"] = count(age <= 30)
    out["touch_revealing"] = (count(np.isin(kinds, REVEALING_TYPES)) > 0).astype(float)
    return out


TOUCH_FIELDS = ("timestamp", "channel", "touch_type")


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def touches_frame(leads: Sequence[Mapping[str, Any]]) -> pd.DataFrame | None:
    """The leads' ``touches`` (items with ``timestamp``, ``channel``, ``touch_type``; mappings or objects)
    as the touchpoints frame the models read, timestamps as naive UTC; None when no lead has any.

    A lead is scored at its engage date (today when it has none), so, as in training, only touches
    before that day count.
    """
    rows = [
        (str(lead.get("lead_id")), *(_field(item, name) for name in TOUCH_FIELDS))
        for lead in leads
        for item in (lead.get("touches") or ())
    ]
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["lead_id", *TOUCH_FIELDS])
    try:
        frame["timestamp"] = touch_times(frame["timestamp"])
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"a touch's timestamp is not a date and time: {exc}", column="touches") from exc
    frame["touch_type"] = normalise_touch_type(frame["touch_type"].astype(str))
    frame["channel"] = frame["channel"].astype(str).str.strip()
    return frame
