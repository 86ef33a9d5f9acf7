"""``services.route_queue.RouteQueue``: the waiting requests are routed together, each answer reaches
its own caller, and neither a lead's error nor a failing batch stops the thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from leadwise.services.route_queue import BUSY_LINGERS, RouteQueue


class Recorder:
    """A ``route_many`` that answers each lead with its id (or raises what the lead asks for), blocking
    the first batch until ``release`` so that the next requests pile up behind it."""

    def __init__(self, *, block_first: bool = True) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not block_first:
            self.release.set()

    def __call__(self, leads: Sequence[Mapping[str, Any]]) -> list[Any]:
        self.batches.append([str(lead["lead_id"]) for lead in leads])
        self.started.set()
        self.release.wait(10)
        if any(lead.get("crash") for lead in leads):
            raise RuntimeError("bug in route_many")
        return [
            ValueError(f"bad {lead['lead_id']}") if lead.get("bad") else f"routed {lead['lead_id']}"
            for lead in leads
        ]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_requests_waiting_behind_a_batch_are_routed_together_and_answered_each(recorder: Recorder) -> None:
    sizes: list[int] = []
    queue = RouteQueue(recorder, max_batch=16, on_batch=sizes.append)
    queue.start()
    first = queue.submit({"lead_id": "first"})
    assert recorder.started.wait(5)
    waiting = [queue.submit({"lead_id": f"w{k}"}) for k in range(10)]
    recorder.release.set()

    assert first.result(5) == "routed first"
    assert [f.result(5) for f in waiting] == [f"routed w{k}" for k in range(10)]
    assert recorder.batches == [["first"], [f"w{k}" for k in range(10)]]
    assert sizes == [1, 10]
    queue.stop()


def test_a_batch_is_at_most_max_batch(recorder: Recorder) -> None:
    queue = RouteQueue(recorder, max_batch=4)
    queue.start()
    queue.submit({"lead_id": "first"})
    assert recorder.started.wait(5)
    waiting = [queue.submit({"lead_id": f"w{k}"}) for k in range(10)]
    recorder.release.set()
    for future in waiting:
        future.result(5)
    assert [len(b) for b in recorder.batches] == [1, 4, 4, 2]
    queue.stop()


def test_a_lead_s_error_goes_to_its_caller_only(recorder: Recorder) -> None:
    queue = RouteQueue(recorder)
    queue.start()
    queue.submit({"lead_id": "first"})
    assert recorder.started.wait(5)
    good, bad = queue.submit({"lead_id": "good"}), queue.submit({"lead_id": "x", "bad": True})
    recorder.release.set()
    assert good.result(5) == "routed good"
    with pytest.raises(ValueError, match="bad x"):
        bad.result(5)
    queue.stop()


def test_a_failing_batch_fails_its_callers_and_the_thread_goes_on(recorder: Recorder) -> None:
    recorder.release.set()
    queue = RouteQueue(recorder)
    queue.start()
    crashed = queue.submit({"lead_id": "c", "crash": True})
    with pytest.raises(RuntimeError, match="bug in route_many"):
        crashed.result(5)
    assert queue.submit({"lead_id": "after"}).result(5) == "routed after"
    queue.stop()


def test_stop_routes_what_is_queued_then_refuses_new_leads(recorder: Recorder) -> None:
    queue = RouteQueue(recorder)
    queue.start()
    queue.submit({"lead_id": "first"})
    assert recorder.started.wait(5)
    queued = queue.submit({"lead_id": "queued"})
    stopper = threading.Thread(target=queue.stop)
    stopper.start()
    recorder.release.set()
    stopper.join(5)
    assert queued.result(0) == "routed queued"
    with pytest.raises(RuntimeError, match="not running"):
        queue.submit({"lead_id": "late"}).result(0)


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        RouteQueue(Recorder(), max_batch=0)


class FakeClock:
    """The queue's ``clock``: stands still unless told (``set``, ``after_next_read``); ``read`` is set
    whenever the routing thread looks at it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.read = threading.Event()
        self._then: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            moment = self.now
            self.now = self._then if self._then is not None else self.now
            self._then = None
            self.read.set()
            return moment

    def set(self, now: float) -> None:
        with self._lock:
            self.now = now

    def after_next_read(self, now: float) -> None:
        with self._lock:
            self._then = now


