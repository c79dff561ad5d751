"""`reportgen run`, `reportgen demo` and `reportgen render`: a study end to end, from config
to report, and an earlier run's report in another language."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reportgen.cli.app import app
from reportgen.cli.terminal import (
    Device,
    Lang,
    Verbosity,
    cleanup_on_terminate,
    cli_errors,
    console,
    progress_bars,
    shown,
)


def _languages(value: str | None) -> list[Lang]:
    """``--lang en`` or ``--lang en,ja``: the first is the run's report, the others are
    rendered from its results into OUT/<lang>/."""
    if value is None:
        return []
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in {lang.value for lang in Lang}]
    if unknown or not names or len(set(names)) != len(names):
        raise typer.BadParameter(
            f"{value!r}: give en, ja or both as en,ja (each once)", param_hint="--lang"
        )
    return [Lang(v) for v in names]


LANG = typer.Option(
    "--lang", help="Report language(s): en, ja, or en,ja for both (the second in OUT/ja)."
)


def _run(
    config_path: Path,
    out: Path,
    lang: str | None,
    device: Device | None,
    seed: int | None,
    history_db: Path | None,
    record: bool = True,
    verbosity: Verbosity = Verbosity.normal,
) -> None:
    from reportgen.config import load_config
    from reportgen.runner import render_run, run_study

    langs = _languages(lang)
    first, also = (langs[0], langs[1:]) if langs else (None, [])

    with cleanup_on_terminate(), cli_errors():
        config = load_config(config_path).with_overrides(
            seed=seed,
            device=device.value if device else None,
            language=first.value if first else None,
        )
        with progress_bars(verbosity) as progress:
            result = run_study(config, out, history_db=history_db, progress=progress, record=record)
        # Further languages from the run's results: no second analysis, no second history row.
        db = history_db or config.report.history_db
        others = [render_run(result.out_dir, None, extra.value, db) for extra in also]
    if verbosity == Verbosity.verbose:
        timings = result.findings.run.timings_s
        console.print(
            "timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
            highlight=False,
        )
    if verbosity == Verbosity.quiet:
        return
    console.print(f"Report written to {shown(str(result.report_pdf))}", highlight=False)
    for paths in others:
        console.print(f"Report written to {shown(str(paths.pdf))}", highlight=False)
    console.print(f"Results: {shown(str(result.out_dir / 'results.json'))}", highlight=False)
    if result.history_db is not None:
        console.print(f"Recorded in {shown(str(result.history_db))}", highlight=False)


NO_HISTORY = typer.Option(
    "--no-history", help="Do not record this run in the history store (it is still read)."
)
QUIET = typer.Option("--quiet", "-q", help="Print errors only.")
VERBOSE = typer.Option(
    "--verbose", "-v", help="A line per stage with its time, and the timings at the end."
)


def _verbosity(quiet: bool, verbose: bool) -> Verbosity:
    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose contradict each other; choose one")
    return Verbosity.quiet if quiet else Verbosity.verbose if verbose else Verbosity.normal


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The study config (TOML).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("report"),
    lang: Annotated[str | None, LANG] = None,
    device: Annotated[Device | None, typer.Option("--device", help="Where to compute.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of permutations.")] = None,
    history_db: Annotated[
        Path | None, typer.Option("--db", help="History store (SQLite file).")
    ] = None,
    no_history: Annotated[bool, NO_HISTORY] = False,
    quiet: Annotated[bool, QUIET] = False,
    verbose: Annotated[bool, VERBOSE] = False,
) -> None:
    """Run the study described by CONFIG and write its report to OUT."""
    level = _verbosity(quiet, verbose)
    _run(config, out, lang, device, seed, history_db, record=not no_history, verbosity=level)


@app.command()
def demo(
    name: Annotated[str, typer.Argument(help="Which demo: parts or cue-conflict.")] = "parts",
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    lang: Annotated[str | None, LANG] = None,
    device: Annotated[Device | None, typer.Option("--device", help="Where to compute.")] = None,
    history_db: Annotated[
        Path | None,
        typer.Option("--db", help="Record the demo in this history store (default: none)."),
    ] = None,
    quiet: Annotated[bool, QUIET] = False,
    verbose: Annotated[bool, VERBOSE] = False,
) -> None:
    """Run an embedded demo study (parts: generated parts and a small ResNet; cue-conflict:
    real human and CNN decisions from Geirhos et al., ICLR 2019). A demo is recorded in a
    history store only when --db names one: your own store keeps your own studies."""
    from reportgen.runner import demo_config_path

    with cli_errors():
        config_path = demo_config_path(name)
    out_dir = out or Path(f"out/{name}")
    level = _verbosity(quiet, verbose)
    record = history_db is not None
    _run(config_path, out_dir, lang, device, None, history_db, record=record, verbosity=level)


@app.command()
def render(
    run_dir: Annotated[Path, typer.Argument(help="The --out folder of an earlier run.")],
    lang: Annotated[Lang, typer.Option("--lang", help="Report language.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: RUN_DIR/<lang>).")
    ] = None,
    history_db: Annotated[
        Path | None, typer.Option("--db", help="History store to compare with (read only).")
    ] = None,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Render RUN_DIR's report again in another language from its results.json: nothing is
    recomputed and nothing is recorded in the history."""
    from reportgen.runner import render_run

    with cleanup_on_terminate(), cli_errors():
        paths = render_run(run_dir, out, lang.value, history_db)
    if not quiet:
        console.print(f"Report written to {shown(str(paths.pdf))}", highlight=False)
