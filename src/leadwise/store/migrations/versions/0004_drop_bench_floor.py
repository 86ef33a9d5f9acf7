"""Drop ``bench_floor``: the benchmark's floor endpoint makes its own table (``api.routers.bench``), the
service's schema no longer has it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("bench_floor"):
        op.drop_table("bench_floor")


def downgrade() -> None:
    # As 0001 made it; the check allows for a table the benchmark created after the upgrade.
    if not sa.inspect(op.get_bind()).has_table("bench_floor"):
        op.create_table(
            "bench_floor",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("note", sa.String(length=100), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_bench_floor")),
        )
