"""`hlmm bench`: run the named benchmarks; figures with the reference measured in the same run."""
from __future__ import annotations

import json
import platform
import os
from typing import List, Optional

import typer


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def register(app: typer.Typer) -> None:
    @app.command("bench", help="Run benchmarks (figures + ratios vs a reference measured in the same run).")
    def bench_command(
        only: Optional[List[str]] = typer.Option(None, "--only", help="Benchmark key or figure name; repeatable."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list of figures."),
        list_: bool = typer.Option(False, "--list", help="List benchmark keys and figure names, run nothing."),
    ) -> None:
        from engine.bench import load_all, select

        registry, errors = load_all()
        if list_:
            for b in registry.values():
                typer.echo(f"{b.key}: {', '.join(b.names)}")
            for mod, err in errors.items():
                typer.echo(f"{mod}: {err}", err=True)
            return
        try:
            chosen = select(registry, only)
        except ValueError as exc:
            typer.echo(f"hlmm bench: {exc}", err=True)
            raise typer.Exit(code=2)
        results = []
        failed = []
        for b in chosen:
            if not as_json:
                typer.echo(f"running {b.key} ...", err=True)
            try:
                res = b.run()
            except Exception as exc:
                failed.append(f"{b.key}: {type(exc).__name__}: {exc}")
                continue
            wanted = set(only or [])
            results.extend(r for r in res if not wanted or b.key in wanted or r.name in wanted)
        if as_json:
            typer.echo(json.dumps([r.as_json() for r in results], indent=2))
        else:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=f"hlmm bench — {machine_description()}")
            for col in ("name", "value", "unit", "reference", "ref value", "ratio", "goal"):
                table.add_column(col)
            for r in results:
                table.add_row(
                    r.name, f"{r.value:.4g}", r.unit, r.reference or "-",
                    "-" if r.reference_value is None else f"{r.reference_value:.4g}",
                    "-" if r.ratio is None else f"{r.ratio:.2f}x", r.goal or "-",
                )
            Console().print(table)
        for mod, err in errors.items():
            typer.echo(f"note: {mod}: {err}", err=True)
        if failed:
            for f in failed:
                typer.echo(f"benchmark failed: {f}", err=True)
            raise typer.Exit(code=1)
