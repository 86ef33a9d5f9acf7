"""The one condition language of routing: a flow step's ``when``, a rep's ``accepts`` and ``prefers``.

A ``Condition`` is a set of tests that must all hold (no test: always holds). It reads the lead's
built-in fields, its custom ``fields``, the lead score, the flow's maturity and territories, and the
weekday and hour of the decision instant in a time zone. ``condition_holds`` / ``unmet_condition``
judge one for a lead at an instant; every caller (flow steps, rep filters, lifecycle ``*_when``
conditions) goes through them.

Field tests take operators, all given ones must hold::

    revenue = { gt = 1000 }
    fields.priority = { in = ["high", "urgent"] }
    weekday = { in = ["sat", "sun"] }
    hour = { gte = 18 }
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from leadwise.marketing.touchpoints import TOUCH_TYPES  # flows and touch data share the act names

if TYPE_CHECKING:  # the domain imports this module (a rep's filters are conditions)
    from leadwise.routing.domain import Lead, Rep, Scores

# ------------------------------------------------------------------------------------- custom fields

# A lead's custom fields (``Lead.fields``): at most MAX_FIELDS names of at most MAX_FIELD_NAME characters
# (a letter or underscore, then letters, digits, underscores), each a text of at most MAX_FIELD_TEXT
# characters, a finite number or a boolean. Bounded so a lead stays a small row and a cheap condition.
MAX_FIELDS = 50
MAX_FIELD_NAME = 64
MAX_FIELD_TEXT = 500
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
FieldName = Annotated[str, Field(min_length=1, max_length=MAX_FIELD_NAME, pattern=FIELD_NAME_PATTERN)]
FieldText = Annotated[str, Field(max_length=MAX_FIELD_TEXT)]
FieldNumber = Annotated[float, Field(allow_inf_nan=False)]
# bool first: pydantic's smart union keeps JSON ``true`` a bool and ``3`` an int.
FieldValue = bool | int | FieldNumber | FieldText
MAX_LIST = 1000  # values of one ``in`` / ``not_in``

# ----------------------------------------------------------------------------------------- operators

OPERATORS = ("equals", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "is_empty")
_COMPARISONS = {"gt": (">", float.__gt__), "gte": ("≥", float.__ge__), "lt": ("<", float.__lt__), "lte": ("≤", float.__le__)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: day for day, name in enumerate(WEEKDAYS)} | {
    full: day
    for day, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}


class FieldTest(BaseModel):
    """Operators on one value; every operator given must hold. A missing or empty value ("" or none)
    fails every operator but ``not_in`` and ``is_empty = true``."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    equals: FieldValue | None = None
    in_: tuple[FieldValue, ...] | None = Field(default=None, alias="in", min_length=1, max_length=MAX_LIST)
    not_in: tuple[FieldValue, ...] | None = Field(default=None, min_length=1, max_length=MAX_LIST)
    gt: FieldNumber | None = None
    gte: FieldNumber | None = None
    lt: FieldNumber | None = None
    lte: FieldNumber | None = None
    contains: Annotated[str, Field(min_length=1, max_length=MAX_FIELD_TEXT)] | None = None
    is_empty: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_operators(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"a field test is a table of operators ({', '.join(OPERATORS)}), e.g. {{ gt = 1000 }}")
        unknown = [k for k in data if k not in OPERATORS and k != "in_"]
        if unknown:
            raise ValueError(f"unknown operator {unknown[0]!r}; operators: {', '.join(OPERATORS)}")
        if all(v is None for v in data.values()):
            raise ValueError(f"give at least one operator: {', '.join(OPERATORS)}")
        return data

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_none(handler(self))

    def given(self) -> dict[str, Any]:
        """The operators set, by their names in a flow file."""
        return self.model_dump()

    def describe(self) -> str:
        """The operators as a person reads them: ``in ['high', 'urgent'], gte 18``."""
        return ", ".join(f"{op} {_shown(value)}" for op, value in self.given().items())

    @cached_property
    def checks(self) -> tuple[tuple[str, Any], ...]:
        """The operators given, in the order they are judged, ``in`` / ``not_in`` as sets of ``_key``s
        (a membership test in O(1) that keeps types apart). Worked out once: a rep's filter is judged
        for every lead."""
        given = (
            ("is_empty", self.is_empty),
            ("not_in", None if self.not_in is None else frozenset(_key(v) for v in self.not_in)),
            ("equals", None if self.equals is None else _key(self.equals)),
            ("in", None if self.in_ is None else frozenset(_key(v) for v in self.in_)),
            ("gt", self.gt),
            ("gte", self.gte),
            ("lt", self.lt),
            ("lte", self.lte),
            ("contains", self.contains),
        )
        return tuple((op, operand) for op, operand in given if operand is not None)


