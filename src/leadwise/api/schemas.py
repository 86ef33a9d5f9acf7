"""Request and response bodies of the HTTP API (the ORM classes live apart, in ``leadwise.store.models``)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from leadwise.marketing.touchpoints import TouchTypeName
from leadwise.routing.capacity import CapacityWindow
from leadwise.routing.conditions import (
    MAX_FIELD_NAME,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    Condition,
    FieldName,
    FieldValue,
)
from leadwise.services.lifecycle import UpdateAction

Role = Literal["admin", "manager", "rep", "integration"]
AssignmentState = Literal[
    "offered", "accepted", "rejected", "reassigned", "expired", "won", "lost", "queued", "returned", "withdrawn",
    "closed",
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=200)]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError("datetimes need a time zone (e.g. 2024-05-01T09:00:00Z)")
    return moment


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]

# A route's ``responses=``: status code -> OpenAPI response object (the type FastAPI's decorators take).
Responses = dict[int | str, dict[str, Any]]


class Problem(BaseModel):
    """Every error body: a short code and a sentence naming the problem."""

    error: str
    detail: Any
    original: dict[str, Any] | None = Field(
        default=None, description="duplicate_lead only: the open lead's lead_id and its latest assignment_id"
    )


# ---------------------------------------------------------------------------------------------- reps


class WorkingHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: Text = "UTC"
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default=[0, 1, 2, 3, 4], max_length=7)

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


class OutOfOfficeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    reason: Text = ""

    @model_validator(mode="after")
    def ordered(self) -> OutOfOfficeIn:
        if self.end <= self.start:
            raise ValueError("out-of-office end must be after start")
        return self


Labels = Annotated[list[Name], Field(max_length=500)]
CapacityWindows = Annotated[list[CapacityWindow], Field(max_length=20)]
CAPACITY_WINDOWS_HELP = (
    "further limits, all of which must hold besides capacity, max_per_day and max_per_week: "
    '{"kind": "open", "limit": N} open leads; {"kind": "period", "period": "hour"|"day"|"week"|"month", '
    '"limit": N} per calendar period in the time zone of the rep\'s hours (UTC without); '
    '{"kind": "rolling", "hours": H (or "days": D), "limit": N} in the last H hours or D days'
)
ACCEPTS_HELP = (
    "the rep's own filter, in the flow condition language (e.g. {\"fields.priority\": {\"in\": [\"high\"]}}): "
    "no strategy offers the rep a lead it does not accept; null: every lead"
)
PREFERS_HELP = (
    "a soft preference, same language: the optimised strategy adds the flow's prefers_bonus to the rep's "
    "expected value for such a lead; other strategies use it only to break ties"
)


class RepBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager: Text | None = None
    team: Text | None = None
    region: Text | None = None
    capacity: int = Field(default=20, ge=0, le=100_000, description="maximum open (offered+accepted) leads")
    max_per_day: int | None = Field(default=None, ge=0, le=100_000)
    max_per_week: int | None = Field(default=None, ge=0, le=100_000)
    capacity_windows: CapacityWindows = Field(default_factory=list, description=CAPACITY_WINDOWS_HELP)
    hours: WorkingHoursIn | None = None
    out_of_office: list[OutOfOfficeIn] = Field(default_factory=list, max_length=100)
    sectors: Labels = Field(default_factory=list)
    products: Labels = Field(default_factory=list)
    series: Labels = Field(default_factory=list)
    seniority: Literal["junior", "mid", "senior"] = "mid"
    weight: float = Field(default=1.0, gt=0, le=1000)
    territories: Labels = Field(default_factory=list)
    accounts_owned: Labels = Field(default_factory=list)
    pools: Labels = Field(default_factory=lambda: ["default"])
    win_rate: float | None = Field(default=None, ge=0, le=1)
    active: bool = True
    auto_routing: bool = Field(
        default=True, description="false: no strategy routes to the rep; manual assignment and claims still work"
    )
    accepts: Condition | None = Field(default=None, description=ACCEPTS_HELP)
    prefers: Condition | None = Field(default=None, description=PREFERS_HELP)


class RepCreate(RepBase):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Ann Lee",
                    "manager": "Dustin Brinkmann",
                    "region": "Central",
                    "capacity": 20,
                    "sectors": ["software"],
                    "series": ["GTX"],
                    "seniority": "senior",
                    "pools": ["default", "Central"],
                    "hours": {"timezone": "Europe/Paris", "start": "09:00", "end": "17:30"},
                    "capacity_windows": [
                        {"kind": "rolling", "hours": 24, "limit": 6},
                        {"kind": "period", "period": "month", "limit": 80},
                    ],
                }
            ]
        },
    )

    name: Name


class RepUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"capacity": 25, "out_of_office": [{"start": "2024-08-01T00:00:00Z", "end": "2024-08-15T00:00:00Z", "reason": "holiday"}]}]})

    name: Name | None = None
    manager: Text | None = None
    team: Text | None = None
    region: Text | None = None
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    max_per_day: int | None = Field(default=None, ge=0, le=100_000)
    max_per_week: int | None = Field(default=None, ge=0, le=100_000)
    capacity_windows: CapacityWindows | None = Field(default=None, description=CAPACITY_WINDOWS_HELP)
    hours: WorkingHoursIn | None = None
    out_of_office: list[OutOfOfficeIn] | None = Field(default=None, max_length=100)
    sectors: Labels | None = None
    products: Labels | None = None
    series: Labels | None = None
    seniority: Literal["junior", "mid", "senior"] | None = None
    weight: float | None = Field(default=None, gt=0, le=1000)
    territories: Labels | None = None
    accounts_owned: Labels | None = None
    pools: Labels | None = None
    win_rate: float | None = Field(default=None, ge=0, le=1)
    active: bool | None = None
    auto_routing: bool | None = None
    accepts: Condition | None = Field(default=None, description=ACCEPTS_HELP + " (send null to clear)")
    prefers: Condition | None = Field(default=None, description=PREFERS_HELP + " (send null to clear)")


class RepPublic(RepBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    open_leads: int
    status: Literal["available", "away"] = Field(description="the rep's own word (POST /v1/reps/{id}/status)")
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RepStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "away"}]})

    status: Literal["available", "away"] = Field(description="away: routing passes the rep by until available")


class RepStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: Literal["available", "away"]
    status_changed_at: datetime | None
    open_leads: int = Field(description="an away rep keeps its open leads")


class RepsPublic(BaseModel):
    data: list[RepPublic]
    count: int


# --------------------------------------------------------------------------------------------- leads

# The marketing package's names of touch types (a demo request, a visit ...), as a Literal for the schema.
TouchType = TouchTypeName


class TouchIn(BaseModel):
    """One marketing touch. ``timestamp``, ``channel`` and ``touch_type`` are what scoring reads."""

    model_config = ConfigDict(extra="forbid")

    timestamp: AwareDatetime
    channel: Name
    touch_type: TouchType
    campaign: Text | None = None
    cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)


Touches = Annotated[list[TouchIn], Field(max_length=1000)]


class LeadFields(BaseModel):
    """A lead's own fields, each optional: what ``LeadIn`` carries besides its id and touches, and what
    ``PATCH /v1/leads/{lead_id}`` may change (``LeadPatch``)."""

    account: Text | None = None
    product: Text | None = None
    series: Text | None = None
    sector: Text | None = None
    revenue: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    employees: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    office_location: Text | None = None
    year_established: int | None = Field(default=None, ge=1600, le=2200)
    engage_date: AwareDatetime | None = None
    country: Text | None = None
    region: Text | None = None
    source: Text | None = None
    existing_customer: bool | None = None


class LeadIn(LeadFields):
    """A lead as a CRM or web form sends it. ``lead_id`` is the caller's id: routing is idempotent on it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"lead_id": "crm-1042", "account": "Acme Corporation", "product": "GTX Pro", "sector": "software", "revenue": 1200.5, "employees": 800, "country": "United States", "source": "web", "touches": [{"timestamp": "2024-05-01T09:00:00Z", "channel": "web", "touch_type": "demo_request"}], "fields": {"priority": "high", "seats": 40, "trial": True}}]})

    lead_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
    touches: Touches = Field(default_factory=list, description="marketing touches so far (stored with the lead)")
    fields: Annotated[dict[FieldName, FieldValue], Field(max_length=MAX_FIELDS)] = Field(
        default_factory=dict,
        description=f"the CRM's own fields, which flow conditions read as fields.NAME: at most {MAX_FIELDS}, each "
        f"name of letters, digits and underscores (at most {MAX_FIELD_NAME} characters, not starting with a digit), "
        f"each value a text of at most {MAX_FIELD_TEXT} characters, a finite number or a boolean",
    )


