"""Which figures a report has, and where each one goes, decided without drawing.

Kept apart from `figures` (which imports matplotlib, 0.45 s) so that a render can plan its
pages and start WeasyPrint while another process draws the pictures.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reportgen.errors import ReportgenError
from reportgen.findings import Findings
from reportgen.findings.headline import HistoryRow, row_from_findings
from reportgen.findings.queries import drivers_of, group_entries, models_of

#: The charts are stored as JPEG at quality 95 without chroma subsampling: at 300 dpi that is
#: 48-54 dB PSNR against the lossless picture (no pixel off by more than 10/255 in 999 of
#: 1000), and WeasyPrint embeds a JPEG as it is, where it decodes and recompresses every
#: PNG (0.25 s of a 10-page report's 0.4 s of PDF writing).
FIGURE_SUFFIX = ".jpg"
TREND_PERIODS = 8  # periods in the trend chart (its caption in the locale files says 8)


def font_path() -> Path:
    """IPAexGothic from the `matplotlib-fontja` package (found without importing it, because
    importing it changes matplotlib's global font settings)."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        raise ReportgenError(
            "the Japanese font package is missing: install it with "
            "`.venv/bin/pip install matplotlib-fontja`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        raise ReportgenError(f"{path}: font file not found in matplotlib-fontja")
    return path


def trend_rows(f: Findings, history: list[HistoryRow]) -> list[HistoryRow]:
    """The runs the trend chart shows, earliest period first: the latest report of each period
    of this study (reruns within a quarter would repeat its label), this run included, and
    only the last `TREND_PERIODS` periods, so that the axis stays legible. Periods sort as
    text ("2026-Q3" < "2026-Q4" < "2027-Q1"), so a report filed late still lands in place."""
    latest: dict[str, HistoryRow] = {}
    for r in [*(h for h in history if h.study == f.study.name), row_from_findings(f)]:
        latest[r.period] = r  # runs come oldest first: the last one of a period wins
    return [latest[p] for p in sorted(latest)][-TREND_PERIODS:]


def figure_plan(f: Findings, history: list[HistoryRow] | None = None) -> list[str]:
    """The names of the figures the Findings support, in the report's order."""
    plan = []
    if any(group_entries(drivers_of(f, m)) for m in models_of(f)):
        if len(models_of(f)) == 1:  # several models' symbols are unreadable that small
            plan.append("drivers_summary")
        plan.append("drivers")
    if f.layers and not f.study.decision_only:
        plan.append("layers")
    if f.shape_bias or f.error_consistency:
        plan.append("people")
    if f.morph_curves:
        plan.append("morphs")
    if history and len(trend_rows(f, history)) > 1:  # a trend needs two periods
        plan.append("trend")
    return plan


def figure_path(name: str, figures_dir: Path) -> Path:
    """Where `figures.draw_figures` puts figure `name`: known before it is drawn."""
    return figures_dir / f"{name}{FIGURE_SUFFIX}"
