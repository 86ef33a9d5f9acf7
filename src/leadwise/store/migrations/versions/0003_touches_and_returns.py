"""Marketing touches on leads, hand-offs back to marketing (``lead_returns``), and the assignment state
``returned``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leadwise.store.schema_changes import set_assignment_states

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_STATES = "'offered','accepted','rejected','expired','won','lost','queued'"
NEW_STATES = f"{OLD_STATES},'returned'"


def upgrade() -> None:
    op.create_table(
        "touches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("touch_type", sa.String(length=50), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name=op.f("ck_touches_cost_non_negative")),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_touches_lead_id_leads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touches")),
    )
    op.create_index(op.f("ix_touches_lead_id"), "touches", ["lead_id"], unique=False)
    op.create_table(
        "lead_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("returned_by", sa.String(length=50), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_lead_returns_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_lead_returns_lead_id_leads")),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_lead_returns_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_returns")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_lead_returns_assignment_id")),
    )
    op.create_index(op.f("ix_lead_returns_lead_id"), "lead_returns", ["lead_id"], unique=False)
    set_assignment_states(OLD_STATES, NEW_STATES)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE assignments SET state = 'rejected' WHERE state = 'returned'"))
    set_assignment_states(NEW_STATES, OLD_STATES)
    op.drop_index(op.f("ix_lead_returns_lead_id"), table_name="lead_returns")
    op.drop_table("lead_returns")
    op.drop_index(op.f("ix_touches_lead_id"), table_name="touches")
    op.drop_table("touches")