class LeadPatch(LeadFields):
    """The fields of a stored lead to change: only those sent change (``null`` removes one); touches have
    their own endpoint (``POST /v1/leads/{lead_id}/touches``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"country": "Philippines", "source": "web", "fields": {"priority": "urgent", "trial": None}}]})

    fields: Annotated[dict[FieldName, FieldValue | None], Field(max_length=MAX_FIELDS)] | None = Field(
        default=None,
        description="custom fields to change, key by key: a key sent takes its value, a null removes it; "
        "null for the whole map removes them all (at most MAX_FIELDS kept, as in LeadIn)",
    )

    @model_validator(mode="after")
    def _something(self) -> LeadPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


class TouchesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"touches": [{"timestamp": "2024-05-03T14:00:00Z", "channel": "email", "touch_type": "quote_request", "campaign": "spring"}]}]})

    touches: Annotated[list[TouchIn], Field(min_length=1, max_length=1000)]


# ---------------------------------------------------------------------------------------------- score


class RepScore(BaseModel):
    rep_id: int
    name: str
    p_win: float
    expected_value: float


class ScoreOut(BaseModel):
    lead_id: str
    score: float = Field(description="P(win) of the lead")
    score_percentile: float | None = Field(
        None,
        description="where the score falls among the model's own validation leads' scores, 0-100 "
        "(what a flow's score_percentile_at_least / score_percentile_below read); null for a model "
        "trained without them",
    )
    deal_value: float = Field(description="expected deal value if won")
    expected_value: float = Field(description="score x deal value")
    model_version: str
    reps: list[RepScore]


# ---------------------------------------------------------------------------------------- decisions


class AssignmentPublic(BaseModel):
    id: int
    lead_id: str
    rep_id: int | None
    rep_name: str | None
    queue: str | None
    state: AssignmentState
    source: str
    rule: str | None
    strategy: str | None
    model_version: str | None
    flow_version: int | None
    p_win: float | None
    expected_value: float | None
    propensity: float | None = Field(
        description="P(the policy, as configured, picks this rep for this lead in this state); "
        "1 without exploration, null for a manual assignment or a claim"
    )
    explanation: dict[str, Any]
    alternatives: list[dict[str, Any]]
    created_at: datetime
    expires_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    reason: str | None


class AssignmentsPublic(BaseModel):
    """One page of assignments, newest first."""

    data: list[AssignmentPublic]
    count: int = Field(description="assignments on this page")
    total: int = Field(description="assignments matching the filters, over every page")
    limit: int
    offset: int


class OutcomePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assignment_id: int
    rep_id: int | None
    result: Literal["won", "lost"]
    value: float | None
    recorded_at: datetime


class LeadAudit(BaseModel):
    """A lead and every decision made about it, oldest first: why it went where it went."""

    lead_id: str
    status: str = Field(description="assigned, queued or closed")
    queue: str | None
    pool: str | None
    score: float | None
    expected_value: float | None
    created_at: datetime
    updated_at: datetime
    lead: dict[str, Any] = Field(description="the lead as received")
    touches: int = Field(description="marketing touches stored for the lead")
    decisions: list[AssignmentPublic]
    outcomes: list[OutcomePublic]


RouteResult = Literal["routed", "already_routed", "closed"]


class RouteOut(AssignmentPublic):
    created: bool = Field(description="false when the lead had been routed before (idempotent replay)")
    result: RouteResult = Field(
        description="routed: decided now; already_routed: the stored decision of a lead routed before (same "
        "lead_id); closed: the lead is won, lost or closed by the flow's close_when and is not routed again "
        "(this is its closing decision)"
    )
    why: str | None = Field(default=None, description="why the lead was not routed (result closed)")


class LeadUpdateOut(BaseModel):
    """What ``PATCH /v1/leads/{lead_id}`` changed and what the flow's ``[lifecycle]`` did about it."""

    lead_id: str
    status: str = Field(description="assigned, queued or closed, after the update")
    queue: str | None
    changed: list[str] = Field(description="the fields whose value changed")
    lead: dict[str, Any] = Field(description="the lead's fields after the update")
    action: UpdateAction = Field(
        description="rerouted (reroute_when): routed again through the flow; unassigned (unassign_when): to the "
        "manager queue; closed (close_when); due_moved: the open offer's deadline follows the lead's due_from field"
    )
    why: str | None = Field(description="the rule that acted, or why nothing was re-evaluated")
    ended: AssignmentPublic | None = Field(description="the open assignment the action ended (withdrawn, won, lost, closed)")
    decision: AssignmentPublic | None = Field(description="the new decision (rerouted, unassigned, or a queued lead closed)")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"leads": [{"lead_id": "crm-1043", "product": "GTX Basic", "sector": "retail"}, {"lead_id": "crm-1044", "product": "MG Special", "country": "Germany"}]}]})

    leads: list[LeadIn] = Field(min_length=1, max_length=1000)


