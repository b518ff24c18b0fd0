"""The funding-carry leg alone, over months of funding history: long spot + short perp of equal notional.

Pure: rows and parameters in, a result out; no I/O, no clock. All money is `Decimal` built from the files' own
text, so every sum is exact and independent of summation order.

Timeline, for each funding row i in time order (this order is the contract the tests re-derive):

1. if the carry is open, the short perp receives `size × px_i × rate_i` (px_i: open of the last candle opened
   at or before the row) (notional-based mode: px ≡ 1 and
   size = notional, i.e. `notional × rate_i`). A row's rate is for the period that ends at its time, so a
   carry must be open *before* a settlement to receive it.
2. the trailing mean hourly rate is computed over rows whose hour lies in (hour_i − lookback h, hour_i]
   as `Σ rate / Σ interval_hours` (8-hourly rows before 2023-06-08 weigh 8 hours each; see history.py);
   decisions start once `lookback − 1` whole hours have passed since the first row (a full window).
3. the engine's own hysteresis (`engine.strategy.carry.carry_wanted`): open → mean < exit: close both legs
   (taker fees). Flat → mean ≥ entry: open both legs at `notional`.
   Open and not closing (candle mode only) → if |size × px − notional| > band × notional, trade both legs
   back to `notional / px` (taker fees on the traded notional): a "rebalance".

`hold=True` opens before the first row and holds the whole file at constant notional (candles unused).
Whatever is still open after the last row is closed there (exit fees, counted in `exits`), so every result is
a round trip. Basis (spot vs perp price) is not modelled: both legs are valued at the same candle price, so
their price PnL cancels exactly.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

from engine.backtest.data import DataError
from engine.backtest.history import HOUR_MS, Candle, FundingRow
from engine.strategy.carry import carry_wanted

BP = Decimal("0.0001")
HOURS_PER_YEAR = Decimal(8760)


@dataclass(frozen=True)
class CarryParams:
    notional_usd: Decimal = Decimal(10_000)
    hold: bool = False
    entry_rate: Decimal = Decimal("0.000015")  # mean hourly funding above which the carry opens (~13 % APR)
    exit_rate: Decimal = Decimal("0.000005")  # mean hourly funding below which it closes (~4.4 % APR)
    lookback_hours: int = 168  # 7-day trailing mean (DESIGN: "size the carry from trailing funding")
    perp_taker_bp: Decimal = Decimal("4.5")
    spot_taker_bp: Decimal = Decimal("7")
    rebalance_band: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if self.notional_usd <= 0:
            raise ValueError(f"notional must be > 0 USD, got {self.notional_usd}")
        if self.lookback_hours < 1:
            raise ValueError(f"lookback must be >= 1 hour, got {self.lookback_hours}")
        if self.exit_rate > self.entry_rate:
            raise ValueError(f"exit ({self.exit_rate}) must be <= entry ({self.entry_rate}) or the carry flaps")
        if self.perp_taker_bp < 0 or self.spot_taker_bp < 0:
            raise ValueError("taker fees (bp) must be >= 0")
        if self.rebalance_band <= 0:
            raise ValueError(f"rebalance band must be > 0, got {self.rebalance_band}")

    @property
    def round_fee_rate(self) -> Decimal:
        """Fee per USD traded when both legs trade that notional as takers."""
        return (self.perp_taker_bp + self.spot_taker_bp) * BP


@dataclass(frozen=True)
class CarryResult:
    coin: str
    rows: int
    hours: int  # Σ interval_hours over all rows (8 per pre-2023-06-08 row)
    hours_in_position: int
    funding_pnl_usd: Decimal
    fees_usd: Decimal
    entries: int
    exits: int
    rebalances: int
    notional_usd: Decimal
    start_ms: int
    end_ms: int

    @property
    def net_pnl_usd(self) -> Decimal:
        return self.funding_pnl_usd - self.fees_usd

    @property
    def apr(self) -> Decimal:
        """Net PnL per unit of notional, annualised over the whole file (not only the time in position)."""
        if self.hours == 0:
            return Decimal(0)
        return self.net_pnl_usd / self.notional_usd * HOURS_PER_YEAR / Decimal(self.hours)

    def as_json(self) -> dict:
        return {
            "coin": self.coin, "rows": self.rows, "hours": self.hours, "hours_in_position": self.hours_in_position,
            "funding_pnl_usd": float(self.funding_pnl_usd), "fees_usd": float(self.fees_usd),
            "net_pnl_usd": float(self.net_pnl_usd), "entries": self.entries, "exits": self.exits,
            "rebalances": self.rebalances, "apr": float(self.apr), "notional_usd": float(self.notional_usd),
            "start_ms": self.start_ms, "end_ms": self.end_ms,
        }


def trailing_mean_hourly(rows: list[FundingRow], lookback_hours: int) -> list[Decimal | None]:
    """Per row: Σ rate / Σ interval_hours over rows with hour in (hour_i − lookback, hour_i]; None in warm-up."""
    out: list[Decimal | None] = []
    hours = [r.time_ms // HOUR_MS for r in rows]
    lo = 0
    rate_sum = Decimal(0)
    weight = 0
    for i, r in enumerate(rows):
        rate_sum += r.rate
        weight += r.interval_hours
        while hours[lo] <= hours[i] - lookback_hours:
            rate_sum -= rows[lo].rate
            weight -= rows[lo].interval_hours
            lo += 1
        warm = hours[i] - hours[0] >= lookback_hours - 1
        out.append(rate_sum / weight if warm else None)
    return out


class _Prices:
    """As-of price at a funding time: the open of the last bar that opened at or before it.

    A bar's open is the latest price known at that instant (the previous close is never newer), and with
    hourly bars and funding at hh:00 it is the price at the settlement itself.
    """

    def __init__(self, candles: list[Candle]):
        self.open_ms = [c.open_ms for c in candles]
        self.open = [c.open for c in candles]
        spacing = sorted(b.open_ms - a.open_ms for a, b in zip(candles, candles[1:])) or [HOUR_MS]
        self.max_age_ms = 2 * spacing[len(spacing) // 2] + HOUR_MS

    def at(self, t_ms: int) -> Decimal:
        i = bisect.bisect_right(self.open_ms, t_ms) - 1
        if i < 0:
            raise DataError(f"candles start after funding time {t_ms} ms; pass candles covering the funding range")
        if t_ms - self.open_ms[i] > self.max_age_ms:
            raise DataError(f"no candle within {self.max_age_ms // 60000} min before funding time {t_ms} ms "
                            f"(last bar opened at {self.open_ms[i]}); candles must cover the funding range")
        return self.open[i]


def run_carry(rows: list[FundingRow], params: CarryParams, candles: list[Candle] | None = None) -> CarryResult:
    if not rows:
        raise ValueError("no funding rows")
    notional = params.notional_usd
    fee_rate = params.round_fee_rate
    prices = _Prices(candles) if (candles and not params.hold) else None
    funding = Decimal(0)
    fees = Decimal(0)
    entries = exits = rebalances = hours_in = 0
    size = Decimal(0)  # coin units (or USD when px ≡ 1)
    is_open = False

    if params.hold:
        is_open, size, entries, fees = True, notional, 1, notional * fee_rate
        means: list[Decimal | None] = [None] * len(rows)
    else:
        means = trailing_mean_hourly(rows, params.lookback_hours)

    px = Decimal(1)
    for r, mean in zip(rows, means):
        if prices is not None:
            px = prices.at(r.time_ms)
        if is_open:
            funding += size * px * r.rate
            hours_in += r.interval_hours
        if mean is None:
            continue
        wanted = carry_wanted(mean, is_open, params.entry_rate, params.exit_rate)
        if is_open and not wanted:
            fees += size * px * fee_rate
            is_open, size, exits = False, Decimal(0), exits + 1
        elif not is_open and wanted:
            size = notional / px
            fees += notional * fee_rate
            is_open, entries = True, entries + 1
        elif is_open and prices is not None:
            value = size * px
            if abs(value - notional) > params.rebalance_band * notional:
                target = notional / px
                fees += abs(target - size) * px * fee_rate
                size, rebalances = target, rebalances + 1
    if is_open:  # close the round trip at the last row's price
        fees += size * px * fee_rate
        exits += 1
    return CarryResult(
        coin=rows[0].coin, rows=len(rows), hours=sum(r.interval_hours for r in rows), hours_in_position=hours_in,
        funding_pnl_usd=funding, fees_usd=fees, entries=entries, exits=exits, rebalances=rebalances,
        notional_usd=notional, start_ms=rows[0].time_ms, end_ms=rows[-1].time_ms,
    )
