"""Mutable routing state (round-robin pointers, weighted-cycle credits, strategy counters).

Strategies read and write it only through the small ``RoutingState`` protocol, so the same code runs
against memory (tests, replays), a JSON file (a single process that must survive restarts) or a
database table (the HTTP service's implementation).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
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


class JsonFileState:
    """State persisted to one JSON file, rewritten atomically on every change.

    Good for a single process (a CLI, a small deployment); concurrent writers from several processes
    need the database implementation instead.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.path}: line {exc.lineno}: not valid JSON routing state") from exc
            if not isinstance(loaded, dict):
                raise ValueError(f"{self.path}: line 1: routing state must be a JSON object")
            self._data = loaded

    def get(self, key: str) -> Any | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write-then-rename so a crash never leaves half a file behind.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._data, handle, sort_keys=True)
            os.replace(tmp, self.path)
