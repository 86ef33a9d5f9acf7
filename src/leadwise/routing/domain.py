"""Reps, leads, loads, scores and decisions: the values every routing function speaks.

Reps and leads are pydantic models because they cross the API boundary; their checks that matter on the
hot path (``is_out_of_office``, ``in_working_hours``, ``at_capacity``) are plain attribute reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadwise.errors import Conflict, InvalidInput, LeadwiseError, NotFound
from leadwise.routing.capacity import CapacityWindow, legacy_windows
from leadwise.routing.conditions import Condition, FieldValue

# --------------------------------------------------------------------------------------------- errors


class RoutingError(LeadwiseError):
    """Base class of the routing domain's errors; each is also one of the kinds of ``leadwise.errors``,
    which is what the API maps to a status."""


class NoEligibleRep(RoutingError, Conflict):
    """No rep of any step could take the lead and the flow was told to raise rather than queue."""

    code = "no_eligible_rep"


class CapacityExhausted(RoutingError, Conflict):
    """A rep was asked to take a lead beyond one of their capacity limits."""

    code = "capacity_exhausted"


class InvalidFlow(RoutingError, InvalidInput):
    """A rule flow file is malformed; the message names the file and line (``problems`` lists them all)."""

    code = "invalid_flow"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class LeadNotFound(RoutingError, NotFound):
    """A pool or queue does not hold the lead asked for."""

    code = "lead_not_found"


class AlreadyClaimed(RoutingError, Conflict):
    """A pooled lead was claimed by someone else first."""

    code = "already_claimed"


class RepNotFound(RoutingError, NotFound):
    """A rep id is not in the directory given."""

    code = "rep_not_found"


class InactiveRep(RoutingError, Conflict):
    """Only active reps can receive leads, even by manual assignment."""

    code = "inactive_rep"


class DuplicateLead(RoutingError, Conflict):
    """A new lead has the flow's duplicate key of an open lead (``[lifecycle.duplicates]``): it is not
    routed; ``original`` names that lead and its latest decision, for the caller to merge them."""

    code = "duplicate_lead"

    def __init__(self, message: str, *, lead_id: str, assignment_id: int | None) -> None:
        super().__init__(message)
        self.original = {"lead_id": lead_id, "assignment_id": assignment_id}


class RepOutOfOffice(RoutingError, Conflict):
    """A manual assignment to a rep who is out of office, without ``force``."""

    code = "rep_out_of_office"


# ---------------------------------------------------------------------------------------------- reps

# A rep's one identity in routing: the service uses the store's key as text, the replay the CRM's agent
# name. Scores, loads, prices and decisions are all keyed by it.
RepId = str



class Seniority(StrEnum):
    junior = "junior"
    mid = "mid"
    senior = "senior"


class Capacity(BaseModel):
    """Limits on a rep's (or a pool's) workload: the original three (``None`` means unlimited) and any
    number of further ``windows`` (``routing.capacity``); all must hold."""

    model_config = ConfigDict(frozen=True)

    max_open: int | None = Field(default=None, ge=0)
    max_per_day: int | None = Field(default=None, ge=0)
    max_per_week: int | None = Field(default=None, ge=0)
    windows: tuple[CapacityWindow, ...] = ()

    @cached_property
    def all_windows(self) -> tuple[CapacityWindow, ...]:
        """Every limit as a window: the three original ones first, then ``windows``."""
        return (*legacy_windows(self.max_open, self.max_per_day, self.max_per_week), *self.windows)


class WorkingHours(BaseModel):
    """Daily working window in the rep's own time zone (IANA name) on the listed weekdays (Mon=0)."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "UTC"
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @field_validator("weekdays")
    @classmethod
    def valid_days(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(days)))

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.weekday() not in self.weekdays:
            return False
        t = local.time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # a night shift crossing midnight

    def next_start(self, moment: datetime) -> datetime:
        """The earliest instant at or after ``moment`` inside the window (``moment`` itself if inside)."""
        if self.contains(moment):
            return moment
        local = moment.astimezone(self.zone)
        for offset in range(0, 8):
            day = (local + timedelta(days=offset)).date()
            candidate = datetime.combine(day, self.start, tzinfo=self.zone)
            if candidate >= local and candidate.weekday() in self.weekdays:
                return candidate.astimezone(UTC)
        return moment + timedelta(days=365)  # no working day at all: effectively never


