"""Queries and guarded writes on the tables; every function takes the session as a keyword argument.

The writes that protect invariants are conditional UPDATEs whose row count says whether they won
(``take_capacity``, ``transition``): two workers racing for the same row cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from leadwise.store.models import (
    OPEN_STATES,
    ApiKeyRow,
    AssignmentRow,
    CapacityPricesRow,
    LeadReturnRow,
    LeadRow,
    OutcomeRow,
    RepDayCountRow,
    RepRow,
    RoutingFlowRow,
    RoutingStateRow,
    TouchRow,
    utcnow,
)

KEY_PREFIX = "lw_"


def _insert_for(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


# --------------------------------------------------------------------------------------------- reps


def list_reps(*, session: Session, active_only: bool = False) -> list[RepRow]:
    query = select(RepRow).order_by(RepRow.id)
    if active_only:
        query = query.where(RepRow.active.is_(True))
    return list(session.scalars(query))


def get_rep(*, session: Session, rep_id: int) -> RepRow | None:
    return session.get(RepRow, rep_id)


def get_rep_by_name(*, session: Session, name: str) -> RepRow | None:
    return session.scalar(select(RepRow).where(RepRow.name == name))


def count_reps(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RepRow)) or 0)


@dataclass(frozen=True)
class RepHead:
    """The columns routing reads on every request; the full row (JSON settings) is fetched only when
    ``updated_at`` says the cached domain object is stale. Counters are already reset to 0 when their
    day or week is over."""

    id: int
    name: str
    open_leads: int
    updated_at: datetime
    assigned_today: int = 0
    assigned_week: int = 0
    last_assigned_at: datetime | None = None


def day_and_week(now: datetime) -> tuple[date, date]:
    """The UTC day of ``now`` and the Monday of its ISO week: the keys of the rep-row counters."""
    day = now.astimezone(UTC).date()
    return day, day - timedelta(days=day.weekday())


# The statements on the routing path are built once: constructing a SQLAlchemy statement costs more than
# running it against SQLite, and a prebuilt one also hits the compiled-SQL cache every time.
_ACTIVE_REP_HEADS = (
    select(
        RepRow.id,
        RepRow.name,
        RepRow.open_leads,
        RepRow.updated_at,
        RepRow.count_day,
        RepRow.assigned_today,
        RepRow.count_week,
        RepRow.assigned_week,
        RepRow.last_assigned_at,
    )
    .where(RepRow.active.is_(True))
    .order_by(RepRow.id)
)
_LOCK_ACTIVE_REPS = _ACTIVE_REP_HEADS.with_for_update()


def lock_active_reps(*, session: Session, now: datetime, lock: bool = True) -> list[RepHead]:
    """The active reps, row-locked until the transaction ends (PostgreSQL; SQLite already holds its
    writer lock from ``BEGIN IMMEDIATE``). Locked in id order so two routers never deadlock. Without
    ``lock``, a plain read (a flow preview, which decides nothing it stores)."""
    day, week = day_and_week(now)
    return [
        RepHead(
            id=rid,
            name=name,
            open_leads=open_leads,
            updated_at=updated,
            assigned_today=today if count_day == day else 0,
            assigned_week=n_week if count_week == week else 0,
            last_assigned_at=last,
        )
        for rid, name, open_leads, updated, count_day, today, count_week, n_week, last in session.connection().execute(
            _LOCK_ACTIVE_REPS if lock else _ACTIVE_REP_HEADS
        )
    ]


def lock_rep(*, session: Session, rep_id: int) -> RepRow | None:
    return session.scalar(select(RepRow).where(RepRow.id == rep_id).with_for_update())


_TAKE_LEAD = (
    update(RepRow)
    .where(RepRow.id == bindparam("rep"), RepRow.open_leads < RepRow.capacity)
    .values(
        open_leads=RepRow.open_leads + 1,
        assigned_today=case((RepRow.count_day == bindparam("day"), RepRow.assigned_today + 1), else_=1),
        count_day=bindparam("day"),
        assigned_week=case((RepRow.count_week == bindparam("week"), RepRow.assigned_week + 1), else_=1),
        count_week=bindparam("week"),
        last_assigned_at=bindparam("now", type_=RepRow.last_assigned_at.type),
        updated_at=RepRow.updated_at,  # a counter is not a settings change: keep the rep cache valid
    )
    .execution_options(synchronize_session=False)
)


def _day_bucket(dialect: str) -> Any:
    stmt = _insert_for(dialect)(RepDayCountRow).values(
        rep_id=bindparam("rep"), day=bindparam("day"), leads=1, value=bindparam("value")
    )
    return stmt.on_conflict_do_update(
        index_elements=[RepDayCountRow.rep_id, RepDayCountRow.day],
        set_={"leads": RepDayCountRow.leads + 1, "value": RepDayCountRow.value + stmt.excluded.value},
    )


_DAY_BUCKET = {dialect: _day_bucket(dialect) for dialect in ("sqlite", "postgresql")}


def take_lead(*, session: Session, rep_id: int, now: datetime, value: float | None = None) -> bool:
    """Give the rep one more open lead unless that would exceed its capacity, and count it (today, this
    week, the day's bucket of the fairness window) in the same transaction. False when the rep is full."""
    day, week = day_and_week(now)
    result = session.connection().execute(_TAKE_LEAD, {"rep": rep_id, "day": day, "week": week, "now": now})
    if result.rowcount != 1:
        return False
    session.connection().execute(
        _DAY_BUCKET[session.get_bind().dialect.name],
        {"rep": rep_id, "day": day, "value": float(value or 0.0)},
    )
    return True


def release_capacity(*, session: Session, rep_id: int) -> None:
    session.execute(
        update(RepRow)
        .where(RepRow.id == rep_id, RepRow.open_leads > 0)
        .values(open_leads=RepRow.open_leads - 1, updated_at=RepRow.updated_at)
        .execution_options(synchronize_session=False)
    )


_WINDOW_COUNTS = (
    select(RepDayCountRow.rep_id, func.sum(RepDayCountRow.leads), func.sum(RepDayCountRow.value))
    .where(RepDayCountRow.day >= bindparam("start", type_=RepDayCountRow.day.type))
    .group_by(RepDayCountRow.rep_id)
)


def window_counts(*, session: Session, now: datetime, window: timedelta) -> dict[int, tuple[int, float]]:
    """Leads and expected value each rep received in the fairness window, by whole UTC days (the day
    the window starts in counts fully: a window of 7 days covers 7 to 8 days)."""
    start = (now - window).astimezone(UTC).date()
    return {
        int(r): (int(n or 0), float(v or 0.0))
        for r, n, v in session.connection().execute(_WINDOW_COUNTS, {"start": start})
    }


def _counts_since(
    session: Session, column: Any, keys: Collection[Any], starts: Sequence[datetime]
) -> dict[Any, list[int]]:
    """Per key of ``column`` (a rep or a pool), the assignments to a rep created at or after each of
    ``starts``: one indexed range scan from the earliest, a conditional sum per start."""
    if not keys or not starts:
        return {}
    sums = [
        func.sum(case((AssignmentRow.created_at >= bindparam(f"s{k}", start, type_=AssignmentRow.created_at.type), 1), else_=0))
        for k, start in enumerate(starts)
    ]
    query = (
        select(column, *sums)
        .where(
            column.in_(list(keys)),
            AssignmentRow.rep_id.is_not(None),
            AssignmentRow.created_at >= bindparam("earliest", min(starts), type_=AssignmentRow.created_at.type),
        )
        .group_by(column)
    )
    return {row[0]: [int(n or 0) for n in row[1:]] for row in session.execute(query)}


def rep_counts_since(*, session: Session, rep_ids: Collection[int], starts: Sequence[datetime]) -> dict[int, list[int]]:
    """Leads each rep was given since each of ``starts`` (the capacity windows the row counters do not
    keep); reps given none are left out."""
    return _counts_since(session, AssignmentRow.rep_id, rep_ids, starts)


def pool_counts_since(*, session: Session, pools: Collection[str], starts: Sequence[datetime]) -> dict[str, list[int]]:
    """Leads the flow's steps assigned through each pool since each of ``starts``."""
    return _counts_since(session, AssignmentRow.pool, pools, starts)


def pool_open_counts(*, session: Session, pools: Collection[str]) -> dict[str, int]:
    """Open (offered or accepted) leads each pool's steps assigned."""
    if not pools:
        return {}
    query = (
        select(AssignmentRow.pool, func.count())
        .where(AssignmentRow.pool.in_(list(pools)), AssignmentRow.state.in_(OPEN_STATES))
        .group_by(AssignmentRow.pool)
    )
    return {str(pool): int(n) for pool, n in session.execute(query)}


def leads_since(*, session: Session, since: datetime) -> int:
    """Assignments to reps since ``since`` (the arrival rate the capacity pricer plans for)."""
    query = (
        select(func.count())
        .select_from(AssignmentRow)
        .where(AssignmentRow.rep_id.is_not(None), AssignmentRow.created_at >= since)
    )
    return int(session.scalar(query) or 0)


def lead_arrivals(*, session: Session, since: datetime, limit: int = 100_000) -> list[datetime]:
    """When leads arrived since ``since`` (newest ``limit``): the demand model's own log."""
    query = select(LeadRow.created_at).where(LeadRow.created_at >= since)
    return list(session.scalars(query.order_by(LeadRow.created_at.desc()).limit(limit)))


def leads_created_since(*, session: Session, since: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(LeadRow).where(LeadRow.created_at >= since)) or 0)


