"""`reportgen collect`: serve a forced-choice session in the browser and record people's
answers in the study's trials table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reportgen.cli.app import app
from reportgen.cli.terminal import Lang, cli_errors, console, shown

if TYPE_CHECKING:
    from reportgen.collect.server import Started


@app.command()
def collect(
    config: Annotated[Path, typer.Argument(help="The study config (TOML) whose stimuli to show.")],
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8000,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; other than localhost needs a token."),
    ] = "127.0.0.1",
    observer: Annotated[
        str | None, typer.Option("--observer", help="Print the address of this observer's session.")
    ] = None,
    lang: Annotated[
        Lang | None, typer.Option("--lang", help="Language of the page (default: the report's).")
    ] = None,
) -> None:
    """Serve CONFIG's stimuli as a forced-choice session in the browser; every answer is
    saved at once to the trials table that the study's people section reads."""
    # imported here so that `reportgen --help` does not pay for torch and the server
    from reportgen.collect.server import serve_collection
    from reportgen.config import load_config

    def started(s: Started) -> None:
        if s.exposed:
            console.print(
                f"[yellow]warning:[/yellow] listening on {shown(host)}: other machines can "
                "reach this server; only the address below, with its token, opens it",
                highlight=False,
                soft_wrap=True,
            )
        again = f" ({s.resumed} observer(s) already in it resume where they stopped)"
        console.print(
            f"Saving answers to {shown(s.trials)}{again if s.resumed else ''}. "
            "Ctrl-C stops the server; every answer is already saved.",
            highlight=False,
            soft_wrap=True,
        )
        typer.echo(f"Open {s.url}")  # stdout, so a script can read the address

    with cli_errors():
        study = load_config(config)
        serve_collection(
            study,
            host=host,
            port=port,
            observer=observer,
            lang=lang.value if lang is not None else None,
            on_start=started,
        )
