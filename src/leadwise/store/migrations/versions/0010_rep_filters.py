"""``reps.accepts`` and ``reps.prefers``: a rep's own filter and soft preference, in the flow condition
language (``leadwise.routing.conditions``), as JSON. Reps stored before have neither: they take every lead.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (as 0006 and 0009): a batch copy of ``reps`` on SQLite would trip the foreign keys
    # of the tables that reference it.
    op.add_column("reps", sa.Column("accepts", sa.JSON(), nullable=True))
    op.add_column("reps", sa.Column("prefers", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("reps", "prefers")
    op.drop_column("reps", "accepts")
