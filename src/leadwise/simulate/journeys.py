"""Synthetic touchpoint journeys with planted, known channel effects.

Each channel has a known ``effect``: touching it at least once adds ``effect`` to the journey's
log-odds of winning (``logit P(win) = base_logit + Σ effect over distinct channels touched``).
How often a channel shows up is set apart from how much it matters, and by position: some channels
are common first touches but useless, some are rare late touches that matter. So an attribution
model can be checked against the truth: the data-driven ones should rank channels by ``effect``,
and first/last touch should be fooled by frequency and position.

Everything is drawn from one ``numpy`` generator seeded by ``seed``: same seed, same journeys.
The generator runs on given leads (``lead_id`` and the moment their journey ends, e.g. a CRM
world's ``engage_date``) so that journeys can be attached to a synthetic CRM world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadwise.marketing.touchpoints import TOUCH_TYPES


@dataclass(frozen=True)
class ChannelSpec:
    """How a channel appears in journeys and what it does.

    ``first``, ``middle`` and ``late`` are relative propensities to be the first touch, a touch in
    the middle and one of the last two touches. ``touch_types`` maps touch types to probabilities.
    """

    name: str
    effect: float
    first: float
    middle: float
    late: float
    cost_per_touch: float
    touch_types: tuple[tuple[str, float], ...]


DEFAULT_CHANNELS: tuple[ChannelSpec, ...] = (
    # common first touches that do nothing
    ChannelSpec("display", 0.0, 6.0, 1.5, 0.3, 2.0, (("visit", 1.0),)),
    ChannelSpec("social", 0.0, 4.0, 2.0, 0.5, 3.0, (("visit", 0.9), ("content_download", 0.1))),
    # common, modest
    ChannelSpec("organic_search", 0.3, 5.0, 2.0, 1.0, 0.0, (("visit", 0.7), ("content_download", 0.3))),
    ChannelSpec("paid_search", 0.4, 4.0, 1.5, 1.0, 8.0, (("visit", 0.8), ("content_download", 0.2))),
    ChannelSpec("email", 0.2, 0.5, 5.0, 1.5, 0.5, (("email_click", 0.8), ("content_download", 0.2))),
    # the classic last-click trap: people come back directly just before they buy, to no effect
    ChannelSpec("direct", 0.0, 0.5, 1.0, 5.0, 0.0, (("visit", 0.6), ("quote_request", 0.4))),
    # strong, in the middle and at the start of the funnel
    ChannelSpec("webinar", 0.8, 0.3, 2.0, 1.0, 20.0, (("webinar_attended", 1.0),)),
    # a strong channel that opens journeys (first-touch friendly, last-touch blind)
    ChannelSpec("event", 1.0, 2.5, 0.4, 0.1, 60.0, (("visit", 0.5), ("content_download", 0.5))),
    # rare late touches that matter most
    ChannelSpec("partner", 1.3, 0.1, 0.2, 0.8, 40.0, (("call", 0.6), ("quote_request", 0.4))),
    ChannelSpec("referral", 1.6, 0.1, 0.1, 0.7, 30.0, (("call", 0.5), ("demo_request", 0.5))),
)


@dataclass(frozen=True)
class JourneyParams:
    base_logit: float = -3.0
    mean_extra_touches: float = 3.0
    max_touches: int = 12
    mean_gap_days: float = 4.0
    mean_deal_value: float = 5_000.0
    deal_value_sigma: float = 0.6
    # Higher-value deals for strong channels would confound revenue with conversions; keep value
    # independent of channels so revenue credit tracks conversion credit.


@dataclass(frozen=True)
class SyntheticJourneys:
    """``touchpoints`` has the ``touchpoints.csv`` columns; ``outcomes`` is ``lead_id, converted,
    revenue, p_win, logit_effect``; ``truth`` is one row per channel with its planted ``effect``."""

    touchpoints: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame

    def single_table(self) -> pd.DataFrame:
        """The single-table form: every touch row carries its journey's outcome."""
        return self.touchpoints.merge(self.outcomes[["lead_id", "converted", "revenue"]], on="lead_id")


