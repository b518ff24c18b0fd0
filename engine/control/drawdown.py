"""`DrawdownGuard`: equity marks into the ledger, and the kill switch when equity falls too far from its peak.

Input: the account's equity (spot at mids + perp account value) and net delta, at each mark. Output: a ledger
equity mark and, when today's drawdown passes `risk.max_drawdown_usd` or `risk.max_drawdown_pct`, an engaged
kill switch persisted as a ledger control (so it survives a restart). The peak survives a restart too: it
starts from today's highest mark in the ledger.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable

from engine.ledger.kinds import ControlKind
from engine.risk import KillSwitch

log = logging.getLogger("engine.drawdown")


def drawdown_breach(peak: float, equity: float, max_usd: float | None, max_pct: float | None) -> str | None:
    """Why the drawdown from `peak` to `equity` is too large, or None (pure)."""
    dd = peak - equity
    if max_usd is not None and dd > max_usd:
        return f"drawdown {dd:.2f} USD > max_drawdown_usd {max_usd}"
    if max_pct is not None and peak > 0 and dd / peak > max_pct:
        return f"drawdown {dd / peak:.2%} > max_drawdown_pct {max_pct:.2%}"
    return None


class DrawdownGuard:
    def __init__(self, risk_cfg: Any, kill: KillSwitch, ledger: Any, now_ms: Callable[[], int],
                 alert: Callable[[str, str, str], None]) -> None:
        self.risk_cfg = risk_cfg
        self.kill = kill
        self.ledger = ledger
        self.now_ms = now_ms
        self.alert = alert
        self.peak: float | None = None

    def seed(self, peak: float | None) -> None:
        """Today's peak from the ledger (a restart keeps the reference)."""
        self.peak = peak

    def mark(self, spot_value: float, perp_account_value: Decimal, net_delta: float) -> bool:
        """Record one mark; returns True when this mark engaged the kill switch."""
        now = self.now_ms()
        self.ledger.equity_mark({"time_ms": now, "spot_value": Decimal(repr(round(spot_value, 6))),
                                 "perp_account_value": perp_account_value,
                                 "net_delta": Decimal(repr(round(net_delta, 8)))})
        equity = spot_value + float(perp_account_value)
        self.peak = equity if self.peak is None else max(self.peak, equity)
        why = drawdown_breach(self.peak, equity, self.risk_cfg.max_drawdown_usd, self.risk_cfg.max_drawdown_pct)
        if why is None or self.kill.engaged:
            return False
        self.kill.engage("engine", why, now)
        self.ledger.control(ControlKind.KILL_SWITCH, True, "engine", why)
        log.error("KILL SWITCH engaged: %s", why)
        self.alert("critical", "kill switch engaged",
                   f"by the engine: {why}. All quotes are being cancelled. Check positions and P&L, then "
                   "`hlmm resume`.")
        return True
