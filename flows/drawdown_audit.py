"""drawdown_audit (every 5 min): mark equity, compare the drawdown from the window's peak with the risk limit;
on a breach set the kill-switch control (the engine stops quoting within a second) and page (critical)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from prefect import flow, get_run_logger

from flows.hooks import HOOKS

from flows.logic.drawdown import drawdown
from flows.runtime import build_runtime
from flows.tasks import read_account

KILL_SWITCH = "kill_switch"


@flow(name="drawdown_audit", description="Equity mark + drawdown vs limit → kill switch control and critical alert",
      **HOOKS)
def drawdown_audit(lookback_hours: float = 24.0, max_drawdown_pct: float | None = None,
                   max_drawdown_usd: float | None = None, config_path: str | None = None) -> dict:
    if not (0 < lookback_hours <= 24 * 90):
        raise ValueError(f"lookback_hours: must be in (0, 2160], got {lookback_hours}")
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        risk = rt.cfg.risk
        # a fraction of peak equity (0.05 = 5 %), like risk.max_drawdown_pct
        if max_drawdown_pct is not None and not (0 < max_drawdown_pct < 1):
            raise ValueError(f"max_drawdown_pct: a fraction in (0, 1), got {max_drawdown_pct}")
        pct = max_drawdown_pct if max_drawdown_pct is not None else risk.max_drawdown_pct
        usd = max_drawdown_usd if max_drawdown_usd is not None else risk.max_drawdown_usd
        if pct is None and usd is None:
            raise ValueError("risk.max_drawdown_pct / risk.max_drawdown_usd: set at least one drawdown limit")
        now = rt.now()
        snap, raw = read_account(rt.reader, rt.user, now)
        rt.store.record_equity_mark(rt.user, now, snap.equity, source="drawdown_audit",
                                    perp_account_value=raw["perp_account_value"])
        curve = rt.store.equity_curve(rt.user, now - dt.timedelta(hours=lookback_hours), now)
        if not curve or curve[-1][0] != now:
            curve.append((now, snap.equity))
        # a USD-only limit still needs a pct bound for the logic: use "never" (99.99 %)
        report = drawdown(curve, Decimal(str(pct)) if pct is not None else Decimal("0.9999"),
                          Decimal(str(usd)) if usd is not None else None)
        log.info("equity %s, %s", snap.equity, report.reason)
        result = {"equity": str(snap.equity), "peak": str(report.peak), "drawdown_usd": str(report.drawdown_usd),
                  "drawdown_pct": float(report.drawdown_pct), "breached": report.breached, "reason": report.reason}
        if report.breached:
            rt.store.set_control(KILL_SWITCH, True, reason=report.reason, source="drawdown_audit")
            rt.alert("critical", "kill switch: drawdown limit", f"{report.reason}; the kill switch is set, the engine "
                     "pulls every quote within a second",
                     "check positions and P&L (`hlmm status`), find why equity fell, then `hlmm resume --why ...`",
                     dedup_key="drawdown-kill")
            log.error("kill switch set: %s", report.reason)
        return result
