"""Persistence: SQLAlchemy tables, sessions, repositories and the Alembic migrations."""
