"""Dead man's switch: keep the venue's `scheduleCancel` armed `horizon_ms` ahead of venue time.

If the engine dies (SIGKILL, OOM, network partition) it stops re-arming and the venue cancels every open
order at the armed time. Facts that shape this (protocol §11):
* the time must be ≥ venue now + 5 s, so the horizon is at least 5 s and re-arming happens well before
  expiry (every `horizon / 3`);
* the venue allows 10 *fires* per UTC day. Arming does not fire; a fire happens only when the armed time
  passes without a re-arm (a crash, or venue time jumping ahead as in `hlmm sim` clock advances). We count
  the fires we can infer — our armed time is already in the past when we come to re-arm — and stop arming
  when the day's budget is spent (`reserve` fires can be held back for other processes on the account; the
  venue would refuse the arm anyway). A refusal "Too many scheduled cancel triggers" sets the count to the max.
* "Venue now" is estimated from venue timestamps on market data (the local venue's clock may run ahead of
  ours), never from our wall clock alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from engine.venue.errors import Outcome

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
MIN_LEAD_MS = 5_000
MAX_FIRES_PER_DAY = 10


@dataclass(slots=True)
class DeadManState:
    armed_until: int | None = None
    last_arm_venue_ms: int | None = None
    fires_day: int | None = None
    fires: int = 0
    arms: int = 0
    refusals: int = 0
    disabled_reason: str | None = None


class DeadMan:
    def __init__(self, rest: Any, venue_now_ms: Callable[[], int], horizon_ms: int = 15_000,
                 max_fires: int = MAX_FIRES_PER_DAY, reserve: int = 0) -> None:
        if horizon_ms < MIN_LEAD_MS + 1_000:
            raise ValueError(f"deadman horizon_ms must be >= {MIN_LEAD_MS + 1_000} (venue needs 5 s lead), "
                             f"got {horizon_ms}")
        self.rest = rest
        self.venue_now_ms = venue_now_ms
        self.horizon_ms = horizon_ms
        self.max_fires = max_fires
        self.reserve = reserve
        self.state = DeadManState()

    @property
    def refresh_ms(self) -> int:
        return max(1_000, self.horizon_ms // 3)

    def _roll_day(self, now: int) -> None:
        day = now // DAY_MS
        if self.state.fires_day != day:
            self.state.fires_day, self.state.fires = day, 0

    def seed_fires(self, now_ms: int, fires: int) -> None:
        """After a restart: today's fires as re-derived from the venue / the ledger (never lowers the count)."""
        self._roll_day(now_ms)
        if fires > self.state.fires:
            self.state.fires = fires
            log.info("dead man's switch: %d scheduleCancel fires already today", fires)

    def observe_fire(self, venue_ms: int) -> None:
        """A fire seen directly (an order update with status scheduledCancel)."""
        self._roll_day(venue_ms)
        if self.state.armed_until is not None and self.state.armed_until <= venue_ms:
            self.state.fires += 1
            self.state.armed_until = None

    def due(self) -> bool:
        if self.state.disabled_reason:
            return False
        now = self.venue_now_ms()
        return self.state.armed_until is None or self.state.armed_until - now <= self.horizon_ms - self.refresh_ms

    async def tick(self) -> bool:
        """Re-arm if due; returns True when an arm was sent and accepted."""
        now = self.venue_now_ms()
        self._roll_day(now)
        st = self.state
        if st.disabled_reason and "fires today" in st.disabled_reason and st.fires < self.max_fires - self.reserve:
            st.disabled_reason = None  # a new UTC day gave the budget back
        if st.armed_until is not None and st.armed_until <= now:
            st.fires += 1  # the armed time passed before we re-armed: the venue fired it
            st.armed_until = None
            log.warning("dead man's switch fired at %d (fires today: %d)", now, st.fires)
        if st.fires >= self.max_fires - self.reserve:
            if not st.disabled_reason:
                st.disabled_reason = f"{st.fires} scheduleCancel fires today (budget {self.max_fires})"
                log.error("dead man's switch not re-armed: %s", st.disabled_reason)
            return False
        if not self.due():
            return False
        target = now + self.horizon_ms
        result = await self.rest.schedule_cancel(target)
        if result.ok:
            st.armed_until, st.last_arm_venue_ms = target, now
            st.arms += 1
            return True
        st.refusals += 1
        outcome = result.error.outcome if result.error else Outcome.UNKNOWN
        if outcome is Outcome.SCHEDULE_LIMIT:
            st.fires = self.max_fires
        elif outcome is Outcome.VOLUME_GATE:
            st.disabled_reason = "venue refuses scheduleCancel until enough volume traded"
            log.error("dead man's switch unavailable: %s", st.disabled_reason)
        else:
            log.warning("scheduleCancel refused: %s", result.error.message if result.error else result)
        return False

    async def disarm(self) -> None:
        try:
            result = await self.rest.schedule_cancel(None)
            if result.ok:
                self.state.armed_until = None
        except Exception as exc:  # exit path: the orders were cancelled anyway
            log.warning("scheduleCancel disarm failed: %s", exc)

    def as_dict(self) -> dict[str, Any]:
        s = self.state
        return {"armed_until": s.armed_until, "fires_today": s.fires, "arms": s.arms, "refusals": s.refusals,
                "disabled": s.disabled_reason}


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
