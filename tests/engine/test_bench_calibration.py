"""The calibrate sweep bench's plumbing without a cluster (the sweep itself is a benchmark: two flow runs on a
Dask cluster, minutes of CPU): it is registered with its figures, and its comparison reads every trial."""
from __future__ import annotations

from engine.bench import load_all


def test_the_calibrate_sweep_bench_is_registered_with_its_figures():
    registry, errors = load_all()
    assert "engine.bench.calibration" not in errors, errors
    assert set(registry["calibrate_sweep"].names) == {
        "calibrate_sweep_2_workers_s", "calibrate_sweep_identical", "calibrate_50x6h_2_workers_s"}


def test_the_comparison_covers_every_trial_in_and_out_of_sample():
    from engine.bench.calibration import _trial_results

    def run(fills: int) -> dict:
        m = {"metrics": {"fills": fills}}
        return {"trials": [{"in_sample": m}, {"in_sample": None}], "current": {"in_sample": m, "out_of_sample": m},
                "top": [{"out_of_sample": m}]}
    assert _trial_results(run(1)) == [{"fills": 1}, None, {"fills": 1}, {"fills": 1}, {"fills": 1}]
    assert _trial_results(run(1)) != _trial_results(run(2))


def test_six_hours_of_the_archive_read_back_as_one_recorder_directory(tmp_path):
    """The goal's 6 h sweep runs on the archive hour six times over, as `hlmm record` files: the recorder
    directory's own reader sees one recording of BTC, six times the snapshots, each copy an hour after the last,
    with the archive's own books (prices and sizes as recorded)."""
    import numpy as np
    import pytest

    from engine.backtest.data import load_books
    from engine.bench.calibration import HOUR_MS, _data, _six_hours

    try:
        hour = load_books(_data())
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    six = load_books(_six_hours(tmp_path / "six"), coin="BTC")
    assert len(six) == 6 * len(hour)
    assert six[-1].t_ms - six[0].t_ms == 5 * HOUR_MS + hour[-1].t_ms - hour[0].t_ms
    for k in (0, 3, 5):
        a, b = hour[100], six[k * len(hour) + 100]
        assert b.t_ms == a.t_ms + k * HOUR_MS
        assert np.array_equal(a.bids, b.bids) and np.array_equal(a.asks, b.asks)
