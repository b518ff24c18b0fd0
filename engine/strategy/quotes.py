"""quotes(state, params) -> list[Quote]: the pure quoting rule for one leg (spot or perp) of one coin.

Steps, each one line of arithmetic so a reviewer can check it:
1. half-spread h = max(base_spread / 2, atr_multiplier · ATR%, [GLFT half-spread]) · regime_multiplier
   (the regime multiplier is written by the volatility flow through `params`).
2. centre c = mid + inventory skew (A–S or GLFT, skew.py) + carry bias (while carrying, spot centre up
   / perp centre down, so quoting tends to keep spot long and perp short), capped at max_skew_frac.
3. level i (0 = inside): bid c·(1 − h − i·spacing), ask c·(1 + h + i·spacing); size = notional_i / px.
4. venue rules: bids round down, asks up, sizes floor to the lot; below the $10 minimum a level is bumped to
   the minimum lot or dropped (params). Post-only guard: never at/through the opposite best price.
Because rounding only moves prices away from the centre, and h > 0, bid < ask always holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from engine.strategy import rounding as R
from engine.strategy.skew import as_reservation_offset, clamp_offset, glft_coefficients

Leg = Literal["perp", "spot"]


@dataclass(frozen=True, slots=True)
class QuoteParams:
    base_spread: float = 0.00245  # full spread floor as a fraction of mid (0.245 %)
    atr_multiplier: float = 0.5  # half-spread >= atr_multiplier · ATR%
    regime_multiplier: float = 1.0  # volatility-regime scale written by the vol flow
    levels: int = 3
    level_spacing: float = 0.0005  # extra fractional distance per level beyond the first
    order_notional: float = 100.0  # USD (quote units) at level 0
    size_multiplier: float = 1.0  # notional of level i = order_notional · size_multiplier**i
    min_notional: float = 10.0
    min_notional_policy: Literal["bump", "drop"] = "bump"
    skew_model: Literal["as", "avellaneda_stoikov", "glft"] = "as"  # "avellaneda_stoikov" = config's name
    gamma: float = 0.1  # risk aversion (see skew.py for units per model)
    horizon_bars: float = 1.0  # A–S horizon T − t, in bars of the vol estimate (config strategy.horizon_bars)
    glft_A: float = 1.0  # GLFT fills per bar at zero depth
    glft_k: float = 1000.0  # GLFT intensity decay per unit of fractional depth
    max_skew_frac: float = 0.01  # cap on |centre − mid| / mid
    carry_bias: float = 0.0005  # fractional centre shift at full carry strength
    max_inventory: float | None = None  # coin; beyond it the side that adds inventory is not quoted

    def __post_init__(self) -> None:
        checks = {
            "base_spread": self.base_spread > 0, "atr_multiplier": self.atr_multiplier >= 0,
            "regime_multiplier": self.regime_multiplier > 0, "levels": self.levels >= 1,
            "level_spacing": self.level_spacing >= 0, "order_notional": self.order_notional > 0,
            "size_multiplier": self.size_multiplier > 0, "min_notional": self.min_notional >= 0,
            "gamma": self.gamma >= 0, "horizon_bars": self.horizon_bars >= 0, "glft_A": self.glft_A > 0,
            "glft_k": self.glft_k > 0, "max_skew_frac": 0 <= self.max_skew_frac < 0.5,
            "carry_bias": 0 <= self.carry_bias < 0.5,
            "min_notional_policy": self.min_notional_policy in ("bump", "drop"),
            "skew_model": self.skew_model in ("as", "avellaneda_stoikov", "glft"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"QuoteParams: invalid {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    @classmethod
    def from_config(cls, strategy: object, **overrides: object) -> "QuoteParams":
        """From the `[strategy]` config section (duck-typed: this module must not depend on config I/O);
        `overrides` carry what the flows write at run time, e.g. regime_multiplier."""
        values = dict(base_spread=strategy.base_spread, atr_multiplier=strategy.atr_multiplier,
                      skew_model=strategy.skew_model, gamma=strategy.gamma, horizon_bars=strategy.horizon_bars,
                      levels=strategy.levels,
                      level_spacing=strategy.level_spacing_bps / 10_000, order_notional=strategy.order_size_usd)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LegState:
    """Everything one leg's quotes depend on; built by the loop from market state (all fresh, or no quotes)."""

    coin: str  # wire coin name: "HYPE" (perp) or "@107" (spot)
    leg: Leg
    sz_decimals: int
    mid: float
    inventory: float  # net delta in coin across both legs (the shared book)
    atr_pct: float | None = None  # ATR / price; None until warmed up (then the base floor applies)
    sigma: float | None = None  # per-bar fractional EWMA vol; None → no inventory skew
    best_bid: float | None = None  # market BBO for the post-only guard
    best_ask: float | None = None
    carry_strength: float = 0.0  # 0 = no carry, 1 = full carry position wanted
    buy_capacity: float | None = None  # coin we may still buy on this leg (e.g. spot USDC / px)
    sell_capacity: float | None = None  # coin we may still sell (spot: the free base balance)


