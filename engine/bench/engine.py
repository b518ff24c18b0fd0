"""Engine figures.

* `tick_to_action_p50_us` / `_p99_us`: in-process, one l2Book update handed to the engine's feed handler
  (`Engine.on_feed_event`: MarketData installs the book, the market's quoter is poked) → the market's decision
  (`MarketQuoter.decide`: inputs from market data, inventory and our orders → quotes for both legs →
  risk.evaluate → diff_orders against our resting orders) → the plan stamped with cloids → plan_actions → the
  batchModify signed into its /exchange envelope (`VenueRest.prepare`: nonce, signature) and serialised with
  orjson. The engine is the real one, wired by `Engine._wire` from a given venue meta (no network); after each
  tick "the venue accepted everything" is folded into `OurOrders` as the executor would, so the next tick
  diffs against the new orders. The market drifts every tick so each tick re-prices (a modify per order of
  the leg whose book moved). Reference: the official SDK's `sign_l1_action` on the same batchModify action
  (signing alone, the SDK's cost before any strategy).
* `engine_rss_mb` / `engine_cpu_pct`: the real engine (Engine.start: REST bootstrap, WS feed, requote and
  housekeeping tasks, ledger writer thread) against a fresh `hlmm sim` subprocess at the real 1200/min IP
  budget, fed 10 book updates/s for 20 s (shorter than the issue's 60 s so the bench stays under a minute) on
  top of the sim's own feed — the newest venue book re-delivered through `Engine.inject_book`, which, its
  levels unchanged, counts as a book event but pokes no decision, as live — measured on this process (CPU
  time of all threads / wall time; resident set size at the end).
* `paper_actions_per_min` / `paper_rate_limit_rejections`: exchange actions the engine sent during that
  run, and how many were refused for IP or address budget (goal 0). The run lasts 20 s by default;
  `HLMM_BENCH_PAPER_S=600` makes it the issue's 10-minute paper run (RSS/CPU are then over 600 s too).
"""
from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import tempfile
import time

from engine.bench import Result, figure
from engine.bench.localsim import start_local_sim

N_TICKS = 3_000
RUN_S = 20.0  # default paper-run length; HLMM_BENCH_PAPER_S overrides it (e.g. 600 for the 10 minutes)
UPDATES_PER_S = 10


def _paper_seconds(env: dict | None = None) -> float:
    """Paper-run length in seconds: HLMM_BENCH_PAPER_S if set (a number > 0), else RUN_S."""
    raw = (os.environ if env is None else env).get("HLMM_BENCH_PAPER_S")
    if raw is None or raw == "":
        return RUN_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"HLMM_BENCH_PAPER_S must be a number of seconds > 0, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"HLMM_BENCH_PAPER_S must be a number of seconds > 0, got {raw!r}")
    return value


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def _offline_engine(key: str):
    """An Engine wired for one HYPE market (perp asset 3 + spot pair @1) without any network I/O.

    The venue's meta is given in place of the REST reads `Engine.start` makes, and `Engine._wire` builds the
    same components as a live start (MarketData, OurOrders, Executor, CarryManager, MarketQuoter, ...). The
    dead man's switch is marked armed (quoting pauses otherwise) and the account holds both legs. Call it with
    an event loop running: arming the switch pokes the quoters. Returns (engine, market, quoter)."""
    from decimal import Decimal

    from engine.config import default_config
    from engine.config.sections import MarketConfig
    from engine.loop import Engine
    from engine.venue.types import AssetInfo, Meta, SpotMeta, SpotToken

    cfg = default_config()
    cfg = cfg.model_copy(update={"markets": [MarketConfig(coin="HYPE")]})
    eng = Engine(cfg, key)
    usdc, hype = SpotToken("USDC", 0, 8, 8, ""), SpotToken("HYPE", 150, 2, 8, "")
    meta = Meta((AssetInfo("BTC", 0, 5, False, 40), AssetInfo("ETH", 1, 4, False, 25),
                 AssetInfo("SOL", 2, 2, False, 20), AssetInfo("HYPE", 3, 2, False, 10)))
    spot_meta = SpotMeta((usdc, hype), (AssetInfo("@1", 10001, 2, True),), {"@1": (hype, usdc)})
    eng._wire(meta, spot_meta)
    eng.inventory.spot.update({"HYPE": Decimal(10), "USDC": Decimal(100_000)})
    eng.inventory.perp["HYPE"] = Decimal(-10)
    eng.deadman.state.armed_until = eng.venue_now_ms() + 10 * 365 * 86_400_000
    eng.switch.check()
    m = eng.markets[0]
    return eng, m, eng.quoters[m.coin]