class OutOfOffice(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    reason: str = ""

    @model_validator(mode="after")
    def ordered(self) -> OutOfOffice:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("out-of-office times need a time zone")
        if self.end <= self.start:
            raise ValueError("out-of-office end must be after start")
        return self


_UTC_ZONE = ZoneInfo("UTC")


class Rep(BaseModel):
    """A sales rep as routing sees them."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    name: str = ""
    team: str | None = None
    manager: str | None = None
    region: str | None = None
    territories: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    series: frozenset[str] = frozenset()
    seniority: Seniority = Seniority.mid
    weight: float = Field(default=1.0, gt=0)
    capacity: Capacity = Capacity()
    working_hours: WorkingHours | None = None
    out_of_office: tuple[OutOfOffice, ...] = ()
    active: bool = True
    # False: no strategy picks the rep (an opt-out of automatic routing); a manager can still assign it
    # leads by hand and the rep can still claim from its pools.
    auto_routing: bool = True
    # The rep's own "away" (rep self-service), honoured like an out-of-office period with no end.
    away: bool = False
    accounts: frozenset[str] = frozenset()
    # Pools the rep is tagged into by name: a member of each, besides the reps a flow's ``[pools.NAME]``
    # filters select (``Flow.members``); the pools whose queued leads the rep may claim.
    pools: frozenset[str] = frozenset()
    # Historical win rate, used by the ``performance`` strategy; None when the rep has no history.
    win_rate: float | None = Field(default=None, ge=0, le=1)
    # The rep's own filter (a hard one: no strategy offers the rep a lead it refuses) and its soft
    # preference (``optimised`` prices it, other strategies break ties with it): ``flows.RepFilters``
    # judges them. Manual assignment and claims ignore both.
    accepts: Condition | None = None
    prefers: Condition | None = None

    def is_out_of_office(self, moment: datetime) -> bool:
        return any(p.start <= moment < p.end for p in self.out_of_office)

    def back_from_office(self, moment: datetime) -> datetime:
        """End of the out-of-office period covering ``moment`` (chained periods followed), else ``moment``."""
        current = moment
        changed = True
        while changed:
            changed = False
            for p in self.out_of_office:
                if p.start <= current < p.end:
                    current, changed = p.end, True
        return current

    def in_working_hours(self, moment: datetime) -> bool:
        return self.working_hours is None or self.working_hours.contains(moment)

    @property
    def zone(self) -> ZoneInfo:
        """The rep's time zone (its working hours'; UTC without): where its days, weeks and months start."""
        return self.working_hours.zone if self.working_hours is not None else _UTC_ZONE

    def covers(self, *, sector: str | None, product: str | None, series: str | None) -> bool:
        """Whether the rep's skills include the lead's sector, product or product series."""
        return bool(
            (sector is not None and sector in self.sectors)
            or (product is not None and product in self.products)
            or (series is not None and series in self.series)
        )


# --------------------------------------------------------------------------------------------- leads


class Touch(BaseModel):
    """One marketing touch on a lead: what scoring reads (time, channel, type) and what reports add."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    channel: str
    touch_type: str
    campaign: str | None = None
    cost: float | None = None


