"""The shadow challenger's figures per decision: ``assignments.challenger_version``, ``challenger_p_win``
(its P(win) for the rep chosen) and ``challenger_scores`` (its P(win) of every rep scored, by rep name).

Decisions stored before carry NULL: no challenger was scored for them.

Revision ID: 0014
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ("challenger_version", "challenger_p_win", "challenger_scores")


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("challenger_version", sa.String(100), nullable=True))
        batch.add_column(sa.Column("challenger_p_win", sa.Float(), nullable=True))
        batch.add_column(sa.Column("challenger_scores", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (as 0008): batch mode would copy ``assignments``, which other rows reference.
    for column in COLUMNS:
        op.drop_column("assignments", column)