class BatchOut(BaseModel):
    data: list[RouteOut]
    count: int


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "not my territory"}]})

    reason: Text = ""


class RejectOut(BaseModel):
    rejected: AssignmentPublic
    next_assignment_id: int
    next: AssignmentPublic | None = Field(
        description="the new decision (hidden from a rep key when it went elsewhere)"
    )


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"result": "won", "value": 5200}]})

    result: Literal["won", "lost"]
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)


class OutcomeCorrectionIn(BaseModel):
    """A manager's correction of a recorded outcome; ``reason`` is kept in the audit trail."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"result": "lost", "value": None, "reason": "deal fell through after signing"}]},
    )

    result: Literal["won", "lost"]
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class OutcomeCorrectionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    assignment_id: int
    previous_result: Literal["won", "lost"]
    previous_value: float | None
    result: Literal["won", "lost"]
    value: float | None
    reason: str
    corrected_by: str
    corrected_at: datetime


class OutcomeCorrectedOut(BaseModel):
    assignment: AssignmentPublic
    corrections: list[OutcomeCorrectionPublic] = Field(description="every correction of this outcome, oldest first")


class ReturnIn(BaseModel):
    """Hand the lead back to marketing; ``reason`` is one of ``Settings.return_reasons``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "not_mature", "note": "wants a call back in Q3"}]})

    reason: Annotated[str, Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class ManualAssignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"rep_id": 5, "reason": "key account"}, {"rep_id": 7, "force": True}]},
    )

    rep_id: int = Field(ge=1, le=2**31 - 1)
    reason: Text = Field(default="", description="stored on the new assignment (its `reason`)")
    force: bool = Field(
        default=False, description="assign to a rep who is out of office (refused with 409 otherwise); warned of"
    )


