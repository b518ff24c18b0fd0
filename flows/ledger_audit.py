"""ledger_audit (hourly): the venue's userFills / userFunding against the ledger; repair the ledger from the
venue (the venue is the source of truth; writes are idempotent by venue id) and alert on any gap."""
from __future__ import annotations

from prefect import flow, get_run_logger

from flows.hooks import HOOKS
from prefect.artifacts import create_markdown_artifact

from flows.logic.audit import diff_fills, diff_funding
from flows.logic.funding import HOUR_MS
from flows.runtime import build_runtime
from flows.tasks import ms, read_fills, read_user_funding


@flow(name="ledger_audit", description="venue userFills/userFunding vs ledger; repair from venue; alert on gaps",
      **HOOKS)
def ledger_audit(lookback_hours: int = 24, repair: bool = True, config_path: str | None = None) -> dict:
    if not (1 <= lookback_hours <= 24 * 90):
        raise ValueError(f"lookback_hours: must be in [1, 2160], got {lookback_hours}")
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        end = ms(rt.now())
        start = end - lookback_hours * HOUR_MS
        venue_fills = read_fills(rt.reader, rt.user, start, end)
        venue_funding = read_user_funding(rt.reader, rt.user, start, end)
        fills = diff_fills(venue_fills, rt.store.fills(rt.user, start, end))
        funding = diff_funding(venue_funding, rt.store.funding(rt.user, start, end))
        repaired_fills = repaired_funding = 0
        if repair and fills.missing:
            repaired_fills = rt.store.upsert_fills(rt.user, list(fills.missing))
        if repair and funding.missing:
            repaired_funding = rt.store.upsert_funding(rt.user, list(funding.missing))
        result = {
            "venue_fills": len(venue_fills), "venue_funding": len(venue_funding),
            "missing_fills": [[f["coin"], int(f["tid"])] for f in fills.missing],
            "missing_funding": [[f["delta"]["coin"], int(f["time"])] for f in funding.missing],
            "extra_fills": [list(k) for k in fills.extra], "extra_funding": [list(k) for k in funding.extra],
            "mismatched_fills": [list(k) for k in fills.mismatched],
            "mismatched_funding": [list(k) for k in funding.mismatched],
            "repaired_fills": repaired_fills, "repaired_funding": repaired_funding,
        }
        lines = [f"- {k}: {v if isinstance(v, int) else len(v)}" for k, v in result.items()]
        create_markdown_artifact(key="ledger-audit", markdown="# Ledger audit\n\n" + "\n".join(lines),
                                 description="venue vs ledger")
        if not (fills.clean and funding.clean):
            body = "\n".join(line for line in lines if not line.endswith(": 0"))
            rt.alert("warning", "ledger differs from venue", body + ("\nrepaired from venue" if repair else ""),
                     "nothing if it was repaired; extra or mismatched rows need a look at the engine's log around "
                     "their times (the venue is the source of truth)", dedup_key="ledger-audit")
        log.info("ledger audit: %s", {k: (v if isinstance(v, int) else len(v)) for k, v in result.items()})
        return result