def open_durations(*, session: Session, since: datetime, limit: int = 5_000) -> list[timedelta]:
    """How long offers to reps stayed open (offered → closed, any ending), for those closed since ``since``."""
    query = (
        select(AssignmentRow.created_at, AssignmentRow.closed_at)
        .where(AssignmentRow.rep_id.is_not(None), AssignmentRow.closed_at >= since)
        .order_by(AssignmentRow.closed_at.desc())
        .limit(limit)
    )
    return [closed - created for created, closed in session.execute(query) if closed is not None]


def open_offer_times(*, session: Session, limit: int = 20_000) -> list[datetime]:
    """When the offers to reps still open (offered or accepted) were made, oldest first (the oldest bound
    how long leads stay open)."""
    query = (
        select(AssignmentRow.created_at)
        .where(AssignmentRow.rep_id.is_not(None), AssignmentRow.state.in_(OPEN_STATES))
        .order_by(AssignmentRow.created_at)
        .limit(limit)
    )
    return list(session.scalars(query))


# -------------------------------------------------------------------------------------- leads/assign


def get_lead(*, session: Session, lead_id: int) -> LeadRow | None:
    return session.get(LeadRow, lead_id)


_LEAD_BY_EXTERNAL_ID = select(LeadRow).where(LeadRow.external_id == bindparam("external_id"))
_LEAD_ID_BY_EXTERNAL_ID = select(LeadRow.id).where(LeadRow.external_id == bindparam("external_id"))


