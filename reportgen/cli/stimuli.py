"""`reportgen stimuli from-images`: a controlled study made from a folder of labelled pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reportgen.cli.app import app
from reportgen.cli.terminal import (
    Device,
    Verbosity,
    cleanup_on_terminate,
    cli_errors,
    console,
    progress_bars,
    shown,
)

stimuli_app = typer.Typer(
    name="stimuli",
    help="Make stimuli with known factors for a study.",
    no_args_is_help=True,
)
app.add_typer(stimuli_app)


@stimuli_app.command("from-images")
def from_images(
    src: Annotated[
        Path,
        typer.Argument(
            help="A folder with one sub-folder of pictures per class (masks/ beside them "
            "optional), or a CSV with columns image,label[,mask]."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The study folder to write.")],
    per_image: Annotated[
        int,
        typer.Option(
            "--per-image",
            min=1,
            max=64,
            help="Variants per picture in each perturbation condition.",
        ),
    ] = 4,
    morph_levels: Annotated[
        int, typer.Option("--morph-levels", min=0, max=21, help="Steps of each morph (0: none).")
    ] = 5,
    size: Annotated[
        int, typer.Option("--size", min=32, max=1024, help="Side of the square stimuli, px.")
    ] = 224,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    whole_image: Annotated[
        bool,
        typer.Option("--whole-image", help="Treat the whole picture as the object (no mask)."),
    ] = False,
    config_from: Annotated[
        Path | None,
        typer.Option(
            "--config-from",
            help="A study config whose \\[model], \\[report] and class order study.toml copies.",
        ),
    ] = None,
    device: Annotated[
        Device, typer.Option("--device", help="Where to make the pictures.")
    ] = Device.auto,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Turn labelled pictures into a controlled study: cue-conflict images, texture, shape and
    nuisance variations and morphs, with every factor value in stimuli.csv and a starter
    study.toml."""
    import torch

    from reportgen.variants.folder import write_from_images

    with cleanup_on_terminate(), cli_errors():
        if device == Device.cuda and not torch.cuda.is_available():
            from reportgen.errors import ReportgenError

            raise ReportgenError("--device cuda: PyTorch sees no CUDA device here; use cpu or auto")
        dev = torch.device("cuda" if device != Device.cpu and torch.cuda.is_available() else "cpu")
        with progress_bars(Verbosity.quiet if quiet else Verbosity.normal) as progress:
            result = write_from_images(
                src,
                out,
                size=size,
                per_image=per_image,
                morph_levels=morph_levels,
                seed=seed,
                whole_image=whole_image,
                config_from=config_from,
                device=dev,
                progress=progress,
            )
    for line in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {shown(line)}", highlight=False)
    if quiet:
        return
    total = sum(result.counts.values())
    parts = ", ".join(f"{c} {n}" for c, n in result.counts.items())
    console.print(
        f"Wrote {shown(str(out))}: {total} stimuli from {result.n_sources} pictures of "
        f"{len(result.classes)} classes ({parts}); masks {result.mask_kind}.",
        highlight=False,
    )
    study = out / "study.toml"
    if result.model_from is None:
        console.print(
            f"Fill in [model] in {shown(str(study))} (or write the folder again with "
            f"--config-from YOUR_STUDY.toml), then `reportgen validate {shown(str(study))}`.",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            f"Next: `reportgen validate {shown(str(study))}`.", highlight=False, markup=False
        )
