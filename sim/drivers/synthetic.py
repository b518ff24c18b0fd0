"""Seeded synthetic market: a calibrated random walk per coin, other makers' ladders, takers.

`SyntheticPath(seed).at(step)` is a pure function of (seed, step): step n's random numbers come
from a numpy generator seeded with (seed, n // CHUNK), and the AR(1) state at each chunk start is
derived from the previous chunk, so any access order yields the same path (tests use it without a
server). The driver maps the simulated clock to a step (1 s of simulated time each), keeps
>= 20 levels per side of system-account liquidity around each mid, sets the perp oracles so the
book trades at a calibrated premium (the venue derives funding from it), and lets system takers
print trades. Calibration figures: sim/drivers/calibration.py.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from sim.drivers import Driver, log
from sim.drivers import calibration as cal
from sim.drivers.ladder import SYSTEM_MAKER, SYSTEM_TAKER, Ladder, market_info, price_str, tick_size, valid_price

STEP_MS = 1000
CHUNK = 1024
WALKS = ("BTC", "ETH", "SOL", "HYPE", "PURR")   # log-price random walks
PREMIUMS = ("BTC", "ETH", "SOL", "HYPE")        # perp premium AR(1) processes
N_LEVELS = 24          # per side, so takers eating a few levels still leave >= 20
LEVEL_SPACING_BP = 1.0  # distance between levels (rounded to whole ticks)
HALF_SPREAD_BP = 1.0
LEVEL_NOTIONAL = {"BTC": 150_000.0, "ETH": 80_000.0, "SOL": 40_000.0, "HYPE": 40_000.0, "PURR": 5_000.0}
TAKER_RATE = 0.25       # default background taker intensity: system taker trades per market per step (1 s)
MAX_TAKER_RATE = 50.0
TAKER_NOTIONAL = {"BTC": 20_000.0, "ETH": 10_000.0, "SOL": 5_000.0, "HYPE": 5_000.0, "PURR": 500.0}
MAX_CATCHUP_STEPS = 5   # further behind (clock jumped): go straight to the current step


def _step_vol(vol_1h: float, step_ms: int) -> float:
    return vol_1h * math.sqrt(step_ms / 3_600_000.0)


def _ar1_step(autocorr: float, per_ms: float, step_ms: int) -> float:
    """Per-step AR(1) coefficient from an autocorrelation measured over `per_ms`."""
    return autocorr ** (step_ms / per_ms)


@dataclass(frozen=True)
class PathPoint:
    step: int
    mids: dict[str, float]       # walk coins: BTC ETH SOL HYPE PURR (perp mids; PURR spot)
    premiums: dict[str, float]   # perp premium: oracle = mid / (1 + premium)
    basis: float                 # HYPE perp / HYPE spot - 1
    taker_u: np.ndarray          # per walk coin: [trade?, side, size] uniforms/normal

    def hype_spot(self) -> float:
        return self.mids["HYPE"] / (1.0 + self.basis)

    def oracle(self, coin: str) -> float:
        return self.mids[coin] / (1.0 + self.premiums[coin])


class SyntheticPath:
    """Mid, premium and basis per step: pure in (seed, step)."""

    def __init__(self, seed: int, start_px: dict[str, float] | None = None, step_ms: int = STEP_MS):
        self.seed = int(seed) % 2 ** 63  # SeedSequence needs a non-negative entropy
        self.step_ms = step_ms
        start = dict(cal.START_PX)
        start.update(start_px or {})
        self.log0 = np.array([math.log(start["PURR/USDC" if c == "PURR" else c]) for c in WALKS])
        vols = [cal.PERPS[c].vol_1h if c in cal.PERPS else cal.PURR_VOL_1H for c in WALKS]
        self.sigma = np.array([_step_vol(v, step_ms) for v in vols])
        self.p_mean = np.array([cal.PERPS[c].premium_mean for c in PREMIUMS])
        self.p_phi = np.array([_ar1_step(cal.PERPS[c].premium_autocorr_1h, 3_600_000, step_ms) for c in PREMIUMS])
        # innovation stdev that gives the measured stationary stdev: s_eps = s * sqrt(1 - phi^2)
        self.p_eps = np.array([cal.PERPS[c].premium_std for c in PREMIUMS]) * np.sqrt(1 - self.p_phi ** 2)
        self.b_phi = _ar1_step(cal.BASIS_AUTOCORR_5M, 300_000, step_ms)
        self.b_eps = cal.BASIS_STD * math.sqrt(1 - self.b_phi ** 2)
        self._starts: dict[int, tuple[np.ndarray, np.ndarray, float]] = {
            0: (self.log0.copy(), self.p_mean.copy(), cal.BASIS_MEAN)}
        self._cache: dict[int, tuple] = {}

    def _chunk(self, c: int) -> tuple:
        if c in self._cache:
            return self._cache[c]
        if c not in self._starts:
            prev = max(k for k in self._starts if k < c)
            for k in range(prev, c):
                self._chunk(k)
        logp0, prem0, basis0 = self._starts[c]
        rng = np.random.default_rng([self.seed, c])
        eps = rng.standard_normal((CHUNK, len(WALKS) + len(PREMIUMS) + 1))
        taker = np.random.default_rng([self.seed, c, 1]).random((CHUNK, len(WALKS), 3))
        logp = logp0 + np.cumsum(eps[:, :len(WALKS)] * self.sigma, axis=0)
        prem = self._ar1(prem0, self.p_mean, self.p_phi, self.p_eps * eps[:, len(WALKS):-1])
        basis = self._ar1(np.array([basis0]), np.array([cal.BASIS_MEAN]), np.array([self.b_phi]),
                          self.b_eps * eps[:, -1:])[:, 0]
        self._starts[c + 1] = (logp[-1].copy(), prem[-1].copy(), float(basis[-1]))
        if len(self._cache) > 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[c] = (logp, prem, basis, taker)
        return self._cache[c]

    @staticmethod
    def _ar1(x0: np.ndarray, mean: np.ndarray, phi: np.ndarray, shocks: np.ndarray) -> np.ndarray:
        """x[n] = mean + phi (x[n-1] - mean) + shock[n], n = 1..len, vectorised (phi^n scaling)."""
        n = np.arange(1, shocks.shape[0] + 1)[:, None]
        powers = phi[None, :] ** n
        dev = powers * ((x0 - mean)[None, :] + np.cumsum(shocks / powers, axis=0))
        return mean[None, :] + dev

    def at(self, step: int) -> PathPoint:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step == 0:
            logp, prem, basis = self._starts[0]
            taker = np.ones((len(WALKS), 3))  # no trade at step 0
        else:
            c, i = divmod(step - 1, CHUNK)
            logps, prems, bases, takers = self._chunk(c)
            logp, prem, basis, taker = logps[i], prems[i], float(bases[i]), takers[i]
        return PathPoint(step=step, mids={c: float(math.exp(v)) for c, v in zip(WALKS, logp)},
                         premiums={c: float(v) for c, v in zip(PREMIUMS, prem)}, basis=float(basis),
                         taker_u=taker)

    def mids(self, steps: int, coin: str = "HYPE") -> np.ndarray:
        """Mid of one walk coin for steps 0..steps-1 (for tests and calibration checks)."""
        return np.array([self.at(s).mids[coin] for s in range(steps)])


def ladder_levels(mid: float, spacing: Decimal, sz_decimals: int, is_spot: bool, notional: float,
                  seed: int, coin: str, n_levels: int = N_LEVELS) -> tuple[dict[str, str], dict[str, str]]:
    """Bid/ask {px: sz} on a fixed price grid (multiples of `spacing`) around `mid`.

    Level sizes depend only on (seed, coin, grid index), so a level that stays in the book as the mid
    moves keeps its size and the ladder keeper leaves it alone."""
    mid_d = Decimal(repr(mid))
    half = mid_d * Decimal(HALF_SPREAD_BP) / Decimal(10_000)
    best_bid_n = int(((mid_d - half) / spacing).to_integral_value(rounding=ROUND_FLOOR))
    best_ask_n = int(((mid_d + half) / spacing).to_integral_value(rounding=ROUND_CEILING))
    if best_ask_n <= best_bid_n:
        best_ask_n = best_bid_n + 1
    quantum = Decimal(1).scaleb(-sz_decimals)

    def size(n: int, px: Decimal) -> str:
        u = zlib.crc32(f"{seed}:{coin}:{n}".encode()) / 2 ** 32
        sz = (Decimal(repr(notional * (0.4 + 1.2 * u))) / px).quantize(quantum, rounding=ROUND_FLOOR)
        floor_sz = (Decimal(12) / px).quantize(quantum, rounding=ROUND_CEILING)
        return price_str(max(sz, floor_sz, quantum))

    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    for i in range(n_levels):
        for n, side in ((best_bid_n - i, bids), (best_ask_n + i, asks)):
            px = spacing * n
            if valid_price(px, sz_decimals, is_spot):
                side[price_str(px)] = size(n, px)
    return bids, asks


def parse_takers(arg: str) -> float:
    """The `takers=RATE` part of a `synthetic:takers=RATE` market spec ("" gives the default rate)."""
    if not arg:
        return TAKER_RATE
    key, sep, value = arg.partition("=")
    try:
        rate = float(value) if key == "takers" and sep else None
    except ValueError:
        rate = None
    if rate is None or not 0 <= rate <= MAX_TAKER_RATE:
        raise ValueError(f"synthetic market: expected takers=RATE with 0 <= RATE <= {MAX_TAKER_RATE:g} "
                         f"(system taker trades per market per second), got {arg!r}")
    return rate


class SyntheticDriver(Driver):
    step_ms = STEP_MS

    def __init__(self, venue: Any, clock: Any, seed: int = 0, taker_rate: float = TAKER_RATE):
        super().__init__(venue, clock)
        self.seed = seed
        self.taker_rate = taker_rate
        self.markets = market_info(venue)
        self.walk_of: dict[str, str] = {}     # venue coin -> walk coin
        for coin, m in self.markets.items():
            if not m["is_spot"] and coin in WALKS:
                self.walk_of[coin] = coin
            elif m["is_spot"] and m["base"] in ("HYPE", "PURR"):
                self.walk_of[coin] = m["base"]
        start = {"PURR/USDC": cal.START_PX["PURR/USDC"]}
        self.path = SyntheticPath(seed, start_px=self._venue_start_prices(start))
        self.ladders = {coin: Ladder(venue, coin) for coin in self.walk_of}
        self.resync()  # a venue loaded from --state already holds our resting ladder
        self.spacing: dict[str, Decimal] = {}
        self.t0 = clock.now_ms()
        self.step = -1
        self._oracle_ok = True
        venue.subscribe(self._on_event)

    def _venue_start_prices(self, start: dict[str, float]) -> dict[str, float]:
        """Start the walks at the venue's own oracle prices when it has them (continuity with its meta)."""
        try:
            _, (meta, ctxs) = self.venue.info({"type": "metaAndAssetCtxs"})
            for asset, ctx in zip(meta["universe"], ctxs):
                px = ctx.get("oraclePx") or ctx.get("markPx")
                if asset["name"] in WALKS and px and float(px) > 0:
                    start[asset["name"]] = float(px)
        except Exception:
            log.warning("venue gave no metaAndAssetCtxs; synthetic walk starts at calibration prices")
        return start

    def resync(self) -> None:
        for ladder in self.ladders.values():
            ladder.adopt()

    def _on_event(self, ev: Any) -> None:
        if ev.channel == "orderUpdates" and (ev.key or "").lower() == SYSTEM_MAKER:
            for upd in ev.data:
                if upd.get("status") != "open":
                    ladder = self.ladders.get(upd["order"]["coin"])
                    if ladder:
                        ladder.forget(upd["order"]["oid"])

    def _mid(self, coin: str, point: PathPoint) -> float:
        walk = self.walk_of[coin]
        if self.markets[coin]["is_spot"] and walk == "HYPE":
            return point.hype_spot()
        return point.mids[walk]

    def _spacing(self, coin: str, mid: float) -> Decimal:
        m = self.markets[coin]
        tick = tick_size(mid, m["sz_decimals"], m["is_spot"])
        current = self.spacing.get(coin)
        if current is None or current % tick != 0 or current > tick * 100:
            k = max(1, round(mid * LEVEL_SPACING_BP / 10_000 / float(tick)))
            current = tick * k
            self.spacing[coin] = current
        return current

    def apply(self, point: PathPoint, trade: bool) -> None:
        for coin, ladder in self.ladders.items():
            m = self.markets[coin]
            mid = self._mid(coin, point)
            walk = self.walk_of[coin]
            bids, asks = ladder_levels(mid, self._spacing(coin, mid), m["sz_decimals"], m["is_spot"],
                                       LEVEL_NOTIONAL[walk], self.seed, coin)
            ladder.sync(bids, asks)
            if not m["is_spot"] and self._oracle_ok and bids and asks:
                self._set_oracle(coin, point.premiums[walk], bids, asks)
            if trade:
                self._take(coin, mid, point.taker_u[WALKS.index(walk)], point.step)

    def _set_oracle(self, coin: str, premium: float, bids: dict[str, str], asks: dict[str, str]) -> None:
        """Oracle such that the venue's sampled premium equals the path's premium.

        The venue measures premium from impact prices (the average fill of a 6k/20k USDC market
        order); the first ladder level is always larger than that, so the impact bid is the best
        bid and the impact ask the best ask: premium p > 0 needs best_bid = oracle (1 + p)."""
        anchor = max(map(float, bids)) if premium >= 0 else min(map(float, asks))
        oracle = Decimal(repr(anchor / (1.0 + premium))).quantize(Decimal("1e-6"))
        try:
            self.venue.set_oracle(coin, price_str(oracle))
        except Exception:
            log.exception("set_oracle failed; synthetic driver stops setting oracles")
            self._oracle_ok = False

    def _take(self, coin: str, mid: float, u: np.ndarray, step: int) -> None:
        """`taker_rate` trades on average: its whole part every step, its fraction with that chance (the path's
        uniform decides, so the default rate of 0.25 prints exactly the trades it always printed)."""
        whole, frac = divmod(self.taker_rate, 1.0)
        n = int(whole) + (1 if u[0] < frac else 0)
        if n == 0:
            return
        self._take_one(coin, mid, u)
        if n > 1:  # more draws only when asked for: the default rate costs no extra generator per step
            extra = np.random.default_rng([self.seed % 2 ** 63, step, zlib.crc32(coin.encode()), 2]).random((n - 1, 3))
            for draw in extra:
                self._take_one(coin, mid, draw)

    def _take_one(self, coin: str, mid: float, u: np.ndarray) -> None:
        m = self.markets[coin]
        is_buy = bool(u[1] < 0.5)
        notional = TAKER_NOTIONAL[self.walk_of[coin]] * (0.2 + 1.6 * float(u[2]))
        limit = mid * (1.002 if is_buy else 0.998)
        tick = tick_size(limit, m["sz_decimals"], m["is_spot"])
        px = (Decimal(repr(limit)) / tick).to_integral_value(rounding=ROUND_CEILING if is_buy else ROUND_FLOOR) * tick
        quantum = Decimal(1).scaleb(-m["sz_decimals"])
        sz = max((Decimal(repr(notional / mid))).quantize(quantum, rounding=ROUND_FLOOR), quantum)
        self.venue.system_order(SYSTEM_TAKER, coin, is_buy, price_str(px), price_str(sz), "Ioc")

    def target_step(self) -> int:
        return max(0, (self.clock.now_ms() - self.t0) // self.step_ms)

    def poll(self) -> None:
        target = self.target_step()
        if target <= self.step:
            return
        if target - self.step > MAX_CATCHUP_STEPS:
            self.step = target - 1  # jump: the path is a function of the step, nothing is lost
        while self.step < target:
            self.step += 1
            self.apply(self.path.at(self.step), trade=True)
