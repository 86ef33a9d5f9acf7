"""Capacity windows: ``reps.capacity_windows`` (any number of open, period and rolling limits per rep) and
``assignments.pool`` (the flow pool whose step assigned the lead, what a pool's caps count), indexed with
its time for the window counts.

Reps stored before get no windows (their capacity, max_per_day and max_per_week stand as they were), and
decisions stored before name no pool: a pool's caps count from the first decision after the upgrade.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (as 0006, 0009): a batch copy of ``reps`` or ``assignments`` on SQLite would trip
    # the foreign keys of the tables that reference them.
    op.add_column("reps", sa.Column("capacity_windows", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("assignments", sa.Column("pool", sa.String(100), nullable=True))
    op.create_index("ix_assignments_pool_created", "assignments", ["pool", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_assignments_pool_created", table_name="assignments")  # SQLite drops no indexed column
    op.drop_column("assignments", "pool")
    op.drop_column("reps", "capacity_windows")
