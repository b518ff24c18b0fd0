"""A directory of `hlmm record` files: their names, which of them one coin's recording is, which are past the
retention, which coins a config asks to record, and the salvage of a file a killed recorder left open.

Naming: `<COIN>_<UTC start, ms>.jsonl.gz` (`@107` → `at107`, `/` → `-`), e.g. `BTC_20260101T020000123Z.jsonl.gz`.
The stamp is fixed-width, so name order is time order. A file being written is `<name>.part` and is renamed when
it is closed (at each rotation): readers glob only finished files, so a sweep never reads a gzip stream that has
no end yet. Everything here but `files_of` and `salvage` is pure.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import re
import zlib
from datetime import datetime, timezone
from typing import Any, Iterable

SUFFIX = ".jsonl.gz"
PART = ".part"
_STAMP = re.compile(r"^\d{8}T\d{6}(\d{3})?Z$")


def safe_name(coin: str) -> str:
    """A coin's wire name as a file name part."""
    return coin.replace("/", "-").replace("@", "at").replace(":", "_")


def file_name(coin: str, start_ms: int) -> str:
    t = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc)
    return f"{safe_name(coin)}_{t.strftime('%Y%m%dT%H%M%S')}{start_ms % 1000:03d}Z{SUFFIX}"


def is_recording_of(name: str, coin: str) -> bool:
    """Whether `name` is a finished `hlmm record` file of `coin` (old second-stamped names included)."""
    prefix = safe_name(coin) + "_"
    if not (name.startswith(prefix) and name.endswith(SUFFIX)):
        return False
    return bool(_STAMP.match(name[len(prefix):-len(SUFFIX)]))


def files_of(directory: str | pathlib.Path, coin: str) -> list[pathlib.Path]:
    """The finished recording files of `coin` in `directory`, oldest first: together, one recording."""
    d = pathlib.Path(directory)
    return sorted(p for p in d.iterdir() if p.is_file() and is_recording_of(p.name, coin))


def expired(files: Iterable[tuple[Any, float]], now_s: float, retention_s: float) -> list[Any]:
    """The files (given as (file, last-modified epoch s)) whose data all lies before `now_s - retention_s`.

    A file's last modification is when its last line was written, so a file holding any of the last
    `retention_s` seconds is kept: the retention is always on disk. retention_s 0 keeps everything."""
    if retention_s < 0:
        raise ValueError(f"retention_s must be >= 0, got {retention_s}")
    if retention_s == 0:
        return []
    return [f for f, mtime in files if mtime < now_s - retention_s]


def rotation_due(opened_s: float, now_s: float, rotate_s: float) -> bool:
    """Whether a file opened at `opened_s` (monotonic s) is due to be closed and a new one opened."""
    return rotate_s > 0 and now_s - opened_s >= rotate_s


def spot_names(spot_meta: dict | None) -> dict[str, str]:
    """{"BASE/QUOTE" or venue name: the venue's WS name} from a spotMeta reply (`HYPE/USDC` → `@107`)."""
    universe = (spot_meta or {}).get("universe", [])
    tokens = {t.get("index"): t.get("name") for t in (spot_meta or {}).get("tokens", [])}
    out = {f"{tokens.get(u['tokens'][0])}/{tokens.get(u['tokens'][1])}": u["name"]
           for u in universe if len(u.get("tokens", [])) == 2}
    out.update({u["name"]: u["name"] for u in universe})
    return out


def wire_coins(markets: Iterable[Any], spot_meta: dict | None, coins: Iterable[str] = ()) -> list[str]:
    """The WS coin names to record: `coins` as given (a `BASE/QUOTE` pair looked up in spotMeta), or when there
    are none, every configured market's legs (each perp by name, each spot pair as the venue names it, e.g.
    `@107`). ValueError naming the key when the venue lists no such pair."""
    names = spot_names(spot_meta)
    wanted = [(f"recorder.coins[{i}]", c, "/" in c) for i, c in enumerate(coins)]
    if not wanted:
        for i, m in enumerate(markets):
            if m.perp:
                wanted.append((f"markets[{i}].perp_name", m.perp_name or m.coin, False))
            if m.spot:
                wanted.append((f"markets[{i}].spot_pair", m.spot_pair, True))
    out: list[str] = []
    for key, coin, spot in wanted:
        wire = names.get(coin) if spot else coin
        if wire is None:
            listed = ", ".join(sorted(k for k in names if "/" in k)[:20])
            raise ValueError(f"{key} = {coin!r}: the venue's spotMeta lists no such pair, so it cannot be recorded "
                             f"(listed: {listed})")
        out.append(wire)
    return list(dict.fromkeys(out))


def salvage(part: pathlib.Path) -> pathlib.Path | None:
    """A `.part` file a killed recorder left: its complete lines re-written as a finished file (the stream is
    sync-flushed about once a second, so at most that much is lost). Returns the finished file, None if the
    part held no complete line (it is removed then)."""
    target = part.with_name(part.name[:-len(PART)])
    lines: list[bytes] = []
    try:
        with gzip.open(part, "rb") as fh:
            for line in fh:
                lines.append(line)
    except (EOFError, OSError, zlib.error):
        pass  # the unfinished end of the stream: keep what was read
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()  # a line cut in the middle
    if not lines:
        part.unlink()
        return None
    tmp = target.with_name(target.name + ".salvage")
    with gzip.open(tmp, "wb") as out:
        out.writelines(lines)
    st = part.stat()
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))  # its data is as old as the part: retention must see that
    tmp.replace(target)
    part.unlink()
    return target
