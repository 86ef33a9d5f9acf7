"""Distribution strategies: given the eligible reps of a pool, pick one (or a queue) and rank the rest.

Every strategy is a function ``(ctx: StrategyContext) -> Choice`` registered by name in ``STRATEGIES``.
Screening (inactive, out of office, hours, capacity, fairness) happened before; a strategy may narrow
further (territory, skill, owner, tier) and says why in ``Choice.excluded``. Every score is "higher is
better" and in a unit a person reads (open leads, hours, P(win), revenue), named by ``Choice.score_means``,
so the explanation's runner-up and margin say something: "one open lead fewer", "0.04 more P(win)".
Ties are broken first by the reps' soft ``prefers`` (a rep who prefers the lead goes first), then by the
order of the reps handed to ``_choice``, which a strategy sorts by its own tie-breaks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from leadwise.routing.domain import (
    CandidateScore,
    Exclusion,
    Lead,
    Loads,
    Objective,
    Outcome,
    Rep,
    RepLoad,
    Scores,
    Seniority,
)
from leadwise.routing.state import RoutingState

_EMPTY = RepLoad()
_EPOCH = datetime(1970, 1, 1).timestamp()


@dataclass
class StrategyContext:
    lead: Lead
    pool: str  # names the state keys (pointer, credits) so each pool keeps its own cycle
    pool_reps: Sequence[Rep]  # the whole pool in order, eligible or not
    eligible: Sequence[Rep]
    loads: Loads
    scores: Scores
    state: RoutingState
    now: datetime
    objective: Objective = "wins"
    params: Mapping[str, Any] = field(default_factory=dict)
    prices: Mapping[str, float] | None = None  # capacity prices λ for ``optimised``
    territories: Mapping[str, str] = field(default_factory=dict)  # country → territory/region
    # Reps whose soft ``prefers`` holds for the lead (``RepFilters.preferring``): ``optimised`` adds
    # ``prefers_bonus`` P(win) to their expected value; every strategy ranks them first among equal scores.
    preferred: frozenset[str] = frozenset()
    prefers_bonus: float = 0.0


@dataclass
class Choice:
    rep_id: str | None
    ranked: list[CandidateScore]  # the best EXPLAIN_TOP candidates, with model figures
    excluded: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outcome: Outcome = Outcome.assigned
    strategy: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # every eligible rep's score
    score_means: str = ""  # what a score is, in the user's units (for the explanation)


Strategy = Callable[[StrategyContext], Choice]

# Detailed candidates kept per decision; every eligible rep's score is kept in ``Choice.scores`` anyway.
# Building 200 detailed entries per decision would cost more than the decision itself.
EXPLAIN_TOP = 10


def _load(ctx: StrategyContext, rep: Rep) -> RepLoad:
    return ctx.loads.get(rep.id, _EMPTY)


def _choice(
    ctx: StrategyContext,
    reps: Sequence[Rep],
    scores: Sequence[float] | np.ndarray,
    price: Sequence[float] | np.ndarray | None = None,
    bonus: Sequence[float] | np.ndarray | None = None,
    **kw: Any,
) -> Choice:
    """Rank candidates by score; among equal scores a rep who prefers the lead first, then the order of
    ``reps``. Detail the top ones with their P(win) and expected value (P(win) × deal value: what the
    decision's own ``expected_value`` is), and the preference ``bonus`` a score includes."""
    if not reps:
        return Choice(rep_id=None, ranked=[], **kw)
    values = np.asarray(scores, dtype=float)
    if ctx.preferred:
        not_preferred = np.array([r.id not in ctx.preferred for r in reps])
        order = np.lexsort((np.arange(len(reps)), not_preferred, -values))
        first = order[0]
        if not not_preferred[first] and any(values[k] == values[first] and not_preferred[k] for k in order[1:]):
            # A rep tied with the preferred winner does not prefer the lead: the preference decided.
            kw["notes"] = [*kw.get("notes", []), f"tie broken by preference: rep {reps[first].id} prefers the lead"]
    else:
        order = np.argsort(-values, kind="stable")
    top = order[:EXPLAIN_TOP]
    ids = [reps[k].id for k in top]
    p = ctx.scores.expected_values(ids, "wins") if ctx.scores.has_rep_scores else None
    ev = ctx.scores.expected_values(ids, "revenue") if ctx.scores.has_rep_scores else None
    ranked = [
        CandidateScore(
            rep_id=ids[n],
            score=float(values[k]),
            p_win=None if p is None or math.isnan(p[n]) else float(p[n]),
            expected_value=None if ev is None or math.isnan(ev[n]) else float(ev[n]),
            price=None if price is None else float(price[k]),
            bonus=None if bonus is None or not bonus[k] else float(bonus[k]),
            open_leads=_load(ctx, reps[k]).open_leads,
        )
        for n, k in enumerate(top)
    ]
    everyone = dict(zip((r.id for r in reps), values.tolist(), strict=True))
    return Choice(rep_id=ranked[0].rep_id, ranked=ranked, scores=everyone, **kw)


# ------------------------------------------------------------------------------------ simple strategies


ROUND_ROBIN_STRATEGIES = frozenset({"round_robin", "weighted_round_robin"})
# ``params.mode`` of the round-robin strategies: "pointer" serves the pool in order from a stored
# pointer (weighted: smooth credits); "least_recent" serves the rep whose last lead is the oldest, so a
# rep back from away or out of office is served first instead of waiting for the pointer to come round.
ROUND_ROBIN_MODES = ("pointer", "least_recent")
# The wait of a rep never served: finite, so the explanation stays valid JSON, and longer than any real one.
NEVER_SERVED_HOURS = 1e6


def _least_recent(ctx: StrategyContext, *, weighted: bool) -> Choice:
    """The rep who waited longest since their last lead (never served: first, in pool order).

    Weighted, the wait is multiplied by the rep's weight: evenly spaced leads then go w_i : w_j. The
    time of a rep's last lead is the service's own (any pool), so no state is kept.
    """
    order = {r.id: k for k, r in enumerate(ctx.pool_reps)}

    def waited_hours(rep: Rep) -> float:
        last = _load(ctx, rep).last_assigned_at
        if last is None:
            return NEVER_SERVED_HOURS
        return max((ctx.now - last).total_seconds(), 0.0) / 3600 * (rep.weight if weighted else 1.0)

    def open_per_weight(rep: Rep) -> float:
        return _load(ctx, rep).open_leads / (rep.weight if weighted else 1.0)

    # Equal waits (leads routed at one instant): fewer open leads (per weight) first, then pool order.
    reps = sorted(ctx.eligible, key=lambda r: (-waited_hours(r), open_per_weight(r), order.get(r.id, 0)))
    means = "hours since the rep's last lead" + (" × weight" if weighted else "") + f" ({NEVER_SERVED_HOURS:.0e}: never served)"
    return _choice(ctx, reps, [waited_hours(r) for r in reps], score_means=means)


def _mode(ctx: StrategyContext) -> str:
    return str(ctx.params.get("mode", "pointer"))


def round_robin(ctx: StrategyContext) -> Choice:
    """Next eligible rep after the last one served, in pool order; the pointer lives in ``state``.

    ``mode = "least_recent"``: the rep whose last lead is the oldest instead (no pointer).
    """
    if _mode(ctx) == "least_recent":
        return _least_recent(ctx, weighted=False)
    key = f"rr:{ctx.pool}"
    order = [r.id for r in ctx.pool_reps]
    last = ctx.state.get(key)
    start = order.index(last) + 1 if last in order else 0
    position = {rid: (k - start) % len(order) for k, rid in enumerate(order)}
    scores = [0.0 - position[r.id] for r in ctx.eligible]  # 0.0 - : no "-0.0" in an explanation
    choice = _choice(ctx, ctx.eligible, scores, score_means="minus the places before the rep's turn (0: next)")
    if choice.rep_id is not None:
        ctx.state.set(key, choice.rep_id)
    return choice


def weighted_round_robin(ctx: StrategyContext) -> Choice:
    """Smooth weighted round-robin: over a cycle of Σweights picks, rep i is picked exactly w_i times.

    Credits persist in ``state``; only eligible reps earn credit, so a rep away for a while does not
    come back with a burst of owed leads. ``mode = "least_recent"``: the longest wait × weight instead.
    """
    if _mode(ctx) == "least_recent":
        return _least_recent(ctx, weighted=True)
    key = f"wrr:{ctx.pool}"
    credit: dict[str, float] = dict(ctx.state.get(key) or {})
    eligible = list(ctx.eligible)
    if not eligible:
        return Choice(rep_id=None, ranked=[])
    total = sum(r.weight for r in eligible)
    for rep in eligible:
        credit[rep.id] = credit.get(rep.id, 0.0) + rep.weight
    scores = [credit[r.id] for r in eligible]
    choice = _choice(ctx, eligible, scores, score_means="round-robin credit in leads (the highest is next)")
    assert choice.rep_id is not None  # eligible is not empty
    credit[choice.rep_id] -= total
    ctx.state.set(key, {k: round(v, 9) for k, v in credit.items()})
    return choice


LOAD_MEANS = "minus open leads (ties: fewer leads today, then the longest wait since the last lead)"


def _least_loaded_first(ctx: StrategyContext, reps: Sequence[Rep]) -> list[Rep]:
    """Fewest open leads, then fewest today, then the longest wait since the last lead (stable)."""

    def key(rep: Rep) -> tuple[int, int, float]:
        load = _load(ctx, rep)
        return load.open_leads, load.assigned_today, load.last_assigned_at.timestamp() if load.last_assigned_at else _EPOCH

    return sorted(reps, key=key)


def load_balancing(ctx: StrategyContext) -> Choice:
    """Fewest open leads; ties go to fewer today, then to whoever waited longest since their last lead."""
    reps = _least_loaded_first(ctx, ctx.eligible)
    return _choice(ctx, reps, [0.0 - _load(ctx, r).open_leads for r in reps], score_means=LOAD_MEANS)


def performance(ctx: StrategyContext) -> Choice:
    """Leads in proportion to historical win rate, floored at ``floor`` × the equal share.

    Deterministic deficit scheduling: the rep furthest below their target count gets the lead.
    """
    floor = float(ctx.params.get("floor", 0.5))
    reps = list(ctx.pool_reps)
    if not ctx.eligible:
        return Choice(rep_id=None, ranked=[])
    rates = np.array([r.win_rate if r.win_rate is not None else np.nan for r in reps], dtype=float)
    notes = []
    if np.all(np.isnan(rates)) or np.nansum(rates) <= 0:
        rates = np.ones(len(reps))
        notes.append("no historical win rates: equal shares")
    else:
        rates = np.where(np.isnan(rates), np.nanmean(rates), rates)
    target = rates / rates.sum()
    target = np.maximum(target, floor / len(reps))
    target = target / target.sum()
    key = f"perf:{ctx.pool}"
    counts: dict[str, int] = dict(ctx.state.get(key) or {})
    total = sum(counts.get(r.id, 0) for r in reps) + 1
    tgt = dict(zip((r.id for r in reps), target, strict=True))
    scores = [tgt[r.id] * total - counts.get(r.id, 0) for r in ctx.eligible]
    choice = _choice(
        ctx, ctx.eligible, scores, notes=notes, score_means="leads the rep is behind its win-rate share"
    )
    assert choice.rep_id is not None  # eligible is not empty
    counts[choice.rep_id] = counts.get(choice.rep_id, 0) + 1
    ctx.state.set(key, counts)
    return choice


def availability(ctx: StrategyContext) -> Choice:
    """The rep free soonest: inside working hours now beats later; ties go to the least loaded."""

    def free_at(rep: Rep) -> float:
        moment = rep.back_from_office(ctx.now)
        if rep.working_hours is not None:
            moment = rep.working_hours.next_start(moment)
        return (moment - ctx.now).total_seconds()

    # Reps free at the same moment are ordered as load balancing orders them.
    reps = _least_loaded_first(ctx, ctx.eligible)
    hours = [0.0 - free_at(r) / 3600 for r in reps]
    return _choice(ctx, reps, hours, score_means="minus the hours until the rep is free (0: now)")


# ----------------------------------------------------------------------------- narrowing strategies


def _narrow_then(ctx: StrategyContext, keep: Callable[[Rep], bool], why: str) -> Choice:
    """Keep the eligible reps that pass ``keep``, then let the ``then`` strategy (default load_balancing) pick."""
    kept = [r for r in ctx.eligible if keep(r)]
    excluded = [Exclusion(rep_id=r.id, reason=why) for r in ctx.eligible if not keep(r)]
    inner_name = str(ctx.params.get("then", "load_balancing"))
    inner = STRATEGIES[inner_name]
    # Own state key: a narrowed round-robin must not move the pool's main pointer.
    # The inner strategy keeps only a round-robin ``mode`` of the step's params (the rest are the narrowing's).
    inner_params = {"mode": ctx.params["mode"]} if "mode" in ctx.params else {}
    inner_ctx = StrategyContext(
        **{**ctx.__dict__, "eligible": kept, "params": inner_params, "pool": f"{ctx.pool}/{why.split(':')[0]}"}
    )
    choice = inner(inner_ctx)
    choice.strategy = ""  # the decision stays the narrowing strategy's; an inner fallback is in the notes
    choice.excluded = excluded + choice.excluded
    if kept:
        choice.notes.insert(0, f"then {inner_name} among {len(kept)} rep(s)")
    return choice


def territory(ctx: StrategyContext) -> Choice:
    """Reps whose region or territories cover the lead's country (mapped to a territory when a map is given)."""
    country = ctx.lead.location
    places = {p for p in (country, ctx.territories.get(country or ""), ctx.lead.region) if p}
    if not places:
        return Choice(rep_id=None, ranked=[], notes=["lead has no country or region"])

    def covers(rep: Rep) -> bool:
        return (rep.region in places) or bool(rep.territories & places)

    return _narrow_then(ctx, covers, f"territory: does not cover {sorted(places)}")


def specialist(ctx: StrategyContext) -> Choice:
    """Reps skilled in the lead's sector, product or product series."""
    lead = ctx.lead

    def covers(rep: Rep) -> bool:
        return rep.covers(sector=lead.sector, product=lead.product, series=lead.series)

    return _narrow_then(ctx, covers, f"skills: no {lead.sector!r}/{lead.product!r}/{lead.series!r}")


def account_owner(ctx: StrategyContext) -> Choice:
    """An existing customer's lead goes to the account's owner (if the owner is eligible)."""
    account = ctx.lead.account
    owners = [r for r in ctx.pool_reps if account is not None and account in r.accounts]
    if not owners:
        return Choice(rep_id=None, ranked=[], notes=[f"account {account!r} has no owner"])
    return _narrow_then(ctx, lambda r: account in r.accounts, "not the account owner")


DEFAULT_TIERS: tuple[dict[str, Any], ...] = (
    {"min_score": 0.8, "seniority": ["senior"]},
    {"min_score": 0.4, "seniority": ["mid"]},
    {"min_score": 0.0, "seniority": ["junior"]},
)


def priority_tiers(ctx: StrategyContext) -> Choice:
    """Lead score thresholds pick a seniority tier; below ``nurture_below`` the lead goes to nurture.

    When the tier for the score has no eligible rep, lower tiers are tried in turn (said in the notes).
    """
    score = ctx.scores.lead_score
    if score is None:
        choice = load_balancing(ctx)
        choice.notes.insert(0, "no lead score: fell back to load_balancing")
        choice.strategy = "load_balancing"
        return choice
    nurture_below = float(ctx.params.get("nurture_below", 0.2))
    if score < nurture_below:
        return Choice(
            rep_id=None,
            ranked=[],
            outcome=Outcome.nurture,
            notes=[f"lead score {score:.3f} < {nurture_below}: nurture"],
        )
    tiers = sorted(ctx.params.get("tiers", DEFAULT_TIERS), key=lambda t: -float(t["min_score"]))
    notes: list[str] = []
    excluded: list[Exclusion] = []
    for tier in tiers:
        if score < float(tier["min_score"]):
            continue
        levels = {Seniority(s) for s in tier["seniority"]}
        kept = [r for r in ctx.eligible if r.seniority in levels]
        if kept:
            inner = load_balancing(StrategyContext(**{**ctx.__dict__, "eligible": kept}))
            inner.excluded = excluded + [
                Exclusion(rep_id=r.id, reason=f"tier: not {sorted(levels)}")
                for r in ctx.eligible
                if r not in kept
            ]
            inner.notes = [*notes, f"lead score {score:.3f} ≥ {tier['min_score']}: {sorted(levels)} tier"]
            return inner
        notes.append(f"tier {sorted(levels)} has no eligible rep")
    return Choice(rep_id=None, ranked=[], notes=notes)


# ------------------------------------------------------------------------------ model-based strategies


def _model_values(ctx: StrategyContext) -> tuple[list[Rep], np.ndarray, list[Exclusion]] | None:
    if not ctx.scores.has_rep_scores:
        return None
    ev = ctx.scores.expected_values([r.id for r in ctx.eligible], ctx.objective)
    known = ~np.isnan(ev)
    excluded = [
        Exclusion(rep_id=r.id, reason="no model score for rep")
        for r, k in zip(ctx.eligible, known, strict=True)
        if not k
    ]
    reps = [r for r, k in zip(ctx.eligible, known, strict=True) if k]
    return reps, ev[known], excluded


def _fallback(ctx: StrategyContext, name: str) -> Choice:
    choice = load_balancing(ctx)
    choice.notes.insert(0, f"no model scores: {name} fell back to load_balancing")
    choice.strategy = "load_balancing"
    return choice


_OBJECTIVE_MEANS = {"wins": "P(win)", "revenue": "expected revenue (P(win) × deal value)"}


def best_fit(ctx: StrategyContext) -> Choice:
    """Highest expected value (wins or revenue, per the objective) from the models."""
    got = _model_values(ctx)
    if got is None:
        return _fallback(ctx, "best_fit")
    reps, ev, excluded = got
    return _choice(ctx, reps, ev, excluded=excluded, score_means=_OBJECTIVE_MEANS[ctx.objective])


def optimised(ctx: StrategyContext) -> Choice:
    """Expected value, plus a preferring rep's ``prefers_bonus``, minus each rep's capacity price λ (from
    the LP duals on the recent lead mix).

    A scarce, high-value rep carries a high λ, so they only win leads where their edge exceeds it.
    """
    got = _model_values(ctx)
    if got is None:
        return _fallback(ctx, "optimised")
    reps, ev, excluded = got
    notes = []
    if ctx.prices is None:
        notes.append("no capacity prices yet: λ = 0 (greedy on expected value)")
        lam = np.zeros(len(reps))
    else:
        lam = np.array([ctx.prices.get(r.id, 0.0) for r in reps], dtype=float)
    bonus = preference_bonus(ctx, reps)
    means = f"{_OBJECTIVE_MEANS[ctx.objective]} minus the rep's capacity price"
    if bonus.any():
        notes.append(
            f"prefers: {int(np.count_nonzero(bonus))} rep(s) prefer this lead: +{bonus.max():g} "
            f"{'expected revenue' if ctx.objective == 'revenue' else 'P(win)'} (prefers_bonus {ctx.prefers_bonus:g})"
        )
        means += ", plus its prefers bonus"
    return _choice(
        ctx, reps, ev + bonus - lam, price=lam, bonus=bonus, excluded=excluded, notes=notes, score_means=means
    )


def preference_bonus(ctx: StrategyContext, reps: Sequence[Rep]) -> np.ndarray:
    """What each rep's ``prefers`` adds to its expected value: ``prefers_bonus`` P(win) for a rep who
    prefers the lead (× the deal value under the revenue objective), 0 for the others."""
    per_rep = prefers_worth(ctx.prefers_bonus, ctx.objective, ctx.scores)
    return np.array([per_rep if r.id in ctx.preferred else 0.0 for r in reps], dtype=float)


def prefers_worth(prefers_bonus: float, objective: Objective, scores: Scores) -> float:
    """A preference in the objective's unit: ``prefers_bonus`` P(win), × the deal value for revenue
    (1 without a value model, as ``Scores.expected_values`` counts it)."""
    if objective == "revenue":
        return prefers_bonus * float(scores.deal_value if scores.deal_value is not None else 1.0)
    return prefers_bonus


STRATEGIES: dict[str, Strategy] = {
    "round_robin": round_robin,
    "weighted_round_robin": weighted_round_robin,
    "load_balancing": load_balancing,
    "performance": performance,
    "territory": territory,
    "specialist": specialist,
    "priority_tiers": priority_tiers,
    "account_owner": account_owner,
    "availability": availability,
    "best_fit": best_fit,
    "optimised": optimised,
}

MODEL_STRATEGIES = frozenset({"best_fit", "optimised", "priority_tiers"})


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
