"""The report's figures drawn in a forked copy of this process while it goes on.

Drawing the charts (matplotlib, 0.45 s to import) and starting the PDF engine (WeasyPrint,
0.5 s to import, then styling the page) are single-threaded Python and most of what
`reportgen render` costs. Where this process may safely fork (a POSIX system, two or more
cores, no other thread running and torch not loaded, as in `reportgen render`), a copy of it
draws the figures meanwhile, all of them when they are few (this process then never imports
matplotlib), else the costliest, while this process draws the rest; otherwise every figure
is drawn here. The pictures are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reportgen.findings import Findings
from reportgen.findings.headline import HistoryRow


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def may_fork() -> bool:
    """Whether a forked helper is safe and useful here: POSIX fork, two or more cores, this
    the only thread, and no torch (whose thread pools do not survive a fork)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and _cores() >= 2
        and threading.active_count() == 1
        and "torch" not in sys.modules
    )


#: Relative drawing time of each figure in one unit of about 0.1 s (the parts demo, 2 cores).
_COST = {
    "drivers": 3.0,
    "morphs": 2.5,
    "people": 2.0,
    "layers": 1.7,
    "drivers_summary": 0.7,
    "trend": 1.0,
}
#: Importing matplotlib and loading the fonts, paid once by each process that draws.
_MATPLOTLIB = 6.5
#: What the caller does meanwhile besides drawing: importing WeasyPrint, the text, and
#: WeasyPrint's styling of the page before it asks for the first picture.
_CALLER_WORK = 9.5


def split_plan(plan: list[str], helper: bool) -> tuple[list[str], list[str]]:
    """``(here, helper)``: each figure, the costliest first, goes to the side that would
    finish it first, counting matplotlib's import for a side that draws anything; all here
    without a helper. Both lists keep the report's order."""
    if not helper:
        return list(plan), []
    here: list[str] = []
    there: list[str] = []
    done_here, done_there = _CALLER_WORK, _MATPLOTLIB
    for name in sorted(plan, key=lambda n: -_COST.get(n, 1.0)):
        cost = _COST.get(name, 1.0)
        if done_there + cost <= done_here + cost + (0.0 if here else _MATPLOTLIB):
            there.append(name)
            done_there += cost
        else:
            done_here += cost + (0.0 if here else _MATPLOTLIB)
            here.append(name)
    return [n for n in plan if n in here], [n for n in plan if n in there]


def draw_here(
    names: list[str],
    f: Findings,
    strings: Mapping[str, Any],
    figures_dir: Path,
    history: list[HistoryRow] | None,
) -> dict[str, Path]:
    """`figures.draw_figures` in this process (the helper runs it too), importing matplotlib
    only when there is something to draw: a caller that draws nothing never loads it."""
    if not names:
        return {}
    from reportgen.report.figures import draw_figures

    return draw_figures(names, f, strings, figures_dir, history)


@contextmanager
def figures_elsewhere(
    names: list[str],
    f: Findings,
    strings: Mapping[str, Any],
    figures_dir: Path,
    history: list[HistoryRow] | None,
) -> Iterator[Callable[[], dict[str, Path]]]:
    """Start drawing `names` in a forked helper; yields a function that waits for them and
    returns name → picture path (the same on every call). An error while drawing is raised
    from that function; a helper that cannot start or dies leaves its figures to be drawn
    here, when the function is called."""
    drawn: dict[str, Path] = {}

    def here() -> dict[str, Path]:
        if not drawn:
            drawn.update(draw_here(names, f, strings, figures_dir, history))
        return dict(drawn)

    pool = None
    if names:
        try:
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("fork")
            )
            future = pool.submit(draw_here, names, f, strings, figures_dir, history)
        except (OSError, BrokenProcessPool):
            pool = None
    if pool is None:
        yield here
        return

    def wait() -> dict[str, Path]:
        try:
            return future.result()
        except BrokenProcessPool:
            return here()

    try:
        yield wait
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
