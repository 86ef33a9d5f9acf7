"""The benchmark floor: the cheapest authenticated write (one row) into the same database.

Only mounted when ``LEADWISE_ENABLE_BENCH_FLOOR=true``; ``benchmarks/bench_api.py`` compares
``/v1/route`` with it to tell routing cost from database cost. Its table belongs to the benchmark, not
to the service's schema: it has a metadata of its own, outside the migrations, and the app creates it
(``create_floor_table``) at start when the floor is mounted.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import Engine, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateTable

from leadwise.api.deps import DbDep, RouterDep
from leadwise.store.models import UTCDateTime, utcnow

router = APIRouter(prefix="/bench", tags=["benchmark"], include_in_schema=False)


class _BenchBase(DeclarativeBase):
    pass


class BenchFloorRow(_BenchBase):
    """Rows written by the floor endpoint: the cost of one bare insert, for comparison."""

    __tablename__ = "bench_floor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def create_floor_table(engine: Engine) -> None:
    """Create the floor's table unless it exists (every worker of a server calls this at start)."""
    with engine.begin() as connection:
        connection.execute(CreateTable(_BenchBase.metadata.tables["bench_floor"], if_not_exists=True))


@router.post("/floor")
def floor(db: DbDep, _: RouterDep) -> dict[str, int]:
    with db.write_session() as session:
        row = BenchFloorRow(note="floor")
        session.add(row)
        session.flush()
        return {"id": row.id}
