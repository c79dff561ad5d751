"""One run end to end: config -> StudyData -> Findings -> outputs, report and history row.

Everything is written into a staging folder that replaces `--out` only when complete, and
the history row is recorded last inside it, so a failed run leaves no half-written report
and no history row.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.findings import Findings
from reportgen.findings.build import analyse
from reportgen.inputs.study_data import ProgressFn, load_study_data
from reportgen.outputs.results import write_example_images, write_results
from reportgen.outputs.staging import staged_folder
from reportgen.report.render import ReportPaths
from reportgen.resources import resource_dir

SAMPLE_DATA = resource_dir("sample_data")
DEMOS = {"parts": "parts/study.toml", "cue-conflict": "cue_conflict/study.toml"}


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    findings: Findings
    report_pdf: Path | None
    report_html: Path | None
    history_db: Path | None


def run_study(
    config: Config,
    out_dir: Path,
    *,
    history_db: Path | None = None,
    render: bool = True,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run the study `config` describes and write its outputs into `out_dir`.

    `config` is the run's one source of settings: the CLI applies its overrides with
    `Config.with_overrides`; an unresolved config is resolved here (device ``auto``).
    """
    from reportgen.outputs.history import default_db_path, previous_runs, record_run
    from reportgen.report.render import render_report

    if not config.resolved:
        config = config.with_overrides()
    out_dir = Path(out_dir).resolve()
    lang = config.report.language
    db = history_db or config.report.history_db or default_db_path()
    log = [f"config: {config.path}", f"output: {out_dir}"]
    t0 = time.perf_counter()
    with staged_folder(out_dir) as stage:
        data = load_study_data(config, progress=progress)
        findings = analyse(data, config, progress=progress)
        write_example_images(data, findings, stage)
        pdf = html = None
        if render:
            t = time.perf_counter()
            paths = render_report(
                findings, stage, lang=lang, history=previous_runs(db, findings.study.name)
            )
            timings = dict(findings.run.timings_s, report=round(time.perf_counter() - t, 3))
            findings = dataclasses.replace(
                findings, run=dataclasses.replace(findings.run, timings_s=timings)
            )
            pdf, html = out_dir / paths.pdf.name, out_dir / paths.html.name
        log.append(f"total: {time.perf_counter() - t0:.1f} s")
        write_results(findings, stage, log)
        if render:
            record_run(db, findings)
    return RunResult(out_dir, findings, pdf, html, db if render else None)


def demo_config_path(name: str) -> Path:
    """The study config of an embedded demo."""
    if name not in DEMOS:
        raise ReportgenError(f"unknown demo {name!r}; choose one of: {', '.join(DEMOS)}")
    return SAMPLE_DATA / DEMOS[name]


def publish(findings: Findings, out_dir: Path, lang: str, db: Path) -> ReportPaths:
    """Render the report with the study's history, then record the run in the history store.

    The row is written only after both files exist; if recording fails, the just-written report
    is removed again, so a failed publish leaves neither a report nor a history row.
    """
    from reportgen.outputs.history import previous_runs, record_run
    from reportgen.report.render import render_report

    history = previous_runs(db, findings.study.name)
    paths = render_report(findings, out_dir, lang=lang, history=history)
    try:
        record_run(db, findings)
    except BaseException:
        paths.pdf.unlink(missing_ok=True)
        paths.html.unlink(missing_ok=True)
        raise
    return paths
