"""Dead man's switch: keep the venue's `scheduleCancel` armed `horizon_ms` ahead of venue time.

If the engine dies (SIGKILL, OOM, network partition) it stops re-arming and the venue cancels every open
order at the armed time. Facts that shape this (protocol §11):
* the time must be ≥ venue now + 5 s, so the horizon is at least 6 s and re-arming happens well before
  expiry (every `horizon / 3`);
* the venue allows 10 *fires* per UTC day. Arming does not fire; a fire happens only when the armed time
  passes without a re-arm. We count the fires we know of — our confirmed armed time passed with no arm of ours
  unanswered, an order update says `scheduledCancel` (one fire per timestamp), the venue's history at start —
  and stop arming when the day's budget is spent (`reserve` fires can be held back for other processes on the
  account). A confirmed arm that runs out while a later arm is still unanswered (a slow venue: the later one
  may have landed in time) is only *suspected*: it is logged and alerted but not counted, because a count too
  high would stop the arming and leave the quotes unprotected, while a count too low costs nothing — the
  venue says when its budget is spent and the engine believes it.
* "Venue now" is estimated from venue timestamps on market data, never from our wall clock alone.

Two parts: `DeadMan` is the state and one arm; `DeadManSwitch` is its own task, so a re-arm never waits
behind other venue work (a slow order action, an ambiguous reply being settled): arms are sent on schedule
whether or not the previous one has answered, and while one is unanswered the next leaves after a third of
the refresh, not a whole one. When the confirmed arm is about to run out anyway (the venue is slow or
refusing), `armed()` turns false: the quoters then pull our quotes themselves, before the venue's cancel
fires, and quote again once an arm is confirmed. "About to run out" is 3 s plus how slow the venue is answering
now (the age of the oldest unanswered arm, or the last round trip): the pulling cancels wait at the venue too.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.venue.errors import Outcome
from engine.venue.facts import SCHEDULE_CANCEL_FIRES_PER_DAY, SCHEDULE_CANCEL_MIN_LEAD_MS

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
MIN_LEAD_MS = SCHEDULE_CANCEL_MIN_LEAD_MS
MAX_FIRES_PER_DAY = SCHEDULE_CANCEL_FIRES_PER_DAY
LAPSE_MARGIN_MS = 3_000  # pull our own quotes this long before a confirmed arm runs out (on a prompt venue)


def loop_ms() -> int:
    """The running event loop's clock in ms: monotonic live, replay time in a backtest."""
    return int(asyncio.get_running_loop().time() * 1000)


@dataclass(slots=True)
class DeadManState:
    armed_until: int | None = None   # venue ms of the newest *confirmed* arm
    last_arm_venue_ms: int | None = None
    fires_day: int | None = None
    fires: int = 0
    fire_stamps: set = field(default_factory=set)  # venue ms of today's known fires (one fire per timestamp)
    suspected: int = 0  # confirmed arms that ran out while a later arm was unanswered (not counted in fires)
    arms: int = 0
    refusals: int = 0
    disabled_reason: str | None = None