def _draw(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """Categorical draws by inverse CDF (vectorised ``choice`` with one probability row)."""
    cdf = np.cumsum(probabilities / probabilities.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def simulate_journeys(
    leads: pd.DataFrame | None = None,
    *,
    n: int = 10_000,
    channels: tuple[ChannelSpec, ...] = DEFAULT_CHANNELS,
    params: JourneyParams | None = None,
    seed: int = 0,
) -> SyntheticJourneys:
    """Journeys for ``leads`` (columns ``lead_id`` and ``engage_date``: the last touch falls on or
    before it) or, without leads, for ``n`` leads ``L000000…`` ending in 2024."""
    params = params or JourneyParams()
    rng = np.random.default_rng(seed)
    if leads is None:
        ends = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
        lead_ids = np.array([f"L{i:07d}" for i in range(n)], dtype=object)
        end_days = ends.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 86_400e9
    else:
        lead_ids = leads["lead_id"].astype(str).to_numpy(dtype=object)
        end_days = (
            pd.to_datetime(leads["engage_date"]).to_numpy(dtype="datetime64[ns]").astype(np.int64) / 86_400e9
        )
        n = len(lead_ids)

    k = len(channels)
    lengths = 1 + np.minimum(rng.poisson(params.mean_extra_touches, n), params.max_touches - 1)
    total = int(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)])
    journey = np.repeat(np.arange(n), lengths)
    position = np.arange(total) - starts[:-1][journey]
    length = lengths[journey]

    channel = np.empty(total, dtype=np.int64)
    for slot, propensity in (
        (position == 0, np.array([c.first for c in channels])),
        ((position > 0) & (position < length - 2), np.array([c.middle for c in channels])),
        ((position > 0) & (position >= length - 2), np.array([c.late for c in channels])),
    ):
        channel[slot] = _draw(rng, propensity, int(slot.sum()))

    type_index = {t: i for i, t in enumerate(TOUCH_TYPES)}
    type_code = np.empty(total, dtype=np.int64)
    for c, spec in enumerate(channels):
        here = channel == c
        type_names = [t for t, _ in spec.touch_types]
        drawn = _draw(rng, np.array([p for _, p in spec.touch_types]), int(here.sum()))
        type_code[here] = np.array([type_index[t] for t in type_names])[drawn]
    touch_type = np.asarray(TOUCH_TYPES, dtype=object)[type_code]

    # Time runs backwards from the journey's end: gaps are exponential, the last touch is at the end.
    gaps = rng.exponential(params.mean_gap_days, total)
    gaps[starts[1:] - 1] = 0.0
    remaining = np.append(np.cumsum(gaps[::-1])[::-1], 0.0)  # sum of gaps from each touch on
    days_before_end = remaining[:-1] - remaining[starts[1:]][journey]
    time_days = end_days[journey] - days_before_end

    touched = np.zeros((n, k), dtype=bool)
    touched[journey, channel] = True
    effects = np.array([c.effect for c in channels])
    logit_effect = touched.astype(float) @ effects
    p_win = 1.0 / (1.0 + np.exp(-(params.base_logit + logit_effect)))
    converted = rng.random(n) < p_win
    value = params.mean_deal_value * rng.lognormal(
        -0.5 * params.deal_value_sigma**2, params.deal_value_sigma, n
    )
    revenue = np.where(converted, np.round(value, 2), 0.0)

    names = np.asarray([c.name for c in channels], dtype=object)
    costs = np.array([c.cost_per_touch for c in channels])
    stamps = (np.round(time_days * 86_400).astype(np.int64)).astype("datetime64[s]")
    quarters = stamps.astype("datetime64[M]").astype(np.int64) // 3  # quarters since 1970
    # Campaign "<channel>_<year>Q<q>": labels are built once per distinct pair, not per touch.
    pair_codes, pairs = pd.factorize(channel * 100_000 + quarters)
    pair_labels = np.array(
        [f"{names[p // 100_000]}_{1970 + (p % 100_000) // 4}Q{1 + (p % 100_000) % 4}" for p in pairs],
        dtype=object,
    )
    touchpoints = pd.DataFrame(
        {
            "lead_id": lead_ids[journey],
            "timestamp": stamps.astype("datetime64[ns]"),
            "channel": names[channel],
            "touch_type": touch_type,
            "campaign": pair_labels[pair_codes],
            "cost": costs[channel],
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": lead_ids,
            "converted": converted,
            "revenue": revenue,
            "p_win": p_win,
            "logit_effect": logit_effect,
        }
    )
    truth = pd.DataFrame(
        {
            "channel": names,
            "effect": effects,
            "first": [c.first for c in channels],
            "middle": [c.middle for c in channels],
            "late": [c.late for c in channels],
            "cost_per_touch": costs,
        }
    ).set_index("channel")
    return SyntheticJourneys(touchpoints, outcomes, truth)
