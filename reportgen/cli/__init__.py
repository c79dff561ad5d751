"""The `reportgen` command line: thin Typer commands that own the terminal, one module per
command. Importing this package registers every command on `app`, in the order `--help`
lists them."""

# isort: off
from reportgen.cli import run, validate, init, history, stimuli, demo_tools, collect  # noqa: F401 (registration)
from reportgen.cli.app import app

# isort: on

__all__ = ["app"]
