"""Mutable routing state (round-robin pointers, weighted-cycle credits, strategy counters).

Strategies read and write it only through the small ``RoutingState`` protocol, so the same code runs
against memory (tests, replays) or a database table (the HTTP service's implementation,
``leadwise.store.repositories.DbRoutingState``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol


class RoutingState(Protocol):
    def get(self, key: str) -> Any | None:
        """The JSON-serialisable value stored under ``key``, or None."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key``."""
        ...


class InMemoryState:
    """State in a dict; lost on restart, which is what replays and most tests want."""

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(initial or {})
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)
