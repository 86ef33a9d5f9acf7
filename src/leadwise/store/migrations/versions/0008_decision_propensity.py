"""``assignments.propensity``: the chance the routing policy had of making each decision (exploration).

Decisions stored before carry NULL: the policy that made them recorded no propensity.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("propensity", sa.Float(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite has it since 3.35): batch mode would copy ``assignments``, and dropping
    # the old table fails while outcomes, claims or corrections reference its rows.
    op.drop_column("assignments", "propensity")
