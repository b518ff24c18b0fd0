"""The calibrate flow on the four-coin capture (../shared/data/hl-l2-trades-djienne-as-2025-09-04, read in
place; BTC), on a real Dask cluster: a `dask scheduler` process and `dask worker` processes, reached through
`[calibration] dask_scheduler` as across hosts.

The same manual sweep (6 min in sample, 3 min out of sample, 4 trials in batches of 2, seed 5) runs twice, each
on a fresh SQLite ledger: first with one worker, then with a second worker joined. The search must find params
that fill where the example config's do not, report both windows, and give the same study both times: the same
points, the same trial results, whichever worker ran which trial.
"""
from __future__ import annotations

import pytest

from tests.flows.dask_cluster import (free_port, popen, processes, scheduler_argv, wait_for_workers, worker_argv,
                                      write_config)

CAPTURE = "hl-l2-trades-djienne-as-2025-09-04"
ARGS = dict(coin="BTC", in_sample_minutes=6, out_of_sample_minutes=3, start_offset_minutes=0, n_trials=4,
            batch_size=2, top_k=2, seed=5)


@pytest.fixture(scope="module")
def runs(shared_data, prefect_server, tmp_path_factory):
    from flows.calibrate import calibrate
    from flows.store import Store

    tmp = tmp_path_factory.mktemp("calib-cluster")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    out = {}
    with processes(tmp) as procs:
        procs.append(popen(scheduler_argv("127.0.0.1", port), prefect_server.env, tmp / "scheduler.log"))
        procs.append(popen(worker_argv(address, "w1"), prefect_server.env, tmp / "w1.log"))
        for n, names in ((1, {"w1"}), (2, {"w1", "w2"})):
            if n == 2:
                procs.append(popen(worker_argv(address, "w2"), prefect_server.env, tmp / "w2.log"))
            workers = wait_for_workers(address, names)
            run_dir = tmp / f"{n}-workers"
            run_dir.mkdir()
            url = f"sqlite:///{run_dir / 'ledger' / 'hlmm.db'}"
            Store.init(url)
            res = calibrate(recording=str(shared_data / CAPTURE), report_dir=str(run_dir / "reports"),
                            config_path=write_config(run_dir / "hlmm.toml", url, address), **ARGS)
            out[n] = {"res": res, "workers": workers}
    return out


def _all_trials(res: dict) -> list[dict]:
    return [t["in_sample"] for t in res["trials"]] + [res["current"]["in_sample"], res["current"]["out_of_sample"]] \
        + [c["out_of_sample"] for c in res["top"]]


def test_a_manual_run_on_the_capture_finds_params_that_fill_in_and_out_of_sample(runs):
    res = runs[1]["res"]
    ins, oos = res["windows"]["in_sample"], res["windows"]["out_of_sample"]
    assert ins[1] - ins[0] == 6 * 60_000 and oos == [ins[1], ins[1] + 3 * 60_000]
    assert len(res["trials"]) == 4 and not any(t["error"] for t in res["trials"])
    cur = res["current"]
    assert cur["params"]["base_spread"] == 0.00245  # the example config's spread: nothing reaches it here
    assert cur["in_sample"]["metrics"]["fills"] == 0 and cur["out_of_sample"]["metrics"]["fills"] == 0
    best = res["top"][0]
    assert best["in_sample"]["metrics"]["fills"] > 0 and best["out_of_sample"] is not None
    assert best["in_sample"]["score"] == max(t["in_sample"]["score"] for t in res["trials"])
    assert any(c["out_of_sample"]["metrics"]["fills"] > 0 for c in res["top"])


def test_one_worker_and_two_workers_give_the_same_study(runs):
    one, two = runs[1]["res"], runs[2]["res"]
    assert one["study"] == two["study"]
    assert [t["params"] for t in one["trials"]] == [t["params"] for t in two["trials"]]
    assert [t["metrics"] for t in _all_trials(one)] == [t["metrics"] for t in _all_trials(two)]
    assert [t["score"] for t in _all_trials(one)] == [t["score"] for t in _all_trials(two)]
    assert one["decision"] == two["decision"]
    # and the trials did run where the cluster said: all on w1, then on both workers
    assert {t["ran_on"]["worker"] for t in _all_trials(one)} == set(runs[1]["workers"])
    assert {t["ran_on"]["worker"] for t in _all_trials(two)} == set(runs[2]["workers"])
