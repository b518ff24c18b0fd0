"""funding_accounting (hourly): write the venue's funding payments into the ledger, then account realized vs
expected funding per coin (public funding history × position × hourly price), realized carry APR, flags."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from prefect import flow, get_run_logger

from flows.hooks import HOOKS
from prefect.artifacts import create_table_artifact

from flows.logic.funding import HOUR_MS, account_funding
from engine.numbers import dec
from flows.runtime import build_runtime
from flows.tasks import ms, read_candles, read_fills, read_funding_history, read_user_funding


def _position_path(rt, start: int, end: int):
    """Our perp position at any hour in the window: today's position minus the perp fills after that hour
    (from the venue), so an hour where we held a position but got no payment is caught."""
    current: dict[str, Decimal] = {}
    for ap in rt.reader.clearinghouse_state(rt.user).get("assetPositions", []):
        p = ap["position"]
        current[p["coin"]] = dec(p["szi"], f"position.{p['coin']}.szi")
    fills = [f for f in read_fills(rt.reader, rt.user, start, end) if not str(f["coin"]).startswith("@")
             and "/" not in str(f["coin"])]

    def at(coin: str, hour_ms: int) -> Decimal:
        later = sum((dec(f["sz"], "sz") * (1 if f["side"] == "B" else -1) for f in fills
                     if f["coin"] == coin and int(f["time"]) > hour_ms), Decimal(0))
        return current.get(coin, Decimal(0)) - later

    return at


def realized_vs_expected(rt, paid: list[dict], start: int, end: int, coins: list[str] | None, log) -> dict:
    """Per coin: funding received (`paid`, the venue's userFunding rows) against what the public funding
    history × our position × the hourly price says we should have received (flows.logic.funding)."""
    wanted = set(coins or []) or {r["delta"]["coin"] for r in paid} | {m.perp_name for m in rt.cfg.markets if m.perp}
    history = {c: read_funding_history(rt.reader, c, start, end) for c in sorted(wanted)}
    closes: dict[str, dict[int, Decimal]] = {}
    for c in sorted(wanted):
        try:
            rows = read_candles(rt.reader, c, "1h", start - HOUR_MS, end)
        except Exception as exc:  # no candles: amounts are not checked, rates and gaps still are
            log.warning("no 1h candles for %s (%s); amount checks skipped", c, exc)
            rows = []
        # funding at hour h is charged on the price around h: the close of the candle ending at h
        closes[c] = {int(r["t"]) + HOUR_MS: dec(r["c"], f"candles.{c}.c") for r in rows}
    return account_funding(paid, history, price_at=lambda coin, h: closes.get(coin, {}).get(h),
                           position_at=_position_path(rt, start, end),
                           window_hours=max(1, round((end - start) / HOUR_MS)))


@flow(name="funding_accounting", description="userFunding → ledger; realized vs expected funding, carry APR, flags",
      **HOOKS)
def funding_accounting(lookback_hours: int = 24, coins: list[str] | None = None,
                       config_path: str | None = None) -> dict:
    if not (1 <= lookback_hours <= 24 * 90):
        raise ValueError(f"lookback_hours: must be in [1, 2160], got {lookback_hours}")
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        end = ms(rt.now())
        start = end - lookback_hours * HOUR_MS
        paid = read_user_funding(rt.reader, rt.user, start, end)
        written = rt.store.upsert_funding(rt.user, paid)
        report = realized_vs_expected(rt, paid, start, end, coins, log)
        table = [{"coin": c.coin, "realized_usdc": f"{c.realized:.6f}", "expected_usdc": f"{c.expected:.6f}",
                  "payments": c.payments, "hours": c.hours, "mean_notional": f"{c.mean_notional:.2f}",
                  "realized_apr": "n/a" if c.realized_apr is None else f"{c.realized_apr:.2%}",
                  "flags": len(c.flags)} for c in report.values()]
        create_table_artifact(key="funding-accounting", table=table,
                              description=f"Funding {dt.datetime.fromtimestamp(start / 1000, dt.timezone.utc):%Y-%m-%d %H:%M}"
                                          f" → {dt.datetime.fromtimestamp(end / 1000, dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
        flags = [f for c in report.values() for f in c.flags]
        if flags:
            body = "\n".join(f"{f.coin} {dt.datetime.fromtimestamp(f.hour_ms / 1000, dt.timezone.utc):%m-%d %H:00} "
                             f"{f.kind}: {f.detail}" for f in flags[:20])
            rt.alert("warning", f"funding mismatches: {len(flags)}", body,
                     "compare the funding-accounting artifact with the venue's userFunding; a missing payment "
                     "usually means the position was flat at the hour", coin=",".join(sorted({f.coin for f in flags})),
                     dedup_key="funding-mismatch")
        log.info("funding: %d payments (%d new in ledger), %d flags", len(paid), written, len(flags))
        return {"payments": len(paid), "written": written,
                "realized": {c.coin: str(c.realized) for c in report.values()},
                "expected": {c.coin: str(c.expected) for c in report.values()},
                "apr": {c.coin: None if c.realized_apr is None else float(c.realized_apr) for c in report.values()},
                "flags": [(f.coin, f.hour_ms, f.kind) for f in flags]}
