"""Serve every hlmm flow from ONE process (the embedded `make up` / `hlmm up` path): no work pool, no worker.

    python -m deployments.serve            # production schedules (deployments/catalog.py)
    python -m deployments.serve --demo     # accelerated schedules so a short demo shows every flow run
    python -m deployments.serve --no-schedules   # deployments only (trigger by hand)

Needs a Prefect API (PREFECT_API_URL, e.g. a local `prefect server start`). Production uses prefect.yaml +
a process worker instead (docs/operations.md).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from deployments.catalog import DEPLOYMENTS, load_flow


def build(demo: bool = False, schedules: bool = True, config_path: str | None = None) -> list:
    flows_cfg = None
    if config_path and schedules and not demo:
        from engine.config import load_config

        flows_cfg = load_config(config_path).flows  # the file's [flows] schedules (+ HLMM_FLOWS__* env)
    out = []
    for d in DEPLOYMENTS:
        cron, interval_s = d.schedule(flows_cfg)
        params = {**d.parameters, **(d.demo_parameters if demo else {})}
        if config_path:
            params["config_path"] = config_path
        kwargs: dict = {"name": d.name, "parameters": params, "description": d.description,
                        "tags": ["hlmm", "demo" if demo else "prod"]}
        if schedules:
            if demo and d.demo_interval_s:
                kwargs["interval"] = d.demo_interval_s
            elif demo:
                pass  # rebalance stays manual in the demo: it trades
            elif cron:
                kwargs["cron"] = cron
            elif interval_s:
                kwargs["interval"] = interval_s
        out.append(load_flow(d.flow).to_deployment(**kwargs))
    return out


def main(argv: list[str] | None = None) -> int:
    # One way to stop: Ctrl-C / the supervisor's SIGINT takes the runner's graceful SIGTERM path (pause the
    # deployments, end in-flight runs, exit 0). Left to asyncio, a SIGINT at the wrong moment of start-up
    # escaped as an uncaught KeyboardInterrupt (exit by SIGINT) now and then. Installed first: a stop can
    # arrive while Prefect is still being imported.
    def on_sigint(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            raise SystemExit(0)  # the runner has not started: nothing to shut down yet
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, on_sigint)
    p = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__.split("\n")[0])
    p.add_argument("--demo", action="store_true", help="accelerated schedules (seconds, not hours)")
    p.add_argument("--no-schedules", action="store_true", help="register deployments without schedules")
    p.add_argument("--config", default=None, help="hlmm config file passed to every flow (config_path)")
    a = p.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import asyncio

    from prefect import aserve

    deployments = build(demo=a.demo, schedules=not a.no_schedules, config_path=a.config)

    async def run() -> None:
        # through the loop: add_signal_handler also sets the wakeup fd, so a SIGINT that the kernel hands to
        # one of Prefect's threads still wakes the loop at once (with a plain handler the stop waited for the
        # runner's next poll, seconds later)
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, signal.raise_signal, signal.SIGTERM)
        await aserve(*deployments)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # Ctrl-C / the supervisor's SIGINT is the normal way to stop serving
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
