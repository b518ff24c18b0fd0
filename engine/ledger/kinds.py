"""The kinds of control rows in the ledger: the words the engine, the CLI and the flows agree on.

A control is a standing instruction written by a person (`hlmm kill`), a flow (rebalance, drawdown audit,
vol regime) or the engine itself, and read by the engine within a second (engine/control/controls.py).
"""
from __future__ import annotations

import enum


class ControlKind(str, enum.Enum):
    KILL_SWITCH = "kill_switch"    # cancel everything, send nothing (value: true; who/why say by whom and why)
    PAUSE = "pause"                # no quotes in a scope (a coin or "*"); resting quotes are cancelled
    CARRY_TARGET = "carry_target"  # {"coin", "notional_usd"}: the funding carry's size for one coin

    def __str__(self) -> str:  # the stored word, also where an f-string or a DB parameter formats it
        return self.value
