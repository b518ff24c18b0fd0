"""An asyncio event loop on simulated time, for running the live engine inside a backtest.

The engine is asyncio code full of `asyncio.sleep`, `wait_for` timeouts and `call_later` throttles. Rather than
teach each of them about backtests, the loop itself keeps virtual time: `time()` returns simulated seconds, and
whenever no callback is ready the loop *jumps* to the next scheduled timer instead of waiting for it. Every
sleep, timeout and throttle in the engine then runs on the replay's clock, with no code change and no wall-time
waiting. Virtual time moves in whole milliseconds (the venue's unit).

Work handed to threads (`run_in_executor`: ledger reads, the schema upgrade) runs inline on the loop's thread
(`InlineExecutor`): it takes no virtual time and finishes in a fixed order, so two runs with the same inputs
make the same decisions. Nothing here opens a socket; a coroutine that waits on real I/O would stall the run,
and `BacktestStalled` says so instead of hanging.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import math
import selectors
import sys
import threading
from typing import Any, Awaitable, Callable, Iterator, TypeVar

T = TypeVar("T")
# asyncio's own constants (base_events), used the same way by `VirtualTimeLoop._run_once`
_MIN_SCHEDULED_TIMER_HANDLES = 100
_MIN_CANCELLED_FRACTION = 0.5
_MAXIMUM_SELECT_TIMEOUT = 24 * 3600


def _unschedule(handle: asyncio.TimerHandle) -> bool:
    handle._scheduled = False
    return False


class BacktestStalled(RuntimeError):
    """Nothing is ready and no timer is scheduled: every task waits on something that can never happen."""


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """`submit` runs the function at once on the caller's thread and returns a finished future (a thread
    pool subclass only because asyncio insists on one; it never starts a thread)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered to the awaiting coroutine, like a pool thread would
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


