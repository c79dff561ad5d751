"""The `reportgen` command line: thin Typer commands that own the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from reportgen import __version__
from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.responses import StudyInputs

app = typer.Typer(
    name="reportgen",
    help="What drives a vision model's judgments: analyse a classifier and write a report.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a user mistake into one red line per problem and exit status 2."""
    try:
        yield
    except ReportgenError as err:
        for problem in err.problems:
            # escape: problems quote TOML sections such as [model], which Rich would eat as markup
            # soft_wrap: one line per problem, never broken inside a path (copyable, greppable)
            console.print(
                f"[red]error:[/red] {escape(problem)}", highlight=False, markup=True, soft_wrap=True
            )
        raise typer.Exit(code=2) from None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"reportgen {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """reportgen: information-theoretic analysis of a classifier, reported in plain words."""


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The study config (TOML) to check.")],
) -> None:
    """Check CONFIG and every input it names, report all problems at once, print what would run."""
    # imported here so that `reportgen --help` does not pay for torch and pandas
    from reportgen.config import load_config
    from reportgen.responses import load_study_inputs

    with cli_errors():
        study = load_config(config)
        if study.stimuli.generator is not None:
            # generated stimuli exist only once a run makes them; the generator checks them then
            name = study.stimuli.generator.name
            Console().print(
                f"[green]valid:[/green] {escape(str(config))}; stimuli come from the built-in "
                f"'{name}' generator at run time, so the stimulus checks happen then.",
                highlight=False,
            )
            return
        inputs = load_study_inputs(study)
    print_study_summary(inputs, Console())


def print_study_summary(inputs: StudyInputs, out: Console) -> None:
    """What a run of this study would analyse: stimuli, factors, classes, observers, model."""
    from rich.table import Table

    cfg, st = inputs.config, inputs.stimuli
    out.print(
        f"[bold]{escape(cfg.report.title)}[/bold]  {escape(cfg.report.period)}", highlight=False
    )
    out.print(f"config {escape(str(cfg.path))}, report language {cfg.report.language}")

    counts = st.table["condition"].value_counts(sort=False)
    out.print(f"stimulus table {escape(st.source)}", highlight=False, soft_wrap=True)
    table = Table(title=f"{len(st)} stimuli", title_justify="left")
    table.add_column("condition")
    table.add_column("stimuli", justify="right")
    for condition, n in counts.items():
        table.add_row(escape(str(condition)), str(int(n)))
    out.print(table)

    shown = ", ".join(st.classes[:20]) + (
        f", ... ({len(st.classes)} in all)" if len(st.classes) > 20 else ""
    )
    out.print(f"[bold]classes[/bold] ({len(st.classes)}): {escape(shown)}", highlight=False)

    factors = Table(title="factor groups", title_justify="left")
    factors.add_column("group")
    factors.add_column("columns")
    for group, cols in st.groups.items():
        described = ", ".join(f"{c} ({st.kinds[c]})" for c in cols)
        factors.add_row(escape(group), escape(described))
    out.print(factors)

    if cfg.model is not None:
        m = cfg.model
        layers = m.layers if isinstance(m.layers, str) else ", ".join(m.layers)
        weights = m.weights if m.weights is not None else "(built by the function)"
        out.print(
            f"[bold]model[/bold] {escape(m.arch)}, weights {escape(str(weights))}, "
            f"layers {escape(layers)}, reduction {m.reduction}, projection {m.projection}",
            highlight=False,
        )
    else:
        models = inputs.decisions.models if inputs.decisions is not None else ()
        out.print(
            f"[bold]decision-only study[/bold]: logged decisions of {len(models)} model(s): "
            f"{escape(', '.join(models))}; layer analysis needs the model weights and is skipped",
            highlight=False,
        )
    if inputs.humans is not None:
        h = inputs.humans
        simulated = " [yellow](simulated)[/yellow]" if cfg.humans and cfg.humans.simulated else ""
        out.print(
            f"[bold]people[/bold]{simulated}: {len(h.humans)} observer(s), {len(h.table)} trials: "
            f"{escape(', '.join(h.observers[:12]))}" + (" ..." if len(h.observers) > 12 else ""),
            highlight=False,
        )
    else:
        out.print(
            "[bold]people[/bold]: none (no \\[humans] section); "
            "model-versus-people parts are skipped"
        )
    a = cfg.analysis
    out.print(
        f"[bold]analysis[/bold]: {a.permutations} permutations, alpha {a.alpha}, "
        f"bootstrap {a.bootstrap}, device {a.device}, seed {a.seed}",
        highlight=False,
    )
    for warning in inputs.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    out.print("[green]valid:[/green] every input was checked; `reportgen run` can start.")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path(
        "study.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config to PATH (default study.toml)."""
    from importlib.resources import files

    with cli_errors():
        if path.exists() and not force:
            raise ReportgenError(f"{path}: already exists; use --force to overwrite it")
        if path.is_dir():
            raise ReportgenError(f"{path}: is a folder; give a file name such as study.toml")
        text = files("reportgen").joinpath("starter_config.toml").read_text(encoding="utf-8")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise ReportgenError(f"{path}: cannot write the config ({err})") from None
    console.print(
        f'Wrote {escape(str(path))}. Put your files where it says "yours", then run '
        f"`reportgen validate {escape(str(path))}`.",
        highlight=False,
    )


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

    from reportgen.history import default_db_path, list_runs

    with cli_errors():
        path = db or default_db_path()
        rows = list_runs(path)
    out = Console()
    if not rows:
        out.print(f"No runs recorded in {escape(str(path))}.", highlight=False)
        return
    table = Table(title=f"Runs in {escape(str(path))}", title_justify="left")
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
        table.add_row(*(Text(c) for c in cells))  # Text: names are shown, never parsed as markup
    out.print(table)