def _accept_all(orders, plan, now: int, next_oid) -> None:
    """What the executor folds into our orders when the venue accepts a plan exactly as sent: cancels done,
    each modify's original cancelled and its replacement resting, every new order resting."""
    for c in plan.cancels:
        orders.cancel_sent(c.live.oid, now)
        orders.cancel_done(c.live.oid, now, True)
    for mod in plan.modifies:
        q = mod.quote
        orders.cancel_sent(mod.live.oid, now)
        orders.sent(mod.cloid, q.coin, q.is_buy, q.px, q.sz, now)
        orders.cancel_done(mod.live.oid, now, True)
        orders.on_result(mod.cloid, "resting", now, oid=next_oid())
    for pl in plan.places:
        q = pl.quote
        orders.sent(pl.cloid, q.coin, q.is_buy, q.px, q.sz, now)
        orders.on_result(pl.cloid, "resting", now, oid=next_oid())


async def _ticks(key: str, n_ticks: int = N_TICKS) -> tuple[list[float], dict | None]:
    import itertools

    import orjson

    from engine.execution.actions import plan_actions
    from engine.venue.types import L2Book as WireBook

    eng, _, quoter = _offline_engine(key)
    rest, clock, orders = eng.rest, eng.clock, eng.orders
    asset_of, new_cloid = eng.executor.asset_of, eng.cloids.next
    oids = itertools.count(1).__next__
    t_venue = int(time.time() * 1000) // 60_000 * 60_000  # venue time from a minute start: no bar closes
    samples: list[float] = []
    last_modify = None
    try:
        for i in range(n_ticks):
            mid = 30.0 * (1 + 0.0004 * ((i % 40) - 20))  # ±8 bp drift: every tick moves the quotes
            coin = "HYPE" if i % 2 == 0 else "@1"
            book = WireBook(coin, t_venue + i, tuple((round(mid - 0.003 * (k + 1), 3), 50.0, 1) for k in range(5)),
                            tuple((round(mid + 0.003 * (k + 1), 3), 50.0, 1) for k in range(5)))
            t0 = time.perf_counter_ns()
            eng.on_feed_event(book)
            now = clock.now_ms()
            # what the quoter's step does before deciding: the carry's check and the requote gate's proof
            # (every tick here moves the quotes past the tolerance, so the gate never skips)
            if quoter.ctx.carry.idle(quoter.m, now) and quoter.gate.open and quoter.gate.holds(eng.data, now):
                continue
            plan = quoter.decide(now).plan.stamp(new_cloid)
            actions = plan_actions(plan, asset_of)
            body = None
            for a in actions:
                if a["type"] == "batchModify":
                    body = orjson.dumps(rest.prepare(a))
                    last_modify = a
            t1 = time.perf_counter_ns()
            if i >= 20 and body is not None:  # the first ticks place orders (no batchModify yet)
                samples.append((t1 - t0) / 1_000)
            _accept_all(orders, plan, clock.now_ms(), oids)  # the venue accepted everything, as planned
    finally:
        await rest.aclose()
    return samples, last_modify


def _tick_to_action(key: str) -> tuple[list[float], list[float]]:
    from eth_account import Account
    from hyperliquid.utils.signing import sign_l1_action

    samples, last_modify = asyncio.run(_ticks(key))
    if not samples:
        raise RuntimeError("tick_to_action: no tick produced a batchModify (the offline engine did not quote)")
    wallet = Account.from_key(key)
    ref = []
    if last_modify is not None:
        for _ in range(200):
            t0 = time.perf_counter_ns()
            sign_l1_action(wallet, last_modify, None, 1_700_000_000_000, None, False)
            ref.append((time.perf_counter_ns() - t0) / 1_000)
    return samples, ref


