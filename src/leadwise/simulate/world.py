"""Synthetic CRM worlds whose true win probabilities are known.

A world is the bundled four-file CRM schema (so ``leadwise train --data DIR`` reads it unchanged) plus a
``truth/`` folder: a stream of fresh leads with the true P(win) of every rep for every lead.

The truth is one logistic model, every part of it switchable in :class:`WorldConfig`::

    logit P(win | account a, product k, rep r) = intercept
        + product_base[k]                                   product base rate
        + account_base[a]                                   sector + size + home-region quality + own latent
        + skill[r]                                          rep general skill
        + expertise[r, sector[a]]                           each rep strong in 1-2 sectors, weak in one
        + series_skill[r, series[k]]                        rep x product series
        + size_seniority * z_size[a] * z_senior[r]          big accounts suit senior reps, small ones juniors

Seniority and an account's home region are hidden: they are not columns of the CRM files, the models have
to infer them from who wins what. The history's assignment is confounded (when switched on): an account's
deals mostly go to reps of its home region, and big accounts go to senior reps; home regions differ in
quality, big accounts win more, so a rep's raw win rate mixes lead quality with skill.

Randomness comes from one ``numpy`` ``SeedSequence`` split into independent streams (parameters, accounts,
history assignment, history outcomes, stream), so switching confounding off or changing the history size
leaves the planted parameters, the accounts and the stream unchanged.

**Engagement** (:class:`Engagement`, off by default): each deal may come with a marketing journey
(``touchpoints.csv``, and ``truth/touchpoints.csv`` for the stream) ending shortly before its engage date,
drawn with ``leadwise.simulate.journeys``' channel specs, and the journey adds known log-odds to the truth::

    + channel_scale * sum(effect[c] for each distinct channel c touched)
    + sum(type_effects[t] for each distinct touch type t touched) + offset

The effect does not depend on the rep: it moves P(win | lead), not who should work the lead. Its touches
come from their own random streams, so switching it on leaves every other draw unchanged.

**Workload** (:class:`leadwise.simulate.world_config.Workload`, off by default): the stream's leads get a
``close_date`` some days after their engage date (their own random stream), and every rep a limit on open
leads and a weekly quota (in the config). It changes no probability: it is what a capacity-aware policy
must plan around, and ``leadwise.simulate.live_replay`` holds the hindsight optimum under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from leadwise.simulate.journeys import JourneyParams, simulate_journeys
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_names import (
    FOREIGN_OFFICES,
    PRODUCT_SHARES,
    PRODUCTS,
    REGIONS,
    SECTORS,
    manager_names,
)
from leadwise.simulate.world_params import (
    LOG_REVENUE_MEAN,
    LOG_REVENUE_SD,
    WorldParams,
    draw_params,
    normalised,
    sigmoid,
)

_ID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_ID_SPACE = 36**8


@dataclass(frozen=True)
class World:
    """A generated world in memory: the four CRM frames, the stream and its true probabilities."""

    config: WorldConfig
    params: WorldParams
    pipeline: pd.DataFrame
    accounts: pd.DataFrame
    products: pd.DataFrame
    teams: pd.DataFrame
    stream: pd.DataFrame  # lead_id, account, product, engage_date, deal_value (+ close_date: workload)
    p_matrix: np.ndarray  # (n_stream, n_reps), columns in params.reps order
    history_p: np.ndarray  # true P(win) of each pipeline row with the rep it was assigned
    # With engagement on: touchpoints.csv rows (lead_id = opportunity_id) for the history and the stream,
    # and each row's planted log-odds (history in pipeline order, stream in stream order).
    touchpoints: pd.DataFrame | None = None
    stream_touchpoints: pd.DataFrame | None = None
    history_engagement: np.ndarray | None = None
    stream_engagement: np.ndarray | None = None

    def outcome_counts(self) -> tuple[int, int]:
        """Closed deals and won deals in the history."""
        stage = self.pipeline["deal_stage"]
        return int(stage.isin(["Won", "Lost"]).sum()), int((stage == "Won").sum())


def generate_world(config: WorldConfig) -> World:
    """Draw a world. Pure and deterministic for ``config`` (seed included)."""
    streams = np.random.SeedSequence(config.seed).spawn(6)
    rng_params, rng_accounts, rng_assign, rng_outcome, rng_stream, rng_names = (
        np.random.default_rng(s) for s in streams
    )
    params = draw_params(config, rng_params, rng_accounts, rng_names)
    accounts = _accounts_frame(config, params, rng_accounts, rng_names)
    teams = _teams_frame(params, rng_names)
    products = pd.DataFrame(PRODUCTS, columns=["product", "series", "sales_price"])
    if not config.engagement.enabled:
        pipeline, history_p, _ = _history(config, params, rng_assign, rng_outcome, None)
        stream, p_matrix, _ = _stream(config, params, rng_stream, None)
        return World(config, params, pipeline, accounts, products, teams, stream, p_matrix, history_p)
    # Their own streams (children 6 and 7 of the same seed): every other draw stays as it was.
    rng_touch_history, rng_touch_stream = (
        np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(key,))) for key in (6, 7)
    )
    pipeline, history_p, (touches, history_effect) = _history(
        config, params, rng_assign, rng_outcome, rng_touch_history
    )
    stream, p_matrix, (stream_touches, stream_effect) = _stream(config, params, rng_stream, rng_touch_stream)
    return World(
        config, params, pipeline, accounts, products, teams, stream, p_matrix, history_p,
        touches, stream_touches, history_effect, stream_effect,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- internals


def _accounts_frame(
    config: WorldConfig, params: WorldParams, rng: np.random.Generator, rng_names: np.random.Generator
) -> pd.DataFrame:
    n = config.n_accounts
    revenue = np.exp(params.z_size * LOG_REVENUE_SD + LOG_REVENUE_MEAN)
    employees = np.maximum(9, np.round(revenue * 2.3 * np.exp(rng.normal(0.0, 0.3, n)))).astype(int)
    foreign = rng.random(n) < config.noise.foreign_office_share
    office = np.where(
        foreign, np.array(FOREIGN_OFFICES)[rng.integers(0, len(FOREIGN_OFFICES), n)], "United States"
    )
    parent = params.account_parent
    names = np.asarray(params.accounts, dtype=object)
    return pd.DataFrame(
        {
            "account": names,
            "sector": np.array(SECTORS)[params.account_sector],
            "year_established": rng.integers(1979, 2018, n),
            "revenue": np.round(revenue, 2),
            "employees": employees,
            "office_location": office,
            "subsidiary_of": np.where(parent >= 0, names[np.maximum(parent, 0)], None),
        }
    )


def _teams_frame(params: WorldParams, rng_names: np.random.Generator) -> pd.DataFrame:
    n_reps = len(params.reps)
    per_region = max(1, round(n_reps / (len(REGIONS) * 6)))  # bundled: ~6 reps per manager
    managers = manager_names(per_region * len(REGIONS), rng_names)
    # Within a region, consecutive reps share a manager: the frame stays in params.reps order, so the columns
    # of p_matrix and the rows of sales_teams.csv line up.
    within = np.zeros(n_reps, dtype=int)
    for region in range(len(REGIONS)):
        members = np.flatnonzero(params.rep_region == region)
        within[members] = np.arange(len(members)) * per_region // len(members)
    manager_idx = params.rep_region * per_region + within
    return pd.DataFrame(
        {
            "sales_agent": params.reps,
            "manager": np.asarray(managers, dtype=object)[manager_idx],
            "regional_office": np.array(REGIONS)[params.rep_region],
        }
    )


def _assignment_cdf(config: WorldConfig, params: WorldParams) -> np.ndarray:
    """Per account, the cumulative distribution of the rep its history deals went to."""
    n_acc, n_reps = len(params.accounts), len(params.reps)
    conf = config.confounding
    if not conf.enabled:
        weights = np.ones((n_acc, n_reps))
    else:
        same_region = params.account_home[:, None] == params.rep_region[None, :]
        n_home = np.bincount(params.rep_region, minlength=len(REGIONS))[params.account_home][:, None]
        region_w = np.where(
            same_region, conf.region_stickiness / n_home, (1 - conf.region_stickiness) / (n_reps - n_home)
        )
        tilt = np.exp(conf.senior_big_accounts * params.z_size[:, None] * params.z_senior[None, :])
        weights = region_w * tilt
    cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _pick_reps(cdf: np.ndarray, account: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw for every row at once: rows of ``cdf`` offset by their index form one sorted array."""
    n_acc, n_reps = cdf.shape
    flat = (cdf + np.arange(n_acc)[:, None]).ravel()
    pos = np.searchsorted(flat, account + u, side="right")
    return np.clip(pos - account * n_reps, 0, n_reps - 1)


