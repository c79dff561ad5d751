"""Findings → `report.html` and `report.pdf` (Jinja2 → HTML → WeasyPrint).

The PDF renderer may only read the run's own output folder: the stylesheet (and the Japanese
font, when the report has Japanese text) is copied into `<out>/assets/` and the figures live
in `<out>/figures/`, so the URL
fetcher refuses everything else (network, `file://` outside the folder, `data:`). Both files
are written to temporary names and renamed only after the PDF is complete, so an interrupted
render leaves no partial report.
"""

from __future__ import annotations

import mimetypes
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2

from reportgen.errors import ReportgenError
from reportgen.files import atomic_file
from reportgen.findings import Findings
from reportgen.findings.evidence import driver_evidence
from reportgen.findings.headline import HistoryRow
from reportgen.findings.queries import drivers_of, group_entries, group_total, share_interval
from reportgen.report.figure_helper import draw_here, figures_elsewhere, may_fork, split_plan
from reportgen.report.figure_plan import figure_path, figure_plan, font_path
from reportgen.report.format import Formatter
from reportgen.report.narrative import build_narrative
from reportgen.report.recommendations import recommend
from reportgen.report.strings import TEMPLATE_DIR, load_strings

ASSET_FILES = ("report.css",)
FONT_NAME = "ipaexg.ttf"


@dataclass(frozen=True, slots=True)
class ReportPaths:
    html: Path
    pdf: Path
    figures: dict[str, Path]


def make_environment(fmt: Formatter) -> jinja2.Environment:
    """The Jinja2 environment: autoescape on, missing values fail, number filters per language."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=fmt.pct,
        num=fmt.num,
        bits=fmt.bits,
        dec=fmt.dec,
        pval=fmt.pval,
        date=fmt.date,
        period=fmt.period,
        group=fmt.group,
        condition=fmt.condition,
        factor=fmt.factor,
        report_title=fmt.title,
        cls=fmt.cls,
        model=fmt.model,
        interval=fmt.interval,
    )
    return env


class OutputFolderFetcher:
    """A WeasyPrint URL fetcher that serves only files inside one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._fail_on_errors = True  # WeasyPrint reads this flag: refusals stop the render

    def resolve(self, url: str) -> Path:
        """The local file `url` names; ReportgenError unless it is a file inside the folder."""
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ReportgenError(f"report renderer: refused to fetch {url!r} (not a local file)")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise ReportgenError(
                f"report renderer: refused to fetch {url!r} (outside the output folder)"
            )
        return path

    def fetch(self, url: str, headers: Any = None) -> Any:
        from weasyprint.urls import URLFetcherResponse

        path = self.resolve(url)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": mime})

    def __call__(self, url: str) -> Any:
        return self.fetch(url)


class FiguresFetcher(OutputFolderFetcher):
    """The output-folder fetcher for a render that starts while figures are still being
    drawn: the first request for a file in `figures_dir` waits until `wait()` returns."""

    def __init__(self, root: Path, figures_dir: Path, wait: Callable[[], object]) -> None:
        super().__init__(root)
        self.figures_dir = Path(figures_dir).resolve()
        self._wait: Callable[[], object] | None = wait
        #: What `wait()` raised: WeasyPrint reports it only as a failed fetch.
        self.error: Exception | None = None

    def fetch(self, url: str, headers: Any = None) -> Any:
        parts = urlsplit(url)
        if (
            self._wait is not None
            and parts.scheme == "file"
            and Path(unquote(parts.path)).resolve().is_relative_to(self.figures_dir)
        ):
            wait, self._wait = self._wait, None
            try:
                wait()
            except Exception as err:
                self.error = err
                raise
        return super().fetch(url, headers)


def _copy_assets(out_dir: Path, *, font: bool) -> Path:
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        shutil.copyfile(TEMPLATE_DIR / name, assets / name)
    if font and not (assets / FONT_NAME).exists():
        shutil.copyfile(font_path(), assets / FONT_NAME)
    return assets


# Scripts DejaVu Sans lacks and IPAexGothic has: kana, CJK ideographs and punctuation,
# full-width forms. An English report with such text (a class named in Japanese) embeds the
# 6 MB font; any other English report does without it.
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def needs_japanese_font(lang: str, html: str) -> bool:
    """True when the report is in Japanese or its text has characters only that font has."""
    return lang == "ja" or _CJK.search(html) is not None