# A linger no test waits out: had the thread lingered where it must not, a result(5) times out.
LONG = 60.0


def _take_next_then_submit(queue: RouteQueue, clock: FakeClock, first: str, second: str) -> list[Any]:
    """Submit ``first``; once the thread has taken it (it reads the clock to judge busy or quiet), submit
    ``second``: it joins ``first`` only if the thread lingers for it."""
    clock.read.clear()  # the last batch's end was stamped before its callers heard back
    a = queue.submit({"lead_id": first})
    assert clock.read.wait(5)
    b = queue.submit({"lead_id": second})
    return [a.result(5), b.result(5)]


def test_a_busy_queue_waits_for_a_lead_arriving_after_its_first() -> None:
    recorder, clock = Recorder(block_first=False), FakeClock()  # time stands still: always busy
    queue = RouteQueue(recorder, max_batch=2, linger=LONG, clock=clock)  # the second lead ends the wait
    queue.start()
    queue.submit({"lead_id": "warm"}).result(5)  # nothing before it: quiet, routed alone
    assert _take_next_then_submit(queue, clock, "a", "b") == ["routed a", "routed b"]
    assert recorder.batches == [["warm"], ["a", "b"]]
    queue.stop()


def test_a_quiet_queue_routes_a_lead_alone_at_once() -> None:
    recorder, clock = Recorder(), FakeClock()  # time stands still: a lingering thread would wait 60 s
    queue = RouteQueue(recorder, linger=LONG, clock=clock)
    queue.start()
    c = queue.submit({"lead_id": "c"})
    assert recorder.started.wait(5)  # nothing before it: quiet, routed without lingering
    recorder.release.set()
    assert c.result(5) == "routed c"
    clock.set(clock.now + 100 * LONG)  # long after c's batch: quiet again
    assert queue.submit({"lead_id": "d"}).result(5) == "routed d"
    assert recorder.batches == [["c"], ["d"]]
    queue.stop()


def test_busy_means_within_five_lingers_of_the_last_batch_s_end() -> None:
    recorder, clock = Recorder(block_first=False), FakeClock(1000.0)
    queue = RouteQueue(recorder, max_batch=2, linger=LONG, clock=clock)
    queue.start()
    queue.submit({"lead_id": "warm"}).result(5)  # ends at 1000
    clock.set(1000.0 + BUSY_LINGERS * LONG)  # quiet from exactly five lingers on: routed alone, at once
    assert queue.submit({"lead_id": "quiet"}).result(5) == "routed quiet"
    clock.set(clock.now + BUSY_LINGERS * LONG - 0.001)  # just within five lingers of "quiet": busy
    assert _take_next_then_submit(queue, clock, "a", "b") == ["routed a", "routed b"]
    assert recorder.batches == [["warm"], ["quiet"], ["a", "b"]]
    queue.stop()


def test_a_linger_ends_when_the_clock_passes_it() -> None:
    recorder, clock = Recorder(block_first=False), FakeClock(1000.0)
    queue = RouteQueue(recorder, linger=LONG, clock=clock)
    queue.start()
    queue.submit({"lead_id": "warm"}).result(5)  # ends at 1000
    clock.after_next_read(1000.0 + LONG)  # "a" is judged busy at 1000, then its linger is over
    assert queue.submit({"lead_id": "a"}).result(5) == "routed a"  # not 60 s later
    assert recorder.batches == [["warm"], ["a"]]
    queue.stop()


def test_linger_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="linger"):
        RouteQueue(Recorder(), linger=-1)
