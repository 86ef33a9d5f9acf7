"""Rule flows: an ordered list of steps (condition → pool → strategy) read from TOML or YAML.

A flow is validated on load; every error names the file and the line of the offending key. Steps are
tried in order; a step whose pool has no eligible rep falls through to the next one (the decision's
explanation lists each step tried and why it passed).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadwise.routing.capacity import CapacityWindow
from leadwise.routing.conditions import Condition, Maturity, unmet_condition, zone_of
from leadwise.routing.domain import (
    Capacity,
    InvalidFlow,
    Lead,
    Objective,
    Rep,
    Scores,
    Seniority,
    WorkingHours,
)
from leadwise.routing.exploration import Exploration
from leadwise.routing.fairness import FairnessBounds
from leadwise.routing.strategies import ROUND_ROBIN_MODES, ROUND_ROBIN_STRATEGIES, STRATEGIES

BUNDLED_FLOWS_DIR = Path(__file__).resolve().parents[3] / "training" / "flows"

Action = Literal["assign", "nurture", "claim_pool", "blind_pool", "manager_queue"]
# What an assign step does when no rep of its pool can take the lead only because of availability (away,
# out of office, outside working hours): "queue" falls through to the next step and, after the last, to
# the manager queue (as before); "whole_pool" routes among the pool's unavailable reps who have capacity;
# "owner_anyway" gives it to the lead's account owner in the pool, away or not.
WhenUnavailable = Literal["queue", "whole_pool", "owner_anyway"]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> Any:
    """``"36h"``, ``"7d"``, ``"2w"`` (or ``"90m"``) as a ``timedelta``; anything else is left to pydantic
    (ISO 8601 ``"P7D"``, seconds), which is also how a stored flow reads back."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{_DURATION_UNITS[match.group(2)]: float(match.group(1))})
    return value


def format_duration(value: timedelta) -> str:
    """A duration as a flow file writes it: ``"30d"``, ``"36h"``, ``"90m"`` (the inverse of ``parse_duration``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return str(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be positive, e.g. \"7d\"")  # pydantic names the field before it
    return value


# A duration as a flow file writes it (``parse_duration``); the second one only above zero.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


class Demand(BaseModel):
    """``[demand]``: the leads the open-lead capacity must cover from the moment the flow is published,
    for the ``optimised`` strategy's capacity prices. ``expected_leads`` replaces the service's own
    estimate until that many leads have been routed or, with ``horizon`` (``"7d"``), until it is over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expected_leads: int = Field(gt=0, le=100_000_000)
    horizon: PositiveDuration | None = None