def example_pictures(findings: Findings, out_dir: Path) -> dict[str, int]:
    """The example pictures the montages can show: path (as the Findings name it) → width in
    pixels, for each one that is a readable image file inside `out_dir`.

    A picture that is missing, unreadable or outside the folder is left out here (the report
    says how many), because the renderer's fetcher would refuse it and stop the whole render.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(out_dir).resolve()
    found: dict[str, int] = {}
    for e in findings.examples:
        if not e.image or e.image in found or Path(e.image).is_absolute():
            continue
        path = (root / e.image).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            continue
        try:
            with Image.open(path) as image:  # reads the header only
                found[e.image] = int(image.size[0])
        except (OSError, UnidentifiedImageError):
            continue
    return found


def _table_context(findings: Findings) -> dict[str, Any]:
    """Rows for the body tables; numbers stay numbers, formatted by the template's filters."""
    drivers = []
    for m in findings.study.models:
        ds = drivers_of(findings, m)
        total = group_total(ds)
        for g in group_entries(ds):
            members = [d for d in ds if d.group == g.group and d.name != d.group]
            for d in [g, *sorted(members, key=lambda d: -d.mi_bits)[:3]]:
                low, high = share_interval(d, total)
                drivers.append(
                    {
                        "d": d,
                        "model": m,
                        "is_group": d is g,
                        "low": low,
                        "high": high,
                        "level": driver_evidence(d, findings).level,
                    }
                )
    observers = [e.observer for e in findings.error_consistency]
    observers += [a.observer for a in findings.decision_agreement if a.observer not in observers]
    conditions = list(dict.fromkeys(a.condition for a in findings.accuracy))
    accuracy: dict[str, dict[str, Any]] = {}
    for a in findings.accuracy:
        accuracy.setdefault(a.observer, {})[a.condition] = a
    return {
        "rows": {"drivers": drivers},
        "agreement_observers": observers,
        "kappa_by": {e.observer: e for e in findings.error_consistency},
        "agree_by": {a.observer: a for a in findings.decision_agreement},
        # agreement on standard and on conflicting images beside the pooled rate (the morph
        # conditions would not fit the table's width; their curves have their own figure)
        "agreement_conditions": [
            c
            for c in ("standard", "cue-conflict")
            if any(c in a.by_condition for a in findings.decision_agreement)
        ],
        "accuracy_conditions": conditions,
        "accuracy_rows": list(accuracy.items()),
    }


def render_report(
    findings: Findings,
    out_dir: Path,
    *,
    lang: str,
    history: list[HistoryRow] | None,
    figures_dir: Path | None = None,
) -> ReportPaths:
    """Write `figures/*.jpg`, `report.html` and `report.pdf` for `findings` into `out_dir`.

    Parameters
    ----------
    findings : the run's Findings (the only source of numbers)
    out_dir : the run's output folder; the PDF renderer reads nothing outside it
    lang : "en" or "ja"
    history : earlier runs of any study (the same study's last one fills "Change since the
        last report"); None or [] for a first report
    figures_dir : where the figures go, inside `out_dir` (default `out_dir/figures`)

    The example pictures the Findings name (`Example.image`) must already be in `out_dir`
    (the runner writes them); any that is not is left out of the montages, and the report
    says so.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = (Path(figures_dir) if figures_dir else out_dir / "figures").resolve()
    if not figures_dir.is_relative_to(out_dir):
        raise ReportgenError(f"{figures_dir}: the figures folder must be inside {out_dir}")
    strings = load_strings(lang)
    fmt = Formatter.for_findings(strings, findings)
    history = list(history or [])
    plan = figure_plan(findings, history)
    figures = {name: figure_path(name, figures_dir) for name in plan}
    here, helper = split_plan(plan, helper=may_fork())
    with figures_elsewhere(helper, findings, strings, figures_dir, history) as helper_figures:
        recs = recommend(findings, history)
        pictures = example_pictures(findings, out_dir)
        narrative = build_narrative(findings, strings, recs, history, pictures)
        draw_here(here, findings, strings, figures_dir, history)
        from weasyprint import HTML  # while the helper draws

        env = make_environment(fmt)
        context = dict(
            f=findings,
            n=narrative,
            t=strings,
            fmt=fmt,
            figures={k: p.relative_to(out_dir).as_posix() for k, p in figures.items()},
            interval=fmt.interval,
            **_table_context(findings),
            history=[h for h in history if h.study == findings.study.name],
        )
        template = env.get_template("report.html")
        html = template.render(**context, embed_font=None)
        font = needs_japanese_font(lang, html)
        if font:
            html = template.render(**context, embed_font=FONT_NAME)
        _copy_assets(out_dir, font=font)
        # WeasyPrint reads the stylesheet and styles every element before it asks for a
        # picture: that much goes on while the helper draws, and the first picture waits.
        fetcher = FiguresFetcher(out_dir, figures_dir, helper_figures)
        document = HTML(string=html, base_url=out_dir.as_uri() + "/", url_fetcher=fetcher)
        try:
            laid_out = document.render()
        except BaseException:  # WeasyPrint's fetch errors are BaseExceptions
            if fetcher.error is not None:
                raise fetcher.error from None  # the helper's own error, not a failed fetch
            raise
        helper_figures()  # joined already where a figure was fetched
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    # The PDF goes into place first and the HTML after it, and neither if the PDF fails.
    with atomic_file(html_path) as html_tmp, atomic_file(pdf_path) as pdf_tmp:
        html_tmp.write_text(html, encoding="utf-8")
        laid_out.write_pdf(target=str(pdf_tmp))
    return ReportPaths(html=html_path, pdf=pdf_path, figures=figures)
