"""What every command shares at the terminal: the console, one-line errors, progress bars.

A user's mistake (`ReportgenError`) becomes one red line per problem and exit status 2; any
other exception is a bug in reportgen and is said to be one, with its traceback in a log file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from reportgen import __version__
from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.inputs.study_data import ProgressFn

console = Console(stderr=True)

# Bidirectional overrides and isolates reorder what a terminal shows (a name could look like
# another); C0/C1 controls, ESC above all, would be run by the terminal as commands.
_BIDI = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def visible(text: str) -> str:
    """`text` from a user's files with every control character (terminal escape sequences
    included) and bidirectional override written out as a visible \\xNN or \\uNNNN."""
    import unicodedata

    def one(ch: str) -> str:
        code = ord(ch)
        if code in _BIDI or (unicodedata.category(ch) == "Cc" and ch not in "\n\t"):
            return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        return ch

    return "".join(one(ch) for ch in text)


def shown(text: str) -> str:
    """`text` from a user's files, safe inside a Rich markup string: visible and escaped."""
    return escape(visible(text))


#: Exit status of a bug in reportgen; a user's mistake is 2.
INTERNAL_ERROR_EXIT = 1


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a user mistake into one red line per problem and exit status 2, and any other
    exception (a bug in reportgen, never the user's data) into one line saying so, with the
    traceback written to a log file, and exit status 1."""
    try:
        yield
    except ReportgenError as err:
        for problem in err.problems:
            # escape: problems quote TOML sections such as [model], which Rich would eat as markup
            # soft_wrap: one line per problem, never broken inside a path (copyable, greppable)
            console.print(
                f"[red]error:[/red] {shown(problem)}", highlight=False, markup=True, soft_wrap=True
            )
        raise typer.Exit(code=2) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001 - the last line of defence: every bug is reported
        log = _write_crash_log(err)
        where = f"; details in {log}" if log is not None else ""
        console.print(
            f"[red]internal error:[/red] reportgen failed ({escape(type(err).__name__)}: "
            f"{shown(str(err))}). This is a bug in reportgen, not a problem with your data; "
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


@contextmanager
def cleanup_on_terminate() -> Iterator[None]:
    """Make SIGTERM (`kill`, a job scheduler's stop) unwind like Ctrl-C, so the staging
    folder is removed and the previous report stays; exit status 143 (128 + SIGTERM)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Lang(StrEnum):
    en = "en"
    ja = "ja"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Verbosity(StrEnum):
    quiet = "quiet"  # errors only
    normal = "normal"  # bars in a terminal, one line per stage elsewhere
    verbose = "verbose"  # one line per stage everywhere, with the stage timings at the end


#: Seconds between progress lines of a long stage when the output is not a terminal.
LINE_EVERY_S = 30.0


@contextmanager
def progress_bars(verbosity: Verbosity = Verbosity.normal) -> Iterator[ProgressFn]:
    """Progress on stderr: Rich bars in a terminal; where stderr is not one (CI logs, `make`),
    or when verbose, a line as each stage starts and ends and every `LINE_EVERY_S` seconds
    in between, so nothing is silent for minutes; nothing at all when quiet."""
    if verbosity == Verbosity.quiet:
        yield lambda description, total: lambda n: None
        return
    if verbosity == Verbosity.verbose or not console.is_terminal:
        lines = _ProgressLines()
        try:
            yield lines.open_task
        except BaseException:
            lines.close(finished=False)  # an error or Ctrl-C: the stage did not finish
            raise
        lines.close()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:

        def open_task(description: str, total: int):
            task = bar.add_task(description, total=total)
            return lambda n: bar.advance(task, n)

        yield open_task


@dataclass
class _Stage:
    description: str
    total: int
    started: float
    said: float  # when its last line was printed
    done: int = 0


class _ProgressLines:
    """Plain progress lines, one stage at a time (a new stage ends the one before)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stage: _Stage | None = None

    def _say(self, text: str) -> None:
        clock = time.perf_counter() - self.start
        console.print(f"[{clock:6.1f} s] {visible(text)}", highlight=False, markup=False)

    def open_task(self, description: str, total: int):
        self.close()
        now = time.perf_counter()
        stage = self.stage = _Stage(description, max(int(total), 1), now, now)
        self._say(f"{description}: started")

        def advance(n: int) -> None:
            if self.stage is not stage:  # a later stage has begun: this counter is stale
                return
            stage.done += n
            now = time.perf_counter()
            if stage.done >= stage.total:
                self.close()
            elif now - stage.said >= LINE_EVERY_S:
                stage.said = now
                self._say(f"{stage.description}: {100 * stage.done / stage.total:.0f}%")

        return advance

    def close(self, finished: bool = True) -> None:
        if self.stage is not None:
            stage, self.stage = self.stage, None
            took = time.perf_counter() - stage.started
            ending = "done in" if finished else "stopped after"
            self._say(f"{stage.description}: {ending} {took:.1f} s")
