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
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadwise.marketing.touchpoints import TOUCH_TYPES
from leadwise.simulate.journeys import DEFAULT_CHANNELS, JourneyParams, simulate_journeys
from leadwise.simulate.world_names import (
    FOREIGN_OFFICES,
    PRODUCT_SHARES,
    PRODUCTS,
    REGIONS,
    SECTOR_WEIGHTS,
    SECTORS,
    SERIES,
    account_names,
    manager_names,
    rep_names,
)

TRUTH_DIR = "truth"
STREAM_FILE = "stream.csv"
TOUCHPOINTS_FILE = "touchpoints.csv"  # beside the CRM files (history) and in truth/ (the stream)
P_WIN_FILE = "p_win.csv"
PARAMS_FILE = "world.json"

# Log-revenue distribution of accounts (bundled: median revenue ~1,200, from ~5 to ~12,000).
_LOG_REVENUE_MEAN = float(np.log(1200.0))
_LOG_REVENUE_SD = 1.1
_SENIORITY_YEARS = (0.5, 20.0)  # uniform; standardised with the uniform's own mean and sd
_ID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_ID_SPACE = 36**8


# ---------------------------------------------------------------------------------------------- config


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class ProductBase(_Part):
    """Product base rates: one logit offset per product, drawn N(0, sd)."""

    sd: float = Field(0.35, ge=0)


class AccountBase(_Part):
    """Account base rates: sector offset + size effect + home-region quality + the account's own latent."""

    sector_sd: float = Field(0.2, ge=0)
    size_effect: float = 0.25  # per sd of log revenue: big accounts win more (and go to senior reps)
    region_sd: float = Field(0.3, ge=0)  # quality of each home region's accounts
    latent_sd: float = Field(0.45, ge=0)
    subsidiary_share: float = Field(0.1, ge=0, le=0.5)  # subsidiaries share half their latent with the parent


class RepSkill(_Part):
    sd: float = Field(0.3, ge=0)


class SectorExpertise(_Part):
    """Each rep is strong in one or two sectors and weak in one other."""

    strong: float = 0.9
    weak: float = -0.8
    two_strong_share: float = Field(0.5, ge=0, le=1)


class SeriesSkill(_Part):
    sd: float = Field(0.35, ge=0)


class SizeSeniority(_Part):
    scale: float = 0.4


class Confounding(_Part):
    """How the history's deals were assigned. Off: every deal went to a rep drawn uniformly."""

    region_stickiness: float = Field(0.85, ge=0, le=1)  # share of an account's deals kept in its home region
    senior_big_accounts: float = Field(1.0, ge=0)  # log-weight tilt: z_size * z_senior


class Engagement(_Part):
    """Marketing journeys before each deal, with a planted effect on winning (see the module docstring)."""

    enabled: bool = False
    touched_share: float = Field(0.8, ge=0, le=1)  # deals with a journey; the rest came in cold
    channel_scale: float = 1.0  # multiplies the channel effects of simulate.journeys.DEFAULT_CHANNELS
    type_effects: dict[str, float] = Field(default_factory=lambda: {"demo_request": 0.8, "quote_request": 0.5})
    offset: float = -1.0  # keeps the win rate near the world's without engagement
    mean_extra_touches: float = Field(3.0, ge=0)
    mean_gap_days: float = Field(4.0, gt=0)
    max_lag_days: float = Field(3.0, gt=0)  # the last touch falls up to this long before the engage date

    @model_validator(mode="after")
    def _known_types(self) -> Engagement:
        unknown = sorted(set(self.type_effects) - set(TOUCH_TYPES))
        if unknown:
            raise ValueError(f"type_effects: unknown touch type {unknown[0]!r} (accepted: {', '.join(TOUCH_TYPES)})")
        return self

    def channel_effects(self) -> dict[str, float]:
        return {spec.name: self.channel_scale * spec.effect for spec in DEFAULT_CHANNELS}


