"""PNG charts of a replay (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import pathlib
from datetime import datetime, timezone


def write_charts(out_dir: pathlib.Path, t_ms, equity, net_delta, attribution: dict[str, float]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    times = [datetime.fromtimestamp(t / 1000, tz=timezone.utc) for t in t_ms]
    written = []

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(times, list(equity), lw=0.8)
    ax1.set_ylabel("equity change (USD)")
    ax1.set_title("Replay equity and net delta (UTC)")
    ax2.plot(times, list(net_delta), lw=0.8, color="tab:orange")
    ax2.set_ylabel("net delta (coin)")
    fig.autofmt_xdate()
    path = out_dir / "equity.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(str(path))

    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(attribution)
    vals = [attribution[k] for k in names]
    ax.bar(names, vals, color=["tab:green" if v >= 0 else "tab:red" for v in vals])
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("USD")
    ax.set_title(f"PnL attribution (total {sum(vals):.2f} USD)")
    path = out_dir / "attribution.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(str(path))
    return written