class Pool(BaseModel):
    """A named set of reps: every listed filter must hold (an empty pool definition means everyone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reps: list[str] | None = None
    teams: list[str] | None = None
    managers: list[str] | None = None
    regions: list[str] | None = None
    seniority: list[Seniority] | None = None
    # Caps on the leads the flow's steps assign through the pool (all must hold; claims and manual
    # assignments do not count), its periods counted in ``timezone``.
    capacity_windows: list[CapacityWindow] = Field(default_factory=list)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return WorkingHours.known_zone(name)

    @cached_property
    def capacity(self) -> Capacity:
        return Capacity(windows=tuple(self.capacity_windows))

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def select(self, reps: Sequence[Rep]) -> list[Rep]:
        if (
            self.reps is None
            and self.teams is None
            and self.managers is None
            and self.regions is None
            and self.seniority is None
        ):
            return list(reps)  # "everyone": the common case, kept off the per-rep path

        def keep(rep: Rep) -> bool:
            return (
                (self.reps is None or rep.id in self.reps)
                and (self.teams is None or rep.team in self.teams)
                and (self.managers is None or rep.manager in self.managers)
                and (self.regions is None or rep.region in self.regions)
                and (self.seniority is None or rep.seniority in self.seniority)
            )

        return [r for r in reps if keep(r)]


# Lead fields a lifecycle setting may name: the text fields (a duplicate key) and the dates (a due date).
LEAD_TEXT_FIELDS = tuple(n for n, f in Lead.model_fields.items() if f.annotation == (str | None))
LEAD_DATE_FIELDS = tuple(n for n, f in Lead.model_fields.items() if f.annotation == (datetime | None))
CloseResult = Literal["won", "lost", "closed"]


def _not_always(when: Condition) -> Condition:
    # An empty condition holds for every lead: as a lifecycle rule it would act on every update.
    if not when.model_dump(exclude_none=True):
        raise ValueError("a lifecycle condition needs at least one condition (an empty one holds for every lead)")
    return when


class CloseRule(BaseModel):
    """``[[lifecycle.close_when]]``: a lead meeting ``when`` is closed as ``result``: ``won`` or ``lost``
    (an outcome, like ``POST /v1/assignments/{id}/outcome``) or ``closed`` (ended without an outcome:
    spam, a test lead, a disqualified one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    when: Condition
    result: CloseResult = "closed"

    @field_validator("when")
    @classmethod
    def _some_condition(cls, when: Condition) -> Condition:
        return _not_always(when)

    def describe(self, index: int) -> str:
        return f"close_when {self.name or f'[{index}]'} ({self.when.describe()})"


class Duplicates(BaseModel):
    """``[lifecycle.duplicates]``: a new lead whose ``key`` fields (all present) equal those of an open lead
    received within ``window`` is not routed: the answer is a 409 naming the original lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: list[str] = Field(min_length=1)
    window: PositiveDuration = timedelta(days=30)

    @field_validator("key")
    @classmethod
    def _text_fields(cls, key: list[str]) -> list[str]:
        unknown = [name for name in key if name not in LEAD_TEXT_FIELDS]
        if unknown:
            raise ValueError(f"not a lead text field: {unknown}; known: {', '.join(LEAD_TEXT_FIELDS)}")
        return key


class Lifecycle(BaseModel):
    """``[lifecycle]``: what happens to a lead after its first decision (``routing.lifecycle``).

    - ``reroute_when`` / ``unassign_when`` / ``close_when``: conditions (the steps' ``when`` language; a
      table or a list of tables, any one holding) checked when ``PATCH /v1/leads/{id}`` changes a lead.
      A condition acts when the update makes it hold (it did not hold before), so an unrelated later
      update does not act again. ``close_when`` also applies when the lead is routed.
    - ``due_from`` (a lead date field) + ``due_after``: the offer's deadline instead of the service's
      acceptance SLA; the SLA expiry honours it.
    - ``duplicates``: leads not routed because an open lead has the same key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reroute_when: list[Condition] = Field(default_factory=list)
    unassign_when: list[Condition] = Field(default_factory=list)
    close_when: list[CloseRule] = Field(default_factory=list)
    due_from: str | None = None
    due_after: Duration = timedelta(0)
    duplicates: Duplicates | None = None

    @field_validator("reroute_when", "unassign_when", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """One condition table or a list of them (any one holding is enough)."""
        return [value] if isinstance(value, Mapping) else value

    @field_validator("reroute_when", "unassign_when")
    @classmethod
    def _some_condition(cls, whens: list[Condition]) -> list[Condition]:
        return [_not_always(w) for w in whens]

    def describe(self) -> list[str]:
        """One line per rule, in the words of the flow file (what ``leadwise flow-check`` prints)."""
        lines = [f"{name}: {w.describe()}" for name in ("reroute_when", "unassign_when") for w in getattr(self, name)]
        lines += [f"{rule.describe(i)} → {rule.result}" for i, rule in enumerate(self.close_when)]
        if self.due_from is not None:
            lines.append(f"due: {self.due_from}" + (f" + {format_duration(self.due_after)}" if self.due_after else ""))
        if self.duplicates is not None:
            lines.append(f"duplicates: same {', '.join(self.duplicates.key)} within {format_duration(self.duplicates.window)}")
        return lines

    @field_validator("due_from")
    @classmethod
    def _date_field(cls, name: str | None) -> str | None:
        if name is not None and name not in LEAD_DATE_FIELDS:
            raise ValueError(f"not a lead date field: {name!r}; known: {', '.join(LEAD_DATE_FIELDS)}")
        return name


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    when: Condition = Condition()
    action: Action = "assign"
    pool: str | None = None
    strategy: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    require_availability: bool | None = None
    when_unavailable: WhenUnavailable = "queue"
    fairness: FairnessBounds | None = None

    @field_validator("strategy")
    @classmethod
    def known_strategy(cls, name: str | None) -> str | None:
        if name is not None and name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
        return name

    @model_validator(mode="after")
    def assign_needs_pool_and_strategy(self) -> Step:
        if self.action == "assign" and (self.pool is None or self.strategy is None):
            raise ValueError("an 'assign' step needs both a pool and a strategy")
        then = self.params.get("then")
        if then is not None and then not in STRATEGIES:
            raise ValueError(f"params.then: unknown strategy {then!r}")
        mode = self.params.get("mode")
        if mode is not None:
            if {self.strategy, then}.isdisjoint(ROUND_ROBIN_STRATEGIES):
                raise ValueError("params.mode: only round_robin and weighted_round_robin take a mode")
            if mode not in ROUND_ROBIN_MODES:
                raise ValueError(f"params.mode: unknown mode {mode!r}; known: {', '.join(ROUND_ROBIN_MODES)}")
        return self


class Flow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "flow"
    description: str = ""
    objective: Objective = "wins"
    require_availability: bool = False
    on_no_match: Literal["manager_queue", "error"] = "manager_queue"
    fairness: FairnessBounds | None = None
    territories: dict[str, str] = Field(default_factory=dict)
    maturity: Maturity = Maturity()
    # Where a condition's ``weekday`` and ``hour`` are read (an IANA name); a rep's own filters use the
    # rep's working-hours time zone when it has one.
    timezone: str = "UTC"
    # What a rep's ``prefers`` is worth to ``optimised`` and the batch LP: P(win) added to a preferred
    # rep's expected value (× deal value under the revenue objective). Other strategies only break ties.
    prefers_bonus: float = Field(default=0.05, ge=0, le=1)
    demand: Demand | None = None
    exploration: Exploration | None = None
    lifecycle: Lifecycle = Lifecycle()
    pools: dict[str, Pool] = Field(default_factory=lambda: {"everyone": Pool()})
    steps: list[Step] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_of(name)  # raises naming it
        return name

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)

    def unmet(
        self,
        condition: Condition,
        lead: Lead,
        now: datetime,
        *,
        scores: Scores | None = None,
        reps: Sequence[Rep] = (),
        zone: ZoneInfo | None = None,
    ) -> str | None:
        """``unmet_condition`` with this flow's time zone (or ``zone``), territories and maturity."""
        return unmet_condition(
            condition,
            lead,
            now,
            timezone=zone or self.zone,
            scores=scores,
            reps=reps,
            territories=self.territories,
            maturity=self.maturity,
        )

    @classmethod
    def single(
        cls,
        strategy: str,
        *,
        objective: Objective = "wins",
        params: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Flow:
        """A one-step flow: every rep, one strategy (what ``simulate`` and ad-hoc routing use)."""
        step = Step(name=strategy, pool="everyone", strategy=strategy, params=dict(params or {}))
        return cls(name=strategy, objective=objective, steps=[step], **kw)

    def members(self, name: str, reps: Sequence[Rep]) -> list[Rep]:
        """The reps of pool ``name``, in the order given: those its ``[pools.NAME]`` filters select and
        those tagged with the name (a rep's ``pools``). One notion of a pool, for assigning and claiming."""
        pool = self.pools.get(name)
        chosen = pool.select(reps) if pool is not None else []
        if len(chosen) == len(reps):
            return chosen
        ids = {r.id for r in chosen}
        return [r for r in reps if r.id in ids or name in r.pools]

    def pools_of(self, rep: Rep) -> set[str]:
        """Every pool ``rep`` is a member of: its tags, and the flow's pools whose filters select it."""
        return set(rep.pools) | {name for name, pool in self.pools.items() if pool.select([rep])}

    def unknown_pools(self) -> list[tuple[int, str]]:
        return [
            (i, s.pool) for i, s in enumerate(self.steps) if s.pool is not None and s.pool not in self.pools
        ]


class RepFilters:
    """Reps' own filters for one lead at one instant: why a rep's ``accepts`` refuses the lead, and who
    ``prefers`` it. A rep's filters read the weekday and hour in the rep's working-hours time zone, else
    the flow's. Each distinct condition is judged once per decision (reps often share one: a team's
    language, a segment), so a pool of 200 reps costs as many evaluations as it has distinct filters."""

    def __init__(self, flow: Flow, lead: Lead, now: datetime, *, scores: Scores | None, reps: Sequence[Rep]) -> None:
        self._flow, self._lead, self._now, self._scores, self._reps = flow, lead, now, scores, reps
        self._zone = flow.zone
        self._judged: dict[tuple[int, str], str | None] = {}  # (id of the condition, zone) -> unmet

    def refusal(self, rep: Rep) -> str | None:
        """"does not accept: ..." when ``rep``'s ``accepts`` refuses the lead, None when it takes it."""
        if rep.accepts is None:
            return None
        unmet = self._unmet(rep.accepts, rep)
        return None if unmet is None else f"does not accept: {unmet}"

    def preferring(self, candidates: Sequence[Rep]) -> frozenset[str]:
        """The ids of ``candidates`` whose soft ``prefers`` holds for the lead."""
        return frozenset(r.id for r in candidates if r.prefers is not None and self._unmet(r.prefers, r) is None)

    def _unmet(self, condition: Condition, rep: Rep) -> str | None:
        zone = rep.working_hours.zone if rep.working_hours is not None else self._zone
        key = (id(condition), zone.key)  # the conditions live as long as the reps handed in
        try:
            return self._judged[key]
        except KeyError:
            unmet = self._judged[key] = self._flow.unmet(
                condition, self._lead, self._now, scores=self._scores, reps=self._reps, zone=zone
            )
            return unmet


# ------------------------------------------------------------------------------------------ loading


def load_flow(path: str | Path) -> Flow:
    """Read and validate a flow file (``.toml``, ``.yaml`` or ``.yml``); raise ``InvalidFlow`` naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidFlow(f"{path}: cannot read flow file: {exc.strerror}") from exc
    return parse_flow(
        text, fmt="yaml" if path.suffix.lower() in {".yaml", ".yml"} else "toml", source=str(path)
    )


def parse_flow(text: str, *, fmt: Literal["toml", "yaml"] = "toml", source: str = "<flow>") -> Flow:
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            raise InvalidFlow(
                f"{source}: line {line.group(1) if line else '?'}: invalid TOML: {exc}"
            ) from exc
        lines = _dotted_aliases(_toml_lines(text))
    else:
        try:
            data = yaml.safe_load(text)
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = mark.line + 1 if mark is not None else "?"
            raise InvalidFlow(
                f"{source}: line {where}: invalid YAML: {getattr(exc, 'problem', exc)}"
            ) from exc
        lines = _dotted_aliases(_yaml_lines(node)) if node is not None else {}
    if not isinstance(data, dict):
        raise InvalidFlow(f"{source}: line 1: a flow must be a mapping with a 'steps' list")
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{source}: line {_line_for(lines, err['loc'])}: {_dotted(err['loc'])}: {_message(err)}"
            for err in exc.errors()
        ]
        raise _invalid(problems) from None
    problems = [
        f"{source}: line {_line_for(lines, ('steps', i, 'pool'))}: steps[{i}].pool: unknown pool {pool!r}; "
        f"defined: {', '.join(sorted(flow.pools)) or 'none'}"
        for i, pool in flow.unknown_pools()
    ]
    if problems:
        raise _invalid(problems)
    return flow


def _invalid(problems: list[str]) -> InvalidFlow:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidFlow(problems[0] + more, problems)


def _message(err: Mapping[str, Any]) -> str:
    """pydantic's message, with what may stand there when a condition's key is unknown."""
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden" and len(loc) >= 2 and loc[-2] == "when":
        return (
            f"{err['msg']}: unknown condition {loc[-1]!r}; a custom field is written fields.{loc[-1]}, a built-in "
            f"field is one of {', '.join(Condition.LEAD_FIELDS)}; or weekday, hour, or {', '.join(_NAMED_TESTS)}"
        )
    return str(err["msg"])


_NAMED_TESTS = [k for k in Condition.model_fields if k not in Condition.LEAD_FIELDS and k not in ("fields", "weekday", "hour")]


def _dotted_aliases(lines: dict[tuple[Any, ...], int]) -> dict[tuple[Any, ...], int]:
    """``lines`` with each quoted dotted key (``"fields.priority"``) also under its parts, which is where
    a condition puts it (``fields`` → ``priority``) and so where a validation error points."""
    for path, number in list(lines.items()):
        if any(isinstance(p, str) and "." in p for p in path):
            split = tuple(q for p in path for q in (p.split(".") if isinstance(p, str) else [p]))
            lines.setdefault(split, number)
    return lines


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "flow"


def _line_for(lines: Mapping[tuple[Any, ...], int], loc: Sequence[Any]) -> int | str:
    """Line of the longest known prefix of ``loc`` (a missing key points at its table)."""
    key = tuple(loc)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get((), 1)


_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [p[1:-1] if p[:1] in {'"', "'"} else p for p in parts]


def _toml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map key paths (as pydantic reports them) to 1-based line numbers, for tables, arrays of tables and keys.

    tomllib keeps no positions; this scan covers the forms flow files use (tables, ``[[steps]]``,
    dotted keys, inline tables on one line).
    """
    lines: dict[tuple[Any, ...], int] = {}
    counts: dict[tuple[Any, ...], int] = {}
    current: tuple[Any, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        if m := _ARRAY_TABLE.match(raw):
            base = tuple(_split_key(m.group(1)))
            index = counts.get(base, -1) + 1
            counts[base] = index
            current = (*base, index)
            lines.setdefault(current, number)
            lines.setdefault(base, number)
        elif m := _TABLE.match(raw):
            parts = _split_key(m.group(1))
            # A sub-table of an array of tables ([steps.when]) belongs to the latest element.
            prefix: tuple[Any, ...] = ()
            for part in parts:
                prefix = (*prefix, part)
                if prefix in counts:
                    prefix = (*prefix, counts[prefix])
            current = prefix
            lines.setdefault(current, number)
        elif m := _KEY.match(raw):
            path = current
            for part in _split_key(m.group(1)):
                path = (*path, part)
                lines.setdefault(path, number)
            # Keys of an inline table on the same line: ``when = { score_at_least = 0.8 }``.
            brace = raw.find("{")
            if brace >= 0:
                for inner in re.findall(r"([A-Za-z0-9_-]+)\s*=", raw[brace:]):
                    lines.setdefault((*path, inner), number)
    return lines


def _yaml_lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, key_node.value)
            lines.update(_yaml_lines(value_node, key))
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_yaml_lines(item, (*path, index)))
    return lines


def bundled_flow(name: str = "default") -> Flow:
    """A flow shipped in ``training/flows/`` (repository checkouts only)."""
    return load_flow(BUNDLED_FLOWS_DIR / f"{name}.toml")
