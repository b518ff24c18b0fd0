"""Engine figures.

* `tick_to_action_p50_us` / `_p99_us`: in-process, one l2Book update handed to the engine's feed handler →
  bytes of a signed batchModify ready to send: book conversion + vol update, leg states, quotes for both
  legs, risk.evaluate, diff_orders against the live orders, plan_actions, signing, orjson serialisation.
  The market drifts every tick so each tick re-prices (a modify per level). Reference: the official SDK's
  `sign_l1_action` on the same batchModify action (signing alone, the SDK's cost before any strategy).
* `engine_rss_mb` / `engine_cpu_pct`: the real engine (Engine.start: REST bootstrap, WS feed, requote and
  housekeeping tasks, ledger writer thread) against a fresh `hlmm sim` subprocess at the real 1200/min IP
  budget, fed 10 book updates/s for 20 s (shorter than the issue's 60 s so the bench stays under a minute),
  measured on this process (CPU time of all threads / wall time; resident set size at the end).
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
    """An Engine wired for one HYPE market (perp + spot) without any network I/O."""
    from engine.config import default_config
    from engine.execution.diff import LiveOrder
    from engine.execution.executor import CoinSpec, Executor
    from engine.market.markets import Leg, MarketRuntime
    from engine.loop import Engine
    from engine.market.state import CoinVol

    cfg = default_config()
    eng = Engine(cfg, key)
    m = MarketRuntime("HYPE", [Leg("perp", "HYPE", 3, 2, max_leverage=10), Leg("spot", "@1", 10001, 2, "HYPE", "USDC")],
                      CoinVol(interval_ms=60_000))
    eng.markets = [m]
    eng.by_coin = {"HYPE": m, "@1": m}
    eng.inventory.spot_base["@1"], eng.inventory.spot_quote["@1"] = "HYPE", "USDC"
    from decimal import Decimal
    eng.inventory.spot.update({"HYPE": Decimal(10), "USDC": Decimal(100_000)})
    eng.inventory.perp["HYPE"] = Decimal(-10)
    specs = {"HYPE": CoinSpec("HYPE", 3, 2, False), "@1": CoinSpec("@1", 10001, 2, True)}
    eng.executor = Executor(eng.rest, eng.tracker, specs, eng.timings, eng.cloids.next, eng.clock.now_ms)
    return eng, m, LiveOrder


def _tick_to_action(key: str) -> tuple[list[float], list[float]]:
    import orjson
    from eth_account import Account
    from hyperliquid.utils.signing import sign_l1_action

    from engine.execution.actions import plan_actions
    from engine.execution.diff import LiveOrder
    from engine.venue.types import L2Book as WireBook

    eng, m, _ = _offline_engine(key)
    signer = eng.rest.signer
    asset_of = eng.executor.asset_of
    oid = 1
    samples: list[float] = []
    last_modify = None
    for i in range(N_TICKS):
        mid = 30.0 * (1 + 0.0004 * ((i % 40) - 20))  # ±8 bp drift: every tick moves the quotes
        coin = "HYPE" if i % 2 == 0 else "@1"
        book = WireBook(coin, 1_000 + i, tuple((round(mid - 0.003 * (k + 1), 3), 50.0, 1) for k in range(5)),
                        tuple((round(mid + 0.003 * (k + 1), 3), 50.0, 1) for k in range(5)))
        t0 = time.perf_counter_ns()
        eng.on_feed_event(book)
        _, plan = eng.decide(m, eng.clock.now_ms())
        actions = plan_actions(plan, asset_of)
        body = None
        for a in actions:
            if a["type"] == "batchModify":
                body = orjson.dumps(signer.envelope(a, eng.rest.nonces.next(), None, None))
                last_modify = a
        t1 = time.perf_counter_ns()
        if i >= 20 and body is not None:  # the first ticks place orders (no batchModify yet)
            samples.append((t1 - t0) / 1_000)
        # the venue accepted everything: live orders become what the plan asked for
        for c in plan.cancels:
            eng.tracker.remove(c.live.oid)
        for mod in plan.modifies:
            eng.tracker.remove(mod.live.oid)
        for q in [mod.quote for mod in plan.modifies] + [p.quote for p in plan.places]:
            oid += 1
            eng.tracker.add(LiveOrder(oid, q.coin, q.is_buy, q.px, q.sz, None))
        eng.mark_executed()  # what requote() does after an execution that went as planned
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
