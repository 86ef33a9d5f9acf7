"""Exploration and propensities: how a flow gives every eligible rep a known chance at a lead.

A greedy policy never shows the model what another rep would have done with a lead; the next training
history, made by the service's own decisions, then teaches it nothing new. A flow's ``[exploration]``
hands a share of the leads to a rep drawn from the step's candidates instead, and every decision records
its **propensity**: the probability that the policy, as configured and in the state it was in, picks that
rep for that lead. Off-policy evaluation and inverse-propensity training read it back.

    π(rep) = (1 − e) · [rep is the strategy's choice] + e · w(rep) / Σ w

``e`` is the lead's exploration probability: ``rate``, × ``priority_boost`` for a lead of a thin segment
or with a new rep among its candidates while the explored share of the flow's leads is below ``budget``
(at the budget the boost pauses, the base rate goes on: no candidate's propensity ever drops to 0).
``w`` is 1, or ``priority_boost`` for a new rep: new reps get their fair trial first. Candidates are those
the strategy ranked, after capacity and fairness screening, so exploring never breaks either.

``method = "thompson"`` replaces the uniform draw by Thompson sampling from the fit model's uncertainty:
rep ``r``'s P(win) for the lead is ``Beta(m·p, m·(1 − p))``, centred on the fit model's calibrated P(win)
``p`` with concentration ``m = prior_strength + n(r, segment)``, the leads of the lead's segment this pool
has routed to ``r`` (each one an outcome the next model learns from). A rep the service has not yet tried
in a segment (a new rep above all) is wide and wins many draws; one it has tried often is held to the
model's figure. The draw's weights ``w(rep)`` are P(rep has the highest sample), estimated from ``draws``
Monte Carlo samples (+½ per rep), mixed with a uniform draw in the share ``floor`` (so that no
candidate's propensity falls below e · floor / candidates, and inverse-propensity weights stay bounded),
and the explored rep is drawn from that mixture itself, so the stored propensity is the exact chance of
what was done. Without a P(win) for every candidate (a rules-only step) the draw is uniform.

The draw is a hash of the lead id, the attempt and the count of leads decided (reproducible: the same
state and lead give the same decision); the counters live in the ``RoutingState`` under the pool's key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadwise.routing.domain import Lead, RepId
from leadwise.routing.state import RoutingState


class Exploration(BaseModel):
    """``[exploration]`` of a flow (see the module's docstring for the probabilities)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["uniform", "thompson"] = "uniform"
    rate: float = Field(default=0.1, ge=0, le=1)
    budget: float | None = Field(default=None, gt=0, le=1)  # None: the boost is never paused
    new_rep_leads: int = Field(default=20, ge=0)  # a rep with fewer leads from this pool is new
    thin_segment_leads: int = Field(default=50, ge=0)  # a sector × product series with fewer is thin
    priority_boost: float = Field(default=2.0, ge=1)
    seed: str = ""  # changes every draw (two services on one stream explore differently)
    prior_strength: float = Field(default=2.0, gt=0)  # thompson: the Beta's concentration before any lead
    draws: int = Field(default=2000, ge=100, le=100_000)  # thompson: Monte Carlo samples per propensity
    # thompson: this share of the draw is uniform over the candidates, so no candidate's propensity falls
    # below e · floor / candidates (inverse-propensity weights stay bounded for off-policy evaluation).
    floor: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _budget_covers_rate(self) -> Exploration:
        if self.budget is not None and self.budget < self.rate:
            raise ValueError(f"budget {self.budget} is below rate {self.rate}: it would cap every lead")
        return self


@dataclass(frozen=True)
class Explored:
    """What exploration did to one decision."""

    rep_id: RepId
    propensity: float
    explored: bool
    note: str


def segment_of(lead: Lead) -> str:
    return f"{lead.sector or '?'}|{lead.series or lead.product or '?'}"


def _uniform(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Policy:
    """The exploring policy's distribution over the candidates of one lead, in one state."""

    chance: float  # e: the probability that the lead is explored
    probability: dict[RepId, float]  # π(rep), summing to 1
    weights: dict[RepId, float]  # the exploration draw's weights
    new_reps: frozenset[RepId]
    thin: bool
    spent: bool
    thompson: bool = False  # the draw's weights are Thompson sampling's (else uniform, new reps boosted)


def _thompson_weights(
    *, config: Exploration, p_win: Sequence[float], evidence: Sequence[int], key: str
) -> list[float] | None:
    """P(each candidate has the highest Beta sample), estimated from ``config.draws`` samples seeded by
    ``key``; None when a P(win) is missing."""
    p = np.asarray(p_win, dtype=float)
    if len(p) == 0 or not np.all(np.isfinite(p)):
        return None
    p = np.clip(p, 1e-4, 1 - 1e-4)
    m = config.prior_strength + np.asarray(evidence, dtype=float)
    rng = np.random.default_rng(int(_uniform(key, "thompson") * 2**63))
    winners = np.argmax(rng.beta(m * p, m * (1.0 - p), size=(config.draws, len(p))), axis=1)
    counts = np.bincount(winners, minlength=len(p)) + 0.5
    return list((1.0 - config.floor) * counts / counts.sum() + config.floor / len(p))


def policy(
    *,
    config: Exploration,
    lead: Lead,
    greedy: RepId,
    candidates: Sequence[RepId],
    counts: Mapping[str, Any],
    p_win: Sequence[float] | None = None,
    key: str = "",
) -> Policy:
    """π over ``candidates`` given the counters ``counts`` (as ``explore`` keeps them in the state);
    ``p_win`` (aligned to ``candidates``) is the fit model's, for ``method = "thompson"``, whose Monte
    Carlo draws are seeded by ``key``."""
    decided, explored_so_far = int(counts.get("decided", 0)), int(counts.get("explored", 0))
    rep_counts: Mapping[str, int] = counts.get("reps", {})
    segment_counts: Mapping[str, int] = counts.get("segments", {})
    segment = segment_of(lead)
    new = frozenset(r for r in candidates if rep_counts.get(r, 0) < config.new_rep_leads)
    thin = segment_counts.get(segment, 0) < config.thin_segment_leads
    spent = config.budget is not None and explored_so_far >= config.budget * (decided + 1)
    # A spent budget pauses the boost, never the base rate: every candidate keeps a positive propensity
    # (what off-policy evaluation needs), and as rate <= budget the explored share stays within it.
    boost = config.priority_boost if (new or thin) and not spent else 1.0
    e = 0.0 if len(candidates) < 2 else min(1.0, config.rate * boost)
    sampled = None
    if config.method == "thompson" and p_win is not None and e > 0:
        tried: Mapping[str, int] = counts.get("rep_segments", {}).get(segment, {})
        sampled = _thompson_weights(
            config=config, p_win=p_win, evidence=[tried.get(r, 0) for r in candidates], key=key
        )
    if sampled is not None:
        weights = dict(zip(candidates, sampled, strict=True))
    else:
        weights = {r: config.priority_boost if r in new else 1.0 for r in candidates}
    total = sum(weights.values())
    probability = {r: e * w / total for r, w in weights.items()}
    probability[greedy] = probability.get(greedy, 0.0) + 1.0 - e
    return Policy(
        chance=e, probability=probability, weights=weights, new_reps=new, thin=thin, spent=spent,
        thompson=sampled is not None,
    )  # fmt: skip


def explore(
    *,
    config: Exploration,
    lead: Lead,
    greedy: RepId,
    candidates: Sequence[RepId],
    state: RoutingState,
    key: str,
    attempt: int = 0,
    p_win: Sequence[float] | None = None,
) -> Explored:
    """Pick the rep (the strategy's ``greedy`` choice, or a draw over ``candidates``) and its propensity,
    and count the decision into the state under ``key``; ``p_win`` (aligned to ``candidates``) is the
    fit model's, for Thompson sampling."""
    counts: dict[str, Any] = dict(state.get(key) or {})
    decided = int(counts.get("decided", 0))
    draw = "\x1f".join((config.seed, lead.lead_id, str(attempt), str(decided)))
    pi = policy(config=config, lead=lead, greedy=greedy, candidates=candidates, counts=counts, p_win=p_win, key=draw)
    u = _uniform(draw)
    chosen, explored = greedy, u < pi.chance
    if explored:
        v = u / pi.chance  # uniform on [0, 1) again, given that the lead is explored
        total, acc = sum(pi.weights.values()), 0.0
        chosen = candidates[-1]
        for rep in candidates:
            acc += pi.weights[rep] / total
            if v < acc:
                chosen = rep
                break
    rep_counts: Mapping[str, int] = counts.get("reps", {})
    segment_counts: Mapping[str, int] = counts.get("segments", {})
    segment = segment_of(lead)
    counts["decided"] = decided + 1
    counts["explored"] = int(counts.get("explored", 0)) + explored
    counts["reps"] = {**rep_counts, chosen: rep_counts.get(chosen, 0) + 1}
    counts["segments"] = {**segment_counts, segment: segment_counts.get(segment, 0) + 1}
    if config.method == "thompson":  # the Beta's evidence: leads of this segment each rep was given
        tried: dict[str, dict[str, int]] = dict(counts.get("rep_segments", {}))
        in_segment = tried.get(segment, {})
        tried[segment] = {**in_segment, chosen: in_segment.get(chosen, 0) + 1}
        counts["rep_segments"] = tried
    state.set(key, counts)
    why = [f"{len(pi.new_reps)} new rep(s)"] if pi.new_reps else []
    if config.method == "thompson":
        why.append("Thompson draw" if pi.thompson else "uniform draw: no P(win) for every candidate")
    if pi.thin:
        why.append(f"thin segment {segment}")
    if pi.spent:
        note = f"exploration budget {config.budget:.0%} reached: base rate {pi.chance:.3f}, " + (
            f"{chosen} drawn from {len(candidates)} reps" if explored else "not explored"
        )
    elif explored:
        reasons = "; " + ", ".join(why) if why else ""
        note = f"explored (chance {pi.chance:.3f}{reasons}): {chosen} drawn from {len(candidates)} reps"
    else:
        note = f"not explored (chance {pi.chance:.3f})"
    return Explored(rep_id=chosen, propensity=float(pi.probability[chosen]), explored=explored, note=note)
