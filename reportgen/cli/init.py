"""`reportgen init`: write a commented starter config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reportgen.cli.app import app
from reportgen.cli.terminal import cli_errors, console
from reportgen.errors import ReportgenError


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