class DeadMan:
    def __init__(self, rest: Any, venue_now_ms: Callable[[], int], horizon_ms: int = 15_000,
                 max_fires: int = MAX_FIRES_PER_DAY, reserve: int = 0,
                 local_now_ms: Callable[[], int] | None = None) -> None:
        if horizon_ms < MIN_LEAD_MS + 1_000:
            raise ValueError(f"deadman horizon_ms must be >= {MIN_LEAD_MS + 1_000} (venue needs 5 s lead), "
                             f"got {horizon_ms}")
        self.rest = rest
        self.venue_now_ms = venue_now_ms
        # durations (an arm's age, a round trip) are measured on a local monotonic clock (the engine passes
        # `loop_ms`): the venue-time estimate is the wall clock plus an offset that steps when it is
        # re-estimated, and a step would read as slowness (or hide it)
        self.local_now_ms = local_now_ms or venue_now_ms
        self.horizon_ms = horizon_ms
        self.max_fires = max_fires
        self.reserve = reserve
        self.state = DeadManState()
        self._pending: dict[int, int] = {}  # arms sent, reply (or settlement) not back yet: seq → sent, local ms
        self._seq = 0
        self._confirmed_seq = -1  # the newest arm (by send order) the venue confirmed
        self._rtt: tuple[int, int] | None = None  # (answered at, round trip) of the last arm answered, local ms

    @property
    def unanswered(self) -> int:
        return len(self._pending)

    def slowness_ms(self) -> int:
        """How slow the venue is answering us now: the age of the oldest unanswered arm, or the round trip of
        the last answered one (for one horizon after it came back). A cancel sent now takes about as long.
        Measured on the local clock."""
        now = self.local_now_ms()
        slow = now - min(self._pending.values()) if self._pending else 0
        if self._rtt is not None and now - self._rtt[0] < self.horizon_ms:
            slow = max(slow, self._rtt[1])
        return max(0, slow)

    def lapse_margin_ms(self) -> int:
        """Pull our quotes this long before the confirmed arm runs out: the fixed margin plus the venue's
        current slowness, because the pulling cancels wait at the venue as long as the arms do (a 5.7 s
        latency burst once let a cancel sent 3 s ahead land after the venue's cancel had fired)."""
        return LAPSE_MARGIN_MS + self.slowness_ms()

    @property
    def refresh_ms(self) -> int:
        return max(1_000, self.horizon_ms // 3)

    def _roll_day(self, now: int) -> None:
        day = now // DAY_MS
        if self.state.fires_day != day:
            self.state.fires_day, self.state.fires = day, 0
            self.state.fire_stamps = set()

    def seed_fires(self, now_ms: int, fires: int) -> None:
        """After a restart: today's fires as re-derived from the venue / the ledger (never lowers the count)."""
        self._roll_day(now_ms)
        if fires > self.state.fires:
            self.state.fires = fires
            log.info("dead man's switch: %d scheduleCancel fires already today", fires)

    def _count(self, at: int) -> bool:
        """Count the fire at venue ms `at` once (an order update per cancelled order repeats the stamp)."""
        self._roll_day(at)
        st = self.state
        if at in st.fire_stamps:
            return False
        st.fire_stamps.add(at)
        st.fires += 1
        return True

    def observe_fire(self, venue_ms: int) -> bool:
        """A fire seen directly (an order update with status scheduledCancel); True if it was not counted yet."""
        st = self.state
        if st.armed_until is not None and st.armed_until <= venue_ms:
            st.armed_until = None
        return self._count(venue_ms)

    def account(self, now: int) -> str | None:
        """Note a confirmed arm that ran out (a fire when no later arm was unanswered, else a suspected one);
        disable arming when the day's budget is spent. Returns what happened, for an alert, or None."""
        self._roll_day(now)
        st = self.state
        what = None
        if st.disabled_reason and "fires today" in st.disabled_reason and st.fires < self.max_fires - self.reserve:
            st.disabled_reason = None  # a new UTC day gave the budget back
        if st.armed_until is not None and st.armed_until <= now:
            at, st.armed_until = st.armed_until, None
            if self.unanswered:
                st.suspected += 1
                what = (f"the confirmed scheduled cancel ran out at {at} with {self.unanswered} later arm(s) "
                        f"unanswered: the venue may have fired (not counted; fires today: {st.fires})")
            else:
                self._count(at)
                what = f"the venue's scheduled cancel fired at {at} (fires today: {st.fires})"
            log.warning("dead man's switch: %s", what)
        if st.fires >= self.max_fires - self.reserve and not st.disabled_reason:
            st.disabled_reason = f"{st.fires} scheduleCancel fires today (budget {self.max_fires})"
            log.error("dead man's switch not re-armed: %s", st.disabled_reason)
        return what

    def due(self, now: int | None = None) -> bool:
        if self.state.disabled_reason:
            return False
        now = self.venue_now_ms() if now is None else now
        return self.state.armed_until is None or self.state.armed_until - now <= self.horizon_ms - self.refresh_ms

    def armed(self, now: int) -> bool:
        """Quoting is covered: a confirmed arm with time to spare — or the switch is unavailable (then the
        engine quotes without it and has alerted)."""
        st = self.state
        if st.disabled_reason:
            return True
        return st.armed_until is not None and st.armed_until - now > self.lapse_margin_ms()

    async def arm(self) -> bool:
        """Send one arm for venue now + horizon; True when the venue accepted it."""
        now = self.venue_now_ms()
        target = now + self.horizon_ms
        seq, self._seq = self._seq, self._seq + 1
        sent = self._pending[seq] = self.local_now_ms()
        try:
            result = await self.rest.schedule_cancel(target)
        finally:
            del self._pending[seq]
            answered = self.local_now_ms()
            self._rtt = (answered, answered - sent)
        st = self.state
        if result.ok:
            if seq > self._confirmed_seq:
                st.armed_until, st.last_arm_venue_ms = target, now
                self._confirmed_seq = seq
            elif st.armed_until is not None:
                # an older arm confirmed after a newer one: the venue may have run it last and hold its earlier
                # time, so believe the earlier one (a belief too early costs a re-arm, too late a fire)
                st.armed_until = min(st.armed_until, target)
            st.arms += 1
            return True
        st.refusals += 1
        outcome = result.error.outcome if result.error else Outcome.UNKNOWN
        if outcome is Outcome.SCHEDULE_LIMIT:
            st.fires = max(st.fires, self.max_fires)  # the venue's word: its budget for today is spent
        elif outcome is Outcome.VOLUME_GATE:
            st.disabled_reason = "venue refuses scheduleCancel until enough volume traded"
            log.error("dead man's switch unavailable: %s", st.disabled_reason)
        else:
            http = f"HTTP {result.http_status}" if result.http_status not in (None, 200) else "the venue"
            text = result.error.message if result.error else None
            why = text if text and text not in ("null", "None") else "no reason given"
            left = "none" if st.armed_until is None else f"{st.armed_until - now} ms"
            log.warning("scheduleCancel refused by %s (%s: %s); armed time left %s, retrying with back-off",
                        http, outcome.value, why, left)
        return False

    async def tick(self) -> bool:
        """Account for fires, then re-arm if due (one step, awaited: startup and tests)."""
        self.account(self.venue_now_ms())
        if not self.due():
            return False
        return await self.arm()

    async def disarm(self) -> None:
        try:
            result = await self.rest.schedule_cancel(None)
            if result.ok:
                self.state.armed_until = None
        except Exception as exc:  # noqa: BLE001 - exit path: the orders were cancelled anyway
            log.warning("scheduleCancel disarm failed: %s", exc)

    def as_dict(self) -> dict[str, Any]:
        s = self.state
        return {"armed_until": s.armed_until, "fires_today": s.fires, "suspected_fires": s.suspected,
                "arms": s.arms, "refusals": s.refusals, "disabled": s.disabled_reason}


class DeadManSwitch:
    """The dead man's switch as its own task: arms on schedule, never behind other venue work."""

    MAX_INFLIGHT = 3
    SLOW_CHECK_MS = 250  # while an arm is unanswered: how often to re-derive armed-ness (the margin grows)
    RETRY_MS = 250  # first re-try after a refusal; doubles per refusal in a row, up to refresh / 2

    def __init__(self, deadman: DeadMan, on_armed_change: Callable[[bool], None],
                 on_fire: Callable[[str], None]) -> None:
        self.deadman = deadman
        self.on_armed_change = on_armed_change
        self.on_fire = on_fire
        self._inflight = 0
        self._last_send = -10 ** 15
        self._armed = False
        self._refused = 0  # arms refused in a row (a 429 storm must not be met with a storm of re-tries)
        self._tasks: set[asyncio.Task] = set()
        self._wake: asyncio.Event | None = None  # set by an arm's reply: the loop decides again at once

    def armed(self) -> bool:
        return self._armed

    def check(self) -> None:
        """Re-derive armed-ness now (after an arm's reply, a fire seen in an order update, or a timer)."""
        dm = self.deadman
        now = dm.venue_now_ms()
        what = dm.account(now)
        if what:
            self.on_fire(f"{what}, while this engine was running")
        armed = dm.armed(now)
        if armed != self._armed:
            self._armed = armed
            if not armed:
                log.warning("dead man's switch: no confirmed arm for the next %d ms (venue answering in %d ms); "
                            "pulling our quotes", dm.lapse_margin_ms(), dm.slowness_ms())
            self.on_armed_change(armed)

    def _send(self) -> None:
        self._inflight += 1
        self._last_send = self.deadman.venue_now_ms()
        task = asyncio.get_running_loop().create_task(self.deadman.arm())
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._inflight -= 1
        if task.cancelled():
            return
        if task.exception() is not None:
            log.warning("scheduleCancel failed: %s", task.exception())
        self._refused = 0 if task.exception() is None and task.result() else self._refused + 1
        self.check()
        if self._wake is not None:
            self._wake.set()  # a refusal's back-off re-try is due in ~250 ms, not at the next timer

    def _gap(self) -> int:
        """How long after the last send the next one may go: the refresh period while arms succeed, a short,
        doubling back-off after refusals, and while an arm is unanswered a patience of a third of the refresh
        (≥ 1 s): on a slow venue the next arm must leave early enough to land before the armed time runs out —
        one sent a full refresh after an unlucky one (HTTP 500 in a 5.7 s latency burst) landed after it."""
        dm = self.deadman
        if self._refused:
            return min(dm.refresh_ms // 2, self.RETRY_MS << min(self._refused - 1, 10))
        if self._inflight:
            return max(1_000, dm.refresh_ms // 3)
        return dm.refresh_ms

    def _next_wake(self, now: int) -> int:
        dm = self.deadman
        st = dm.state
        if st.disabled_reason:
            return now + dm.refresh_ms
        times = [now + dm.refresh_ms]
        if st.armed_until is not None:
            times.append(st.armed_until - dm.lapse_margin_ms())  # lapse
            if not self._inflight:
                times.append(st.armed_until - dm.horizon_ms + dm.refresh_ms)  # due
        if self._inflight:
            # still no answer: send another after the patience; the lapse margin grows while we wait
            times += [self._last_send + self._gap(), now + self.SLOW_CHECK_MS]
        elif self._refused:
            times.append(self._last_send + self._gap())  # refused: re-try after the back-off
        return max(now + 50, min(times))

    async def run(self, stop: asyncio.Event) -> None:
        dm = self.deadman
        wake = self._wake = asyncio.Event()
        stopping = asyncio.ensure_future(stop.wait())
        stopping.add_done_callback(lambda _: wake.set())
        try:
            while not stop.is_set():
                now = dm.venue_now_ms()
                self.check()
                if dm.due(now) and self._inflight < self.MAX_INFLIGHT and (
                        (not self._inflight and not self._refused) or now - self._last_send >= self._gap()):
                    self._send()
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), (self._next_wake(now) - now) / 1000)
                except asyncio.TimeoutError:
                    pass
        finally:
            stopping.cancel()
            self._wake = None
            for t in list(self._tasks):
                t.cancel()
def fires_in_history(rows: Any, day: int) -> int:
    """scheduleCancel fires of UTC day `day` (ms // DAY_MS) visible in a historicalOrders reply: one fire
    cancels every open order of the account at one timestamp, so distinct timestamps = fires. A fire with
    nothing open leaves no trace there, which is why the engine also persists its own count."""
    if not isinstance(rows, list):
        raise ValueError(f"historicalOrders: expected a list, got {type(rows).__name__}")
    stamps = set()
    for r in rows:
        if isinstance(r, dict) and r.get("status") == "scheduledCancel":
            ts = r.get("statusTimestamp")
            if isinstance(ts, int) and not isinstance(ts, bool) and ts // DAY_MS == day:
                stamps.add(ts)
    return len(stamps)


def fires_param_key(day: int) -> str:
    """Ledger params key of one UTC day's fire count: deadman.fires.<YYYY-MM-DD>."""
    import datetime as dt

    return "deadman.fires." + dt.datetime.fromtimestamp(day * DAY_MS / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d")
