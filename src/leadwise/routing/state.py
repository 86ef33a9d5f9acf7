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


class OverlayState:
    """Reads through to ``base``, keeps every write to itself: a decision made on it (a flow preview)
    sees the real pointers and moves none of them."""

    def __init__(self, base: RoutingState) -> None:
        self._base = base
        self._writes: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self._writes[key] if key in self._writes else self._base.get(key)

    def set(self, key: str, value: Any) -> None:
        self._writes[key] = value