# What a built-in target may be tested with, checked when the flow (or rep) is validated.
Kind = Literal["text", "number", "weekday", "hour"]
_TEXT_OPS = frozenset({"equals", "in", "not_in", "contains", "is_empty"})
_NUMBER_OPS = frozenset({"equals", "in", "not_in", "gt", "gte", "lt", "lte", "is_empty"})
_ALLOWED: dict[Kind, frozenset[str]] = {
    "text": _TEXT_OPS,
    "number": _NUMBER_OPS,
    "weekday": frozenset({"equals", "in", "not_in"}),
    "hour": _NUMBER_OPS - {"is_empty"},
}


def _checked(test: FieldTest, kind: Kind) -> FieldTest:
    """``test`` fit for a target of ``kind`` (weekday names normalised to ``mon`` ... ``sun``)."""
    given = test.given()
    wrong = sorted(set(given) - _ALLOWED[kind])
    if wrong:
        raise ValueError(f"operator {wrong[0]!r} does not apply to a {kind}; use {', '.join(sorted(_ALLOWED[kind]))}")
    values = [given["equals"]] if "equals" in given else []
    values += [*given.get("in", ()), *given.get("not_in", ())]
    if kind == "text" and any(not isinstance(v, str) for v in values):
        raise ValueError("compare a text field with text values")
    if kind in ("number", "hour") and any(isinstance(v, bool | str) for v in values):
        raise ValueError(f"compare a {kind} with numbers")
    if kind == "hour" and any(not (isinstance(v, int) and 0 <= v <= 23) for v in values):
        raise ValueError("an hour is a whole number from 0 to 23 (the local hour of the decision)")
    if kind == "weekday":
        bad = [v for v in values if not isinstance(v, str) or v.lower() not in _DAY_NAMES]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}; weekdays: {', '.join(WEEKDAYS)}")

        def day(v: Any) -> str:
            return WEEKDAYS[_DAY_NAMES[str(v).lower()]]

        update: dict[str, Any] = {}
        if "equals" in given:
            update["equals"] = day(given["equals"])
        for op, attr in (("in", "in_"), ("not_in", "not_in")):
            if op in given:
                update[attr] = tuple(day(v) for v in given[op])
        return test.model_copy(update=update)
    return test


# ----------------------------------------------------------------------------------------- maturity