def _opportunity_ids(index: np.ndarray) -> np.ndarray:
    """8-character ids like the bundled ones, distinct for distinct indices.

    Two affine maps modulo 36**8 around a swap of the id's halves: each step is a bijection (multipliers
    coprime with 36), and the swap makes neighbouring indices look unrelated. Multipliers stay below 2**21
    so the products fit in int64.
    """
    code = (index.astype(np.int64) * 1_908_121 + 1_234_567) % _ID_SPACE
    half = 36**4
    code = (code % half) * half + code // half
    code = (code * 1_046_527 + 987_654_321) % _ID_SPACE
    digits = np.empty((len(index), 8), dtype=np.int64)
    for position in range(7, -1, -1):
        digits[:, position] = code % 36
        code //= 36
    chars = np.ascontiguousarray(_ID_ALPHABET[digits])
    return chars.view("S8").ravel().astype(str).astype(object)


def _iso(days: np.ndarray, start: date) -> np.ndarray:
    """Day offsets (NaN for none) as ISO date strings, None where missing."""
    out = np.full(len(days), None, dtype=object)
    ok = ~np.isnan(days)
    stamps = np.datetime64(start, "D") + days[ok].astype("timedelta64[D]")
    out[ok] = np.datetime_as_string(stamps, unit="D")
    return out


