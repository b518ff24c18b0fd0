"""A separate writer process for the concurrency test: `python -m tests.ledger.writer_proc URL WORKER`.

Prints "ready" once connected, waits for a line on stdin (so both writers start together), then writes its own
fills plus a range shared with the other writer, funding rows and param versions, each batch in its own short
transaction (reading before writing, like a flow does). Prints a JSON summary on stdout."""
from __future__ import annotations

import datetime as dt
import json
import sys

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope
from tests.ledger.factories import USER, make_fill, make_funding_ws

OWN_FILLS = 600
SHARED_FILLS = 200
BATCH = 20
PARAM_WRITES = 15


def main(url: str, worker: int) -> None:
    engine = make_engine(url)
    with engine.connect():
        pass
    print("ready", flush=True)
    sys.stdin.readline()

    own = [make_fill(10_000 * (worker + 1) + i) for i in range(OWN_FILLS)]
    shared = [make_fill(i) for i in range(SHARED_FILLS)]
    # interleave own and shared batches; the two workers walk the shared range in opposite orders
    shared_batches = [shared[i:i + BATCH] for i in range(0, SHARED_FILLS, BATCH)]
    if worker % 2:
        shared_batches.reverse()
    own_batches = [own[i:i + BATCH] for i in range(0, OWN_FILLS, BATCH)]
    batches = []
    while own_batches or shared_batches:
        for src in (own_batches, own_batches, shared_batches):
            if src:
                batches.append(src.pop(0))

    inserted = funding = 0
    versions: list[int] = []
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    for n, batch in enumerate(batches):
        with session_scope(engine) as session:
            repo.latest_params(session, prefix="concurrency.")          # a read first, then the writes
            inserted += repo.upsert_fills(session, USER, batch)
            funding += repo.upsert_funding(session, USER, [make_funding_ws(n)])   # same hours in both workers
            if n < PARAM_WRITES:
                versions.append(repo.set_param(session, "concurrency.k", {"worker": worker, "n": n},
                                               written_by=f"writer-{worker}", time=now))
    engine.dispose()
    print(json.dumps({"worker": worker, "inserted": inserted, "funding": funding, "versions": versions,
                      "batches": len(batches)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