class Maturity(BaseModel):
    """When a lead is sales-ready (flow-level ``[maturity]``): its lead score is at least
    ``score_at_least``, OR one of the revealing ``acts`` (touch types) happened. Without a model there
    is no score, so only the acts decide. A step reads it with ``when = { sales_ready = false }``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score_at_least: float | None = Field(default=None, ge=0, le=1)
    acts: list[str] = Field(default_factory=lambda: ["demo_request", "quote_request"])

    @field_validator("acts")
    @classmethod
    def known_acts(cls, acts: list[str]) -> list[str]:
        unknown = [a for a in acts if a not in TOUCH_TYPES]
        if unknown:
            raise ValueError(f"unknown touch type(s) {unknown}; known: {', '.join(TOUCH_TYPES)}")
        return acts

    def assess(self, lead: Lead, scores: Scores | None) -> tuple[bool, str]:
        """Whether ``lead`` is sales-ready, and why (for the explanation)."""
        acts = sorted(set(self.acts) & lead.touch_types)
        if acts:
            return True, f"sales-ready: revealing act {', '.join(acts)}"
        score = None if scores is None else scores.lead_score
        if self.score_at_least is not None and score is not None:
            if score >= self.score_at_least:
                return True, f"sales-ready: lead score {score:.3f} ≥ {self.score_at_least}"
            return False, (
                f"not sales-ready: lead score {score:.3f} < {self.score_at_least} "
                f"and no revealing act ({', '.join(self.acts) or 'none configured'})"
            )
        rules_only = (
            "rules-only (no lead score): only revealing acts decide; "
            if self.score_at_least is not None
            else ""
        )
        return False, f"not sales-ready: {rules_only}no revealing act ({', '.join(self.acts) or 'none configured'})"


# ---------------------------------------------------------------------------------------- condition


class Condition(BaseModel):
    """Tests that must all hold; no test means the condition always holds.

    Named tests (``score_at_least``, ``sector_in`` ...) keep their meaning; a built-in lead field
    (``revenue``, ``sector`` ...), a custom field (``fields.NAME``, or ``fields = { NAME = ... }``) and
    the decision instant's ``weekday`` and ``hour`` take a ``FieldTest`` of operators.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Built-in lead fields a field test may read, and what they hold (``country`` reads the lead's
    # country, else its account's office location, as ``country_in`` and territories do).
    LEAD_FIELDS: ClassVar[dict[str, Kind]] = {
        "account": "text", "product": "text", "series": "text", "sector": "text", "country": "text",
        "office_location": "text", "region": "text", "source": "text",
        "revenue": "number", "employees": "number", "year_established": "number",
    }  # fmt: skip

    existing_customer: bool | None = None
    score_at_least: float | None = Field(default=None, ge=0, le=1)
    score_below: float | None = Field(default=None, ge=0, le=1)
    # The lead score's percentile (0-100) among the served model's own validation leads: thresholds that
    # keep their meaning ("the top 40 %") when a retraining moves every score.
    score_percentile_at_least: float | None = Field(default=None, ge=0, le=100)
    score_percentile_below: float | None = Field(default=None, ge=0, le=100)
    sector_in: list[str] | None = None
    product_in: list[str] | None = None
    series_in: list[str] | None = None
    country_in: list[str] | None = None
    in_territory_map: bool | None = None
    region_in: list[str] | None = None
    source_in: list[str] | None = None
    sales_ready: bool | None = None  # judged by the flow's ``[maturity]``
    account: FieldTest | None = None
    product: FieldTest | None = None
    series: FieldTest | None = None
    sector: FieldTest | None = None
    country: FieldTest | None = None
    office_location: FieldTest | None = None
    region: FieldTest | None = None
    source: FieldTest | None = None
    revenue: FieldTest | None = None
    employees: FieldTest | None = None
    year_established: FieldTest | None = None
    fields: dict[FieldName, FieldTest] | None = Field(default=None, max_length=MAX_FIELDS)
    weekday: FieldTest | None = Field(default=None, description="day of the decision in the time zone: mon ... sun")
    hour: FieldTest | None = Field(default=None, description="hour of the decision in the time zone: 0 ... 23")

    @model_validator(mode="before")
    @classmethod
    def _dotted_fields(cls, data: Any) -> Any:
        """``"fields.priority" = {...}`` (a quoted TOML key, a YAML key) as ``fields = { priority = {...} }``."""
        if not isinstance(data, Mapping) or not any(isinstance(k, str) and k.startswith("fields.") for k in data):
            return data
        out = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("fields."))}
        nested = dict(out.get("fields") or {})
        for key, value in data.items():
            if isinstance(key, str) and key.startswith("fields."):
                name = key.removeprefix("fields.")
                if name in nested:
                    raise ValueError(f"custom field {name!r} is tested twice (fields.{name} and fields = {{ {name} }})")
                nested[name] = value
        out["fields"] = nested
        return out

    @field_validator(*LEAD_FIELDS, "weekday", "hour")
    @classmethod
    def _fits_the_target(cls, test: FieldTest | None, info: Any) -> FieldTest | None:
        if test is None:
            return None
        name = info.field_name
        kind: Kind = "weekday" if name == "weekday" else "hour" if name == "hour" else cls.LEAD_FIELDS[name]
        return _checked(test, kind)

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the tests given (a stored rep filter or flow stays as short as it was written)."""
        return _without_none(handler(self))

    @cached_property
    def field_tests(self) -> tuple[tuple[str, str, str, FieldTest], ...]:
        """The given field tests as (label, source, name, test); source is ``lead`` (an attribute),
        ``fields`` (a custom field) or ``now``. Worked out once: a rep's filter is judged for every lead."""
        tests = [(n, "lead", n, t) for n in Condition.LEAD_FIELDS if (t := getattr(self, n)) is not None]
        tests += [(f"fields.{n}", "fields", n, t) for n, t in (self.fields or {}).items()]
        tests += [(n, "now", n, t) for n in ("weekday", "hour") if (t := getattr(self, n)) is not None]
        return tuple(tests)

    @cached_property
    def named_tests(self) -> bool:
        """Whether any test but the field tests is given (most rep filters have none)."""
        return any(
            getattr(self, key) is not None
            for key in (
                "sales_ready", "existing_customer", "score_at_least", "score_below",
                "score_percentile_at_least", "score_percentile_below", "in_territory_map",
            )  # fmt: skip
        ) or bool(self.named_in)

    @cached_property
    def named_in(self) -> tuple[tuple[str, list[str]], ...]:
        """The given ``*_in`` tests as (lead attribute, allowed values)."""
        return tuple(
            (key.removesuffix("_in"), allowed)
            for key in ("sector_in", "product_in", "series_in", "country_in", "region_in", "source_in")
            if (allowed := getattr(self, key)) is not None
        )

    def describe(self) -> str:
        """The condition as a flow file writes it (for listings): ``sector_in=['x'], fields.tier in ['a']``."""
        parts = []
        for key in self.model_dump(exclude={"fields"}):
            value = getattr(self, key)
            parts.append(f"{key} {value.describe()}" if isinstance(value, FieldTest) else f"{key}={value}")
        for name, test in (self.fields or {}).items():
            parts.append(f"fields.{name} {test.describe()}")
        return ", ".join(parts) or "always"


