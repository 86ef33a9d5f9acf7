"""The additive logit feature (``features.glm``): its L2 strength chosen by cross-validation on the training
deals only, and used by every snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadwise.features.glm import (
    LEAD_TERMS,
    REP,
    REP_MAIN_SCALE,
    REP_TERMS,
    STRENGTH_GRID,
    AdditiveLogit,
    GlmSnapshots,
    chosen_strength,
)

TERMS = (*LEAD_TERMS, *REP_TERMS)


def closed_deals(rep_sd: float, n: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """Deals of 30 reps on 40 accounts and 4 products, with planted rep x sector effects of spread
    ``rep_sd`` (log-odds) on top of account and product effects."""
    rng = np.random.default_rng(seed)
    reps, sectors = [f"rep{i}" for i in range(30)], ["a", "b", "c", "d"]
    account = rng.integers(0, 40, n)
    sector_of = rng.integers(0, len(sectors), 40)
    product = rng.integers(0, 4, n)
    rep = rng.integers(0, len(reps), n)
    logit = -0.5 + rng.normal(0, 0.5, 40)[account] + rng.normal(0, 0.5, 4)[product]
    logit += rng.normal(0, rep_sd, (len(reps), len(sectors)))[rep, sector_of[account]]
    engage = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")
    return pd.DataFrame(
        {
            "product": [f"p{k}" for k in product],
            "series": [f"s{k % 2}" for k in product],
            "sector": [sectors[s] for s in sector_of[account]],
            "size_band": "mid",
            "account": [f"acc{a}" for a in account],
            "sales_agent": [reps[r] for r in rep],
            "revenue": 1_000.0,
            "engage_date": engage,
            "close_date": engage + pd.Timedelta(days=20),
            "won": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


def test_the_strength_follows_how_much_the_reps_truly_differ() -> None:
    # Reps alike: their one-hot effects are noise, shrunk hard. Reps far apart: shrunk much less.
    alike, apart = closed_deals(rep_sd=0.05), closed_deals(rep_sd=1.5)
    c_alike = chosen_strength(alike, alike["won"].to_numpy(), TERMS, STRENGTH_GRID)
    c_apart = chosen_strength(apart, apart["won"].to_numpy(), TERMS, STRENGTH_GRID)
    assert c_alike in STRENGTH_GRID and c_apart in STRENGTH_GRID
    assert c_apart >= 8 * c_alike, (c_alike, c_apart)


def test_the_strength_is_chosen_on_the_training_deals_only_as_a_penalty_per_deal() -> None:
    deals = closed_deals(rep_sd=1.0)
    until = deals["engage_date"].quantile(0.7)
    fitted = GlmSnapshots().fit(deals, strength_until=until)
    # Outcomes after ``until`` (the validation's) rewritten: the strength does not move.
    later = deals["close_date"] >= until
    flipped = deals.assign(won=np.where(later, 1 - deals["won"], deals["won"]))
    assert GlmSnapshots().fit(flipped, strength_until=until).strength_ == fitted.strength_
    # It is what cross-validation picks on the deals closed before ``until``, per deal a fold fitted on.
    known = deals[deals["close_date"] < until]
    chosen = chosen_strength(known, known["won"].to_numpy(), TERMS, STRENGTH_GRID)
    assert fitted.strength_ == pytest.approx(chosen / (len(known) * 2 / 3))
    # The last snapshot (what serving reads) is the additive logit on every deal, at C in step with them.
    every = AdditiveLogit.fit(deals, deals["won"].to_numpy(), TERMS, fitted.strength_ * len(deals), REP_MAIN_SCALE)
    assert fitted.latest == every
    # ... whose reps' own effects are shrunk less than at one strength for all (their column scaled up).
    alike = AdditiveLogit.fit(deals, deals["won"].to_numpy(), TERMS, fitted.strength_ * len(deals))
    spread = {name: np.std(list(model.coefficients[("sales_agent",)].values())) for name, model in (("scaled", every), ("alike", alike))}
    assert spread["scaled"] > spread["alike"]


def test_a_given_strength_is_kept_and_too_few_deals_fall_back_to_c_one() -> None:
    deals = closed_deals(rep_sd=1.0)
    fixed = GlmSnapshots(C=0.5).fit(deals)
    assert fixed.strength_ is None
    assert fixed.latest == AdditiveLogit.fit(deals, deals["won"].to_numpy(), TERMS, 0.5)
    few = closed_deals(rep_sd=1.0, n=250)
    assert GlmSnapshots().fit(few).strength_ == pytest.approx(1 / 250)


def test_a_rep_with_few_deals_gets_the_wider_prior_only_in_proportion_to_the_median_reps() -> None:
    deals = closed_deals(rep_sd=0.0, seed=3)  # no rep truly differs from another
    # A new rep whose first 12 deals were all won by chance: under the wider prior for all it would stand
    # out as the best rep of all; in proportion to its deals it is shrunk about as the other terms are.
    lucky = deals.iloc[:12].assign(sales_agent="new rep", won=1, engage_date=deals["engage_date"].max())
    deals = pd.concat([deals, lucky], ignore_index=True)
    won = deals["won"].to_numpy()
    C = 0.25
    model = AdditiveLogit.fit(deals, won, TERMS, C, REP_MAIN_SCALE)
    alike = AdditiveLogit.fit(deals, won, TERMS, C)
    effects = model.coefficients[(REP,)]
    typical = np.median([abs(v) for rep, v in effects.items() if rep != "new rep"])
    # The established reps (about 200 deals each) keep the wider prior: their noise spreads wider than at x1.
    spread = {name: np.std([v for rep, v in m.coefficients[(REP,)].items() if rep != "new rep"])
              for name, m in (("scaled", model), ("alike", alike))}  # fmt: skip
    assert spread["scaled"] > 1.5 * spread["alike"]
    # The new rep's effect: 1 + 3 x 12/200 = 1.18 times wider than the other terms', close to x1's.
    assert effects["new rep"] < 1.5 * alike.coefficients[(REP,)]["new rep"]
    wide = _full_scale_effect(deals, won, C)
    assert wide > 1.5 * effects["new rep"] and wide > 5 * typical


def _full_scale_effect(deals: pd.DataFrame, won: np.ndarray, C: float) -> float:
    """The new rep's effect were every rep's own column scaled by ``REP_MAIN_SCALE`` (the rule before)."""
    from sklearn.linear_model import LogisticRegression

    from leadwise.features.glm import _Design

    design = _Design.of(deals, TERMS, REP_MAIN_SCALE)
    matrix = design.matrix.tolil()
    offset = sum(len(v) for t, v in zip(TERMS, design.vocabularies, strict=True) if TERMS.index(t) < TERMS.index((REP,)))
    reps = design.vocabularies[TERMS.index((REP,))]
    codes = pd.Index(reps).get_indexer(deals[REP].astype(str))
    for row, code in enumerate(codes):
        matrix[row, offset + code] = REP_MAIN_SCALE
    weights = LogisticRegression(C=C, max_iter=300, tol=1e-4).fit(matrix.tocsr(), won).coef_[0]
    return float(REP_MAIN_SCALE * weights[offset + list(reps).index("new rep")])
