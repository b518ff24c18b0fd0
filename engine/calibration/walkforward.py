"""The walk-forward split: parameters are chosen on an earlier window (in sample) and judged on the window right
after it (out of sample), never on data they were chosen on."""
from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Windows:
    in_sample: tuple[int, int]       # [start_ms, end_ms)
    out_of_sample: tuple[int, int]   # [start_ms, end_ms), starts where in_sample ends

    def as_dict(self) -> dict[str, list[int]]:
        return {"in_sample": list(self.in_sample), "out_of_sample": list(self.out_of_sample)}


def walk_forward(data_start_ms: int, data_end_ms: int, in_sample_minutes: float, out_of_sample_minutes: float,
                 start_offset_minutes: float | None = None) -> Windows:
    """In-sample then out-of-sample windows inside the data's span [data_start_ms, data_end_ms].

    `start_offset_minutes` None puts the two windows at the end of the data (the nightly run: the most recent
    hours decide); a number starts the in-sample window that far after the data's start. Raises ValueError
    naming the parameter when the windows do not fit the data."""
    if in_sample_minutes <= 0:
        raise ValueError(f"in_sample_minutes: must be > 0, got {in_sample_minutes}")
    if out_of_sample_minutes <= 0:
        raise ValueError(f"out_of_sample_minutes: must be > 0, got {out_of_sample_minutes}")
    if start_offset_minutes is not None and start_offset_minutes < 0:
        raise ValueError(f"start_offset_minutes: must be >= 0, got {start_offset_minutes}")
    if data_end_ms <= data_start_ms:
        raise ValueError(f"the data spans no time ({data_start_ms} .. {data_end_ms})")
    is_ms, oos_ms = round(in_sample_minutes * MINUTE_MS), round(out_of_sample_minutes * MINUTE_MS)
    span = data_end_ms - data_start_ms
    # the last snapshot is at data_end_ms: an end one ms past it keeps it inside the half-open window
    if start_offset_minutes is None:
        start = data_end_ms + 1 - is_ms - oos_ms
    else:
        start = data_start_ms + round(start_offset_minutes * MINUTE_MS)
    if start < data_start_ms or start + is_ms + oos_ms > data_end_ms + 1:
        raise ValueError(
            f"in_sample_minutes + out_of_sample_minutes ({in_sample_minutes} + {out_of_sample_minutes}) after an "
            f"offset of {start_offset_minutes or 0} min do not fit the data's {span / MINUTE_MS:.1f} min")
    return Windows((start, start + is_ms), (start + is_ms, start + is_ms + oos_ms))
