"""vol_regime (every 15 min): candles → ATR% and realized vol → regime → a new versioned params row the
engine picks up (spread multiplier); in the extreme regime also the pause control, lifted when it calms."""
from __future__ import annotations

from prefect import flow, get_run_logger

from flows.hooks import HOOKS

from flows.logic.regime import regime_from_candles
from flows.runtime import build_runtime, carry_coin
from flows.tasks import ms, read_candles

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
PAUSE = "pause"


@flow(name="vol_regime", description="ATR / realized vol → regime → params row (spread multiplier), pause in extreme",
      **HOOKS)
def vol_regime(coin: str | None = None, interval: str = "15m", bars: int = 96, atr_period: int = 14,
               config_path: str | None = None) -> dict:
    if interval not in INTERVAL_MS:
        raise ValueError(f"interval: one of {sorted(INTERVAL_MS)}, got {interval!r}")
    if not (atr_period + 1 <= bars <= 5000):
        raise ValueError(f"bars: must be in [{atr_period + 1}, 5000], got {bars}")
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        coin = carry_coin(rt.cfg, coin)
        end = ms(rt.now())
        rows = read_candles(rt.reader, coin, interval, end - bars * INTERVAL_MS[interval], end)
        if len(rows) < atr_period + 1:
            # a young venue (or a data gap): keep the current regime rather than guess from a few bars
            msg = (f"{coin}: only {len(rows)} {interval} candles, ATR({atr_period}) needs {atr_period + 1}; "
                   "regime unchanged")
            log.warning(msg)
            return {"coin": coin, "status": "insufficient_data", "reason": msg, "candles": len(rows)}
        decision = regime_from_candles(rows, INTERVAL_MS[interval], atr_period)
        log.info("%s: %s", coin, decision.reason)
        version = rt.store.set_param(f"regime.{coin}", decision.as_params(), reason=decision.reason,
                                     source="vol_regime")
        paused_by_us = (rt.store.control(PAUSE, scope=coin) or {}).get("source") == "vol_regime"
        if decision.pause:
            rt.store.set_control(PAUSE, True, reason=f"{coin}: {decision.reason}", source="vol_regime", scope=coin)
            rt.alert("warning", f"{coin} quoting paused: extreme volatility", decision.reason,
                     "nothing: quoting resumes by itself when the regime calms; to resume earlier clear the pause "
                     "control", coin=coin, dedup_key=f"vol-pause:{coin}")
        elif paused_by_us:  # only lift a pause this flow set; an operator's pause stays
            rt.store.clear_control(PAUSE, reason=f"{coin}: {decision.reason}", source="vol_regime", scope=coin)
        return {"coin": coin, "status": "ok", "version": version, **decision.as_params()}
