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


def data_uri(path: Path) -> str:
    """A PNG as a data: URI, so a markdown artifact shows the picture in the Prefect UI whichever process
    (and whichever machine's disk) produced it."""
    import base64

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def line_chart(path: Path, title: str, series: Mapping[str, Sequence[tuple[dt.datetime, float]]], ylabel: str,
               step: bool = False, scatter: bool = False, x_label: str | None = None) -> Path:
    """A line (or step, or scatter) chart of named series of (x, y); x is time unless `x_label` names it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=80)  # small: each chart rides inside the artifact
    for name, pts in series.items():
        if not pts:
            continue
        xs, ys = zip(*pts)
        if scatter:
            ax.scatter(xs, ys, s=8, label=name)
        elif step:
            ax.step(xs, ys, where="post", label=name)
        else:
            ax.plot(xs, ys, label=name, marker="o" if x_label else None)
    if not any(series.values()):
        ax.text(0.5, 0.5, "no data in window", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if sum(1 for v in series.values() if v) > 1:
        ax.legend(loc="best", fontsize=8)
    if x_label:
        ax.set_xlabel(x_label)
        ax.axhline(0, color="grey", linewidth=0.8)
    else:
        fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def scatter_chart(path: Path, title: str, xs: Sequence[float], ys: Sequence[float], values: Sequence[float],
                  x_label: str, y_label: str, value_label: str, log_x: bool = False, log_y: bool = False) -> Path:
    """Points (x, y) coloured by a value: e.g. each calibration trial's score over its two most important params."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    if xs:
        sc = ax.scatter(xs, ys, c=values, cmap="viridis", s=40, edgecolors="black", linewidths=0.4)
        fig.colorbar(sc, ax=ax, label=value_label)
    else:
        ax.text(0.5, 0.5, "no finished trials", ha="center", va="center", transform=ax.transAxes)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
