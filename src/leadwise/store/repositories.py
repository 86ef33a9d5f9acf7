"""Queries and guarded writes on the tables; every function takes the session as a keyword argument.

The writes that protect invariants are conditional UPDATEs whose row count says whether they won
(``take_capacity``, ``transition``): two workers racing for the same row cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from leadwise.store.models import (
    OPEN_STATES,
    ApiKeyRow,
    AssignmentRow,
    LeadRow,
    RepRow,
    RoutingFlowRow,
    RoutingStateRow,
    utcnow,
)

KEY_PREFIX = "lw_"

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
    ``updated_at`` says the cached domain object is stale."""

    id: int
    name: str
    open_leads: int
    updated_at: datetime


def lock_active_reps(*, session: Session) -> list[RepHead]:
    """The active reps, row-locked until the transaction ends (PostgreSQL; SQLite already holds its
    writer lock from ``BEGIN IMMEDIATE``). Locked in id order so two routers never deadlock."""
    query = (
        select(RepRow.id, RepRow.name, RepRow.open_leads, RepRow.updated_at)
        .where(RepRow.active.is_(True))
        .order_by(RepRow.id)
        .with_for_update()
    )
    return [RepHead(*row) for row in session.execute(query)]


def active_rep_names(*, session: Session) -> list[str]:
    return list(session.scalars(select(RepRow.name).where(RepRow.active.is_(True)).order_by(RepRow.id)))


def lock_rep(*, session: Session, rep_id: int) -> RepRow | None:
    return session.scalar(select(RepRow).where(RepRow.id == rep_id).with_for_update())


def take_capacity(*, session: Session, rep_id: int) -> bool:
    """Count one more open lead for the rep unless that would exceed its capacity."""
    result = session.execute(
        update(RepRow)
        .where(RepRow.id == rep_id, RepRow.open_leads < RepRow.capacity)
        .values(open_leads=RepRow.open_leads + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_capacity(*, session: Session, rep_id: int) -> None:
    session.execute(
        update(RepRow)
        .where(RepRow.id == rep_id, RepRow.open_leads > 0)
        .values(open_leads=RepRow.open_leads - 1)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class LoadFigures:
    """Per rep counts from the assignments table (the routing engine's ``RepLoad`` is built from these)."""

    assigned_today: int = 0
    assigned_this_week: int = 0
    window_leads: int = 0
    window_value: float = 0.0
    last_assigned_at: datetime | None = None


def load_figures(
    *, session: Session, now: datetime, window: timedelta, rep_ids: Iterable[int] | None = None
) -> dict[int, LoadFigures]:
    """Assignments received per rep today (UTC), this ISO week and in the fairness window, in one query."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=day_start.weekday())
    window_start = now - window
    since = min(week_start, window_start)
    a = AssignmentRow
    query = (
        select(
            a.rep_id,
            func.sum(case((a.created_at >= day_start, 1), else_=0)),
            func.sum(case((a.created_at >= week_start, 1), else_=0)),
            func.sum(case((a.created_at >= window_start, 1), else_=0)),
            func.sum(case((a.created_at >= window_start, func.coalesce(a.expected_value, 0.0)), else_=0.0)),
            func.max(a.created_at),
        )
        .where(a.rep_id.is_not(None), a.created_at >= since)
        .group_by(a.rep_id)
    )
    if rep_ids is not None:
        query = query.where(a.rep_id.in_(list(rep_ids)))
    figures: dict[int, LoadFigures] = {}
    for rep_id, today, week, n_window, value, last in session.execute(query):
        figures[int(rep_id)] = LoadFigures(
            assigned_today=int(today or 0),
            assigned_this_week=int(week or 0),
            window_leads=int(n_window or 0),
            window_value=float(value or 0.0),
            last_assigned_at=_as_utc(last),
        )
    return figures


def _as_utc(value: Any) -> datetime | None:
    # Aggregates bypass the column type, so SQLite hands back a naive datetime or a string.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -------------------------------------------------------------------------------------- leads/assign


def get_lead(*, session: Session, lead_id: int) -> LeadRow | None:
    return session.get(LeadRow, lead_id)


def get_lead_by_external_id(*, session: Session, external_id: str) -> LeadRow | None:
    return session.scalar(select(LeadRow).where(LeadRow.external_id == external_id))


def latest_assignment(*, session: Session, lead_id: int) -> AssignmentRow | None:
    query = select(AssignmentRow).where(AssignmentRow.lead_id == lead_id).order_by(AssignmentRow.id.desc())
    return session.scalar(query.limit(1))


def get_assignment(*, session: Session, assignment_id: int) -> AssignmentRow | None:
    return session.get(AssignmentRow, assignment_id)


def transition(
    *, session: Session, assignment_id: int, from_states: Sequence[str], to_state: str, **values: Any
) -> bool:
    """Move an assignment to ``to_state`` only if it is still in one of ``from_states``.

    The row count is the arbiter: of two workers expiring or accepting the same assignment, one wins.
    """
    result = session.execute(
        update(AssignmentRow)
        .where(AssignmentRow.id == assignment_id, AssignmentRow.state.in_(list(from_states)))
        .values(state=to_state, **values)
        .execution_options(synchronize_session=False)
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
    return {int(rep_id): int(n) for rep_id, n in session.execute(query)}


# ------------------------------------------------------------------------------------------- flows


def active_flow(*, session: Session, name: str = "default") -> RoutingFlowRow | None:
    query = (
        select(RoutingFlowRow)
        .where(RoutingFlowRow.name == name, RoutingFlowRow.active.is_(True))
        .order_by(RoutingFlowRow.version.desc())
    )
    return session.scalar(query.limit(1))


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


# -------------------------------------------------------------------------------------------- keys


def hash_key(key: str) -> str:
    # Keys are 32 random bytes: a fast unsalted hash is enough (no dictionary to attack), and lookups
    # by hash stay one indexed query.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    *, session: Session, role: str, name: str, rep_id: int | None = None
) -> tuple[ApiKeyRow, str]:
    """A new key row and the key itself, which is returned once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(name=name, prefix=key[:10], key_hash=hash_key(key), role=role, rep_id=rep_id)
    session.add(row)
    session.flush()
    return row, key


def find_api_key(*, session: Session, key: str) -> ApiKeyRow | None:
    query = select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key), ApiKeyRow.revoked_at.is_(None))
    return session.scalar(query)


def count_api_keys(*, session: Session, role: str | None = None) -> int:
    query = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
    if role is not None:
        query = query.where(ApiKeyRow.role == role)
    return int(session.scalar(query) or 0)


# ----------------------------------------------------------------------------------- routing state


class DbRoutingState:
    """``leadwise.routing.state.RoutingState`` over the ``routing_state`` table, inside the caller's
    transaction: pointer moves commit (or roll back) together with the decision that made them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        if key not in self._cache:
            query = select(RoutingStateRow.value).where(RoutingStateRow.key == key).with_for_update()
            self._cache[key] = self.session.scalar(query)
        return self._cache[key]

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
        now = utcnow()
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = pg_insert(RoutingStateRow).values(key=key, value=value, updated_at=now)
        else:
            stmt = sqlite_insert(RoutingStateRow).values(key=key, value=value, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RoutingStateRow.key], set_={"value": value, "updated_at": now}
        )
        self.session.execute(stmt)
