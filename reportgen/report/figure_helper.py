"""Most of the report's figures drawn in a forked copy of this process while it goes on.

Drawing the charts (matplotlib) and starting the PDF engine are single-threaded Python and
most of what `reportgen render` costs. Where this process may safely fork (a POSIX system,
two or more cores, no other thread running and torch not loaded, as in `reportgen render`),
a copy of it draws part of the figures meanwhile; otherwise every figure is drawn here. The
pictures are the same either way.
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
from reportgen.report.figures import draw_figures

#: Relative drawing time of each figure (the parts demo: one unit is about 0.1 s on 2 cores).
_COST = {
    "drivers": 3.0,
    "morphs": 2.0,
    "people": 2.0,
    "layers": 1.5,
    "drivers_summary": 1.0,
    "trend": 1.0,
}
#: What the caller does meanwhile besides drawing, in the same units: importing WeasyPrint
#: (0.5 s), the text (0.1 s) and WeasyPrint's styling of the page before the first picture
#: (0.15 s). At 8 the caller waited 0 s for the helper on both demos.
_CALLER_WORK = 8.0


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


def split_plan(plan: list[str], helper: bool) -> tuple[list[str], list[str]]:
    """``(here, helper)``: each figure, the costliest first, goes to the side that would
    finish first; everything here when there is no helper or only one figure."""
    if not helper or len(plan) < 2:
        return list(plan), []
    here: list[str] = []
    there: list[str] = []
    load_here, load_there = _CALLER_WORK, 0.0
    for name in sorted(plan, key=lambda n: -_COST.get(n, 1.0)):
        if load_there <= load_here:
            there.append(name)
            load_there += _COST.get(name, 1.0)
        else:
            here.append(name)
            load_here += _COST.get(name, 1.0)
    return [n for n in plan if n in here], [n for n in plan if n in there]


@contextmanager
def figures_elsewhere(
    names: list[str],
    f: Findings,
    strings: Mapping[str, Any],
    figures_dir: Path,
    history: list[HistoryRow] | None,
) -> Iterator[Callable[[], dict[str, Path]]]:
    """Start drawing `names` in a forked helper; yields a function that waits for them and
    returns name → picture path (the same each call: the figures are drawn once). An error
    while drawing is raised from that function; a helper that cannot start or dies leaves its
    figures to be drawn here."""
    drawn: dict[str, Path] = {}

    def here() -> dict[str, Path]:
        if not drawn:
            drawn.update(draw_figures(names, f, strings, figures_dir, history))
        return dict(drawn)

    pool = None
    if names:
        try:
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("fork")
            )
            future = pool.submit(draw_figures, names, f, strings, figures_dir, history)
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
