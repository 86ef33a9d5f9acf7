from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from leadwise.routing import Capacity, InMemoryState, Lead, ManualClock, Rep, RepLoad

MONDAY_NOON = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_NOON)


@pytest.fixture
def state() -> InMemoryState:
    return InMemoryState()


@pytest.fixture
def make_reps() -> Callable[..., list[Rep]]:
    def make(n: int = 4, **kw: object) -> list[Rep]:
        return [Rep(id=f"r{i}", name=f"Rep {i}", **kw) for i in range(n)]  # type: ignore[arg-type]

    return make


def lead(i: int = 0, **kw: object) -> Lead:
    return Lead(lead_id=f"L{i}", **kw)  # type: ignore[arg-type]


def record(loads: dict[str, RepLoad], rep_id: str | None, clock: ManualClock) -> None:
    assert rep_id is not None
    loads.setdefault(rep_id, RepLoad()).record(clock.now())


__all__ = ["MONDAY_NOON", "Capacity", "lead", "record"]