class Noise(BaseModel):
    """The untidiness of a real pipeline."""

    model_config = ConfigDict(extra="forbid")
    open_share: float = Field(0.2, ge=0, lt=1)  # Engaging/Prospecting deals: no close, no outcome
    prospecting_share: float = Field(0.25, ge=0, le=1)  # of open deals; these have no engage date either
    open_missing_account: float = Field(0.65, ge=0, le=1)  # of open deals (bundled: ~68%)
    value_sd: float = Field(0.1, ge=0)  # log-normal spread of won values around the price
    value_size_effect: float = 0.05  # big accounts pay a little more, per sd of log revenue
    foreign_office_share: float = Field(0.16, ge=0, le=1)


class WorldConfig(BaseModel):
    """Everything that defines a world; the seed makes it reproducible byte for byte."""

    model_config = ConfigDict(extra="forbid")
    seed: int = Field(42, ge=0)
    n_history: int = Field(20_000, ge=100, le=5_000_000)
    n_stream: int = Field(2_000, ge=10, le=200_000)
    n_reps: int = Field(40, ge=2, le=2_000)
    n_accounts: int = Field(300, ge=5, le=100_000)
    start_date: date = date(2016, 1, 1)
    history_days: int = Field(730, ge=200)  # two years of engage dates
    stream_days: int = Field(90, ge=1)
    intercept: float = 0.6  # bundled: ~63% of closed deals are won
    product_base: ProductBase = ProductBase()
    account_base: AccountBase = AccountBase()
    rep_skill: RepSkill = RepSkill()
    sector_expertise: SectorExpertise = SectorExpertise()
    series_skill: SeriesSkill = SeriesSkill()
    size_seniority: SizeSeniority = SizeSeniority()
    confounding: Confounding = Confounding()
    noise: Noise = Noise()
    engagement: Engagement = Engagement()

    @model_validator(mode="after")
    def _enough_reps_per_region(self) -> WorldConfig:
        if self.n_reps < len(REGIONS):
            raise ValueError(f"n_reps must be at least {len(REGIONS)} (one per region)")
        return self

    @classmethod
    def from_file(cls, path: Path) -> WorldConfig:
        """Read a TOML or YAML file; unknown keys are errors (a typo must not silently do nothing)."""
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        return cls.model_validate(data or {})

    @property
    def end_date(self) -> date:
        return self.start_date + timedelta(days=self.history_days - 1)

    def document(self) -> dict[str, Any]:
        """The config as written to ``world.json``; without engagement, exactly as before it existed."""
        return self.model_dump(mode="json", exclude=None if self.engagement.enabled else {"engagement"})


# ---------------------------------------------------------------------------------------------- world


