"""The `reportgen` Typer application and its global options; commands register on `app`."""

from __future__ import annotations

import atexit
import gc

import typer

from reportgen import __version__

app = typer.Typer(
    name="reportgen",
    help="What drives a vision model's judgments: analyse a classifier and write a report.",
    no_args_is_help=True,
    add_completion=False,
)


def _collect_then_freeze() -> None:
    """Free this command's garbage once, then spare the interpreter's shutdown its own passes.

    At exit Python runs several full garbage collections over every object still alive (some
    170,000 after a report: WeasyPrint's boxes, matplotlib, torch), 0.3 s of a 3 s `reportgen
    render`. One collection here runs every pending finaliser (WeasyPrint removes its
    temporary font folder in one); frozen objects are then left out of the later passes.
    """
    gc.collect()
    gc.freeze()


def _print_version(value: bool) -> None:
    if value:
        import torch
        import torchvision

        if torch.cuda.is_available():
            cuda = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
        else:
            cuda = "no CUDA device (analyses run on the CPU)"
        typer.echo(f"reportgen {__version__}")
        typer.echo(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {cuda}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the versions of reportgen, torch and torchvision, and the GPU.",
    ),
) -> None:
    """reportgen: information-theoretic analysis of a classifier, reported in plain words."""
    # Registered per command rather than at import, so importing the package changes nothing.
    atexit.unregister(_collect_then_freeze)
    atexit.register(_collect_then_freeze)
