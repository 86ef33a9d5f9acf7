"""What-if jobs: the comparison on synthetic worlds, the interval, and the job files every worker reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from leadwise.errors import InvalidInput
from leadwise.services.whatif import SyntheticWhatIf, WhatIfJobs, _interval, compare_on_worlds


def wait(jobs: WhatIfJobs, job_id: str, seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + seconds
    while (job := jobs.get(job_id)) is None or job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


def test_the_interval_is_a_t_interval_across_worlds() -> None:
    assert _interval([0.7]) == (0.7, 0.7, 0.7)
    mean, low, high = _interval([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert high - mean == pytest.approx(4.302653 * 0.1 / 3**0.5, rel=1e-5)  # t(0.975, 2) · sd / √n
    assert mean - low == pytest.approx(high - mean)


def test_synthetic_worlds_compare_policies_against_the_hindsight_optimum() -> None:
    seen: list[float] = []
    request = SyntheticWhatIf(policies=("round_robin", "batch"), leads=80, reps=4, worlds=2, seed=3)
    result = compare_on_worlds(request, lambda share, message: seen.append(share))
    assert seen == sorted(seen) and seen[-1] == 1.0  # progress only moves forward, to the end
    rows = {r["policy"]: r for r in result["policies"]}
    assert list(rows) == ["round_robin", "batch"]
    for row in rows.values():
        assert len(row["detail"]["per_world"]) == 2
        assert 0.0 <= row["ci_low"] <= row["estimate"] <= row["ci_high"] <= 1.0
        assert row["estimate"] == pytest.approx(sum(row["detail"]["per_world"]) / 2)
    # The LP on (noisy) scores over the whole stream beats taking turns in each world.
    assert all(b > r for b, r in zip(rows["batch"]["detail"]["per_world"], rows["round_robin"]["detail"]["per_world"], strict=True))
    with pytest.raises(InvalidInput, match="policies: unknown policy 'random'"):
        compare_on_worlds(SyntheticWhatIf(policies=("random",)), lambda *_: None)


def test_a_job_records_its_progress_result_or_failure_in_a_file(tmp_path: Path) -> None:
    jobs = WhatIfJobs(tmp_path / "jobs")

    def work(progress) -> dict:
        progress(0.5, "half way")
        assert jobs.get(job["id"])["message"] == "half way"  # what another worker would read now
        return {"answer": 42}

    job = jobs.submit("synthetic", {"policies": ["round_robin"]}, work)
    assert job["status"] == "queued" and (tmp_path / "jobs" / f"{job['id']}.json").is_file()
    done = wait(jobs, job["id"])
    assert (done["status"], done["progress"], done["result"]) == ("done", 1.0, {"answer": 42})
    assert WhatIfJobs(tmp_path / "jobs").get(job["id"]) == done  # another process's view of it

    def refused(progress) -> dict:
        raise InvalidInput("the log has no closed decision")

    def broken(progress) -> dict:
        raise RuntimeError("secret detail")

    failed = wait(jobs, jobs.submit("log", {}, refused)["id"])
    assert (failed["status"], failed["error"]) == ("failed", "the log has no closed decision")
    crashed = wait(jobs, jobs.submit("log", {}, broken)["id"])
    assert crashed["status"] == "failed" and "secret" not in crashed["error"] and "RuntimeError" in crashed["error"]
    assert jobs.get("../../etc/passwd") is None and jobs.get("no-such-job") is None
    jobs.shutdown()
