"""A Dask worker on another "host": the calibrate flow's trials run in a separate network namespace
(tests/flows/netns.py) whose only way to the root namespace is its veth link.

The `dask scheduler` runs in the root namespace; the flow (this process) reaches it on 127.0.0.1 through
`[calibration] dask_scheduler`, the worker on host1 across the link (host.gateway), and the scheduler reaches the
worker at host1's own address. The worker's Prefect task runs report to the root namespace's Prefect server
through a relay on the link, as they would to a server on another machine; the flow run uses that same address
(a flow run passes its API address on to the tasks it submits: 127.0.0.1 would mean host1 itself). Every trial says it ran on host1 (its hostname
and its worker's address on the link). Skips with the reason where namespaces cannot be made.
"""
from __future__ import annotations

import socket
import urllib.parse

from tests.flows.dask_cluster import free_port, popen, processes, scheduler_argv, wait_for_workers, worker_argv, \
    write_config
from tests.flows.netns import hosts, relay

CAPTURE = "hl-l2-trades-djienne-as-2025-09-04"


def test_trials_run_on_a_dask_worker_in_another_network_namespace(shared_data, prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.calibrate import calibrate
    from flows.store import Store

    api = urllib.parse.urlsplit(prefect_server.api_url)
    with hosts(1) as (host,), processes(tmp_path) as procs:
        port = free_port("0.0.0.0")
        # the scheduler listens on every address of the root namespace: loopback for the flow, the link for host1
        procs.append(popen(scheduler_argv("0.0.0.0", port), prefect_server.env, tmp_path / "scheduler.log"))
        with open(tmp_path / "relay.log", "wb") as log:
            relay(host, api.port, api.port, log)  # host1 sees the Prefect server at gateway:port
        env = {**prefect_server.env, "PREFECT_API_URL": f"http://{host.gateway}:{api.port}/api"}
        with open(tmp_path / "w-host1.log", "wb") as log:
            host.popen(worker_argv(f"tcp://{host.gateway}:{port}", "w-host1", host=host.address), env=env,
                       stdout=log, stderr=log)
        address = f"tcp://127.0.0.1:{port}"
        workers = wait_for_workers(address, {"w-host1"})
        assert all(a.startswith(f"tcp://{host.address}:") for a in workers)  # registered at its link address
        url = f"sqlite:///{tmp_path / 'ledger' / 'hlmm.db'}"
        Store.init(url)
        # the flow run hands its Prefect settings to the tasks it submits: its API address must be one the
        # worker's host can reach (on real hosts: the server's address, never 127.0.0.1)
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
            res = calibrate(recording=str(shared_data / CAPTURE), coin="BTC", in_sample_minutes=2,
                            out_of_sample_minutes=1, start_offset_minutes=0, n_trials=2, batch_size=2, top_k=1, seed=1,
                            report_dir=str(tmp_path / "reports"),
                            config_path=write_config(tmp_path / "hlmm.toml", url, address))
    trials = [t["in_sample"] for t in res["trials"]] + [res["current"]["in_sample"], res["current"]["out_of_sample"]]
    assert len(trials) == 4 and not any(t["error"] for t in res["trials"])
    assert socket.gethostname() != host.hostname  # the flow ran here; its trials ran there
    assert {t["ran_on"]["host"] for t in trials} == {host.hostname}
    assert {t["ran_on"]["worker"] for t in trials} == set(workers)
    from flows.calibrate_page import _where

    assert _where(res) == f"host1 ({next(iter(workers))}) × {len(trials) + len(res['top'])}"  # the artifact's line
