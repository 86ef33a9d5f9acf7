"""The assignment states ``withdrawn`` (an update of the lead met the flow's ``reroute_when`` or
``unassign_when``: the offer ends, not by the rep's doing) and ``closed`` (the flow's ``close_when`` ended
the lead without an outcome), and ``leads.duplicate_key`` (indexed), the fingerprint of the flow's
duplicate key on a lead (leads stored before have none: they are nobody's original).

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leadwise.store.schema_changes import set_assignment_states

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OLD_STATES = "'offered','accepted','rejected','expired','won','lost','queued','returned','reassigned'"
NEW_STATES = f"{OLD_STATES},'withdrawn','closed'"


def upgrade() -> None:
    set_assignment_states(OLD_STATES, NEW_STATES)
    # A plain ADD COLUMN (as 0009): a batch copy of ``leads`` on SQLite would trip the foreign keys to it.
    op.add_column("leads", sa.Column("duplicate_key", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_leads_duplicate_key"), "leads", ["duplicate_key"], unique=False)


def downgrade() -> None:
    # Before 0012 an offer ended by a change of the lead could only read as a manager's move, and a lead
    # closed without an outcome as lost (closed, with no rep to credit).
    op.drop_index(op.f("ix_leads_duplicate_key"), table_name="leads")
    op.drop_column("leads", "duplicate_key")
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE assignments SET state = 'reassigned' WHERE state = 'withdrawn'"))
    conn.execute(sa.text("UPDATE assignments SET state = 'lost' WHERE state = 'closed'"))
    set_assignment_states(NEW_STATES, OLD_STATES)