class PoolLead(BaseModel):
    lead_id: str
    pool: str | None
    queue: str
    blind: bool
    waiting_since: datetime
    score: float | None
    lead: dict[str, Any] | None = Field(description="the lead's details; null in a blind pool until claimed")


class PoolPublic(BaseModel):
    data: list[PoolLead]
    count: int


# ---------------------------------------------------------------------------------------------- stats


class RepStats(BaseModel):
    rep_id: int
    name: str
    active: bool
    capacity: int
    open_leads: int
    leads_received: int
    expected_value_received: float
    won: int
    lost: int
    win_rate: float | None


class StatsOut(BaseModel):
    reps: list[RepStats]
    queues: dict[str, int]
    assignments_by_state: dict[str, int]
    fairness: dict[str, float | None]
    model_version: str | None


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"role": "rep", "name": "Ann's laptop", "rep_id": 1, "expires_at": "2027-01-01T00:00:00Z"}]
        },
    )

    role: Role
    name: Name = "api key"
    rep_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    expires_at: AwareDatetime | None = Field(default=None, description="the key stops working then (null: never)")


class KeyCreated(BaseModel):
    id: int
    role: Role
    rep_id: int | None
    expires_at: datetime | None = None
    key: str = Field(description="shown once; only its hash is stored")


