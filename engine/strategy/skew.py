"""Inventory skew: where to centre quotes given what we already hold.

Two models, both closed form so they cost nothing per tick:

Avellaneda–Stoikov (default). Reservation price
    r = mid − q · γ · σ² · τ
with q the signed net inventory in coin (spot + perp, the shared book), σ the volatility in *price units* per
√bar (EWMA σ as a fraction × mid), τ = T − t the horizon in bars (config `strategy.horizon_bars`, default 1) and γ the risk aversion (units 1/(USD·coin), so the
product is a price). Long inventory (q > 0) puts r below mid: asks get closer to the market, bids further,
and fills tend to bring q back to zero.

GLFT (Guéant–Lehalle–Fernandez-Tapia, closed-form asymptotic approximation, with ξ = γ). With order
arrival intensity λ(δ) = A·e^(−k·δ) at depth δ (here δ is a *fraction of mid*, so k is per unit of fractional
depth and A is fills per bar), σ the per-bar fractional volatility and inventory counted in order-size
units (q = inventory / Δ with Δ = 1 lot):
    c1 = (1 / (ξΔ)) · ln(1 + ξΔ / k)
    c2 = sqrt( γ / (2·A·Δ·k) · (1 + ξΔ / k)^(k/(ξΔ) + 1) )
    half_spread = c1 + (Δ / 2) · σ · c2
    skew        = σ · c2                    (per unit of q)
    bid depth = half_spread + skew · q,  ask depth = half_spread − skew · q
i.e. the quote centre moves by −skew·q·mid, and GLFT also proposes a half-spread (used as one more floor
next to the base and ATR floors).

Both offsets are capped at `max_skew_frac` of mid: a runaway σ or q must never push the centre through the
book; position limits (risk.py) handle large inventories, not ever-larger skews.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def as_reservation_offset(inventory: float, gamma: float, sigma_px: float, horizon: float) -> float:
    """A–S offset r − mid in price units (negative when long)."""
    return -inventory * gamma * sigma_px * sigma_px * horizon


@dataclass(frozen=True, slots=True)
class GlftCoefficients:
    half_spread: float  # fraction of mid
    skew: float  # fraction of mid per unit of normalized inventory


def glft_coefficients(gamma: float, sigma: float, A: float, k: float, delta: float = 1.0) -> GlftCoefficients:
    if gamma <= 0 or A <= 0 or k <= 0 or delta <= 0 or sigma < 0:
        raise ValueError(f"GLFT needs gamma, A, k, delta > 0 and sigma >= 0 (gamma={gamma}, A={A}, k={k}, "
                         f"delta={delta}, sigma={sigma})")
    xi_d = gamma * delta
    c1 = math.log1p(xi_d / k) / xi_d
    # (1 + x)^(1/x + 1) in log space: stays finite for tiny gamma/k where the power would over/underflow
    growth = math.exp((k / xi_d + 1.0) * math.log1p(xi_d / k))
    c2 = math.sqrt(gamma / (2.0 * A * delta * k) * growth)
    return GlftCoefficients(half_spread=c1 + 0.5 * delta * sigma * c2, skew=sigma * c2)


def clamp_offset(offset: float, mid: float, max_skew_frac: float) -> float:
    cap = max_skew_frac * mid
    return max(-cap, min(cap, offset))
