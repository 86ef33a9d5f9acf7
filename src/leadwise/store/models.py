"""ORM tables of the service. Pydantic schemas live apart, in ``leadwise.api.schemas``.

Invariants the database itself enforces (so that two workers cannot break them):
- a lead is stored once per external id (``uq_leads_external_id``): routing is idempotent;
- a lead has at most one live (offered or accepted) assignment (partial unique index);
- a rep's open-lead counter never goes below 0 nor above its capacity (check constraint), and it is only
  changed by conditional UPDATEs in the same transaction as the assignment row it counts;
- a pool lead leaves the pool once per stay (conditional UPDATE on its status), and an assignment has
  one claim and one outcome.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from leadwise import timekeeping

# Deterministic constraint names: Alembic migrations and both dialects agree on them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# ``reassigned``: a manager gave the lead to another rep (the rep did not reject it). ``withdrawn``: an update
# of the lead met the flow's ``reroute_when`` or ``unassign_when`` (the rep did nothing wrong either).
# ``closed``: the flow's ``close_when`` ended it without an outcome (spam, a test lead).
ASSIGNMENT_STATES = (
    "offered", "accepted", "rejected", "reassigned", "expired", "won", "lost", "returned", "withdrawn", "closed"
)
CLOSED_STATES = ("won", "lost", "closed")  # a lead whose assignment ends so is closed: never routed again
OPEN_STATES = ("offered", "accepted")
ROLES = ("admin", "manager", "rep", "integration")
LEAD_STATUSES = ("assigned", "queued", "closed")
REP_STATUSES = ("available", "away")  # set by the rep itself (POST /v1/reps/{id}/status)
# What a webhook subscription may ask for: the moves of an assignment (``services.events.AssignmentChanged``).
WEBHOOK_EVENTS = (
    "offered", "accepted", "rejected", "reassigned", "expired", "won", "lost", "returned", "withdrawn", "closed"
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def utcnow() -> datetime:
    """The service's clock (``leadwise.timekeeping``: the system's unless a replay accelerates it)."""
    return timekeeping.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store every one naive in UTC so the text order is the time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RepRow(Base):
    """A rep with the routing attributes of ``leadwise.routing.domain.Rep`` and a live open-lead counter."""

    __tablename__ = "reps"
    __table_args__ = (
        CheckConstraint("open_leads >= 0 AND open_leads <= capacity", name="open_within_capacity"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    manager: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))
    # Maximum open (offered + accepted) leads; ``open_leads`` counts them and the check keeps it below.
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    max_per_day: Mapped[int | None] = mapped_column(Integer)
    max_per_week: Mapped[int | None] = mapped_column(Integer)
    # Further capacity windows (``routing.capacity.CapacityWindow`` as JSON): [{"kind": "rolling",
    # "hours": 24, "limit": 3}, {"kind": "period", "period": "month", "limit": 60}, ...]
    capacity_windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    open_leads: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # {"timezone": "UTC", "start": "09:00", "end": "17:00", "weekdays": [0, 1, 2, 3, 4]}; None: always
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # [{"start": iso, "end": iso, "reason": str}]
    out_of_office: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    series: Mapped[list[str]] = mapped_column(JSON, default=list)
    seniority: Mapped[str] = mapped_column(String(20), default="mid")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    territories: Mapped[list[str]] = mapped_column(JSON, default=list)
    accounts_owned: Mapped[list[str]] = mapped_column(JSON, default=list)
    pools: Mapped[list[str]] = mapped_column(JSON, default=list)  # the pools whose leads the rep may claim
    win_rate: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # False: out of every routing strategy (an opt-out), still open to manual assignment and claiming.
    auto_routing: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The rep's own filter and soft preference (``routing.conditions.Condition`` as JSON); None: none.
    accepts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prefers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The rep's own word (available / away), beside the manager's ``active`` and ``out_of_office``; one of
    # REP_STATUSES (the API validates it: SQLite cannot add a check to the existing table without a copy).
    status: Mapped[str] = mapped_column(String(20), default="available", server_default=text("'available'"))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Assignment counters kept on the row (updated with ``open_leads`` in the same conditional UPDATE) so
    # routing reads a rep's day and week load without aggregating the assignments table. A counter whose
    # ``count_day``/``count_week`` (UTC date, Monday for the week) is not the current one reads as 0.
    count_day: Mapped[date | None] = mapped_column(Date)
    assigned_today: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    count_week: Mapped[date | None] = mapped_column(Date)
    assigned_week: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Changes when the rep's settings change (counter updates keep it), so it keys the domain-rep cache.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RepDayCountRow(Base):
    """Leads and expected value a rep received per UTC day: the fairness window is a sum over a few rows
    per rep instead of an aggregate over every assignment in the window."""

    __tablename__ = "rep_day_counts"

    rep_id: Mapped[int] = mapped_column(ForeignKey("reps.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class LeadRow(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    # The lead as received (account, product, engage_date, account fields, extra attributes).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    queue: Mapped[str | None] = mapped_column(String(50))  # nurture / pool / manager when not with a rep
    pool: Mapped[str | None] = mapped_column(String(100))  # the pool's name when queue == "pool"
    blind: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float)
    expected_value: Mapped[float | None] = mapped_column(Float)
    # The fingerprint of the flow's duplicate key on this lead (``routing.lifecycle.duplicate_fingerprint``):
    # a new lead's duplicate check is one indexed lookup. None when the flow has no key or a field is missing.
    duplicate_key: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RoutingFlowRow(Base):
    """A routing flow definition; a change is a new version, so past decisions keep pointing at theirs."""

    __tablename__ = "routing_flows"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_routing_flows_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssignmentRow(Base):
    """One routing decision: who (a rep or a queue), why, with what model, and what became of it."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(
            "state IN ('offered','accepted','rejected','expired','won','lost','queued','returned','reassigned',"
            "'withdrawn','closed')",
            name="state_known",
        ),
        # At most one live assignment per lead, whatever the number of workers.
        Index(
            "uq_assignments_live_lead",
            "lead_id",
            unique=True,
            sqlite_where=text("state IN ('offered','accepted')"),
            postgresql_where=text("state IN ('offered','accepted')"),
        ),
        Index("ix_assignments_state_expires", "state", "expires_at"),
        Index("ix_assignments_rep_state", "rep_id", "state"),
        Index("ix_assignments_rep_created", "rep_id", "created_at"),
        Index("ix_assignments_pool_created", "pool", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    queue: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20), default="route")  # route / batch / manual / claim
    rule: Mapped[str | None] = mapped_column(String(200))
    strategy: Mapped[str | None] = mapped_column(String(100))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    alternatives: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(String(100))
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("routing_flows.id"))
    p_win: Mapped[float | None] = mapped_column(Float)
    expected_value: Mapped[float | None] = mapped_column(Float)
    # The chance the policy had of making this decision (``routing.exploration``); None for manual ones.
    propensity: Mapped[float | None] = mapped_column(Float)
    # The shadow challenger (``LEADWISE_CHALLENGER_ALIAS``), scored on the same lead without routing: its
    # version, its P(win) for the rep chosen and for every rep scored (by name); None without a challenger.
    challenger_version: Mapped[str | None] = mapped_column(String(100))
    challenger_p_win: Mapped[float | None] = mapped_column(Float)
    challenger_scores: Mapped[dict[str, float] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A rejection's reason, an expiry note, a manual assignment's reason, why a manager reassigned it.
    reason: Mapped[str | None] = mapped_column(Text)
    # The flow pool whose step assigned the lead (what a pool's capacity windows count); None otherwise.
    pool: Mapped[str | None] = mapped_column(String(100))


class PoolClaimRow(Base):
    __tablename__ = "pool_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A lead may come back to a pool (rejected, expired) and be claimed again: one claim per assignment.
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("reps.id"))
    pool: Mapped[str | None] = mapped_column(String(100))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutcomeRow(Base):
    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint("result IN ('won','lost')", name="result_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    result: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutcomeCorrectionRow(Base):
    """A manager's correction of a recorded outcome (won ↔ lost, or the value): the audit trail of what it
    was, what it became, who changed it and why. The outcome row itself holds the current truth."""

    __tablename__ = "outcome_corrections"
    __table_args__ = (
        CheckConstraint("previous_result IN ('won','lost') AND result IN ('won','lost')", name="results_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    previous_result: Mapped[str] = mapped_column(String(10))
    previous_value: Mapped[float | None] = mapped_column(Float)
    result: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[str] = mapped_column(String(100))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TouchRow(Base):
    """A marketing touch on a lead (visit, demo request ...): what maturity and attribution read."""

    __tablename__ = "touches"
    __table_args__ = (CheckConstraint("cost IS NULL OR cost >= 0", name="cost_non_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(200))
    touch_type: Mapped[str] = mapped_column(String(50))
    campaign: Mapped[str | None] = mapped_column(String(200))
    cost: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LeadReturnRow(Base):
    """A rep's hand-off of a lead back to marketing (nurture): why, and from which assignment."""

    __tablename__ = "lead_returns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    reason: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    returned_by: Mapped[str] = mapped_column(String(50))  # "rep" or the manager/admin key
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin','manager','rep','integration')", name="role_known"),
        CheckConstraint("role <> 'rep' OR rep_id IS NOT NULL", name="rep_key_has_rep"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings; the key itself is never stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: until revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookSubscriptionRow(Base):
    """A URL that receives the named assignment events, signed with the subscription's secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as given: signing needs the secret itself (it is shown once, at creation, and never listed).
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDeliveryRow(Base):
    """The outbox: one row per event and subscription, written in the transaction of the change it
    announces, delivered (and retried) by the service's webhook worker; it stays as the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending','delivered','failed')", name="status_known"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A worker claims a due row until then, so two workers never post the same delivery at once.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RoutingStateRow(Base):
    """Small shared state of the routing strategies (round-robin pointers ...), one JSON value per key."""

    __tablename__ = "routing_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CapacityPricesRow(Base):
    """The ``optimised`` strategy's capacity prices, one row per price book, shared by every worker and
    replica: the worker holding the lease (``holder`` until ``lease_until``) solves them, all read them."""

    __tablename__ = "capacity_prices"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    prices: Mapped[Any | None] = mapped_column(JSON)  # {rep id: λ}; None before the first solve
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    solved_by: Mapped[str | None] = mapped_column(String(120))
    sample_size: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    note: Mapped[str | None] = mapped_column(Text)
