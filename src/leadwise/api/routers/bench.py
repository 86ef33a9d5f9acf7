"""The benchmark floor: the cheapest authenticated write (one row) into the same database.

Only mounted when ``LEADWISE_ENABLE_BENCH_FLOOR=true``; ``benchmarks/bench_api.py`` compares
``/v1/route`` with it to tell routing cost from database cost.
"""

from __future__ import annotations

from fastapi import APIRouter

from leadwise.api.deps import DbDep, RouterDep
from leadwise.store.models import BenchFloorRow

router = APIRouter(prefix="/bench", tags=["benchmark"], include_in_schema=False)


@router.post("/floor")
def floor(db: DbDep, _: RouterDep) -> dict[str, int]:
    with db.write_session() as session:
        row = BenchFloorRow(note="floor")
        session.add(row)
        session.flush()
        return {"id": row.id}