def get_lead_by_external_id(*, session: Session, external_id: str) -> LeadRow | None:
    return session.scalar(_LEAD_BY_EXTERNAL_ID, {"external_id": external_id})


def lead_id_by_external_id(*, session: Session, external_id: str) -> int | None:
    """The stored id of a lead, without loading the row (the idempotency check of every route)."""
    return session.connection().scalar(_LEAD_ID_BY_EXTERNAL_ID, {"external_id": external_id})


_OPEN_LEAD_WITH_KEY = (
    select(LeadRow.id, LeadRow.external_id, LeadRow.created_at)
    .where(
        LeadRow.duplicate_key == bindparam("duplicate_key"),
        LeadRow.status != "closed",
        LeadRow.created_at >= bindparam("since"),
    )
    .order_by(LeadRow.id)
    .limit(1)
)


def open_lead_with(*, session: Session, duplicate_key: str, since: datetime) -> Row[int, str, datetime] | None:
    """(id, external id, received) of the earliest lead not closed, received since ``since``, with this
    duplicate key fingerprint (``routing.lifecycle.duplicate_fingerprint``; indexed). A plain statement
    on the connection: the check runs for every new lead and must not flush the session first."""
    return session.connection().execute(_OPEN_LEAD_WITH_KEY, {"duplicate_key": duplicate_key, "since": since}).first()