def _won_values(
    config: WorldConfig,
    params: WorldParams,
    account: np.ndarray,
    product: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    price = np.array([p for _, _, p in PRODUCTS], dtype=float)[product]
    noise = rng.normal(0.0, config.noise.value_sd, len(product))
    return np.round(price * np.exp(config.noise.value_size_effect * params.z_size[account] + noise))


def _history(
    config: WorldConfig,
    params: WorldParams,
    rng: np.random.Generator,
    rng_outcome: np.random.Generator,
    rng_touch: np.random.Generator | None,
) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame | None, np.ndarray | None]]:
    n = config.n_history
    account = rng.choice(len(params.accounts), size=n, p=params.account_activity)
    product = rng.choice(len(PRODUCTS), size=n, p=normalised(PRODUCT_SHARES))
    rep = _pick_reps(_assignment_cdf(config, params), account, rng.random(n))
    logit = params.logit(account, product, rep)

    # Outcomes and the noise of the pipeline come from their own stream: the confounding switch changes who
    # got a deal, not the coin flips.
    coin = rng_outcome.random(n)
    noise = config.noise
    is_open = rng_outcome.random(n) < noise.open_share
    prospecting = is_open & (rng_outcome.random(n) < noise.prospecting_share)
    no_account = is_open & (rng_outcome.random(n) < noise.open_missing_account)
    # Sales cycles like the bundled ones: a quarter close within ten days, the rest within ~140.
    quick = rng_outcome.random(n) < 0.25
    cycle = np.where(quick, rng_outcome.integers(1, 11, n), rng_outcome.integers(11, 139, n)).astype(float)
    last_day = config.history_days - 1
    engage = np.floor(rng_outcome.random(n) * (last_day - cycle + 1))
    # Open deals were engaged recently (they have not had time to close).
    engage_open = last_day - np.floor(rng_outcome.random(n) * 100)
    engage = np.where(is_open, engage_open, engage)
    close = np.where(is_open, np.nan, engage + cycle)
    engage[prospecting] = np.nan
    values = _won_values(config, params, account, product, rng_outcome)
    ids = _opportunity_ids(np.arange(n))
    touches, effect = None, np.zeros(n)
    if rng_touch is not None:  # journeys end before the engage date; prospects (no date) have none
        touches, effect = _journeys(config, ids, engage, rng_touch)
    p = sigmoid(logit + effect)
    won = coin < p

    stage = np.where(is_open, np.where(prospecting, "Prospecting", "Engaging"), np.where(won, "Won", "Lost"))
    close_value = np.where(is_open, np.nan, np.where(won, values, 0.0))
    frame = pd.DataFrame(
        {
            "opportunity_id": ids,
            "sales_agent": np.asarray(params.reps, dtype=object)[rep],
            "product": np.array([name for name, _, _ in PRODUCTS], dtype=object)[product],
            "account": np.where(no_account, np.full(len(account), None, dtype=object), np.asarray(params.accounts, dtype=object)[account]),
            "deal_stage": stage,
            "engage_date": _iso(engage, config.start_date),
            "close_date": _iso(close, config.start_date),
            "close_value": pd.array(close_value, dtype="Int64"),
        }
    )
    # Ordered by engage date like the bundled file; prospects (no date) last.
    order = np.lexsort((np.arange(n), np.nan_to_num(engage, nan=np.inf)))
    return frame.iloc[order].reset_index(drop=True), p[order], (touches, None if touches is None else effect[order])


