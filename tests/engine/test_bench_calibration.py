"""The calibrate sweep bench's plumbing without a cluster (the sweep itself is a benchmark: two flow runs on a
Dask cluster, minutes of CPU): it is registered with its figures, and its comparison reads every trial."""
from __future__ import annotations

from engine.bench import load_all


def test_the_calibrate_sweep_bench_is_registered_with_its_figures():
    registry, errors = load_all()
    assert "engine.bench.calibration" not in errors, errors
    assert set(registry["calibrate_sweep"].names) == {
        "calibrate_sweep_2_workers_s", "calibrate_sweep_identical", "calibrate_50x6h_2_workers_extrapolated_s"}


def test_the_comparison_covers_every_trial_in_and_out_of_sample():
    from engine.bench.calibration import _trial_results

    def run(fills: int) -> dict:
        m = {"metrics": {"fills": fills}}
        return {"trials": [{"in_sample": m}, {"in_sample": None}], "current": {"in_sample": m, "out_of_sample": m},
                "top": [{"out_of_sample": m}]}
    assert _trial_results(run(1)) == [{"fills": 1}, None, {"fills": 1}, {"fills": 1}, {"fills": 1}]
    assert _trial_results(run(1)) != _trial_results(run(2))
