"""What defines a synthetic world: :class:`WorldConfig` and its parts, each switchable (the model they
parametrise is described in ``leadwise.simulate.world``)."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadwise.marketing.touchpoints import TOUCH_TYPES
from leadwise.simulate.journeys import DEFAULT_CHANNELS
from leadwise.simulate.world_names import REGIONS


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


class Workload(_Part):
    """Stream leads that close after some days, and reps with limits (off by default: the stream has no
    close dates and a world is byte for byte what it was before this part existed).

    Each stream lead closes ``cycle_days_min``..``cycle_days_max`` days (uniform, whole days) after its
    engage date; a rep works at most ``max_open`` open leads at a time and takes at most ``weekly_quota``
    new leads per week of the stream (weeks counted from the stream's first day). The limits are the same
    for every rep; they are written to ``truth/world.json`` with the config."""

    enabled: bool = False
    cycle_days_min: int = Field(3, ge=1)
    cycle_days_max: int = Field(21, ge=1)
    max_open: int = Field(6, ge=1)
    weekly_quota: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _cycle_range(self) -> Workload:
        if self.cycle_days_max < self.cycle_days_min:
            raise ValueError("cycle_days_max must be at least cycle_days_min")
        return self


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
    workload: Workload = Workload()

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
        """The config as written to ``world.json``; without engagement or workload, exactly as before they
        existed."""
        off = {name for name in ("engagement", "workload") if not getattr(self, name).enabled}
        return self.model_dump(mode="json", exclude=off or None)