class _VirtualSelector(selectors.BaseSelector):
    """Polls the real selector without blocking (the loop's self-pipe lives there); when nothing is ready it
    advances the loop's virtual clock by the timeout the loop asked to wait."""

    def __init__(self, loop: "VirtualTimeLoop") -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj, events, data=None):
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._real.modify(fileobj, events, data)

    def get_map(self):
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None):
        # Nothing real is ever waited on: no socket is opened, and the only registered fd is the loop's
        # self-pipe, written only by other threads (InlineExecutor starts none). So no syscall here.
        if timeout == 0:
            return []
        if timeout is None:
            raise BacktestStalled("backtest stalled: no task is ready and no timer is scheduled")
        self._loop.advance_s(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """`time()` is simulated: it starts at `start_ms` and moves only when the loop would otherwise wait."""

    def __init__(self, start_ms: int) -> None:
        if not isinstance(start_ms, int) or start_ms < 0:
            raise ValueError(f"start_ms must be a non-negative int of milliseconds, got {start_ms!r}")
        self._now_ms = start_ms
        super().__init__(selector=_VirtualSelector(self))
        # timers due within half a millisecond count as due now: virtual time is whole milliseconds
        self._clock_resolution = 0.0005
        self.set_default_executor(InlineExecutor())

    def time(self) -> float:
        return self._now_ms / 1000.0

    def now_ms(self) -> int:
        return self._now_ms

    def advance_s(self, seconds: float) -> None:
        self._now_ms += max(1, math.ceil(seconds * 1000.0 - 1e-3))

    def advance_to_ms(self, t_ms: int) -> None:
        """Jump forward (never back) — for a driver that knows the next event's time."""
        if t_ms > self._now_ms:
            self._now_ms = t_ms

    @contextlib.contextmanager
    def driving(self) -> Iterator["VirtualTimeLoop"]:
        """Make this the running loop of the current thread without entering `run_forever`, so a replay driver
        can step it (`run_until_ms`, `run_until`) between the events it applies itself — what `run_forever`
        sets up and tears down around its own stepping."""
        self._check_closed()
        self._check_running()
        old_hooks = sys.get_asyncgen_hooks()
        self._thread_id = threading.get_ident()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)
        asyncio.events._set_running_loop(self)
        try:
            yield self
        finally:
            self._thread_id = None
            asyncio.events._set_running_loop(None)
            sys.set_asyncgen_hooks(*old_hooks)

    def _run_once(self) -> None:
        """`BaseEventLoop._run_once` for virtual time, step for step (cancelled timers dropped, the clock jumped
        to the next timer when nothing is ready, due timers made ready, the ready callbacks run once each), minus
        what a virtual loop never needs: no selector poll and no I/O events (nothing real is waited on; see
        `_VirtualSelector.select`), no debug timing. It runs ~5 times per replayed order, so its cost counts."""
        if self._debug:
            return super()._run_once()
        scheduled = self._scheduled
        n = len(scheduled)
        if n > _MIN_SCHEDULED_TIMER_HANDLES and self._timer_cancelled_count / n > _MIN_CANCELLED_FRACTION:
            live = [h for h in scheduled if not h._cancelled or _unschedule(h)]
            heapq.heapify(live)
            self._scheduled = scheduled = live
            self._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0]._cancelled:
                self._timer_cancelled_count -= 1
                heapq.heappop(scheduled)._scheduled = False
        ready = self._ready
        if not ready and not self._stopping:
            if not scheduled:
                raise BacktestStalled("backtest stalled: no task is ready and no timer is scheduled")
            timeout = min(max(0, scheduled[0]._when - self._now_ms / 1000.0), _MAXIMUM_SELECT_TIMEOUT)
            if timeout:  # what the selector's wait would have done: the clock moves to the timer
                self._now_ms += max(1, math.ceil(timeout * 1000.0 - 1e-3))
        end_time = self._now_ms / 1000.0 + self._clock_resolution
        while scheduled and scheduled[0]._when < end_time:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            ready.append(handle)
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle = popleft()
            if not handle._cancelled:
                handle._run()

    def run_until_ms(self, t_ms: int) -> None:
        """Run every callback and timer due up to `t_ms` (jumping between timers), then move the clock to `t_ms`.
        Costs nothing when nothing is due: most replayed events find the loop idle."""
        ready, scheduled, run_once = self._ready, self._scheduled, self._run_once
        limit = t_ms + 0.5  # virtual time is whole ms; the loop treats timers within 0.5 ms as due
        while True:
            if ready:
                run_once()
                continue
            scheduled = self._scheduled  # _run_once may rebuild the heap
            while scheduled and scheduled[0]._cancelled:
                self._timer_cancelled_count -= 1
                heapq.heappop(scheduled)._scheduled = False
            if scheduled and scheduled[0]._when * 1000.0 <= limit:
                run_once()
                continue
            break
        if t_ms > self._now_ms:
            self._now_ms = t_ms

    def run_until(self, done: Callable[[], bool]) -> None:
        """Step the loop until `done()` (virtual time jumps from timer to timer); BacktestStalled if it can't."""
        while not done():
            self._run_once()

    def next_due_ms(self) -> float:
        """Virtual ms at which the loop next has something to run: now if a callback is ready, else the
        earliest live timer (inf when none). A replay driver that is due to apply an event at `t` can jump
        straight to `t` when this is later — no loop iteration, no timer — which is most events."""
        if self._ready:  # asyncio internals of this class's own base (CPython 3.11+: deque / heap of handles)
            return self._now_ms
        scheduled = self._scheduled
        while scheduled and scheduled[0]._cancelled:  # what _run_once does with a cancelled head
            self._timer_cancelled_count -= 1
            heapq.heappop(scheduled)._scheduled = False
        return scheduled[0]._when * 1000.0 if scheduled else math.inf


class LoopClock:
    """`engine.clock.Clock` (and the venue's `now_ms` clock) reading a `VirtualTimeLoop`'s time."""

    __slots__ = ("_loop",)

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def now_ms(self) -> int:
        return self._loop._now_ms

    def now(self):
        from engine.clock import ms_to_datetime

        return ms_to_datetime(self._loop._now_ms)


def run_virtual(main: Callable[[VirtualTimeLoop], Awaitable[T]], start_ms: int) -> T:
    """Run `main(loop)` to completion on a fresh `VirtualTimeLoop` starting at `start_ms`."""
    loop = VirtualTimeLoop(start_ms)
    try:
        return loop.run_until_complete(main(loop))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
