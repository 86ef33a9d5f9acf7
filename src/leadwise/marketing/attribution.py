"""Multi-touch attribution: how much of the conversions and revenue each channel earned.

Heuristic models give each touch of a converted journey a fixed weight (weights sum to 1 per
journey) and add the weights up by channel. Data-driven models compare journeys with each other:

* **Markov chain removal effect** (order k): states are the last k channels (the whole path when it
  is shorter than k), consecutive repeats of a state are collapsed (a self-loop does not change
  absorption probabilities, and ChannelAttribution drops them the same way). The conversion
  probability from ``(start)`` is solved exactly from the absorbing chain, ``(I - Q) x = r`` with a
  sparse LU; removing a channel sends every state that contains it to ``(null)``. Credit is the
  removal effect's share of all removal effects times total conversions (revenue: the same with
  revenue-weighted absorption).
* **Shapley value** on channel sets, the "data-driven" form of Dalessandro et al. also used by
  ``marketing-attribution-models``: for the set S of distinct channels of a journey, the value of a
  coalition T ⊆ S is the conversion rate of the journeys whose channel set is exactly T (0 if none
  was seen). Each channel of S gets its Shapley value's share of S's conversions and revenue.
  Exact by enumerating the 2^|S| sub-coalitions when |S| ≤ ``shapley_max_exact_channels``
  (15 by default); larger sets are estimated from random permutations and the result says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import splu

from leadwise.marketing.journeys import Journeys
from leadwise.marketing.touchpoints import TOUCH_TYPES

HEURISTIC_MODELS: tuple[str, ...] = (
    "first_touch",
    "last_touch",
    "linear",
    "u_shaped",
    "w_shaped",
    "time_decay",
)
DATA_DRIVEN_MODELS: tuple[str, ...] = ("markov_1", "markov_2", "shapley")
ALL_MODELS: tuple[str, ...] = HEURISTIC_MODELS + DATA_DRIVEN_MODELS
_MARKOV = re.compile(r"^markov(?:_(\d+))?$")


@dataclass(frozen=True)
class AttributionConfig:
    """Knobs of the models. The W-shaped milestones are read from touch types (see :func:`w_shaped`)."""

    half_life_days: float = 7.0
    # A lead exists once someone leaves their details: the first form-type touch creates it.
    lead_creation_types: tuple[str, ...] = (
        "content_download",
        "webinar_attended",
        "demo_request",
        "quote_request",
    )
    # An opportunity is opened by the revealing acts that also make a lead sales-ready.
    opportunity_creation_types: tuple[str, ...] = ("demo_request", "quote_request")
    shapley_max_exact_channels: int = 15
    shapley_permutations: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")
        for name in (*self.lead_creation_types, *self.opportunity_creation_types):
            if name not in TOUCH_TYPES:
                raise ValueError(f"'{name}' is not a touch type (accepted: {', '.join(TOUCH_TYPES)})")
        if not 1 <= self.shapley_max_exact_channels <= 20:
            raise ValueError("shapley_max_exact_channels must be between 1 and 20")
        if self.shapley_permutations < 1:
            raise ValueError("shapley_permutations must be at least 1")


@dataclass(frozen=True)
class AttributionResult:
    """Credit per channel under one model.

    ``table`` is indexed by channel with columns ``conversions`` and ``revenue`` (credit),
    ``share`` (of credited conversions), ``journeys`` and ``converted_journeys`` (journeys touching
    the channel), ``conversion_rate`` (converted / touching journeys), ``cost`` (spend recorded on
    the channel's touches) and ``cost_per_won`` (cost / credited conversions; NaN without credit).
    """

    model: str
    table: pd.DataFrame
    exact: bool = True
    note: str = ""
    removal_effects: pd.Series | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        table = self.table.reset_index()
        return {
            "model": self.model,
            "exact": self.exact,
            "note": self.note,
            "channels": table.replace({np.nan: None}).to_dict(orient="records"),
        }


def canonical_model_name(name: str) -> str:
    """``markov`` means ``markov_1``; other names pass through once known. Raises ValueError."""
    name = name.strip().lower().replace("-", "_")
    match = _MARKOV.match(name)
    if match:
        order = int(match.group(1) or 1)
        if order < 1:
            raise ValueError("a Markov model needs order 1 or more")
        return f"markov_{order}"
    if name in ALL_MODELS:
        return name
    raise ValueError(f"unknown attribution model '{name}' (known: {', '.join(ALL_MODELS)}, markov_<order>)")


def parse_models(spec: str | Sequence[str]) -> list[str]:
    """``"all"`` or a comma list of model names, in the given order, without repeats."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for name in names:
        if not name.strip():
            continue
        chosen = list(ALL_MODELS) if name.strip().lower() == "all" else [canonical_model_name(name)]
        out.extend(n for n in chosen if n not in out)
    if not out:
        raise ValueError("no attribution model named")
    return out


# ----------------------------------------------------------------------------- shared helpers


def _per_journey_normalised(journeys: Journeys, raw: np.ndarray) -> np.ndarray:
    totals = np.bincount(journeys.journey, weights=raw, minlength=journeys.n_journeys)
    return raw / totals[journeys.journey]


def _first_position_where(journeys: Journeys, flag: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Per journey, the position of the first flagged touch, else ``default``."""
    big = np.iinfo(np.int64).max
    candidate = np.where(flag, journeys.position, big)
    first = np.minimum.reduceat(candidate, journeys.starts[:-1])
    return np.where(first == big, default, first)


def _table(journeys: Journeys, conversions: np.ndarray, revenue: np.ndarray) -> pd.DataFrame:
    total = conversions.sum()
    touched = journeys.touched
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame(
            {
                "conversions": conversions,
                "revenue": revenue,
                "share": conversions / total if total > 0 else np.zeros_like(conversions),
                "journeys": touched,
                "converted_journeys": journeys.touched_converted,
                "conversion_rate": np.where(
                    touched > 0, journeys.touched_converted / np.maximum(touched, 1), np.nan
                ),
                "cost": journeys.channel_cost,
                "cost_per_won": np.where(conversions > 1e-12, journeys.channel_cost / conversions, np.nan),
            },
            index=pd.Index(journeys.channels, name="channel"),
        )
    return table


def _unique_inverse(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers below ``bound``.

    With a small bound a lookup table is linear time; sorting millions of codes is far slower.
    """
    if bound <= 1 << 24:
        present = np.zeros(bound, dtype=bool)
        present[values] = True
        uniques = np.flatnonzero(present)
        index = np.cumsum(present) - 1
        return uniques.astype(values.dtype), index[values]
    found = np.unique_inverse(values)
    return found.values, found.inverse_indices.ravel()


def _credit_touch_weights(journeys: Journeys, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add per-touch weights (summing to 1 per journey) up by channel, for conversions and revenue."""
    won = journeys.converted[journeys.journey]
    n = journeys.n_channels
    conversions = np.bincount(journeys.channel, weights=np.where(won, weights, 0.0), minlength=n)
    revenue = np.bincount(journeys.channel, weights=weights * journeys.revenue[journeys.journey], minlength=n)
    return conversions, revenue


# ----------------------------------------------------------------------------- heuristic weights


def first_touch_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    return (journeys.position == 0).astype(float)


def last_touch_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    return (journeys.position == journeys.lengths[journeys.journey] - 1).astype(float)


def linear_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    return 1.0 / journeys.lengths[journeys.journey]


def u_shaped_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    """40 % first touch, 40 % last touch, 20 % spread over the touches between.

    One touch takes everything; two touches split 50/50 (no middle to give the 20 % to)."""
    length = journeys.lengths[journeys.journey]
    position = journeys.position
    end = (position == 0) | (position == length - 1)
    middle = 0.2 / np.maximum(length - 2, 1)
    return np.select([length == 1, length == 2, end], [1.0, 0.5, 0.4], default=middle)


def w_shaped_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    """30 % each to first touch, lead creation and opportunity creation; 10 % over the other touches.

    Rule for the milestones, from touch types (``AttributionConfig``):
    * lead creation is the first touch of a lead-creation type (a form: content download, webinar,
      demo or quote request); a journey without one was created by its first touch;
    * opportunity creation is the first touch of an opportunity-creation type (demo or quote
      request) at or after lead creation; without one, the last touch (every journey here ends in
      an opportunity, since outcomes come from the sales pipeline).
    A touch holding several milestones collects 30 % for each. With no other touches, the 90 %
    is scaled up to 100 % (e.g. three milestone touches get a third each).
    """
    config = config or AttributionConfig()
    codes = [TOUCH_TYPES.index(t) for t in config.lead_creation_types]
    opp_codes = [TOUCH_TYPES.index(t) for t in config.opportunity_creation_types]
    position = journeys.position
    lead_pos = _first_position_where(
        journeys, np.isin(journeys.touch_type, codes), np.zeros(journeys.n_journeys)
    )
    lead_at = lead_pos[journeys.journey]
    last = journeys.lengths - 1
    opp_flag = np.isin(journeys.touch_type, opp_codes) & (position >= lead_at)
    opp_at = _first_position_where(journeys, opp_flag, last)[journeys.journey]
    roles = (position == 0).astype(float) + (position == lead_at) + (position == opp_at)
    others = np.bincount(journeys.journey, weights=(roles == 0).astype(float), minlength=journeys.n_journeys)
    raw = np.where(roles > 0, 0.3 * roles, 0.1 / np.maximum(others[journeys.journey], 1.0))
    return _per_journey_normalised(journeys, raw)


def time_decay_weights(journeys: Journeys, config: AttributionConfig | None = None) -> np.ndarray:
    """Weight halves every ``half_life_days`` before the journey's last touch (the conversion moment
    as far as touchpoints know it)."""
    config = config or AttributionConfig()
    last_time = journeys.time_days[journeys.starts[1:] - 1]
    age = last_time[journeys.journey] - journeys.time_days
    return _per_journey_normalised(journeys, np.exp2(-age / config.half_life_days))


_HEURISTICS: dict[str, Callable[[Journeys, AttributionConfig], np.ndarray]] = {
    "first_touch": first_touch_weights,
    "last_touch": last_touch_weights,
    "linear": linear_weights,
    "u_shaped": u_shaped_weights,
    "w_shaped": w_shaped_weights,
    "time_decay": time_decay_weights,
}


def heuristic(journeys: Journeys, model: str, config: AttributionConfig | None = None) -> AttributionResult:
    weights = _HEURISTICS[model](journeys, config or AttributionConfig())
    conversions, revenue = _credit_touch_weights(journeys, weights)
    return AttributionResult(model, _table(journeys, conversions, revenue))


# ----------------------------------------------------------------------------- Markov chains


@dataclass(frozen=True)
class MarkovChain:
    """Transition counts of an order-k chain over the observed states.

    Row/column 0 is ``(start)``, 1..S the states, S+1 ``(conversion)``, S+2 ``(null)``.
    ``state_channels`` (S, n_channels) says which channels each state contains.
    """

    counts: sparse.csr_matrix
    revenue_at_conversion: np.ndarray
    state_codes: np.ndarray
    state_channels: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.state_codes)


def markov_chain(journeys: Journeys, order: int = 1) -> MarkovChain:
    """Count transitions between order-``order`` states, vectorised over all touches."""
    n = journeys.n_channels
    base = n + 1
    if order < 1:
        raise ValueError("a Markov model needs order 1 or more")
    if order * math.log2(base) >= 62:
        raise ValueError(f"order {order} over {n} channels is too many states to encode")
    position = journeys.position
    length = journeys.lengths[journeys.journey]
    # A window starts at every position leaving `order` touches; a shorter path is a single state.
    starts_window = position <= np.maximum(length - order, 0)
    touch_index = np.arange(journeys.n_touches)
    code = np.zeros(journeys.n_touches, dtype=np.int64)
    for d in range(order):
        digit = journeys.channel[np.minimum(touch_index + d, journeys.n_touches - 1)].astype(np.int64) + 1
        code += np.where(position + d < length, digit, 0) * base**d
    code = code[starts_window]
    journey = journeys.journey[starts_window]
    # Collapse repeats of a state: self-loops do not change absorption probabilities.
    new_journey = np.ones(len(code), dtype=bool)
    new_journey[1:] = journey[1:] != journey[:-1]
    keep = new_journey.copy()
    keep[1:] |= code[1:] != code[:-1]
    code, journey, new_journey = code[keep], journey[keep], new_journey[keep]

    state_codes, inverse = _unique_inverse(code, base**order)
    state = inverse.astype(np.int64) + 1
    n_states = len(state_codes)
    conversion, null = n_states + 1, n_states + 2
    previous = np.empty_like(state)
    previous[0] = 0
    previous[1:] = state[:-1]
    previous[new_journey] = 0
    ends = np.ones(len(state), dtype=bool)
    ends[:-1] = journey[:-1] != journey[1:]
    ending_journey = journey[ends]
    won = journeys.converted[ending_journey]
    rows = np.concatenate([previous, state[ends]])
    cols = np.concatenate([state, np.where(won, conversion, null)])
    counts = sparse.coo_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(n_states + 1, n_states + 3)
    ).tocsr()  # duplicates are summed on conversion
    revenue = np.bincount(state[ends], weights=journeys.revenue[ending_journey], minlength=n_states + 1)

    contains = np.zeros((n_states, n), dtype=bool)
    for d in range(order):
        digit = (state_codes // base**d) % base
        present = digit > 0
        contains[np.flatnonzero(present), digit[present] - 1] = True
    return MarkovChain(counts, revenue, state_codes, contains)


def _absorption(chain: MarkovChain, keep_states: np.ndarray) -> tuple[float, float]:
    """P(conversion) and expected revenue from ``(start)`` when only ``keep_states`` (1-based) remain;
    transitions into removed states end in ``(null)``."""
    counts = chain.counts
    totals = np.asarray(counts.sum(axis=1)).ravel()
    keep = np.concatenate([[0], keep_states])
    scale = sparse.diags(1.0 / totals[keep])
    q = scale @ counts[keep][:, keep]
    r_conv = counts[keep, chain.n_states + 1].toarray().ravel() / totals[keep]
    r_value = chain.revenue_at_conversion[keep] / totals[keep]
    system = (sparse.identity(len(keep), format="csc") - q).tocsc()
    solution = splu(system).solve(np.column_stack([r_conv, r_value]))
    return float(solution[0, 0]), float(solution[0, 1])


def markov(journeys: Journeys, order: int = 1) -> AttributionResult:
    """Removal-effect attribution from an exact order-``order`` absorbing Markov chain."""
    chain = markov_chain(journeys, order)
    n = journeys.n_channels
    all_states = np.arange(1, chain.n_states + 1)
    p_conv, value = _absorption(chain, all_states)
    effect_conv = np.zeros(n)
    effect_value = np.zeros(n)
    if p_conv > 0:
        for c in range(n):
            if not chain.state_channels[:, c].any():
                continue  # channel never seen in a journey with an outcome
            p_removed, value_removed = _absorption(chain, all_states[~chain.state_channels[:, c]])
            effect_conv[c] = 1.0 - p_removed / p_conv
            effect_value[c] = 1.0 - value_removed / value if value > 0 else 0.0
    total_conversions = float(journeys.converted.sum())
    total_revenue = float(journeys.revenue.sum())
    conv_share = effect_conv / effect_conv.sum() if effect_conv.sum() > 0 else np.zeros(n)
    value_share = effect_value / effect_value.sum() if effect_value.sum() > 0 else np.zeros(n)
    name = f"markov_{order}"
    return AttributionResult(
        name,
        _table(journeys, conv_share * total_conversions, value_share * total_revenue),
        exact=True,
        note=f"exact absorbing chain over {chain.n_states} states (order {order})",
        removal_effects=pd.Series(effect_conv, index=pd.Index(journeys.channels, name="channel"), name=name),
    )


# ----------------------------------------------------------------------------- Shapley value


def _channel_set_masks(journeys: Journeys) -> np.ndarray:
    if journeys.n_channels > 64:
        raise ValueError(f"Shapley attribution handles at most 64 channels, got {journeys.n_channels}")
    bits = np.left_shift(np.uint64(1), journeys.channel.astype(np.uint64))
    return np.bitwise_or.reduceat(bits, journeys.starts[:-1])


def _shapley_coefficients(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Subset patterns of k players and the weight of v(pattern) in each player's Shapley value:
    +|T|-1)!(k-|T|)!/k! when the player is in T, -|T|!(k-|T|-1)!/k! when not."""
    patterns = np.arange(1 << k, dtype=np.int64)
    inside = ((patterns[:, None] >> np.arange(k)) & 1).astype(bool)
    size = inside.sum(axis=1)
    fact = [math.factorial(i) for i in range(k + 1)]
    with_player = np.array([fact[t - 1] * fact[k - t] / fact[k] if t >= 1 else 0.0 for t in range(k + 1)])
    without = np.array([fact[t] * fact[k - t - 1] / fact[k] if t <= k - 1 else 0.0 for t in range(k + 1)])
    coefficients = np.where(inside, with_player[size][:, None], -without[size][:, None])
    return inside, coefficients


def shapley(journeys: Journeys, config: AttributionConfig | None = None) -> AttributionResult:
    """Shapley credit over channel sets; exact up to ``shapley_max_exact_channels`` distinct channels
    in a journey, permutation-sampled above (and then ``exact`` is False and ``note`` says how)."""
    config = config or AttributionConfig()
    n = journeys.n_channels
    masks = _channel_set_masks(journeys)
    set_masks, inverse = _unique_inverse(masks, 1 << n if n < 63 else 1 << 63)
    seen = np.bincount(inverse).astype(float)
    conversions = np.bincount(inverse, weights=journeys.converted.astype(float))
    revenue = np.bincount(inverse, weights=journeys.revenue)
    rate = conversions / seen

    def value(query: np.ndarray) -> np.ndarray:
        at = np.searchsorted(set_masks, query)
        at_clipped = np.minimum(at, len(set_masks) - 1)
        return np.where(set_masks[at_clipped] == query, rate[at_clipped], 0.0)

    members = ((set_masks[:, None] >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(bool)
    size = members.sum(axis=1)
    credit_conv = np.zeros(n)
    credit_rev = np.zeros(n)
    rng = np.random.default_rng(config.seed)
    sampled_sets = 0
    converting = conversions > 0
    for k in np.unique(size[converting]):
        rows = np.flatnonzero(converting & (size == k))
        # Member channel indices of each set, ascending: argsort puts the True columns first.
        players = np.argsort(~members[rows], axis=1, kind="stable")[:, :k]
        if k <= config.shapley_max_exact_channels:
            inside, coefficients = _shapley_coefficients(int(k))
            chunk = max(1, (1 << 22) >> int(k))
            phi = np.empty((len(rows), k))
            for a in range(0, len(rows), chunk):
                bits = np.left_shift(np.uint64(1), players[a : a + chunk].astype(np.uint64))
                sub = np.zeros((len(bits), 1 << k), dtype=np.uint64)
                for j in range(k):
                    sub |= np.where(inside[:, j][None, :], bits[:, j : j + 1], np.uint64(0))
                phi[a : a + chunk] = value(sub) @ coefficients
        else:
            sampled_sets += len(rows)
            m = config.shapley_permutations
            phi = np.zeros((len(rows), k))
            for i in range(len(rows)):
                order = np.argsort(rng.random((m, k)), axis=1)
                chosen = players[i][order]
                prefix = np.bitwise_or.accumulate(
                    np.left_shift(np.uint64(1), chosen.astype(np.uint64)), axis=1
                )
                marginal = np.diff(value(prefix), axis=1, prepend=0.0)
                np.add.at(phi[i], order.ravel(), marginal.ravel())
            phi /= m
        # Efficiency: the Shapley values of S sum to v(S) - v(empty) = rate(S), so this is a share.
        share = phi / rate[rows][:, None]
        credit_conv += np.bincount(players.ravel(), (share * conversions[rows][:, None]).ravel(), minlength=n)
        credit_rev += np.bincount(players.ravel(), (share * revenue[rows][:, None]).ravel(), minlength=n)
    n_converting = int(converting.sum())
    if sampled_sets:
        note = (
            f"sampled: {sampled_sets} of {n_converting} converting channel sets have more than "
            f"{config.shapley_max_exact_channels} channels and were estimated from "
            f"{config.shapley_permutations} random permutations each (seed {config.seed})"
        )
    else:
        note = f"exact over all sub-coalitions of {n_converting} converting channel sets"
    return AttributionResult(
        "shapley", _table(journeys, credit_conv, credit_rev), exact=not sampled_sets, note=note
    )


# ----------------------------------------------------------------------------- entry point


def attribute(
    journeys: Journeys,
    models: str | Sequence[str] = ALL_MODELS,
    config: AttributionConfig | None = None,
) -> dict[str, AttributionResult]:
    """Run the named models (``"all"``, a comma list or a sequence) and return results by model name."""
    config = config or AttributionConfig()
    results: dict[str, AttributionResult] = {}
    for name in parse_models(models):
        if name in _HEURISTICS:
            results[name] = heuristic(journeys, name, config)
        elif name == "shapley":
            results[name] = shapley(journeys, config)
        else:
            results[name] = markov(journeys, int(name.split("_")[1]))
    return results
