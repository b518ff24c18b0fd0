"""Hourly funding and the premium it is derived from (protocol notes §7).

At every whole hour of the sim clock each perp position pays `szi x oraclePx x rate` (positive
rate: longs pay shorts) — exact Decimal, no rounding, so the payments of one hour sum to zero.
The rate is either set by a market driver (`set_funding_rate`) or derived like Hyperliquid's:
premium samples (taken by `tick()`, at most every 5 s of sim time) averaged over the hour,
F8 = avg + clamp(0.0001 - avg, -0.0005, 0.0005), hourly rate = F8 / 8, capped at 4 %/h.
"""
from __future__ import annotations

from decimal import Decimal

from .accounts import ZERO
from .core import HOUR_MS, Core
from .markets import Market
from .numbers import dec_str

INTEREST_8H = Decimal("0.0001")
CLAMP_8H = Decimal("0.0005")
CAP_1H = Decimal("0.04")
PREMIUM_QUANTUM = Decimal("1e-8")
SAMPLE_EVERY_MS = 5_000


def impact_px(core: Core, m: Market, bids: bool) -> Decimal | None:
    """Average price of a market order of the impact notional into one side; None if too thin."""
    want = m.impact_ntl
    got_ntl = got_sz = ZERO
    for px_int, total, _ in core.books[m.coin].levels(bids):
        px, sz = m.px_dec(px_int), m.sz_dec(total)
        take = min(sz, (want - got_ntl) / px)
        got_ntl += take * px
        got_sz += take
        if got_ntl >= want:
            return (got_ntl / got_sz).quantize(Decimal(1).scaleb(-m.px_decimals))
    return None


def premium(core: Core, m: Market) -> Decimal:
    oracle = core.oracle[m.coin]
    bid, ask = impact_px(core, m, True), impact_px(core, m, False)
    up = max(bid - oracle, ZERO) if bid is not None else ZERO
    down = max(oracle - ask, ZERO) if ask is not None else ZERO
    return ((up - down) / oracle).quantize(PREMIUM_QUANTUM)


def rate_from_premium(avg: Decimal) -> Decimal:
    f8 = avg + min(max(INTEREST_8H - avg, -CLAMP_8H), CLAMP_8H)
    return min(max(f8 / 8, -CAP_1H), CAP_1H)


def avg_premium(core: Core, m: Market) -> Decimal:
    samples = core.premium_samples[m.coin]
    if not samples:
        return premium(core, m)
    return (sum(samples, ZERO) / len(samples)).quantize(PREMIUM_QUANTUM)


def current_rate(core: Core, m: Market) -> Decimal:
    override = core.funding_override.get(m.coin)
    return override if override is not None else rate_from_premium(avg_premium(core, m))


def sample(core: Core, now: int) -> None:
    if now - core.last_sample_ms < SAMPLE_EVERY_MS:
        return
    core.last_sample_ms = now
    for m in core.u.perps:
        samples = core.premium_samples[m.coin]
        samples.append(premium(core, m))
        if len(samples) > 720:  # one hour at 5 s
            del samples[0]


def run_due(core: Core, now: int) -> int:
    """Pay every funding hour that has come due; returns how many hours were paid."""
    n = 0
    while core.next_funding_ms <= now:
        pay_hour(core, core.next_funding_ms)
        core.next_funding_ms += HOUR_MS
        n += 1
    return n


def pay_hour(core: Core, t: int) -> None:
    core.new_tx()
    h = core.tx_hash
    emit = bool(core.events.subscribers)
    for m in core.u.perps:
        coin = m.coin
        prem = avg_premium(core, m)
        rate = current_rate(core, m)
        core.premium_samples[coin] = []
        oracle = core.oracle[coin]
        rate_s = dec_str(rate)
        core.funding_history[coin].append({"coin": coin, "fundingRate": rate_s, "premium": dec_str(prem), "time": t})
        for u in core.users.values():
            pos = u.positions.get(coin)
            if pos is None or not pos.szi:
                continue
            pay = pos.szi * oracle * rate  # positive: this user pays
            if pos.iso is not None:  # an isolated position pays from (and is paid into) its own margin
                pos.iso -= pay
            else:
                u.perp_usdc -= pay
            pos.fund_all += pay
            pos.fund_open += pay
            pos.fund_change += pay
            szi_s, usdc_s = dec_str(pos.szi), dec_str(-pay)
            u.fundings.append({"time": t, "hash": h, "delta": {"type": "funding", "coin": coin, "usdc": usdc_s,
                                                                "szi": szi_s, "fundingRate": rate_s,
                                                                "nSamples": None}})
            if emit:
                core.events.add("userFundings", u.address,
                                {"time": t, "coin": coin, "usdc": usdc_s, "szi": szi_s, "fundingRate": rate_s})
        core.events.notice("ctx", coin)