@dataclass(frozen=True)
class WorldParams:
    """The realised hidden parameters (arrays aligned to reps, accounts, products, sectors)."""

    reps: list[str]
    rep_region: np.ndarray  # int, index into REGIONS
    seniority_years: np.ndarray
    z_senior: np.ndarray
    skill: np.ndarray
    expertise: np.ndarray  # (n_reps, n_sectors)
    series_skill: np.ndarray  # (n_reps, n_series)
    accounts: list[str]
    account_sector: np.ndarray  # int, index into SECTORS
    account_home: np.ndarray  # int, index into REGIONS
    account_parent: np.ndarray  # index of the parent account, -1 for none
    z_size: np.ndarray
    account_base: np.ndarray
    account_activity: np.ndarray  # share of the deals each account brings
    product_base: np.ndarray
    product_series: np.ndarray  # int, index into SERIES
    intercept: float
    size_seniority: float

    def logit(self, account: np.ndarray, product: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """True log-odds of winning for aligned index arrays (broadcasting allowed)."""
        return (
            self.intercept
            + self.product_base[product]
            + self.account_base[account]
            + self.skill[rep]
            + self.expertise[rep, self.account_sector[account]]
            + self.series_skill[rep, self.product_series[product]]
            + self.size_seniority * self.z_size[account] * self.z_senior[rep]
        )

    def p_matrix(self, account: np.ndarray, product: np.ndarray) -> np.ndarray:
        """True P(win) of every rep for every lead: shape (n_leads, n_reps)."""
        reps = np.arange(len(self.reps))
        return _sigmoid(self.logit(account[:, None], product[:, None], reps[None, :]))

    def to_json(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "size_seniority": self.size_seniority,
            "products": {
                name: {"series": series, "base": round(float(b), 6)}
                for (name, series, _), b in zip(PRODUCTS, self.product_base, strict=True)
            },
            "reps": [
                {
                    "sales_agent": name,
                    "regional_office": REGIONS[self.rep_region[i]],
                    "seniority_years": round(float(self.seniority_years[i]), 3),
                    "skill": round(float(self.skill[i]), 6),
                    "strong_sectors": [SECTORS[s] for s in np.flatnonzero(self.expertise[i] > 0)],
                    "weak_sectors": [SECTORS[s] for s in np.flatnonzero(self.expertise[i] < 0)],
                    "series_skill": {
                        series: round(float(v), 6)
                        for series, v in zip(SERIES, self.series_skill[i], strict=True)
                    },
                }
                for i, name in enumerate(self.reps)
            ],
            "accounts": {
                name: {
                    "home_region": REGIONS[self.account_home[i]],
                    "base": round(float(self.account_base[i]), 6),
                    "z_size": round(float(self.z_size[i]), 6),
                }
                for i, name in enumerate(self.accounts)
            },
        }


@dataclass(frozen=True)
class World:
    """A generated world in memory: the four CRM frames, the stream and its true probabilities."""

    config: WorldConfig
    params: WorldParams
    pipeline: pd.DataFrame
    accounts: pd.DataFrame
    products: pd.DataFrame
    teams: pd.DataFrame
    stream: pd.DataFrame  # lead_id, account, product, engage_date, deal_value
    p_matrix: np.ndarray  # (n_stream, n_reps), columns in params.reps order
    history_p: np.ndarray  # true P(win) of each pipeline row with the rep it was assigned
    # With engagement on: touchpoints.csv rows (lead_id = opportunity_id) for the history and the stream,
    # and each row's planted log-odds (history in pipeline order, stream in stream order).
    touchpoints: pd.DataFrame | None = None
    stream_touchpoints: pd.DataFrame | None = None
    history_engagement: np.ndarray | None = None
    stream_engagement: np.ndarray | None = None


@dataclass(frozen=True)
class WorldTruth:
    """What ``load_truth`` reads back from ``DIR/truth``."""

    stream: pd.DataFrame
    reps: list[str]
    p_matrix: np.ndarray
    deal_value: np.ndarray
    params: dict[str, Any]
    touches: pd.DataFrame | None = None  # the stream's touchpoints (engagement worlds)


def generate_world(config: WorldConfig) -> World:
    """Draw a world. Pure and deterministic for ``config`` (seed included)."""
    streams = np.random.SeedSequence(config.seed).spawn(6)
    rng_params, rng_accounts, rng_assign, rng_outcome, rng_stream, rng_names = (
        np.random.default_rng(s) for s in streams
    )
    params = _draw_params(config, rng_params, rng_accounts, rng_names)
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


def write_world(world: World, out: Path) -> None:
    """Write the four CRM files and ``truth/`` under ``out`` (created if needed)."""
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    world.pipeline.to_csv(out / "sales_pipeline.csv", index=False)
    world.accounts.to_csv(out / "accounts.csv", index=False)
    world.products.to_csv(out / "products.csv", index=False)
    world.teams.to_csv(out / "sales_teams.csv", index=False)
    world.stream.to_csv(truth / STREAM_FILE, index=False, float_format="%.2f")
    if world.touchpoints is not None and world.stream_touchpoints is not None:
        stamp = "%Y-%m-%dT%H:%M:%S"
        world.touchpoints.to_csv(out / TOUCHPOINTS_FILE, index=False, date_format=stamp)
        world.stream_touchpoints.to_csv(truth / TOUCHPOINTS_FILE, index=False, date_format=stamp)
    n_leads, n_reps = world.p_matrix.shape
    pd.DataFrame(
        {
            "lead_id": np.repeat(world.stream["lead_id"].to_numpy(), n_reps),
            "sales_agent": np.tile(np.asarray(world.params.reps, dtype=object), n_leads),
            "p_win": world.p_matrix.ravel(),
        }
    ).to_csv(truth / P_WIN_FILE, index=False, float_format="%.6f")
    document = {
        "seed": world.config.seed,
        "config": world.config.document(),
        "params": world.params.to_json(),
    }
    if world.config.engagement.enabled:
        engagement = world.config.engagement
        document["params"]["engagement"] = {
            "channel_effects": engagement.channel_effects(),
            "type_effects": dict(engagement.type_effects),
            "offset": engagement.offset,
        }
    (truth / PARAMS_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load_truth(directory: Path | str) -> WorldTruth:
    """Read ``DIR/truth``: the stream, the (n_leads, n_reps) true P(win) aligned to ``sales_teams.csv``."""
    directory = Path(directory)
    truth = directory / TRUTH_DIR
    for path in (truth / STREAM_FILE, truth / P_WIN_FILE, truth / PARAMS_FILE, directory / "sales_teams.csv"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (not a world written by `leadwise synth`?)")
    stream = pd.read_csv(truth / STREAM_FILE, dtype={"lead_id": str, "account": str, "product": str})
    reps = pd.read_csv(directory / "sales_teams.csv", dtype=str)["sales_agent"].tolist()
    long = pd.read_csv(truth / P_WIN_FILE, dtype={"lead_id": str, "sales_agent": str})
    wide = long.pivot(index="lead_id", columns="sales_agent", values="p_win")
    p_matrix = wide.reindex(index=stream["lead_id"], columns=reps).to_numpy(dtype=float)
    if np.isnan(p_matrix).any():
        lead, rep = np.argwhere(np.isnan(p_matrix))[0]
        raise ValueError(
            f"{truth / P_WIN_FILE}: no p_win for lead_id {stream['lead_id'].iloc[lead]!r} "
            f"and sales_agent {reps[rep]!r}"
        )
    params = json.loads((truth / PARAMS_FILE).read_text(encoding="utf-8"))
    touches = None
    if (truth / TOUCHPOINTS_FILE).is_file():
        from leadwise.marketing.touchpoints import read_touchpoints

        touches = read_touchpoints(truth / TOUCHPOINTS_FILE)
    return WorldTruth(stream, reps, p_matrix, stream["deal_value"].to_numpy(dtype=float), params, touches)


# ------------------------------------------------------------------------------------------- internals


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_params(
    config: WorldConfig,
    rng: np.random.Generator,
    rng_accounts: np.random.Generator,
    rng_names: np.random.Generator,
) -> WorldParams:
    n_reps, n_acc, n_sec = config.n_reps, config.n_accounts, len(SECTORS)

    # Reps: contiguous blocks per region (the order of sales_teams.csv); every parameter is drawn even when
    # its part is off, so switching one part off leaves the others' values unchanged.
    rep_region = np.arange(n_reps) * len(REGIONS) // n_reps
    low, high = _SENIORITY_YEARS
    years = rng.uniform(low, high, n_reps)
    z_senior = (years - (low + high) / 2) / ((high - low) / np.sqrt(12))
    skill = rng.normal(0.0, 1.0, n_reps) * config.rep_skill.sd * config.rep_skill.enabled
    series_skill = (
        rng.normal(0.0, 1.0, (n_reps, len(SERIES))) * config.series_skill.sd * config.series_skill.enabled
    )
    expertise = np.zeros((n_reps, n_sec))
    shuffled = rng.permuted(np.tile(np.arange(n_sec), (n_reps, 1)), axis=1)
    two_strong = rng.random(n_reps) < config.sector_expertise.two_strong_share
    if config.sector_expertise.enabled:
        rows = np.arange(n_reps)
        expertise[rows, shuffled[:, 0]] = config.sector_expertise.strong
        expertise[rows[two_strong], shuffled[two_strong, 1]] = config.sector_expertise.strong
        expertise[rows, shuffled[:, -1]] = config.sector_expertise.weak

    ab = config.account_base
    sector_base = rng.normal(0.0, ab.sector_sd, n_sec)
    region_quality = rng.normal(0.0, ab.region_sd, len(REGIONS))
    product_base = rng.normal(0.0, config.product_base.sd, len(PRODUCTS)) * config.product_base.enabled

    # Accounts: the observable fields come from rng_accounts in _accounts_frame; the hidden ones here.
    account_sector = rng_accounts.choice(n_sec, size=n_acc, p=_normalised(SECTOR_WEIGHTS))
    log_revenue = rng_accounts.normal(_LOG_REVENUE_MEAN, _LOG_REVENUE_SD, n_acc)
    z_size = (log_revenue - _LOG_REVENUE_MEAN) / _LOG_REVENUE_SD
    account_home = rng_accounts.integers(0, len(REGIONS), n_acc)
    latent = rng_accounts.normal(0.0, 1.0, n_acc)
    parent = _draw_parents(n_acc, ab.subsidiary_share, rng_accounts)
    has_parent = parent >= 0
    # A subsidiary resembles its parent: half of its latent variance is the parent's.
    latent[has_parent] = np.sqrt(0.5) * latent[parent[has_parent]] + np.sqrt(0.5) * latent[has_parent]
    account_base = (
        sector_base[account_sector]
        + ab.size_effect * z_size
        + region_quality[account_home]
        + ab.latent_sd * latent
    ) * ab.enabled
    # Big accounts bring more deals; the gamma spread makes some accounts regulars, others rare.
    activity = rng_accounts.gamma(2.0, 1.0, n_acc) * np.exp(0.3 * z_size)

    return WorldParams(
        reps=rep_names(n_reps, rng_names),
        rep_region=rep_region,
        seniority_years=years,
        z_senior=z_senior,
        skill=skill,
        expertise=expertise,
        series_skill=series_skill,
        accounts=account_names(n_acc, rng_names),
        account_sector=account_sector,
        account_home=account_home,
        account_parent=parent,
        z_size=z_size,
        account_base=account_base,
        account_activity=activity / activity.sum(),
        product_base=product_base,
        product_series=np.array([SERIES.index(series) for _, series, _ in PRODUCTS]),
        intercept=config.intercept,
        size_seniority=config.size_seniority.scale * config.size_seniority.enabled,
    )


def _draw_parents(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Parent index per account (-1: none). Parents are never subsidiaries themselves."""
    is_sub = rng.random(n) < share
    is_sub[0] = False  # at least one possible parent
    candidates = np.flatnonzero(~is_sub)
    parent = np.full(n, -1)
    parent[is_sub] = candidates[rng.integers(0, len(candidates), is_sub.sum())]
    return parent


def _accounts_frame(
    config: WorldConfig, params: WorldParams, rng: np.random.Generator, rng_names: np.random.Generator
) -> pd.DataFrame:
    n = config.n_accounts
    revenue = np.exp(params.z_size * _LOG_REVENUE_SD + _LOG_REVENUE_MEAN)
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


def _normalised(weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


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
    product = rng.choice(len(PRODUCTS), size=n, p=_normalised(PRODUCT_SHARES))
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
    p = _sigmoid(logit + effect)
    won = coin < p

    stage = np.where(is_open, np.where(prospecting, "Prospecting", "Engaging"), np.where(won, "Won", "Lost"))
    close_value = np.where(is_open, np.nan, np.where(won, values, 0.0))
    frame = pd.DataFrame(
        {
            "opportunity_id": ids,
            "sales_agent": np.asarray(params.reps, dtype=object)[rep],
            "product": np.array([name for name, _, _ in PRODUCTS], dtype=object)[product],
            "account": np.where(no_account, None, np.asarray(params.accounts, dtype=object)[account]),
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


def _stream(
    config: WorldConfig, params: WorldParams, rng: np.random.Generator, rng_touch: np.random.Generator | None
) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame | None, np.ndarray | None]]:
    n = config.n_stream
    account = rng.choice(len(params.accounts), size=n, p=params.account_activity)
    product = rng.choice(len(PRODUCTS), size=n, p=_normalised(PRODUCT_SHARES))
    days = np.sort(rng.integers(0, config.stream_days, n)).astype(float) + config.history_days
    price = np.array([p for _, _, p in PRODUCTS], dtype=float)[product]
    # Mean of the log-normal won value (what a deal-value model should predict), not one draw.
    noise = config.noise
    mean_value = price * np.exp(noise.value_size_effect * params.z_size[account] + noise.value_sd**2 / 2)
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
    if rng_touch is None:
        return stream, params.p_matrix(account, product), (None, None)
    touches, effect = _journeys(config, stream["lead_id"].to_numpy(), days, rng_touch)
    reps = np.arange(len(params.reps))
    p_matrix = _sigmoid(params.logit(account[:, None], product[:, None], reps[None, :]) + effect[:, None])
    return stream, p_matrix, (touches, effect)