class KeyPublic(BaseModel):
    """A key as listed: its prefix identifies it, the key itself is never stored nor shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    role: Role
    rep_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


# ------------------------------------------------------------------------------------------- webhooks

WebhookEvent = Literal[
    "offered", "accepted", "rejected", "reassigned", "expired", "won", "lost", "returned", "withdrawn", "closed"
]
ALL_WEBHOOK_EVENTS: list[WebhookEvent] = list(get_args(WebhookEvent))  # the store's WEBHOOK_EVENTS (a test checks)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/hooks/leadwise",
                    "events": ["offered", "accepted", "won", "lost"],
                    "description": "CRM sync",
                }
            ]
        },
    )

    url: AnyHttpUrl = Field(description="http(s) URL that receives a POST per event")
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(ALL_WEBHOOK_EVENTS),
        min_length=1,
        max_length=len(ALL_WEBHOOK_EVENTS),
        description="default: all",
    )
    description: Text | None = None
    secret: Annotated[str, Field(min_length=16, max_length=200)] | None = Field(
        default=None, description="the HMAC-SHA256 key (default: generated, shown once)"
    )

    @field_validator("url")
    @classmethod
    def short_enough(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > 2000:
            raise ValueError("url longer than 2000 characters")
        return url


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[WebhookEvent]
    description: str | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="shown once: verify X-Leadwise-Signature with it")


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    event: WebhookEvent
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = Field(description="the receiver's last answer (null: not reached)")
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime = Field(description="for a pending delivery: when it is tried next")
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="the body posted (as JSON)")


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------------------------------------- flows


class FlowIn(BaseModel):
    """A routing flow as written in a flow file (see ``training/flows/default.toml``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"source": '[[steps]]\nname = "everyone"\npool = "everyone"\nstrategy = "round_robin"\n'}]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")] = "default"
    format: Literal["toml", "yaml"] = "toml"
    source: Annotated[str, Field(min_length=1, max_length=200_000, description="the flow file's text")]


class FlowPublic(BaseModel):
    id: int
    name: str
    version: int
    label: str = Field(description="the file's own `name`: a label of this version (routing uses `default`)")
    active: bool
    created_at: datetime
    format: str
    source: str
    flow: dict[str, Any] = Field(description="the validated flow, every default filled in")


class FlowsPublic(BaseModel):
    data: list[FlowPublic]
    count: int


_PREVIEW_DRAFT = (
    'name = "medical first"\n[pools.everyone]\n\n[[steps]]\nname = "medical"\n'
    'when = { sector_in = ["medical"] }\npool = "everyone"\nstrategy = "specialist"\n\n'
    '[[steps]]\nname = "everyone else"\npool = "everyone"\nstrategy = "round_robin"\n'
)


