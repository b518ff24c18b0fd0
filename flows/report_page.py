"""The daily report's page: the markdown of the `daily-report` artifact (charts embedded as data: URIs)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flows.logic.breakdown import HORIZONS, PARTS, markout_bps

LAST_FILLS = 25  # fills listed one by one (the stats above cover all of them)


def _usd(x: Decimal | float | None) -> str:
    return "–" if x is None else f"{x:+,.2f}"


def _bps(x: Decimal | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def render_page(rt, start, end, now: dt.datetime, fills, attr, problem, by_day, funding_cmp, stats, markouts,
                audit, images: dict[str, str], result: dict[str, Any], names: dict[str, str]) -> str:
    name = lambda coin: names.get(coin, coin)  # noqa: E731 - "@1" reads as "HYPE/USDC"
    md = [f"# Daily report {start.time:%Y-%m-%d %H:%M} → {now:%Y-%m-%d %H:%M} UTC", ""]
    if rt.cfg.venue.network == "local":
        md += ["> Paper account on the local venue (`hlmm sim`): the market is **synthetic**, its takers are "
               "simulated, and none of these figures say anything about a real market.", ""]
    used, cap = result["requests_used"], result["requests_cap"]
    md += [f"Account `{rt.user}`. Equity **{start.equity:,.2f} → {end.equity:,.2f} USDC** "
           f"({end.equity - start.equity:+,.2f}); fills {len(fills)} (maker {result['maker_ratio']:.1%}), volume "
           f"{Decimal(result['volume_usd']):,.2f} USD, uptime {result['uptime']:.1%}, venue requests {used}/{cap}.",
           "", "## Equity", "", f"![equity curve]({images['equity']})", "", "## P&L attribution", ""]
    if attr is not None:
        md += ["| part | USDC |", "|---|---:|"]
        md += [f"| {k} | {v:,.4f} |" for k, v in attr.parts.items()]
        md += [f"| **equity change** | **{attr.equity_change:,.4f}** |", f"| unexplained | {attr.unexplained:,.4f} |",
               "", "### By day and coin", "",
               "| day | coin | " + " | ".join(PARTS) + " | total |", "|---|---|" + "---:|" * (len(PARTS) + 1)]
        md += [f"| {r['day']} | {name(r['coin'])} | " + " | ".join(_usd(r[p]) for p in PARTS)
               + f" | {_usd(r['total'])} |" for r in by_day]
    else:
        md += [f"**Attribution skipped:** {problem}"]
    md += ["", "## Funding: collected vs expected", "",
           "| coin | collected USDC | expected USDC | payments | hours | realized APR | flags |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {c.coin} | {c.realized:,.4f} | {c.expected:,.4f} | {c.payments} | {c.hours} | "
           f"{'–' if c.realized_apr is None else f'{c.realized_apr:.2%}'} | {len(c.flags)} |"
           for c in funding_cmp.values()] or ["| – | | | | | | |"]
    md += ["", "## Fills and markouts", "",
           "Markout after τ: side × (mid at fill time + τ − fill price), in bps of the price; positive means the "
           "market moved our way after the fill. Mids are the engine's own book, sampled 0 / 1 / 10 / 60 s after "
           f"each fill ({len(markouts)} of {len(fills)} fills measured).", "",
           f"![markouts]({images['markouts']})", "",
           "| coin | liquidity | fills | " + " | ".join(f"{h} bps" for h, _ in HORIZONS) + " | 60s USD |",
           "|---|---|---:|" + "---:|" * (len(HORIZONS) + 1)]
    md += [f"| {name(s.coin)} | {s.liquidity} | {s.fills} | " + " | ".join(_bps(s.mean_bps[h]) for h, _ in HORIZONS)
           + f" | {_usd(s.total_usd['60s'])} |" for s in stats] or ["| – | | | | | | | |"]
    by_tid = {m["tid"]: m for m in markouts}
    md += ["", f"Last {min(LAST_FILLS, len(fills))} fills:", "",
           "| time | coin | side | px | sz | liq | " + " | ".join(f"{h}" for h, _ in HORIZONS) + " |",
           "|---|---|---|---:|---:|---|" + "---:|" * len(HORIZONS)]
    for f in sorted(fills, key=lambda f: int(f["time"]))[-LAST_FILLS:]:
        m = by_tid.get(int(f["tid"]), {})
        px = Decimal(f["px"])
        cells = [_bps(markout_bps(f["side"], px, Decimal(m[c]))) if m.get(c) is not None else "–"
                 for _, c in HORIZONS]
        t = dt.datetime.fromtimestamp(int(f["time"]) / 1000, tz=dt.timezone.utc)
        md.append(f"| {t:%H:%M:%S} | {name(f['coin'])} | {'buy' if f['side'] == 'B' else 'sell'} | {f['px']} | "
                  f"{f['sz']} | {'taker' if f.get('crossed') else 'maker'} | " + " | ".join(cells) + " |")
    fd, rd = audit
    verdict = "**clean**: the ledger holds exactly the venue's fills and funding" if fd.clean and rd.clean else \
        "**differs**: run the ledger_audit deployment (it repairs missing rows from the venue)"
    md += ["", "## Venue vs ledger", "", f"Window audit {verdict}.", "",
           "| records | missing in ledger | extra in ledger | mismatched |", "|---|---:|---:|---:|",
           f"| fills | {len(fd.missing)} | {len(fd.extra)} | {len(fd.mismatched)} |",
           f"| funding | {len(rd.missing)} | {len(rd.extra)} | {len(rd.mismatched)} |",
           "", "## Inventory", "", f"![inventory]({images['inventory']})", "",
           "## Maker edge at the fill", "", f"![maker edge]({images['spread']})", "",
           "## Cumulative funding", "", f"![funding]({images['funding']})"]
    return "\n".join(md)
