"""Assignment counters on the rep row and per-day counts, so routing reads loads without aggregating
the assignments table; existing assignments are counted in.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 60  # longer than any sensible fairness window


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite supports it, and copying ``reps`` would trip the foreign
    # keys of every table that references it.
    op.add_column("reps", sa.Column("count_day", sa.Date(), nullable=True))
    op.add_column(
        "reps", sa.Column("assigned_today", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("reps", sa.Column("count_week", sa.Date(), nullable=True))
    op.add_column(
        "reps", sa.Column("assigned_week", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("reps", sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "rep_day_counts",
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_rep_day_counts_rep_id_reps")),
        sa.PrimaryKeyConstraint("rep_id", "day", name=op.f("pk_rep_day_counts")),
    )
    _backfill()


def _backfill() -> None:
    """Count recent assignments into the new columns (done in Python: date functions differ by dialect)."""
    conn = op.get_bind()
    now = datetime.now(UTC)
    since = (now - timedelta(days=BACKFILL_DAYS)).replace(tzinfo=None)
    rows = conn.execute(
        sa.text(
            "SELECT rep_id, created_at, expected_value FROM assignments "
            "WHERE rep_id IS NOT NULL AND created_at >= :since"
        ),
        {"since": since},
    ).tuples().all()
    if not rows:
        return
    days: dict[tuple[int, date], list[float]] = defaultdict(lambda: [0, 0.0])
    last: dict[int, datetime] = {}
    for rep_id, created, value in rows:
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        bucket = days[(rep_id, created.date())]
        bucket[0] += 1
        bucket[1] += float(value or 0.0)
        last[rep_id] = max(last.get(rep_id, created), created)
    table = sa.table(
        "rep_day_counts", sa.column("rep_id"), sa.column("day"), sa.column("leads"), sa.column("value")
    )
    op.bulk_insert(
        table, [{"rep_id": r, "day": d, "leads": n, "value": v} for (r, d), (n, v) in days.items()]
    )
    today = now.date()
    week = today - timedelta(days=today.weekday())
    for rep_id, when in last.items():
        n_today = days.get((rep_id, today), [0])[0]
        n_week = sum(n for (r, d), (n, _) in days.items() if r == rep_id and d >= week)
        conn.execute(
            sa.text(
                "UPDATE reps SET count_day = :day, assigned_today = :today, count_week = :week, "
                "assigned_week = :n_week, last_assigned_at = :last WHERE id = :id"
            ),
            {
                "day": today,
                "today": int(n_today),
                "week": week,
                "n_week": int(n_week),
                "last": when if conn.dialect.name != "sqlite" else when.replace(tzinfo=None),
                "id": rep_id,
            },
        )


def downgrade() -> None:
    op.drop_table("rep_day_counts")
    with op.batch_alter_table("reps") as batch:
        for column in ("last_assigned_at", "assigned_week", "count_week", "assigned_today", "count_day"):
            batch.drop_column(column)
