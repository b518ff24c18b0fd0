"""PNG charts for the daily report (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def line_chart(path: Path, title: str, series: Mapping[str, Sequence[tuple[dt.datetime, float]]], ylabel: str,
               step: bool = False, scatter: bool = False) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    for name, pts in series.items():
        if not pts:
            continue
        xs, ys = zip(*pts)
        if scatter:
            ax.scatter(xs, ys, s=8, label=name)
        elif step:
            ax.step(xs, ys, where="post", label=name)
        else:
            ax.plot(xs, ys, label=name)
    if not any(series.values()):
        ax.text(0.5, 0.5, "no data in window", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if sum(1 for v in series.values() if v) > 1:
        ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
