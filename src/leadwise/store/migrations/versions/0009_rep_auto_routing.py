"""``reps.auto_routing``: false takes a rep out of every routing strategy (manual assignment still works).

Reps stored before keep being routed to: the column defaults to true.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (as 0006): a batch copy of ``reps`` on SQLite would trip the foreign keys of the
    # tables that reference it.
    op.add_column("reps", sa.Column("auto_routing", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    op.drop_column("reps", "auto_routing")
