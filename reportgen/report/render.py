"""Findings → `report.html` and `report.pdf` (Jinja2 → HTML → WeasyPrint).

The PDF renderer may only read the run's own output folder: the stylesheet and the Japanese
font are copied into `<out>/assets/` and the figures live in `<out>/figures/`, so the URL
fetcher refuses everything else (network, `file://` outside the folder, `data:`). Both files
are written to temporary names and renamed only after the PDF is complete, so an interrupted
render leaves no partial report.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2

from reportgen.errors import ReportgenError
from reportgen.findings import Findings
from reportgen.findings.evidence import driver_evidence
from reportgen.findings.headline import HistoryRow
from reportgen.findings.queries import drivers_of, group_entries, group_total, share_interval
from reportgen.report.figures import font_path, make_figures
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


def _copy_assets(out_dir: Path) -> Path:
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        shutil.copyfile(TEMPLATE_DIR / name, assets / name)
    font = assets / FONT_NAME
    if not font.exists():
        shutil.copyfile(font_path(), font)
    return assets


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
        "accuracy_conditions": conditions,
        "accuracy_rows": list(accuracy.items()),
    }


def _write_atomic(path: Path, write: Any) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`; the caller renames it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def render_report(
    findings: Findings,
    out_dir: Path,
    *,
    lang: str,
    history: list[HistoryRow] | None,
    figures_dir: Path | None = None,
) -> ReportPaths:
    """Write `figures/*.png`, `report.html` and `report.pdf` for `findings` into `out_dir`.

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
    from weasyprint import HTML

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = (Path(figures_dir) if figures_dir else out_dir / "figures").resolve()
    if not figures_dir.is_relative_to(out_dir):
        raise ReportgenError(f"{figures_dir}: the figures folder must be inside {out_dir}")
    strings = load_strings(lang)
    fmt = Formatter(strings)
    history = list(history or [])
    recs = recommend(findings, history)
    pictures = example_pictures(findings, out_dir)
    narrative = build_narrative(findings, strings, recs, history, pictures)
    figures = make_figures(findings, strings, figures_dir, history)
    _copy_assets(out_dir)
    env = make_environment(fmt)
    html = env.get_template("report.html").render(
        f=findings,
        n=narrative,
        t=strings,
        fmt=fmt,
        figures={k: p.relative_to(out_dir).as_posix() for k, p in figures.items()},
        interval=fmt.interval,
        **_table_context(findings),
        history=[h for h in history if h.study == findings.study.name],
    )
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    html_tmp = _write_atomic(html_path, lambda p: p.write_text(html, encoding="utf-8"))
    try:
        fetcher = OutputFolderFetcher(out_dir)
        document = HTML(string=html, base_url=out_dir.as_uri() + "/", url_fetcher=fetcher)
        pdf_tmp = _write_atomic(pdf_path, lambda p: document.write_pdf(target=str(p)))
    except BaseException:
        html_tmp.unlink(missing_ok=True)
        raise
    os.replace(pdf_tmp, pdf_path)
    os.replace(html_tmp, html_path)
    return ReportPaths(html=html_path, pdf=pdf_path, figures=figures)
