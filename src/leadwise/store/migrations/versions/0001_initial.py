"""Initial schema: reps, leads, assignments, pool claims, outcomes, flows, API keys, routing state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bench_floor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bench_floor")),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=50), nullable=True),
        sa.Column("pool", sa.String(length=100), nullable=True),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("expected_value", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("external_id", name=op.f("uq_leads_external_id")),
    )
    op.create_table(
        "reps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manager", sa.String(length=200), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("max_per_day", sa.Integer(), nullable=True),
        sa.Column("max_per_week", sa.Integer(), nullable=True),
        sa.Column("open_leads", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=True),
        sa.Column("out_of_office", sa.JSON(), nullable=False),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("series", sa.JSON(), nullable=False),
        sa.Column("seniority", sa.String(length=20), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("territories", sa.JSON(), nullable=False),
        sa.Column("accounts_owned", sa.JSON(), nullable=False),
        sa.Column("pools", sa.JSON(), nullable=False),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_reps_capacity_non_negative")),
        sa.CheckConstraint(
            "open_leads >= 0 AND open_leads <= capacity", name=op.f("ck_reps_open_within_capacity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reps")),
        sa.UniqueConstraint("name", name=op.f("uq_reps_name")),
    )
    op.create_table(
        "routing_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_flows")),
        sa.UniqueConstraint("name", "version", name="uq_routing_flows_name_version"),
    )
    op.create_table(
        "routing_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_routing_state")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role <> 'rep' OR rep_id IS NOT NULL", name=op.f("ck_api_keys_rep_key_has_rep")),
        sa.CheckConstraint(
            "role IN ('admin','manager','rep','integration')", name=op.f("ck_api_keys_role_known")
        ),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_api_keys_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("strategy", sa.String(length=100), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.Column("flow_id", sa.Integer(), nullable=True),
        sa.Column("p_win", sa.Float(), nullable=True),
        sa.Column("expected_value", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('offered','accepted','rejected','expired','won','lost','queued')",
            name=op.f("ck_assignments_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["routing_flows.id"], name=op.f("fk_assignments_flow_id_routing_flows")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_assignments_lead_id_leads")),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_assignments_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index("ix_assignments_rep_created", ["rep_id", "created_at"], unique=False)
        batch_op.create_index("ix_assignments_rep_state", ["rep_id", "state"], unique=False)
        batch_op.create_index("ix_assignments_state_expires", ["state", "expires_at"], unique=False)
        batch_op.create_index(
            "uq_assignments_live_lead",
            ["lead_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('offered','accepted')"),
            postgresql_where=sa.text("state IN ('offered','accepted')"),
        )

    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("result IN ('won','lost')", name=op.f("ck_outcomes_result_known")),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_outcomes_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_outcomes_lead_id_leads")),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_outcomes_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_outcomes_assignment_id")),
    )
    op.create_table(
        "pool_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=100), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_pool_claims_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_pool_claims_lead_id_leads")),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_pool_claims_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_claims")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_pool_claims_assignment_id")),
    )
    with op.batch_alter_table("pool_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pool_claims_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pool_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pool_claims_lead_id"))
    op.drop_table("pool_claims")
    op.drop_table("outcomes")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_assignments_live_lead",
            sqlite_where=sa.text("state IN ('offered','accepted')"),
            postgresql_where=sa.text("state IN ('offered','accepted')"),
        )
        batch_op.drop_index("ix_assignments_state_expires")
        batch_op.drop_index("ix_assignments_rep_state")
        batch_op.drop_index("ix_assignments_rep_created")
        batch_op.drop_index(batch_op.f("ix_assignments_lead_id"))

    op.drop_table("assignments")
    op.drop_table("api_keys")
    op.drop_table("routing_state")
    op.drop_table("routing_flows")
    op.drop_table("reps")
    op.drop_table("leads")
    op.drop_table("bench_floor")