def _without_none(data: Any) -> Any:
    return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


@cache
def zone_of(name: str) -> ZoneInfo:
    """An IANA time zone by name; ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def unmet_condition(
    condition: Condition,
    lead: Lead,
    now: datetime,
    *,
    timezone: ZoneInfo | str = "UTC",
    scores: Scores | None = None,
    reps: Sequence[Rep] = (),
    territories: Mapping[str, str] | None = None,
    maturity: Maturity | None = None,
) -> str | None:
    """None when every test of ``condition`` holds for ``lead`` at ``now``, else the first that does not,
    said for an explanation ("fields.priority 'low' not in ['high']").

    - ``timezone``: where ``weekday`` and ``hour`` are read (a flow's ``timezone``; UTC by default);
    - ``scores``: the lead score for ``score_at_least`` / ``score_below``, its percentile for
      ``score_percentile_at_least`` / ``score_percentile_below`` (none: those fail);
    - ``reps``: the directory, for ``existing_customer`` (a rep owning the lead's account);
    - ``territories``, ``maturity``: the flow's, for ``in_territory_map`` and ``sales_ready``.
    """
    c = condition
    if c.named_tests and (miss := _unmet_named(c, lead, scores, reps, territories, maturity)) is not None:
        return miss
    local: datetime | None = None
    for label, source, name, test in c.field_tests:
        if source == "fields":
            value = lead.fields.get(name)
        elif source == "now":
            if local is None:
                local = _local(now, zone_of(timezone) if isinstance(timezone, str) else timezone)
            value = WEEKDAYS[local.weekday()] if name == "weekday" else local.hour
        else:
            value = lead.location if name == "country" else getattr(lead, name)
        if (miss := _unmet(label, test, value)) is not None:
            return f"{miss} ({local.tzinfo})" if local is not None and source == "now" else miss
    return None


def _unmet_named(
    c: Condition,
    lead: Lead,
    scores: Scores | None,
    reps: Sequence[Rep],
    territories: Mapping[str, str] | None,
    maturity: Maturity | None,
) -> str | None:
    """The named tests (``sales_ready``, ``score_at_least``, ``sector_in`` ...) of ``unmet_condition``."""
    if c.sales_ready is not None:
        ready, why = (maturity or Maturity()).assess(lead, scores)
        if ready != c.sales_ready:
            return why
    if c.existing_customer is not None:
        is_customer = bool(lead.existing_customer) or any(
            lead.account is not None and lead.account in r.accounts for r in reps
        )
        if is_customer != c.existing_customer:
            return "existing customer" if is_customer else "not an existing customer"
    lead_score = None if scores is None else scores.lead_score
    if c.score_at_least is not None or c.score_below is not None:
        if lead_score is None:
            return "no lead score"
        said = f"lead score {lead_score:.3f}"
        if (miss := _outside(said, lead_score, c.score_at_least, c.score_below, str)) is not None:
            return miss
    if c.score_percentile_at_least is not None or c.score_percentile_below is not None:
        percentile = None if scores is None else scores.lead_score_percentile
        if lead_score is None:
            return "no lead score"
        if percentile is None:
            return "no score percentile (the served model keeps no reference scores: retrain it)"
        said = f"lead score {lead_score:.3f} at percentile {percentile:.1f}"
        bounds = (c.score_percentile_at_least, c.score_percentile_below)
        if (miss := _outside(said, percentile, *bounds, "{:g}".format)) is not None:
            return miss
    for attribute, allowed in c.named_in:
        value = lead.location if attribute == "country" else getattr(lead, attribute)
        if value not in allowed:
            return f"{attribute} {value!r} not in {allowed}"
    if c.in_territory_map is not None and (lead.location in (territories or {})) != c.in_territory_map:
        return f"country {lead.location!r} {'not ' if c.in_territory_map else ''}in the territory map"
    return None


def _outside(
    said: str, value: float, at_least: float | None, below: float | None, bound: Callable[[float], str]
) -> str | None:
    """Why ``value`` (``said`` as the lead's figure) misses ``at_least`` / ``below``; None when it does not."""
    if at_least is not None and value < at_least:
        return f"{said} < {bound(at_least)}"
    if below is not None and value >= below:
        return f"{said} ≥ {bound(below)}"
    return None


@lru_cache(maxsize=256)
def _local(now: datetime, zone: ZoneInfo) -> datetime:
    """``now`` in ``zone``: one conversion per decision, however many reps' filters read the hour."""
    return now.astimezone(zone)


def condition_holds(
    condition: Condition,
    lead: Lead,
    now: datetime,
    *,
    timezone: ZoneInfo | str = "UTC",
    scores: Scores | None = None,
    reps: Sequence[Rep] = (),
    territories: Mapping[str, str] | None = None,
    maturity: Maturity | None = None,
) -> bool:
    """Whether every test of ``condition`` holds for ``lead`` at ``now`` (``unmet_condition`` says why not)."""
    return (
        unmet_condition(
            condition, lead, now, timezone=timezone, scores=scores, reps=reps, territories=territories, maturity=maturity
        )
        is None
    )


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _key(value: Any) -> tuple[str, Any]:
    """A value with its kind, so that equality keeps booleans, numbers and texts apart (``True`` is not
    ``1``, ``"3"`` is not ``3``) while ``40`` equals ``40.0``."""
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int | float):
        return "number", float(value)
    return "text", value


def _unmet(target: str, test: FieldTest, value: Any) -> str | None:
    """The first operator of ``test`` that ``value`` fails, said with the value; None when all hold."""
    empty = _empty(value)
    key = None if empty else _key(value)
    for op, operand in test.checks:
        if op == "is_empty":
            if empty != operand:
                return f"{target} {value!r} is not empty" if operand else f"{target} is empty"
        elif key is None:  # every other operator but not_in fails on an empty value
            if op != "not_in":
                return f"{target} is empty"
        elif op == "not_in":
            if key in operand:
                return f"{target} {value!r} is one of {list(test.not_in or ())}"
        elif op == "equals":
            if key != operand:
                return f"{target} {value!r} is not {test.equals!r}"
        elif op == "in":
            if key not in operand:
                return f"{target} {value!r} not in {list(test.in_ or ())}"
        elif op == "contains":
            if key[0] != "text":
                return f"{target} {value!r} is not text (for contains)"
            if operand not in value:
                return f"{target} {value!r} does not contain {operand!r}"
        else:
            sign, holds = _COMPARISONS[op]
            if key[0] != "number":
                return f"{target} {value!r} is not a number (for {op})"
            if not holds(key[1], operand):
                return f"{target} {value!r} is not {sign} {operand:g}"
    return None