class Lead(BaseModel):
    """A lead to route: the lead fields of the training data plus optional routing context. The one shape
    of a lead from the service down to the strategies; the API, the store and the models convert at
    their edges."""

    model_config = ConfigDict(frozen=True)

    lead_id: str = Field(min_length=1)
    account: str | None = None
    product: str | None = None
    series: str | None = None
    sector: str | None = None
    revenue: float | None = None
    employees: float | None = None
    office_location: str | None = None
    year_established: int | None = None
    engage_date: datetime | None = None
    country: str | None = None
    region: str | None = None
    created_at: datetime | None = None
    source: str | None = None
    existing_customer: bool | None = None
    # Marketing touch types seen on the lead so far (``leadwise.marketing.touchpoints.TOUCH_TYPES``):
    # what a flow's ``[maturity]`` reads for revealing acts such as a demo request.
    touch_types: frozenset[str] = frozenset()
    # The touches themselves, for scoring and storage; routing reads ``touch_types`` only.
    touches: tuple[Touch, ...] = ()
    # The CRM's own fields (priority, tags, a segment ...), which conditions read as ``fields.NAME``;
    # the API bounds them (``routing.conditions.MAX_FIELDS`` ...). Not model input.
    fields: dict[str, FieldValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _touch_types_of_touches(cls, data: Any) -> Any:
        """Without explicit ``touch_types``, the types of the lead's own touches."""
        if isinstance(data, dict) and "touch_types" not in data and data.get("touches"):
            data = dict(data)
            data["touch_types"] = frozenset(
                t["touch_type"] if isinstance(t, Mapping) else t.touch_type for t in data["touches"]
            )
        return data

    @property
    def location(self) -> str | None:
        """Country used for territories: the explicit country, else the account's office location."""
        return self.country or self.office_location


# --------------------------------------------------------------------------------------------- loads


@dataclass(slots=True)
class RepLoad:
    """A rep's (or a pool's) current workload, computed by the caller (the API from its database, the
    replay in memory).

    ``assigned_today``/``assigned_this_week`` count the leads since the start of the rep's day and week
    (the ``day`` and ``week`` capacity windows); ``assigned_in`` the leads counted for its other windows
    when the load was read, by ``CapacityWindow.key``, and ``recorded`` the leads given since (each falls
    in every window). ``window_leads``/``window_value`` count leads and expected value assigned in the
    fairness window.
    """

    open_leads: int = 0
    assigned_today: int = 0
    assigned_this_week: int = 0
    window_leads: int = 0
    window_value: float = 0.0
    last_assigned_at: datetime | None = None
    assigned_in: dict[str, int] = field(default_factory=dict)
    recorded: int = 0

    def used(self, window: CapacityWindow) -> int:
        """How much of ``window`` is taken."""
        if window.kind == "open":
            return self.open_leads
        if window.key == "day":
            return self.assigned_today
        if window.key == "week":
            return self.assigned_this_week
        return self.assigned_in.get(window.key, 0) + self.recorded

    def set_used(self, window: CapacityWindow, leads: int) -> None:
        """Set the leads counted in ``window`` (of a period or rolling window), as ``used`` reads them."""
        if window.key == "day":
            self.assigned_today = leads
        elif window.key == "week":
            self.assigned_this_week = leads
        else:
            self.assigned_in[window.key] = leads - self.recorded

    def capacity_block(self, capacity: Capacity) -> str | None:
        """Which window is full, in words ("capacity: 3/3 today"), or None when one more lead fits.

        A limit of 0 is allowed (a rep paused without being deactivated) and said as such, not as "0/0".
        """
        # One pass (this runs for every rep of every step tried): a paused window outranks a full one.
        full: tuple[CapacityWindow, int] | None = None
        for window in capacity.all_windows:
            limit = window.limit
            if limit == 0:
                return "capacity 0: takes no leads"
            if full is None and (used := self.used(window)) >= limit:
                full = (window, used)
        return full[0].describe(full[1]) if full is not None else None

    def room(self, capacity: Capacity) -> int | None:
        """How many more leads fit under every window (None: no window, unlimited)."""
        rooms = [max(w.limit - self.used(w), 0) for w in capacity.all_windows]
        return min(rooms) if rooms else None

    def record(self, at: datetime, value: float = 0.0) -> None:
        """Count one more assignment (the replay and in-memory callers use this)."""
        self.open_leads += 1
        self.assigned_today += 1
        self.assigned_this_week += 1
        self.recorded += 1
        self.window_leads += 1
        self.window_value += value
        self.last_assigned_at = at


Loads = Mapping[RepId, RepLoad]


# -------------------------------------------------------------------------------------------- scores

Objective = Literal["wins", "revenue"]


@dataclass(frozen=True)
class Scores:
    """Model outputs for one lead, computed by the caller from ``LeadwiseModels``.

    ``p_win[k]`` is P(win | lead, rep ``rep_ids[k]``); ``deal_value`` the expected value if won.
    """

    model_version: str | None
    lead_score: float | None = None
    rep_ids: tuple[str, ...] = ()
    p_win: np.ndarray = field(default_factory=lambda: np.zeros(0))
    deal_value: float | None = None
    # Why there are no model figures although a model is served (the explanation says it, once).
    missing_because: str | None = None
    # Where lead_score falls among the model's own validation leads' scores, 0-100 (None: not known).
    lead_score_percentile: float | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)  # rep id -> position

    def __post_init__(self) -> None:
        if len(self.rep_ids) != len(self.p_win):
            raise ValueError(f"{len(self.rep_ids)} rep ids but {len(self.p_win)} win probabilities")
        # A frozen dataclass sets its derived fields through object.__setattr__.
        object.__setattr__(self, "_index", {r: k for k, r in enumerate(self.rep_ids)})

    @property
    def has_rep_scores(self) -> bool:
        return len(self.rep_ids) > 0

    def expected_values(self, rep_ids: Sequence[str], objective: Objective = "wins") -> np.ndarray:
        """Expected wins (p) or revenue (p × deal value) for each of ``rep_ids``; NaN for unknown reps."""
        idx = self._index
        p = np.array([self.p_win[idx[r]] if r in idx else np.nan for r in rep_ids], dtype=float)
        if objective == "revenue":
            return p * float(self.deal_value if self.deal_value is not None else 1.0)
        return p