@dataclass(frozen=True, slots=True)
class Quote:
    coin: str
    leg: Leg
    is_buy: bool
    level: int
    px: Decimal
    sz: Decimal

    @property
    def notional(self) -> Decimal:
        return self.px * self.sz


def half_spread(state: LegState, params: QuoteParams) -> float:
    """Fractional half-spread: the widest of the floors, then scaled by the regime."""
    h = params.base_spread / 2
    if state.atr_pct is not None:
        h = max(h, params.atr_multiplier * state.atr_pct)
    if params.skew_model == "glft" and state.sigma is not None and params.gamma > 0:
        h = max(h, glft_coefficients(params.gamma, state.sigma, params.glft_A, params.glft_k).half_spread)
    return h * params.regime_multiplier


def centre_price(state: LegState, params: QuoteParams) -> float:
    """Mid + inventory skew + carry bias, capped at max_skew_frac of mid."""
    mid = state.mid
    offset = 0.0
    if state.sigma is not None and params.gamma > 0 and state.inventory:
        if params.skew_model != "glft":
            offset = as_reservation_offset(state.inventory, params.gamma, state.sigma * mid, params.horizon_bars)
        else:
            lots = state.inventory * mid / params.order_notional  # inventory in level-0 order sizes (Δ = 1)
            offset = -lots * glft_coefficients(params.gamma, state.sigma, params.glft_A, params.glft_k).skew * mid
    if state.carry_strength > 0:
        bias = params.carry_bias * min(1.0, state.carry_strength) * mid
        offset += bias if state.leg == "spot" else -bias
    return mid + clamp_offset(offset, mid, params.max_skew_frac)


def raw_price(centre: float, half: float, spacing: float, level: int, is_buy: bool) -> float:
    """A level's price before rounding to the tick: the centre less (bids) or plus (asks) the half-spread and
    `level` spacings. The requote gate recomputes it to know where in its tick each quote was rounded."""
    dist = half + level * spacing
    return centre * (1 - dist) if is_buy else centre * (1 + dist)


