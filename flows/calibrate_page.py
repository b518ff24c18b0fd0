"""The calibrate flow's `calibration` markdown artifact: the windows, the best candidates in sample and out of
sample beside the current params, a chart of the trials' scores over the two most important params, the
decision and why. The chart is a PNG embedded as a data: URI (like the daily report's) and kept in report_dir."""
from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

from engine.calibration.objective import rank_importance
from engine.calibration.space import SPACE, by_name

SHORT = {"base_spread": "spread", "atr_multiplier": "atr×", "gamma": "γ", "horizon_bars": "T", "levels": "lv",
         "level_spacing_bps": "lvl bp", "requote_tolerance_bps": "tol bp", "order_size_usd": "size $"}


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _params(p: dict) -> str:
    return " ".join(f"{SHORT.get(k, k)} {v:.3g}" if isinstance(v, float) else f"{SHORT.get(k, k)} {v}"
                    for k, v in p.items())


def _cells(r: dict | None) -> list[str]:
    if not r:
        return ["failed"] + [""] * 6
    m = r["metrics"]
    mk = "" if m["markout_bp"] is None else f"{m['markout_bp']:+.2f}"
    return [f"{r['score']:+.4f}", f"{m['pnl_usd']:+.4f}", str(m["fills"]), f"{m['maker_ratio']:.0%}", mk,
            f"{m['mean_abs_inventory_usd']:.0f}", f"{m['end_inventory_usd']:.0f}"]


def _where(out: dict) -> str:
    """The hosts and Dask workers that ran this run's trials, with how many each (a cluster's spread at a glance)."""
    runs = [t["in_sample"] for t in out["trials"]] + [out["current"]["in_sample"], out["current"]["out_of_sample"]]
    runs += [c["out_of_sample"] for c in out["top"]]
    counts: dict[str, int] = {}
    for r in runs:
        at = (r or {}).get("ran_on")
        if at:
            key = f"{at['host']} ({at['worker']})" if at.get("worker") else at["host"]
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} × {n}" for k, n in sorted(counts.items()))


def render(out: dict, summary: str, coin: str, windows: Any, study: str, dry_run: bool, version: int | None,
           chart_uri: str | None, importance: list[tuple[str, float]]) -> str:
    ins, oos = windows.in_sample, windows.out_of_sample
    head = ("score", "P&L $", "fills", "maker", "markout 10s bp", "mean |inv| $", "end |inv| $")
    lines = [f"# Calibration of {coin}", "",
             f"In sample {_utc(ins[0])} → {_utc(ins[1])} UTC; out of sample {_utc(oos[0])} → {_utc(oos[1])} UTC. "
             f"Study `{study}`: {len(out['trials'])} trials this run "
             f"({sum(1 for t in out['trials'] if t['error'])} failed).", "",
             "| candidate | params | " + " | ".join(f"IS {h}" for h in head) + " | "
             + " | ".join(f"OOS {h}" for h in head) + " |",
             "|" + "---|" * (2 + 2 * len(head))]
    cur = out["current"]
    lines.append(f"| current | {_params(cur['params'])} | " + " | ".join(_cells(cur["in_sample"]) +
                                                                        _cells(cur["out_of_sample"])) + " |")
    for c in out["top"]:
        lines.append(f"| trial {c['number']} | {_params(c['params'])} | "
                     + " | ".join(_cells(c["in_sample"]) + _cells(c["out_of_sample"])) + " |")
    lines += ["", "Score = net P&L after fees − 0.001 × mean |inventory| − 0.5 × adverse 10 s markouts (USD); a "
              "trial without fills scores −5 (engine/calibration/objective.py).", ""]
    if importance:
        lines.append("Importance (|rank correlation| with the in-sample score): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in importance) + ".")
    where = _where(out)
    if where:
        lines.append(f"Trials ran on: {where}.")
    if chart_uri:
        lines += ["", f"![trial scores]({chart_uri})"]
    verdict = f"written as params `calibration.{coin}` v{version}" if version is not None else \
        "nothing written (dry run)" if dry_run else "nothing written"
    lines += ["", "## Decision", "", f"{summary}. {verdict[0].upper() + verdict[1:]}."]
    return "\n".join(lines) + "\n"


def publish(out: dict, decision: Any, summary: str, coin: str, windows: Any, study: str, dry_run: bool,
            version: int | None, report_dir: pathlib.Path) -> str:
    from prefect.artifacts import create_markdown_artifact

    from flows.charts import data_uri, scatter_chart

    rows = [(t["params"], t["in_sample"]["score"]) for t in out["trials"] if t["in_sample"]]
    importance = rank_importance(rows, [d.name for d in SPACE])
    uri = None
    if len(importance) >= 2 and rows:
        (a, _), (b, _) = importance[:2]
        dims = by_name()
        report_dir.mkdir(parents=True, exist_ok=True)
        path = scatter_chart(report_dir / f"calibration-{coin}.png", f"{coin}: in-sample score of each trial",
                             [p[a] for p, _ in rows], [p[b] for p, _ in rows], [s for _, s in rows], a, b,
                             "score (USD)", log_x=dims[a].log, log_y=dims[b].log)
        uri = data_uri(path)
    page = render(out, summary, coin, windows, study, dry_run, version, uri, importance)
    create_markdown_artifact(page, key=f"calibration-{coin.lower()}", description=f"calibrate {coin}: {summary}"[:500])
    return page
