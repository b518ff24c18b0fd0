"""`hlmm deployments render`: write prefect.yaml from the catalogue, for one account or one per config file.

With no --config it prints the single-account prefect.yaml (the committed one); with one --config per account
every deployment carries the account's label and goes to the account's work pool (deployments/render.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

_CONFIG_HELP = ("an account's config file; repeat once per account. Its [deployment] label names the account's "
                "deployments, its work_pool picks the workers that run them. None: the single-account prefect.yaml")
_CODE_HELP = ("how the flows' code reaches a worker: 'checkout' (file entrypoints, the pull step changes into the "
              "directory `prefect deploy` ran from: same checkout path on every host) or 'package' (module "
              "entrypoints, no pull step: the hlmm package installed in the worker's environment, any path)")


def register(app: typer.Typer) -> None:
    dep_app = typer.Typer(help="Prefect deployments: render prefect.yaml per account.", no_args_is_help=True)

    @dep_app.command("render", help="Print (or --out) a prefect.yaml with every flow once per account config.")
    def render(
        config: Optional[List[Path]] = typer.Option(None, "--config", help=_CONFIG_HELP),
        code: str = typer.Option("checkout", "--code", help=_CODE_HELP),
        out: Optional[Path] = typer.Option(None, "--out", help="write here instead of stdout"),
    ) -> None:
        from deployments.render import RenderError, render_configs, to_yaml
        from engine.config import ConfigError

        paths = [str(p) for p in config or []]
        for p in paths:
            if not Path(p).is_file():
                typer.echo(f"hlmm deployments render: --config {p}: no such file", err=True)
                raise typer.Exit(code=2)
        try:
            doc, warnings = render_configs(paths, code)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2)
        except RenderError as exc:
            typer.echo(f"hlmm deployments render: {exc}", err=True)
            raise typer.Exit(code=2)
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        command = "hlmm deployments render" + "".join(f" --config {p}" for p in paths) + f" --code {code}"
        text = to_yaml(doc, command)
        if out is None:
            typer.echo(text, nl=False)
            return
        out.write_text(text)
        n = len(doc["deployments"])
        pools = sorted({d["work_pool"]["name"] for d in doc["deployments"]})
        typer.echo(f"wrote {out}: {n} deployments on work pool(s) {', '.join(pools)}", err=True)

    app.add_typer(dep_app, name="deployments")