def quotes(state: LegState, params: QuoteParams) -> list[Quote]:
    """Desired resting quotes for one leg, best level first per side; empty when there is nothing safe."""
    if not state.mid > 0:
        return []
    is_spot = state.leg == "spot"
    h = half_spread(state, params)
    c = centre_price(state, params)
    min_notional = _exact(params.min_notional)
    bid_cap = _post_only_cap(state, is_spot, True)
    ask_floor = _post_only_cap(state, is_spot, False)
    # a best ask already at the smallest tick leaves no valid post-only bid below it
    quote_bids = ((params.max_inventory is None or state.inventory < params.max_inventory)
                  and not (state.best_ask and bid_cap is None))
    quote_asks = params.max_inventory is None or state.inventory > -params.max_inventory

    out: list[Quote] = []
    for is_buy, enabled, capacity in ((True, quote_bids, state.buy_capacity), (False, quote_asks,
                                                                               state.sell_capacity)):
        if not enabled:
            continue
        remaining = None if capacity is None else R.round_size(max(capacity, 0.0), state.sz_decimals)
        prev_px: Decimal | None = None
        for i in range(params.levels):
            raw = raw_price(c, h, params.level_spacing, i, is_buy)
            if raw <= 0:
                break
            px = R.round_price(raw, state.sz_decimals, is_spot, "down" if is_buy else "up")
            if px is None:
                break
            if is_buy and bid_cap is not None and px > bid_cap:
                px = bid_cap
            if not is_buy and ask_floor is not None and px < ask_floor:
                px = ask_floor
            if prev_px is not None and (px >= prev_px if is_buy else px <= prev_px):
                # guard/rounding collapsed two levels onto one price: step one tick further out
                px = (R.next_price_below(prev_px, state.sz_decimals, is_spot) if is_buy
                      else R.next_price_above(prev_px, state.sz_decimals, is_spot))
                if px is None:
                    break
            notional = params.order_notional * params.size_multiplier ** i
            sz, below_min = _level_size(notional, px, state.sz_decimals, min_notional)
            if below_min:
                if params.min_notional_policy == "drop":
                    continue
                sz = R.min_size_for_notional(px, state.sz_decimals, min_notional)
            if remaining is not None:
                if sz > remaining:
                    sz = remaining
                if sz <= 0 or px * sz < min_notional:
                    break
                remaining -= sz
            if sz <= 0:
                continue
            out.append(Quote(state.coin, state.leg, is_buy, i, px, sz))
            prev_px = px
    return out


def _post_only_cap(state: LegState, is_spot: bool, is_buy: bool) -> Decimal | None:
    """Highest allowed bid (one tick under the best ask) / lowest allowed ask (one tick over the best bid):
    an Alo order at or through the opposite side is rejected by the venue (BadAloPx)."""
    px = state.best_ask if is_buy else state.best_bid
    if not px:
        return None
    # book prices sit on the venue's tick grid and recur from update to update: remember the answers
    key = (px, state.sz_decimals, is_spot, is_buy)
    cap = _CAPS.get(key, _MISSING)
    if cap is _MISSING:
        cap = (R.next_price_below(px, state.sz_decimals, is_spot) if is_buy
               else R.next_price_above(px, state.sz_decimals, is_spot))
        if len(_CAPS) >= 4096:
            _CAPS.clear()
        _CAPS[key] = cap
    return cap


def _level_size(notional: float, px: Decimal, sz_decimals: int, min_notional: Decimal) -> tuple[Decimal, bool]:
    """(lot-floored size for `notional` at `px`, whether that is under the minimum notional). Prices sit on
    the tick grid and a level's price recurs across requotes, so the exact-decimal answer is remembered."""
    key = (notional, px, sz_decimals, min_notional)
    hit = _SIZES.get(key)
    if hit is None:
        sz = R.round_size(_exact(notional) / px, sz_decimals)
        hit = (sz, px * sz < min_notional)
        if len(_SIZES) >= 8192:
            _SIZES.clear()
        _SIZES[key] = hit
    return hit


_SIZES: dict[tuple, tuple[Decimal, bool]] = {}
_MISSING = object()
_CAPS: dict[tuple, Decimal | None] = {}
_EXACT: dict[float, Decimal] = {}


def _exact(x: float) -> Decimal:
    """Decimal(repr(x)), remembered: level notionals and the minimum are a few config-derived floats."""
    d = _EXACT.get(x)
    if d is None:
        if len(_EXACT) >= 1024:
            _EXACT.clear()
        d = _EXACT[x] = Decimal(repr(x))
    return d
