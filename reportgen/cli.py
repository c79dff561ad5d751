"""The `reportgen` command line: thin Typer commands that own the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from reportgen import __version__
from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.inputs.responses import StudyInputs
    from reportgen.inputs.study_data import ProgressFn

app = typer.Typer(
    name="reportgen",
    help="What drives a vision model's judgments: analyse a classifier and write a report.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


#: Exit status of a bug in reportgen (BSD sysexits' EX_SOFTWARE), apart from a user's mistake (2).
INTERNAL_ERROR_EXIT = 70


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a user mistake into one red line per problem and exit status 2, and any other
    exception (a bug in reportgen, never the user's data) into one line saying so, with the
    traceback written to a log file, and exit status 70."""
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
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001 - the last line of defence: every bug is reported
        log = _write_crash_log(err)
        where = f"; details in {log}" if log is not None else ""
        console.print(
            f"[red]internal error:[/red] reportgen failed ({escape(type(err).__name__)}: "
            f"{escape(str(err))}). This is a bug in reportgen, not a problem with your data; "
            f"please report it{escape(where)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=INTERNAL_ERROR_EXIT) from None


def _write_crash_log(err: BaseException) -> Path | None:
    """The traceback of `err`, with the version and command line, in a new file in the
    system's temporary folder (never in the user's folders); None if it cannot be written."""
    import sys
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(err))
    try:
        fd, name = tempfile.mkstemp(prefix="reportgen-internal-error-", suffix=".log")
        with open(fd, "w", encoding="utf-8") as f:
            f.write(f"reportgen {__version__}\ncommand: {' '.join(sys.argv)}\n\n{text}")
    except OSError:
        return None
    return Path(name)


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
    from reportgen.inputs.responses import load_study_inputs

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
    from reportgen.narrative import Formatter, caveat_sentence, load_strings

    english = Formatter(load_strings("en"))
    for c in inputs.warnings:
        text = caveat_sentence(c.code, c.detail, english)
        out.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False, soft_wrap=True)
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


class Lang(StrEnum):
    en = "en"
    ja = "ja"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@contextmanager
def _progress() -> Iterator[ProgressFn]:
    """Rich progress bars on stderr (hidden when stderr is not a terminal)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:

        def open_task(description: str, total: int):
            task = bar.add_task(description, total=total)
            return lambda n: bar.advance(task, n)

        yield open_task


def _run(
    config_path: Path,
    out: Path,
    lang: Lang | None,
    device: Device | None,
    seed: int | None,
    history_db: Path | None,
) -> None:
    from reportgen.config import load_config
    from reportgen.runner import run_study

    with cli_errors():
        config = load_config(config_path).with_overrides(
            seed=seed,
            device=device.value if device else None,
            language=lang.value if lang else None,
        )
        with _progress() as progress:
            result = run_study(config, out, history_db=history_db, progress=progress)
    console.print(f"Report written to {result.report_pdf}", highlight=False)
    console.print(f"Results: {result.out_dir / 'results.json'}", highlight=False)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The study config (TOML).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("report"),
    lang: Annotated[Lang | None, typer.Option("--lang", help="Report language.")] = None,
    device: Annotated[Device | None, typer.Option("--device", help="Where to compute.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of permutations.")] = None,
    history_db: Annotated[
        Path | None, typer.Option("--db", help="History store (SQLite file).")
    ] = None,
) -> None:
    """Run the study described by CONFIG and write its report to OUT."""
    _run(config, out, lang, device, seed, history_db)


@app.command()
def demo(
    name: Annotated[str, typer.Argument(help="Which demo: parts or cue-conflict.")] = "parts",
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    lang: Annotated[Lang | None, typer.Option("--lang", help="Report language.")] = None,
    device: Annotated[Device | None, typer.Option("--device", help="Where to compute.")] = None,
    history_db: Annotated[
        Path | None, typer.Option("--db", help="History store (SQLite file).")
    ] = None,
) -> None:
    """Run an embedded demo study (parts: generated parts and a small ResNet; cue-conflict:
    real human and CNN decisions from Geirhos et al., ICLR 2019)."""
    from reportgen.runner import demo_config_path

    with cli_errors():
        config_path = demo_config_path(name)
    _run(config_path, out or Path(f"out/{name}"), lang, device, None, history_db)


@app.command("train-sample")
def train_sample_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for model.pt and model.json.")] = Path(
        "sample_data/parts"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights, batches, stimuli.")] = 0,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs of fresh stimuli (default 4).", min=1)
    ] = None,
) -> None:
    """Train the demo ResNet-10 on generated parts (CPU, 2 threads, a few minutes)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from reportgen.demo.train_sample import train_sample

    with Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("train", total=None, loss=float("nan"))

        def step(done: int, total: int, loss: float) -> None:
            bar.update(task, completed=done, total=total, loss=loss)

        extra = {} if epochs is None else {"epochs": epochs}
        record = train_sample(out, seed=seed, on_progress=step, **extra)
    ev = record["evaluation"]
    cc = ev["cue_conflict"]
    console.print(
        f"Wrote {escape(str(out / 'model.pt'))} and model.json: standard accuracy "
        f"{ev['standard']['accuracy']:.1%}; cue-conflict answers texture {cc['texture']:.1%}, "
        f"shape {cc['shape']:.1%}, other {cc['other']:.1%}",
        highlight=False,
    )


@app.command("simulate-panel")
def simulate_panel_command(
    config: Annotated[Path, typer.Argument(help="The study config (TOML) whose stimuli to use.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated observers.")] = 0,
    observers: Annotated[int, typer.Option("--observers", help="Panel size.", min=1)] = 6,
) -> None:
    """Write a SIMULATED inspector panel's answers to CONFIG's stimuli (demo data, not people)."""
    from reportgen.config import load_config
    from reportgen.demo.panel import simulate_panel_for_config, write_panel

    with cli_errors():
        # The config may name OUT as its [humans] responses; a placeholder lets it validate
        # when the file does not exist yet (it is removed again if anything fails).
        placeholder = not out.exists()
        if placeholder:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.touch()
        try:
            study = load_config(config)
            panel = simulate_panel_for_config(study, n_observers=observers, seed=seed)
            write_panel(panel, out)
        except BaseException:
            if placeholder:
                out.unlink(missing_ok=True)
            raise
    console.print(
        f"Wrote {escape(str(out))}: {len(panel)} simulated answers from "
        f"{panel['observer'].nunique()} simulated observers",
        highlight=False,
    )
