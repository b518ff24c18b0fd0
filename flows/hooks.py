"""Prefect state hooks: every hlmm flow alerts when a run fails or crashes, so a broken audit or report never
goes unnoticed (the flows' own alerts only cover what a run that completes finds).

The hook reads the run's `config_path` parameter like the flow would, and alerts through the ledger-backed
`Alerter` (one dedup window per flow, shared with every other process). It never raises: Prefect logs a
failing hook, but an alert path must not add a second failure to the first.
"""
from __future__ import annotations

import logging

log = logging.getLogger("hlmm.flows.hooks")


def alert_on_failure(flow, flow_run, state) -> None:
    """on_failure / on_crashed hook: a critical alert naming the flow, the run, the account and what to do."""
    try:
        from prefect.settings import PREFECT_UI_URL

        from flows.runtime import build_runtime

        params = dict(getattr(flow_run, "parameters", None) or {})
        ui = PREFECT_UI_URL.value()
        where = f"{ui}/runs/flow-run/{flow_run.id}" if ui else f"flow run id {flow_run.id}"
        message = (getattr(state, "message", None) or state.name or "")[:1500]
        with build_runtime(params.get("config_path")) as rt:
            rt.alert("critical", f"flow {flow.name} {state.name.lower()}",
                     f"run {flow_run.name} of {flow.name} ended {state.name}: {message}",
                     f"open {where} and read its log; it runs again at its next schedule. A crash (worker killed, "
                     "out of memory) needs the worker's log too.",
                     dedup_key=f"flow-{state.type.value.lower()}:{flow.name}")
    except Exception as exc:  # noqa: BLE001 - process edge: a failing hook must not mask the run's own failure
        log.error("could not alert on %s's %s state: %s: %s", getattr(flow, "name", "?"),
                  getattr(state, "name", "?"), type(exc).__name__, exc)


HOOKS = {"on_failure": [alert_on_failure], "on_crashed": [alert_on_failure]}