def _journeys(
    config: WorldConfig, ids: np.ndarray, engage_days: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Touch journeys for the leads with an engage date (a ``touched_share`` of them) and each lead's
    planted log-odds (``offset`` included, for every lead: a cold lead has the offset alone)."""
    engagement = config.engagement
    n = len(ids)
    touched = ~np.isnan(engage_days) & (rng.random(n) < engagement.touched_share)
    lag = rng.uniform(1 / 24, engagement.max_lag_days, n)
    ends = pd.Timestamp(config.start_date) + pd.to_timedelta(engage_days[touched] - lag[touched], unit="D")
    journey = simulate_journeys(
        pd.DataFrame({"lead_id": ids[touched], "engage_date": ends}),
        params=JourneyParams(
            mean_extra_touches=engagement.mean_extra_touches, mean_gap_days=engagement.mean_gap_days
        ),
        seed=int(rng.integers(0, 2**63 - 1)),
    )
    touches = journey.touchpoints[["lead_id", "timestamp", "channel", "touch_type", "campaign", "cost"]]
    # The planted effect: each distinct channel and each distinct touch type a lead touched, once.
    position = pd.Index(ids).get_indexer(touches["lead_id"])
    effect = np.full(n, engagement.offset)
    for column, effects in (("channel", engagement.channel_effects()), ("touch_type", engagement.type_effects)):
        distinct = pd.DataFrame({"row": position, "value": touches[column].to_numpy()}).drop_duplicates()
        np.add.at(effect, distinct["row"].to_numpy(), distinct["value"].map(effects).fillna(0.0).to_numpy())
    return touches.reset_index(drop=True), effect


def _close_dates(config: WorldConfig, engage_days: np.ndarray) -> np.ndarray:
    """Each stream lead's close date, ``cycle_days_min``..``cycle_days_max`` days after it was engaged,
    from a random stream of its own (child 8 of the seed): every other draw stays as it was."""
    workload = config.workload
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(8,)))
    cycle = rng.integers(workload.cycle_days_min, workload.cycle_days_max + 1, len(engage_days))
    return _iso(engage_days + cycle, config.start_date)


def mean_deal_value(config: WorldConfig, params: WorldParams, account: np.ndarray, product: np.ndarray) -> np.ndarray:
    """The true value of each (account, product) deal if won: the mean of the log-normal won value (what a
    deal-value model should predict), not one draw."""
    price = np.array([p for _, _, p in PRODUCTS], dtype=float)[product]
    noise = config.noise
    return price * np.exp(noise.value_size_effect * params.z_size[account] + noise.value_sd**2 / 2)


def _stream(
    config: WorldConfig, params: WorldParams, rng: np.random.Generator, rng_touch: np.random.Generator | None
) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame | None, np.ndarray | None]]:
    n = config.n_stream
    account = rng.choice(len(params.accounts), size=n, p=params.account_activity)
    product = rng.choice(len(PRODUCTS), size=n, p=normalised(PRODUCT_SHARES))
    days = np.sort(rng.integers(0, config.stream_days, n)).astype(float) + config.history_days
    mean_value = mean_deal_value(config, params, account, product)
    stream = pd.DataFrame(
        {
            # Counted down from the top of the id space: never equal to a history id.
            "lead_id": _opportunity_ids(_ID_SPACE - 1 - np.arange(n)),
            "account": np.asarray(params.accounts, dtype=object)[account],
            "product": np.array([name for name, _, _ in PRODUCTS], dtype=object)[product],
            "engage_date": _iso(days, config.start_date),
            "deal_value": mean_value,
        }
    )
    if config.workload.enabled:
        stream["close_date"] = _close_dates(config, days)
    if rng_touch is None:
        return stream, params.p_matrix(account, product), (None, None)
    touches, effect = _journeys(config, stream["lead_id"].to_numpy(), days, rng_touch)
    reps = np.arange(len(params.reps))
    p_matrix = sigmoid(params.logit(account[:, None], product[:, None], reps[None, :]) + effect[:, None])
    return stream, p_matrix, (touches, effect)
