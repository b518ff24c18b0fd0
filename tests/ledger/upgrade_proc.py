"""`python -m tests.ledger.upgrade_proc URL`: print "ready", wait for a line on stdin, run upgrade(URL), print the
revision. Lets a test start several upgrades of one fresh database at the same moment."""
from __future__ import annotations

import sys

from engine.ledger.db import current_revision, make_engine, upgrade

if __name__ == "__main__":
    url = sys.argv[1]
    print("ready", flush=True)
    sys.stdin.readline()
    upgrade(url)
    engine = make_engine(url)
    print(current_revision(engine), flush=True)
    engine.dispose()