def _start_sim(address: str) -> tuple[subprocess.Popen, str]:
    return start_local_sim("--seed", "3", "--fund", f"{address}=1000000",
                           "--fund-spot", f"{address}=USDC:100000", "--fund-spot", f"{address}=HYPE:100")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _paper_run(url: str, address: str, key: str, ledger: str, run_s: float = RUN_S) -> dict:
    from engine.config import default_config
    from engine.config.sections import MarketConfig
    from engine.loop import Engine

    cfg = default_config()
    venue = cfg.venue.model_copy(update={"base_url": url, "account_address": address.lower()})
    cfg = cfg.model_copy(update={"venue": venue, "markets": [MarketConfig(coin="HYPE")],
                                 "ledger": cfg.ledger.model_copy(update={"url": ledger})})
    eng = Engine(cfg, key)
    task = asyncio.create_task(eng.run())
    await asyncio.wait_for(eng.started.wait(), 30)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    actions0 = eng.executor.stats.actions
    period = 1 / UPDATES_PER_S
    n = 0
    while time.perf_counter() - wall0 < run_s:
        coin = "HYPE" if n % 2 == 0 else "@1"
        book = eng.books.book(coin)
        if book is not None:  # re-deliver the newest venue book as a fresh update (10/s on top of the feed)
            eng.inject_book(coin, list(book.bids), list(book.asks), book.time_ms)
        n += 1
        await asyncio.sleep(max(0.0, wall0 + n * period - time.perf_counter()))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    out = {"cpu_pct": 100 * cpu / wall, "rss_mb": _rss_mb(), "actions": eng.executor.stats.actions - actions0,
           "wall": wall, "rate_limited": eng.executor.stats.rate_limited, "books": eng.stats["book_events"]}
    eng.stop()
    await asyncio.wait_for(task, 30)
    return out


@figure("engine", names=("tick_to_action_p50_us", "tick_to_action_p99_us", "engine_rss_mb", "engine_cpu_pct",
                         "paper_actions_per_min", "paper_rate_limit_rejections"))
def bench_engine() -> list[Result]:
    from eth_account import Account

    key = "0x" + secrets.token_hex(32)
    run_s = _paper_seconds()
    samples, ref = _tick_to_action(key)
    ref_p50 = _pct(ref, 0.5) if ref else None
    results = [
        Result("tick_to_action_p50_us", _pct(samples, 0.5), "us", "SDK sign_l1_action, same batchModify", ref_p50,
               "<= 150 us (issue 5)"),
        Result("tick_to_action_p99_us", _pct(samples, 0.99), "us", "SDK sign_l1_action p99, same batchModify",
               _pct(ref, 0.99) if ref else None, "<= 1000 us (issue 5)"),
    ]
    address = Account.from_key(key).address
    proc, url = _start_sim(address)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = asyncio.run(_paper_run(url, address, key, f"sqlite:///{os.path.join(tmp, 'ledger.db')}", run_s))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    results += [
        Result("engine_rss_mb", run["rss_mb"], "MB", None, None,
               f"<= 150 MB; {run_s:.0f} s at {UPDATES_PER_S} book updates/s (issue asks 60 s; the default is "
               "shorter for the bench budget, HLMM_BENCH_PAPER_S sets it), includes the bench process"),
        Result("engine_cpu_pct", run["cpu_pct"], "%", None, None,
               f"<= 5 % of a core at {UPDATES_PER_S} updates/s over {run_s:.0f} s ({run['books']} book events)"),
        Result("paper_actions_per_min", run["actions"] / run["wall"] * 60, "actions/min", None, None,
               f"{run_s:.0f} s paper run vs hlmm sim at the real 1200/min IP budget (issue: 10 min; "
               "HLMM_BENCH_PAPER_S=600 runs that)"),
        Result("paper_rate_limit_rejections", float(run["rate_limited"]), "count", None, None, "0"),
    ]
    return results
