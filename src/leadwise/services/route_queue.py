"""One routing thread per process, which routes the ``POST /v1/route`` requests waiting for it together.

A worker handles many requests at once but can only compute one at a time (the GIL), and SQLite
lets one writer in at a time. So instead of each request thread scoring and taking the writer lock
on its own, requests queue here and a single thread takes everything waiting (up to ``max_batch``)
into one ``services.decisions.route_leads`` call: one scoring call and one write transaction for the
batch. With nothing else waiting a lead is routed alone at once: batching costs no latency when the
service is quiet, and under load the fixed costs of a request are shared.

Under load, the thread is done with a batch before the next requests have been read off their
sockets: taking only what is queued at that instant gave batches of two on average. So when the
previous batch ended only just before (the service is busy), the thread lingers up to ``linger``
seconds for more leads, as a dynamic batcher's queue delay does; a quiet service never lingers.

``clock`` (``time.monotonic`` by default) is the one source of time of both decisions (busy or quiet,
and when the linger ends), so tests decide them with a fake clock instead of sleeping.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from leadwise.routing import Lead
from leadwise.services.persist import Routed

log = logging.getLogger(__name__)

# A lead arriving within this many lingers of the previous batch's end means the service is busy.
BUSY_LINGERS = 5

RouteMany = Callable[[Sequence[Lead]], list[Routed | Exception]]


class RouteQueue:
    """``submit`` a lead, wait on the returned future; ``start`` and ``stop`` the thread."""

    def __init__(
        self,
        route_many: RouteMany,
        *,
        max_batch: int = 16,
        linger: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger < 0:
            raise ValueError("linger must not be negative")
        self._route_many = route_many
        self._max_batch = max_batch
        self._linger = linger
        self._clock = clock
        self._last_done = -math.inf
        self._on_batch = on_batch
        self._waiting: queue.SimpleQueue[tuple[Lead, Future[Routed]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leadwise-router", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Route what is already queued, then end the thread."""
        self._stopping = True
        if self._thread is not None:
            self._waiting.put(None)
            self._thread.join(timeout)
            self._thread = None
        # A submit that raced with the stop landed behind the end marker: answer it rather than hang it.
        while True:
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(RuntimeError("the routing thread is not running"))

    def submit(self, lead: Lead) -> Future[Routed]:
        future: Future[Routed] = Future()
        if self._stopping or self._thread is None:
            future.set_exception(RuntimeError("the routing thread is not running"))
            return future
        self._waiting.put((lead, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            ending = False
            now = self._clock()
            # Busy: this lead came within a few lingers of the last batch's end.
            until = now + self._linger if now - self._last_done < BUSY_LINGERS * self._linger else now
            while len(batch) < self._max_batch:
                try:
                    item = self._waiting.get(timeout=max(0.0, until - self._clock()))
                except queue.Empty:
                    break
                if item is None:
                    ending = True
                    break
                batch.append(item)
            self._route(batch)
            if ending:
                return

    def _route(self, batch: list[tuple[Lead, Future[Routed]]]) -> None:
        if self._on_batch is not None:
            self._on_batch(len(batch))
        try:
            try:
                results = self._route_many([lead for lead, _ in batch])
            finally:  # the batch's end, stamped before any caller hears back (and may submit again)
                self._last_done = self._clock()
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        except Exception as exc:  # route_many answers per lead, so this is a bug: no request may hang on it
            log.exception("routing a batch of %d leads failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
