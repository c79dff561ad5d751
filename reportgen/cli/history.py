"""`reportgen history`: past runs and their headline figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reportgen.cli.app import app
from reportgen.cli.terminal import cli_errors, shown, visible


@app.command()
def history(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="History store (default: $REPORTGEN_HISTORY, else "
            "$XDG_DATA_HOME/reportgen/history.sqlite).",
        ),
    ] = None,
) -> None:
    """List past runs and their headline figures."""
    from rich.table import Table
    from rich.text import Text

    from reportgen.outputs.history import default_db_path, list_runs

    with cli_errors():
        path = db or default_db_path()
        rows = list_runs(path)
    out = Console()
    if not rows:
        out.print(f"No runs recorded in {shown(str(path))}.", highlight=False)
        return
    table = Table(title=f"Runs in {shown(str(path))}", title_justify="left")
    for name in ("#", "study", "period", "recorded", "model", "fingerprint", "top driver"):
        table.add_column(name)
    for name in ("share", "shape bias", "kappa", "accuracy"):
        table.add_column(name, justify="right")

    def pct(x: float | None) -> str:
        return "–" if x is None or x != x else f"{100 * x:.0f}%"

    for r in rows:
        head = r.headline
        top = head.shares.get(head.top_driver) if head.top_driver else None
        cells = (
            str(r.id),
            r.study,
            r.period,
            r.created_at[:16].replace("T", " "),
            r.headline_model,
            (r.model_fingerprint or "–")[:12],
            head.top_driver or "–",
            pct(top.value if top else None),
            pct(head.shape_bias.value if head.shape_bias else None),
            "–" if head.kappa is None else f"{head.kappa.value:.2f}",
            pct(head.accuracy),
        )
        table.add_row(*(Text(visible(c)) for c in cells))  # Text: never parsed as markup
    out.print(table)
