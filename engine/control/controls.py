"""`ControlsPoller`: the ledger's controls and params → the engine's kill switch, pauses, carry sizes, quote params.

Input: a ledger reader (`LedgerWriter.read_controls` / `read_params`, blocking, run in a worker thread).
Output: the state it owns (`kill`, `paused(...)`, `params_for(coin)`, `carry_notional`) and, from `poll()`, a
`ControlChanges` telling the engine which markets to re-evaluate. A kill switch engaged by anyone is obeyed at
the next poll; one the engine engaged itself (drawdown) is written first, and the next poll reads it back
(the writer is flushed before the read, so the read can never find it off and clear it).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from engine.ledger_writer import Controls
from engine.risk import KillSwitch
from engine.strategy.quotes import QuoteParams

log = logging.getLogger("engine.controls")


# calibration.<COIN> params ([strategy] keys, flows/calibrate.py) -> QuoteParams fields (and unit scale). The
# requote tolerance is not among them: the engine sets it once at start (restart to apply an adopted one).
CALIBRATED = {"base_spread": ("base_spread", 1.0), "atr_multiplier": ("atr_multiplier", 1.0),
              "gamma": ("gamma", 1.0), "horizon_bars": ("horizon_bars", 1.0), "levels": ("levels", None),
              "level_spacing_bps": ("level_spacing", 1e-4), "order_size_usd": ("order_notional", 1.0)}


def calibrated(values: Any) -> dict[str, Any]:
    """QuoteParams overrides from a calibration params row (keys it does not map are left to the config)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"needs a JSON object, got {values!r}")
    out: dict[str, Any] = {}
    for key, (field, scale) in CALIBRATED.items():
        v = values.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{key}: needs a number, got {v!r}")
        out[field] = int(v) if scale is None else float(v) * scale
    return out


@dataclass(frozen=True, slots=True)
class ControlChanges:
    kill: bool = False       # the kill switch was engaged or cleared
    paused: bool = False     # the set of paused scopes changed
    carry: bool = False      # a carry_target control changed (size the carry now, not at the next hour)
    params: bool = False     # a coin's quote params changed

    @property
    def any(self) -> bool:
        return self.kill or self.paused or self.carry or self.params


class ControlsPoller:
    def __init__(self, reader: Any, kill: KillSwitch, base_params: QuoteParams, strategy_cfg: Any,
                 coins: Iterable[str], now_ms: Callable[[], int], alert: Callable[[str, str, str], None]) -> None:
        self.reader = reader
        self.kill = kill
        self.base_params = base_params
        self.strategy_cfg = strategy_cfg
        self.coins = list(coins)
        self.now_ms = now_ms
        self.alert = alert
        self.controls = Controls()
        self.params: dict[str, QuoteParams] = {}
        self.written = False  # the engine wrote a control the next poll must see (writer flushed first)
        self._bad: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ readings
    def params_for(self, coin: str) -> QuoteParams:
        return self.params.get(coin, self.base_params)

    def paused(self, coins: Iterable[str]) -> bool:
        p = self.controls.paused
        return bool(p) and ("*" in p or any(c in p for c in coins))

    @property
    def carry_notional(self) -> dict[str, float] | None:
        return self.controls.carry_notional

    # ------------------------------------------------------------------ polling
    async def poll(self) -> ControlChanges:
        loop = asyncio.get_running_loop()
        if self.written:
            self.written = False
            await loop.run_in_executor(None, self.reader.flush)
        controls = await loop.run_in_executor(None, self.reader.read_controls)
        params = await loop.run_in_executor(None, self.reader.read_params, self.coins)
        return self.apply(controls, params)

    def apply(self, controls: Controls, params: dict[str, dict]) -> ControlChanges:
        now = self.now_ms()
        kill_changed = False
        if controls.kill and not self.kill.engaged:
            who, why = controls.kill[0] or "ledger", controls.kill[1] or "kill switch control"
            self.kill.engage(who, why, now)
            log.error("KILL SWITCH engaged by %s: %s", who, why)
            self.alert("critical", "kill switch engaged",
                       f"by {who}: {why}. All quotes are being cancelled. Resume with `hlmm resume` once the cause "
                       "is understood.")
            kill_changed = True
        elif not controls.kill and self.kill.engaged:
            self.kill.clear("ledger", "kill switch control cleared (hlmm resume)", now)
            log.warning("kill switch cleared: quoting resumes")
            kill_changed = True
        paused_changed = controls.paused != self.controls.paused
        carry_changed = controls.carry_notional != self.controls.carry_notional
        self.controls = controls
        new: dict[str, QuoteParams] = {}
        for coin, p in params.items():
            calib = p.get("calibration")
            mult = p.get("spread_multiplier", 1.0 if calib is not None else None)
            if isinstance(mult, (int, float)) and not isinstance(mult, bool) and mult > 0:
                try:
                    fresh = QuoteParams.from_config(self.strategy_cfg, regime_multiplier=float(mult),
                                                    **calibrated(calib))
                except (TypeError, ValueError) as exc:
                    if (coin, repr(calib)) not in self._bad:
                        self._bad.add((coin, repr(calib)))
                        log.warning("params calibration.%s ignored: %s", coin, exc)
                    fresh = QuoteParams.from_config(self.strategy_cfg, regime_multiplier=float(mult))
                old = self.params.get(coin)  # the same object while unchanged (a key of the quote memo)
                new[coin] = old if old == fresh else fresh
            elif (coin, repr(mult)) not in self._bad:  # once per bad value, not every second
                self._bad.add((coin, repr(mult)))
                log.warning("params regime.%s: spread_multiplier %r ignored (needs a number > 0)", coin, mult)
        params_changed = new.keys() != self.params.keys() or any(new[k] is not self.params[k] for k in new)
        self.params = new
        return ControlChanges(kill_changed, paused_changed, carry_changed, params_changed)
