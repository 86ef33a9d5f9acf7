"""The benchmark floor (``POST /bench/floor``) exists only when the bench setting is on, with its own table."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Env, make_env


def test_bench_floor_is_mounted_only_when_enabled(env: Env, tmp_path: Path, migrated_template: Path) -> None:
    assert env.client.post("/bench/floor", headers=env.h("integration")).status_code == 404
    (tmp_path / "bench").mkdir()
    for bench in make_env(tmp_path / "bench", migrated_template, enable_bench_floor=True):
        first = bench.client.post("/bench/floor", headers=bench.h("integration"))
        assert first.status_code == 200 and first.json() == {"id": 1}
        assert bench.client.post("/bench/floor", headers=bench.h("integration")).json() == {"id": 2}
