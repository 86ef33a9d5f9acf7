"""The assignment state ``reassigned`` (a manager moved the lead to another rep: not the rep's
rejection) and ``outcome_corrections``, the audit trail of a manager's correction of an outcome.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leadwise.store.schema_changes import set_assignment_states

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_STATES = "'offered','accepted','rejected','expired','won','lost','queued','returned'"
NEW_STATES = f"{OLD_STATES},'reassigned'"


def upgrade() -> None:
    set_assignment_states(OLD_STATES, NEW_STATES)
    op.create_table(
        "outcome_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("previous_result", sa.String(length=10), nullable=False),
        sa.Column("previous_value", sa.Float(), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_by", sa.String(length=100), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "previous_result IN ('won','lost') AND result IN ('won','lost')",
            name=op.f("ck_outcome_corrections_results_known"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_outcome_corrections_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_outcome_corrections_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_corrections")),
    )
    op.create_index(
        op.f("ix_outcome_corrections_outcome_id"), "outcome_corrections", ["outcome_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outcome_corrections_outcome_id"), table_name="outcome_corrections")
    op.drop_table("outcome_corrections")
    # Before 0007 a manager's reassignment was recorded as the previous rep's rejection.
    op.get_bind().execute(sa.text("UPDATE assignments SET state = 'rejected' WHERE state = 'reassigned'"))
    set_assignment_states(NEW_STATES, OLD_STATES)
