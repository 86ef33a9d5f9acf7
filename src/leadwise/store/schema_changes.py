"""Schema changes more than one Alembic migration makes (each migration stays a frozen script; what they
share lives here and must keep behaving as it did for the migrations already released)."""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


def set_assignment_states(old: str, new: str) -> None:
    """Change the allowed assignment states (the CHECK constraint ``ck_assignments_state_known``) from the
    SQL list ``old`` to ``new`` (e.g. ``"'offered','accepted'"``)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_assignments_state_known"), "assignments", type_="check")
        op.create_check_constraint(op.f("ck_assignments_state_known"), "assignments", f"state IN ({new})")
        return
    # SQLite cannot alter a constraint: the table is rebuilt with the new text. ``outcomes``,
    # ``pool_claims`` and ``lead_returns`` reference it, so the foreign-key checks are deferred to the
    # commit (the pragma ends with the transaction); once the rows are back, every reference holds again.
    # Data, indexes and the partial unique index on live assignments are kept as they were.
    create: str = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'assignments'"
    ).scalar_one()
    if create.count(f"({old})") != 1:
        raise RuntimeError(f"assignments: state constraint not found in {create!r}")
    indexes: Sequence[str] = (
        conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'assignments' AND sql IS NOT NULL"
        )
        .scalars()
        .all()
    )
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    conn.exec_driver_sql("CREATE TABLE _assignments_copy AS SELECT * FROM assignments")
    conn.exec_driver_sql("DROP TABLE assignments")
    conn.exec_driver_sql(create.replace(f"({old})", f"({new})"))
    conn.exec_driver_sql("INSERT INTO assignments SELECT * FROM _assignments_copy")
    conn.exec_driver_sql("DROP TABLE _assignments_copy")
    for statement in indexes:
        conn.exec_driver_sql(statement)
