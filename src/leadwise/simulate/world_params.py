"""The hidden parameters of a world: drawn once from its config, they define the true P(win)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_names import (
    PRODUCTS,
    REGIONS,
    SECTOR_WEIGHTS,
    SECTORS,
    SERIES,
    account_names,
    rep_names,
)

# Log-revenue distribution of accounts (bundled: median revenue ~1,200, from ~5 to ~12,000).
LOG_REVENUE_MEAN = float(np.log(1200.0))
LOG_REVENUE_SD = 1.1
_SENIORITY_YEARS = (0.5, 20.0)  # uniform; standardised with the uniform's own mean and sd


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
        return sigmoid(self.logit(account[:, None], product[:, None], reps[None, :]))

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


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def normalised(weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def draw_params(
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
    account_sector = rng_accounts.choice(n_sec, size=n_acc, p=normalised(SECTOR_WEIGHTS))
    log_revenue = rng_accounts.normal(LOG_REVENUE_MEAN, LOG_REVENUE_SD, n_acc)
    z_size = (log_revenue - LOG_REVENUE_MEAN) / LOG_REVENUE_SD
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