def open_assignment(*, session: Session, lead_id: int) -> AssignmentRow | None:
    """The lead's live (offered or accepted) assignment: at most one (a partial unique index)."""
    return session.scalar(
        select(AssignmentRow).where(AssignmentRow.lead_id == lead_id, AssignmentRow.state.in_(OPEN_STATES))
    )


def latest_assignment(*, session: Session, lead_id: int) -> AssignmentRow | None:
    query = select(AssignmentRow).where(AssignmentRow.lead_id == lead_id).order_by(AssignmentRow.id.desc())
    return session.scalar(query.limit(1))


def get_assignment(*, session: Session, assignment_id: int) -> AssignmentRow | None:
    return session.get(AssignmentRow, assignment_id)


def find_assignments(
    *,
    session: Session,
    states: Sequence[str] = (),
    rep_id: int | None = None,
    lead_key: int | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AssignmentRow], int]:
    """Assignments matching every filter given, newest first, one page of them and how many match."""
    conditions: list[Any] = []
    if states:
        conditions.append(AssignmentRow.state.in_(list(states)))
    if rep_id is not None:
        conditions.append(AssignmentRow.rep_id == rep_id)
    if lead_key is not None:
        conditions.append(AssignmentRow.lead_id == lead_key)
    if since is not None:
        conditions.append(AssignmentRow.created_at >= since)
    total = session.scalar(select(func.count()).select_from(AssignmentRow).where(*conditions)) or 0
    page = (
        select(AssignmentRow)
        .where(*conditions)
        .order_by(AssignmentRow.created_at.desc(), AssignmentRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(page)), int(total)


def lead_assignments(*, session: Session, lead_id: int) -> list[AssignmentRow]:
    """Every decision on a lead, in the order it was made."""
    return list(session.scalars(select(AssignmentRow).where(AssignmentRow.lead_id == lead_id).order_by(AssignmentRow.id)))


def lead_outcomes(*, session: Session, lead_id: int) -> list[OutcomeRow]:
    return list(session.scalars(select(OutcomeRow).where(OutcomeRow.lead_id == lead_id).order_by(OutcomeRow.id)))


# -------------------------------------------------------------------------------------------- touches


def add_touches(
    *, session: Session, lead_id: int, touches: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Append marketing touches (``timestamp, channel, touch_type, campaign, cost``) to a stored lead."""
    if touches:
        session.execute(
            # Declarative types ``__table__`` as any FromClause (a class may map a select); it is a Table.
            cast(Table, TouchRow.__table__).insert(),
            [
                {
                    "lead_id": lead_id,
                    "timestamp": t["timestamp"],
                    "channel": t["channel"],
                    "touch_type": t["touch_type"],
                    "campaign": t.get("campaign"),
                    "cost": t.get("cost"),
                    "created_at": now,
                }
                for t in touches
            ],
        )


def lead_touches(*, session: Session, lead_id: int) -> list[dict[str, Any]]:
    """A lead's touches in time order, as the API takes them."""
    rows = session.execute(
        select(TouchRow.timestamp, TouchRow.channel, TouchRow.touch_type, TouchRow.campaign, TouchRow.cost)
        .where(TouchRow.lead_id == lead_id)
        .order_by(TouchRow.timestamp, TouchRow.id)
    ).all()
    return [
        {"timestamp": r[0], "channel": r[1], "touch_type": r[2], "campaign": r[3], "cost": r[4]} for r in rows
    ]


def lead_touch_types(*, session: Session, lead_id: int, since: datetime | None = None) -> frozenset[str]:
    """The touch types seen on a lead (only touches timestamped after ``since`` when given)."""
    query = select(TouchRow.touch_type).where(TouchRow.lead_id == lead_id)
    if since is not None:
        query = query.where(TouchRow.timestamp > since)
    return frozenset(session.scalars(query.distinct()))


def last_return_at(*, session: Session, lead_id: int) -> datetime | None:
    """When a rep last handed the lead back to marketing (None if never)."""
    return session.scalar(select(func.max(LeadReturnRow.returned_at)).where(LeadReturnRow.lead_id == lead_id))


def transition(
    *, session: Session, assignment_id: int, from_states: Sequence[str], to_state: str, **values: Any
) -> bool:
    """Move an assignment to ``to_state`` only if it is still in one of ``from_states``.

    The row count is the arbiter: of two workers expiring or accepting the same assignment, one wins.
    """
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute is typed as returning Result.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(AssignmentRow)
            .where(AssignmentRow.id == assignment_id, AssignmentRow.state.in_(list(from_states)))
            .values(state=to_state, **values)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def overdue_offers(*, session: Session, now: datetime, limit: int = 500) -> list[AssignmentRow]:
    query = (
        select(AssignmentRow)
        .where(AssignmentRow.state == "offered", AssignmentRow.expires_at <= now)
        .order_by(AssignmentRow.expires_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def open_assignment_counts(*, session: Session) -> dict[int, int]:
    query = (
        select(AssignmentRow.rep_id, func.count())
        .where(AssignmentRow.state.in_(OPEN_STATES), AssignmentRow.rep_id.is_not(None))
        .group_by(AssignmentRow.rep_id)
    )
    return {int(rep_id): int(n) for rep_id, n in session.execute(query) if rep_id is not None}


# ------------------------------------------------------------------------------------------- flows


_ACTIVE_FLOW = (
    select(RoutingFlowRow)
    .where(RoutingFlowRow.name == bindparam("name"), RoutingFlowRow.active.is_(True))
    .order_by(RoutingFlowRow.version.desc())
    .limit(1)
)


def active_flow(*, session: Session, name: str = "default") -> RoutingFlowRow | None:
    return session.scalar(_ACTIVE_FLOW, {"name": name})


_ACTIVE_FLOW_HEAD = (
    select(RoutingFlowRow.id, RoutingFlowRow.version, RoutingFlowRow.created_at)
    .where(RoutingFlowRow.name == bindparam("name"), RoutingFlowRow.active.is_(True))
    .order_by(RoutingFlowRow.version.desc())
    .limit(1)
)


def active_flow_head(*, session: Session, name: str = "default") -> tuple[int, int, datetime] | None:
    """Id, version and creation time of the active version (what routing checks on every lead; the
    definition itself is read once per version)."""
    row = session.connection().execute(_ACTIVE_FLOW_HEAD, {"name": name}).first()
    return None if row is None else (row[0], row[1], row[2])


def list_flows(*, session: Session, name: str | None = None) -> list[RoutingFlowRow]:
    query = select(RoutingFlowRow).order_by(RoutingFlowRow.name, RoutingFlowRow.version.desc())
    if name is not None:
        query = query.where(RoutingFlowRow.name == name)
    return list(session.scalars(query))


def count_flows(*, session: Session, name: str) -> int:
    query = select(func.count()).select_from(RoutingFlowRow).where(RoutingFlowRow.name == name)
    return int(session.scalar(query) or 0)


def publish_flow(*, session: Session, name: str, definition: dict[str, Any]) -> RoutingFlowRow:
    """Store ``definition`` as the next version of flow ``name``; older versions stay for past decisions."""
    latest = session.scalar(select(func.max(RoutingFlowRow.version)).where(RoutingFlowRow.name == name))
    session.execute(
        update(RoutingFlowRow)
        .where(RoutingFlowRow.name == name)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    row = RoutingFlowRow(name=name, version=int(latest or 0) + 1, definition=definition, active=True)
    session.add(row)
    session.flush()
    return row


def get_flow_version(*, session: Session, name: str, version: int) -> RoutingFlowRow | None:
    return session.scalar(
        select(RoutingFlowRow).where(RoutingFlowRow.name == name, RoutingFlowRow.version == version)
    )


def activate_flow(*, session: Session, row: RoutingFlowRow) -> None:
    """Make ``row`` the one active version of its flow (the others stay stored, inactive)."""
    session.execute(
        update(RoutingFlowRow)
        .where(RoutingFlowRow.name == row.name)
        .values(active=RoutingFlowRow.id == row.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)


# -------------------------------------------------------------------------------------------- keys


def hash_key(key: str) -> str:
    # Keys are 32 random bytes: a fast unsalted hash is enough (no dictionary to attack), and lookups
    # by hash stay one indexed query.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    *,
    session: Session,
    role: str,
    name: str,
    rep_id: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKeyRow, str]:
    """A new key row and the key itself, which is returned once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        name=name, prefix=key[:10], key_hash=hash_key(key), role=role, rep_id=rep_id, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    return row, key


def find_api_key(*, session: Session, key: str) -> ApiKeyRow | None:
    return find_api_key_by_hash(session=session, key_hash=hash_key(key))


def find_api_key_by_hash(*, session: Session, key_hash: str) -> ApiKeyRow | None:
    """The unrevoked key with this hash (the console's session cookie carries the hash, not the key)."""
    query = select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
    return session.scalar(query)


def list_api_keys(*, session: Session, include_revoked: bool = False) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if not include_revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return list(session.scalars(query))


def count_api_keys(*, session: Session, role: str | None = None) -> int:
    query = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
    if role is not None:
        query = query.where(ApiKeyRow.role == role)
    return int(session.scalar(query) or 0)


# ----------------------------------------------------------------------------------- routing state


def _state_upsert(dialect: str) -> Any:
    stmt = _insert_for(dialect)(RoutingStateRow).values(
        key=bindparam("key"),
        value=bindparam("value", type_=RoutingStateRow.value.type),
        updated_at=bindparam("now", type_=RoutingStateRow.updated_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[RoutingStateRow.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )


_STATE_GET = select(RoutingStateRow.value).where(RoutingStateRow.key == bindparam("key")).with_for_update()
_STATE_SET = {dialect: _state_upsert(dialect) for dialect in ("sqlite", "postgresql")}


class DbRoutingState:
    """``leadwise.routing.state.RoutingState`` over the ``routing_state`` table, inside the caller's
    transaction: pointer moves commit (or roll back) together with the decision that made them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        if key not in self._cache:
            self._cache[key] = self.session.connection().scalar(_STATE_GET, {"key": key})
        return self._cache[key]

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
        dialect = self.session.get_bind().dialect.name
        self.session.connection().execute(_STATE_SET[dialect], {"key": key, "value": value, "now": utcnow()})


# ---------------------------------------------------------------------------------- capacity prices


def take_pricer_lease(*, session: Session, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Hold (or renew) the lease on price book ``name`` until ``until``; True when ``holder`` has it.

    A conditional UPDATE: of two workers racing for an expired lease, one row count is 1, the other's 0.
    """
    insert = _insert_for(session.get_bind().dialect.name)
    session.execute(insert(CapacityPricesRow).values(name=name, sample_size=0).on_conflict_do_nothing())
    taken = session.execute(
        update(CapacityPricesRow)
        .where(
            CapacityPricesRow.name == name,
            (CapacityPricesRow.holder == holder)
            | CapacityPricesRow.lease_until.is_(None)
            | (CapacityPricesRow.lease_until < now),
        )
        .values(holder=holder, lease_until=until)
    )
    return cast(CursorResult[Any], taken).rowcount == 1


def store_prices(
    *,
    session: Session,
    name: str,
    holder: str,
    prices: dict[str, float],
    solved_at: datetime,
    sample_size: int,
    note: str,
) -> bool:
    """Publish prices solved by ``holder``; False (nothing written) when it no longer holds the lease."""
    stored = session.execute(
        update(CapacityPricesRow)
        .where(CapacityPricesRow.name == name, CapacityPricesRow.holder == holder)
        .values(prices=prices, solved_at=solved_at, solved_by=holder, sample_size=sample_size, note=note)
    )
    return cast(CursorResult[Any], stored).rowcount == 1


def stored_prices(*, session: Session, name: str) -> CapacityPricesRow | None:
    return session.get(CapacityPricesRow, name)
