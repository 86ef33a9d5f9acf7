"""``services.route_queue.RouteQueue``: the waiting requests are routed together, each answer reaches
its own caller, and neither a lead's error nor a failing batch stops the thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from leadwise.services.route_queue import RouteQueue


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
        return [ValueError(f"bad {lead['lead_id']}") if lead.get("bad") else f"routed {lead['lead_id']}" for lead in leads]


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


def test_a_busy_queue_lingers_for_more_leads_and_a_quiet_one_does_not() -> None:
    import time

    recorder = Recorder(block_first=False)
    queue = RouteQueue(recorder, linger=0.2)  # busy: within 5 lingers (1 s) of the last batch's end
    queue.start()
    queue.submit({"lead_id": "warm"}).result(5)
    a = queue.submit({"lead_id": "a"})  # right after a batch: the thread waits up to 0.2 s for more
    time.sleep(0.01)
    b = queue.submit({"lead_id": "b"})
    a.result(5), b.result(5)
    time.sleep(1.1)  # quiet now: a lead is routed at once, alone
    c = queue.submit({"lead_id": "c"})
    time.sleep(0.05)  # within the linger, had the thread lingered
    d = queue.submit({"lead_id": "d"})
    c.result(5), d.result(5)
    assert recorder.batches == [["warm"], ["a", "b"], ["c"], ["d"]]
    queue.stop()


def test_linger_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="linger"):
        RouteQueue(Recorder(), linger=-1)