class FlowPreviewIn(BaseModel):
    """A lead, and optionally a draft flow; without ``source`` the active flow is previewed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"lead": {"lead_id": "crm-1001", "account": "Acme Corporation", "product": "GTX Pro"}},
                {"lead": {"lead_id": "crm-1002", "sector": "medical"}, "source": _PREVIEW_DRAFT, "format": "toml"},
            ]
        },
    )

    lead: LeadIn
    source: Annotated[str, Field(min_length=1, max_length=200_000)] | None = Field(
        default=None, description="a draft flow file's text; validated as publishing would (422 names the line)"
    )
    format: Literal["toml", "yaml"] = "toml"


class FlowPreviewOut(BaseModel):
    lead_id: str
    outcome: Literal["assigned", "nurture", "manager_queue", "claim_pool", "blind_pool", "closed"] = Field(
        description="closed: the flow's close_when holds, so the lead would not be routed"
    )
    rep_id: int | None
    rep_name: str | None
    queue: str | None = Field(description="the queue the lead would wait in when no rep gets it")
    rule: str | None = Field(description="the flow step that decided")
    strategy: str | None
    flow: Literal["draft", "active"]
    flow_version: int | None = Field(description="the active version previewed; null for a draft")
    model_version: str | None
    p_win: float | None
    expected_value: float | None = Field(description="P(win) x deal value, in the deal's currency")
    explanation: dict[str, Any]
    stored: bool = Field(default=False, description="always false: a preview stores nothing")


class FlowDiffOut(BaseModel):
    name: str
    from_version: int
    to_version: int
    source_diff: str = Field(description="unified diff of the flow files as written")
    flow_diff: str = Field(description="unified diff of the validated flows (defaults filled in), as JSON")


class TouchesOut(BaseModel):
    lead_id: str
    added: int
    touches: int = Field(description="touches stored for the lead, these included")
    sales_ready: bool | None = Field(description="judged for a lead waiting in nurture only (else null)")
    why: str | None
    rerouted: bool = Field(description="the lead matured out of nurture and went through the flow again")
    decision: AssignmentPublic | None


# -------------------------------------------------------------------------------------------- reports


class GroupConversion(BaseModel):
    key: str
    leads: int
    closed: int
    won: int
    conversion_rate: float | None = Field(description="won / closed (open leads are not losses)")
    won_value: float


class ConversionOut(BaseModel):
    channel_basis: str = Field(description="first_touch: a lead counts for the channel of its first touch")
    total: GroupConversion
    by_channel: list[GroupConversion]
    by_source: list[GroupConversion]
    by_customer: list[GroupConversion]
    by_series: list[GroupConversion]
    by_rep: list[GroupConversion]


class SpeedGroup(BaseModel):
    key: str
    assignments: int
    median_seconds_to_assignment: float | None
    p90_seconds_to_assignment: float | None
    accepted: int
    median_seconds_to_acceptance: float | None
    p90_seconds_to_acceptance: float | None


class SlaGroup(BaseModel):
    key: str
    offers: int = Field(description="offers with an SLA deadline that are no longer waiting")
    accepted_within_sla: int
    expired: int
    adherence: float | None


class SpeedOut(BaseModel):
    by_rep: list[SpeedGroup]
    by_hour: list[SpeedGroup] = Field(description="hour of day (UTC) the lead was created")
    sla: list[SlaGroup]


class ReturnCount(BaseModel):
    reason: str
    count: int


class RepReturnCount(BaseModel):
    rep: str
    reason: str
    count: int


class ReturnsOut(BaseModel):
    total: int
    reasons: list[ReturnCount]
    by_rep: list[RepReturnCount]


class ChannelCredit(BaseModel):
    channel: str
    conversions: float = Field(description="credited won deals")
    share: float | None
    revenue: float
    journeys: int
    converted_journeys: int
    conversion_rate: float | None
    cost: float
    cost_per_won: float | None


class AttributionOut(BaseModel):
    model: str
    exact: bool
    note: str
    journeys: int = Field(description="leads with touches and a recorded outcome")
    won: int
    channels: list[ChannelCredit]


# ------------------------------------------------------------------------------------ model monitoring


class ReliabilityBin(BaseModel):
    predicted: float = Field(description="mean served P(win) in the bin")
    observed: float = Field(description="won / closed in the bin")
    count: int


class CalibrationOut(BaseModel):
    n: int = Field(description="decisions with a served P(win) and a recorded outcome")
    ece: float | None = Field(description="expected calibration error (10 equal-width bins)")
    curve: list[ReliabilityBin]


class DriftOut(BaseModel):
    leads: int = Field(description="latest leads routed by the served version that were compared")
    psi: dict[str, float] = Field(description="population stability index per feature vs the training deals")


class TrainingRunOut(BaseModel):
    run_id: str
    experiment_id: str
    registry_version: str
    metrics: dict[str, float] = Field(description="the run's validation metrics (model search left out)")
    url: str | None = Field(description="the run in the MLflow UI (setting mlflow_ui_url), or null")


class SideBySideOut(BaseModel):
    champion: CalibrationOut = Field(description="the routing champion's P(win) for the rep chosen")
    challenger: CalibrationOut = Field(description="the challenger's P(win) for the same rep, same decisions")


class OffPolicyOut(BaseModel):
    estimate: float = Field(description="expected win rate per lead of best_fit by this model (doubly robust)")
    ci_low: float
    ci_high: float
    method: str
    estimators: dict[str, dict[str, Any]] = Field(description="ips, snips and dr, each with its interval")
    matched: int = Field(description="logged decisions where this policy would have picked the rep chosen")
    effective_sample_size: float


class ChallengerOut(BaseModel):
    alias: str | None = Field(description="LEADWISE_CHALLENGER_ALIAS")
    model_version: str | None = Field(description="the challenger version loaded now (None: none registered)")
    calibration: dict[str, SideBySideOut] = Field(description="per challenger version, on the closed decisions "
                                                  "it was scored on")  # fmt: skip
    ope: dict[str, OffPolicyOut] | dict[str, str] | None = Field(
        description="best_fit by the champion and by the challenger, estimated on the same log; a note "
        "when there is nothing to estimate on yet"
    )


class ModelReportOut(BaseModel):
    model_version: str | None
    validation_ece: float | None = Field(default=None, description="the fit model's ECE on its validation rows")
    training_run: TrainingRunOut | None = Field(
        default=None, description="the MLflow run that trained the served version (null: not in the registry)"
    )
    calibration: dict[str, CalibrationOut] = Field(description="per model version")
    drift: DriftOut | dict[str, Any]
    warnings: list[str]
    challenger: ChallengerOut | None = Field(
        default=None, description="the shadow challenger beside the champion (when LEADWISE_CHALLENGER_ALIAS is set)"
    )


# ----------------------------------------------------------------------------------- fairness over time


class RepShareOut(BaseModel):
    rep: str
    leads: int
    expected_value: float
    fair_share: float = Field(description="weight / total weight of the pool (1 / reps unless weighted)")
    lead_share: float
    value_share: float
    lead_ratio: float = Field(description="lead_share / fair_share: what the flow's lead bounds limit")
    value_ratio: float
    outside: list[str] = Field(description="the bounds this share breaks, in words")


class PeriodSharesOut(BaseModel):
    start: datetime
    leads: int = Field(description="offers made to reps in the period")
    expected_value: float
    gini_leads: float
    gini_value: float
    reps: list[RepShareOut]


class FairnessOut(BaseModel):
    period: Literal["day", "week"]
    since: datetime
    end: datetime
    bounds: dict[str, Any] | None = Field(description="the active flow's fairness bounds (ratios to the fair share)")
    bounds_source: str
    window_days: float | None = Field(description="the rolling window routing enforces the bounds over")
    overall: PeriodSharesOut
    periods: list[PeriodSharesOut] = Field(description="oldest first; the last is the current, partial period")


# --------------------------------------------------------------------------------------------- what-if


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"source": "synthetic", "policies": ["round_robin", "best_fit", "optimised"], "leads": 400, "reps": 10, "worlds": 3}]})

    source: Literal["synthetic", "log"] = Field(
        description="synthetic: worlds with known truth (leadwise.simulate); log: off-policy evaluation of the "
        "service's own closed decisions (leadwise.loop.ope)"
    )
    policies: list[Annotated[str, Field(max_length=50)]] = Field(
        min_length=1, max_length=8,
        description="synthetic: round_robin, load_balancing, performance, best_fit, optimised, batch; "
        "log: best_fit, round_robin, random",
    )  # fmt: skip
    leads: int = Field(default=400, ge=50, le=2000, description="synthetic: leads per world")
    reps: int = Field(default=10, ge=4, le=30, description="synthetic: reps per world")
    worlds: int = Field(default=3, ge=1, le=5, description="synthetic: worlds (the interval is across them)")
    seed: int = Field(default=1, ge=0, le=1_000_000)
    decisions: int = Field(default=5000, ge=10, le=20_000, description="log: the latest closed decisions used")
    resamples: int = Field(default=300, ge=100, le=2000, description="log: bootstrap resamples")


class PolicyEstimateOut(BaseModel):
    policy: str
    estimate: float
    ci_low: float
    ci_high: float
    detail: dict[str, Any]


class WhatIfResultOut(BaseModel):
    source: Literal["synthetic", "log"]
    measure: str
    interval: str
    n: int
    observed: float | None = None
    policies: list[PolicyEstimateOut]
    note: str


class WhatIfJobOut(BaseModel):
    id: str
    kind: Literal["synthetic", "log"]
    params: dict[str, Any]
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1)
    message: str
    created_at: datetime
    finished_at: datetime | None
    result: WhatIfResultOut | None
    error: str | None