NO_SCORES = Scores(model_version=None)


# ------------------------------------------------------------------------------------------ decisions


class Outcome(StrEnum):
    assigned = "assigned"
    nurture = "nurture"
    manager_queue = "manager_queue"
    claim_pool = "claim_pool"
    blind_pool = "blind_pool"
    closed = "closed"  # a ``close_when`` rule of the flow held: the lead is not routed (``closed_as`` says how)


class CandidateScore(BaseModel):
    rep_id: str
    score: float  # what it means: ``Explanation.score_means``
    p_win: float | None = None
    expected_value: float | None = None  # P(win) × deal value, as the decision's own expected value
    price: float | None = None  # the capacity price taken off the score (``optimised``)
    bonus: float | None = None  # the rep's ``prefers`` bonus added to the score (``optimised``, batch LP)
    open_leads: int = 0


class Exclusion(BaseModel):
    rep_id: str
    reason: str


class StepTrace(BaseModel):
    """One flow step that was tried: matched or not, and why it did or did not assign."""

    index: int
    name: str
    matched: bool
    note: str = ""


class Explanation(BaseModel):
    step: str | None = None
    step_index: int | None = None
    pool: str | None = None
    strategy: str | None = None
    objective: str | None = None
    eligible: list[CandidateScore] = Field(default_factory=list)  # the best few, in detail
    scores: dict[str, float] = Field(default_factory=dict)  # every eligible rep's score
    excluded: list[Exclusion] = Field(default_factory=list)
    score_means: str | None = None  # the unit of ``eligible[].score``, ``scores`` and ``margin``
    runner_up: str | None = None
    margin: float | None = None  # the chosen rep's score minus the runner-up's
    model_version: str | None = None
    lead_score: float | None = None
    lead_score_percentile: float | None = None  # among the model's validation leads, 0-100
    steps_tried: list[StepTrace] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    explored: bool = False  # the flow's [exploration] drew the rep instead of the strategy's choice


class Decision(BaseModel):
    """Who got the lead (or which queue), when, and why."""

    lead_id: str
    outcome: Outcome
    rep_id: str | None = None
    decided_at: datetime
    strategy: str | None = None
    manual: bool = False
    attempt: int = 0
    # P(the policy, as configured and in the state it was in, makes this decision for this lead): 1 for a
    # deterministic one, less when the flow explores; None where no policy chose (manual, a claim).
    propensity: float | None = None
    explanation: Explanation = Field(default_factory=Explanation)
    # The offer's deadline from a lead field (the flow's ``[lifecycle] due_from``); None: the service's SLA.
    due_at: datetime | None = None
    # How a ``closed`` outcome ends the lead: won, lost, or closed without an outcome.
    closed_as: Literal["won", "lost", "closed"] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def rep_index(reps: Iterable[Rep]) -> dict[str, Rep]:
    index: dict[str, Rep] = {}
    for rep in reps:
        if rep.id in index:
            raise ValueError(f"duplicate rep id {rep.id!r}")
        index[rep.id] = rep
    return index
