"""Commands that rebuild the embedded sample data: `train-sample` and `simulate-panel`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reportgen.cli.app import app
from reportgen.cli.terminal import cli_errors, console


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
