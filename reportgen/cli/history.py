"""`reportgen history`: past runs and their headline figures; `history delete` removes one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from reportgen.cli.app import app
from reportgen.cli.terminal import cli_errors, shown, visible

if TYPE_CHECKING:
    from reportgen.findings.headline import HistoryRow

history_app = typer.Typer(
    name="history",
    help="Past runs and their headline figures (`history delete RUN_ID` removes one).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(history_app)

DB_OPTION = typer.Option(
    "--db",
    help="History store (default: $REPORTGEN_HISTORY, else "
    "$XDG_DATA_HOME/reportgen/history.sqlite).",
)


@history_app.callback()
def history(
    ctx: typer.Context,
    db: Annotated[Path | None, DB_OPTION] = None,
    study: Annotated[str | None, typer.Option("--study", help="Only this study's runs.")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the latest N runs.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per run, for scripts.")
    ] = False,
) -> None:
    """List past runs and their headline figures, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    from reportgen.outputs.history import default_db_path, list_runs

    with cli_errors():
        path = db or default_db_path()
        rows = [r for r in list_runs(path) if study is None or r.study == study]
    if limit is not None:
        rows = rows[-limit:]
    if as_json:
        typer.echo(json.dumps([_as_dict(r) for r in rows], ensure_ascii=False, indent=1))
        return
    out = Console()
    if not rows:
        which = f" for study {shown(repr(study))}" if study is not None else ""
        out.print(f"No runs recorded{which} in {shown(str(path))}.", highlight=False)
        return
    out.print(_table(rows, path, out.width))


@history_app.command("delete")
def delete(
    run_id: Annotated[int, typer.Argument(help="The run's number (the # column).")],
    db: Annotated[Path | None, DB_OPTION] = None,
) -> None:
    """Remove one run from the history store (its report folder is left alone)."""
    from reportgen.errors import ReportgenError
    from reportgen.outputs.history import default_db_path, delete_run

    with cli_errors():
        path = db or default_db_path()
        if not delete_run(path, run_id):
            raise ReportgenError(
                f"{path}: no run #{run_id}; `reportgen history` lists the runs and their numbers"
            )
    Console().print(f"Removed run #{run_id} from {shown(str(path))}.", highlight=False)


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.0f}%"


def _table(rows: list[HistoryRow], path: Path, width: int) -> object:
    """The runs as a table that reads at 80 columns: light rules instead of boxes, names
    wrap inside their cell, and the fingerprint column only where there is room."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    wide = width >= 110
    table = Table(
        title=f"Runs in {shown(str(path))}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
    )
    table.add_column("#", justify="right", no_wrap=True)
    for name in ("study", "period"):
        table.add_column(name, overflow="fold", min_width=6)
    table.add_column("date", no_wrap=wide, overflow="fold")
    for name in ("model", "top driver"):
        table.add_column(name, overflow="fold", min_width=6)
    for name in ("share", "shape\nbias", "kappa", "acc."):
        table.add_column(name, justify="right", no_wrap=True)
    if wide:
        table.add_column("fingerprint", no_wrap=True)
    for r in rows:
        d = _as_dict(r)  # the same figures `--json` gives, formatted
        cells = [
            str(d["id"]),
            r.study,
            r.period or "–",
            r.created_at[:10],
            r.headline_model,
            r.headline.top_driver or "–",
            _pct(d["top_driver_share"]),
            _pct(d["shape_bias"]),
            "–" if d["kappa"] is None else f"{d['kappa']:.2f}",
            _pct(d["accuracy"]),
        ]
        if wide:
            cells.append((r.model_fingerprint or "–")[:12])
        table.add_row(*(Text(visible(c)) for c in cells))  # Text: never parsed as markup
    return table


def _as_dict(r: HistoryRow) -> dict[str, Any]:
    head = r.headline
    top = head.shares.get(head.top_driver) if head.top_driver else None
    return {
        "id": r.id,
        "study": r.study,
        "period": r.period,
        "title": r.title,
        "recorded": r.created_at,
        "model": r.headline_model,
        "model_fingerprint": r.model_fingerprint,
        "config_hash": r.config_hash,
        "top_driver": head.top_driver,
        "top_driver_share": top.value if top else None,
        "shape_bias": head.shape_bias.value if head.shape_bias else None,
        "kappa": head.kappa.value if head.kappa else None,
        "accuracy": head.accuracy,
        "n_stimuli": r.n_stimuli,
    }
