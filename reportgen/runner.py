"""One run end to end: config -> StudyData -> Findings -> outputs, report and history row.

Everything is written into a staging folder that replaces `--out` only when complete; the
history row is recorded after the new report is in place, and if that fails the previous
report is put back, so a failed run leaves no half-written report and no history row.
`--out` must be new, empty or an earlier run's folder (`outputs.staging.check_out_dir`).
"""

from __future__ import annotations

import dataclasses
import errno
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.findings import Findings
from reportgen.findings.headline import HistoryRow
from reportgen.outputs.staging import check_out_dir, staged_output
from reportgen.report.render import ReportPaths
from reportgen.resources import resource_dir

if TYPE_CHECKING:
    from reportgen.inputs.study_data import ProgressFn

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
    record: bool = True,
) -> RunResult:
    """Run the study `config` describes and write its outputs into `out_dir`.

    `config` is the run's one source of settings: the CLI applies its overrides with
    `Config.with_overrides`; an unresolved config is resolved here (device ``auto``).
    The run is recorded in the history store unless `record` is false or the config says
    ``[report] history = false``; either way earlier runs there are read, never created.
    """
    # Imported here: `render` needs none of the analysis stack (torch), only the report's.
    from reportgen.findings.build import analyse
    from reportgen.inputs.study_data import load_study_data
    from reportgen.outputs.history import default_db_path, previous_runs, record_run
    from reportgen.outputs.results import write_example_images, write_results
    from reportgen.report.render import render_report

    if not config.resolved:
        config = config.with_overrides()
    lang = config.report.language
    db = Path(history_db or config.report.history_db or default_db_path()).resolve()
    out_dir = check_out_dir(out_dir, inputs=[*config_inputs(config), db])
    log = [f"config: {config.path}", f"output: {out_dir}"]
    t0 = time.perf_counter()
    with writing_to(out_dir):
        # Inputs and analysis first, the stage second: the model code a config names runs
        # before anything is written, so one that kills the process (os.abort) leaves nothing.
        data = load_study_data(config, progress=progress)
        findings = analyse(data, config, progress=progress)
        with staged_output(out_dir) as staged:
            stage = staged.stage
            write_example_images(data, findings, stage)
            pdf = html = None
            if render:
                t = time.perf_counter()
                earlier = earlier_runs(previous_runs(db, findings.study.name), findings)
                paths = render_report(findings, stage, lang=lang, history=earlier)
                timings = dict(findings.run.timings_s, report=round(time.perf_counter() - t, 3))
                findings = dataclasses.replace(
                    findings, run=dataclasses.replace(findings.run, timings_s=timings)
                )
                pdf, html = out_dir / paths.pdf.name, out_dir / paths.html.name
            log.append(f"total: {time.perf_counter() - t0:.1f} s")
            write_results(findings, stage, log)
            staged.publish()
            recorded = render and record and config.report.history
            if recorded:  # after the swap: a row never points at a report that is not in place
                record_run(db, findings)
    return RunResult(out_dir, findings, pdf, html, db if recorded else None)


def earlier_runs(rows: list[HistoryRow], findings: Findings) -> list[HistoryRow]:
    """The stored runs a report may compare with: not this analysis itself (same study,
    period and config hash, e.g. recorded by the run a second language is rendered from)."""
    same = (findings.study.name, findings.study.period, findings.run.config_hash)
    return [r for r in rows if (r.study, r.period, r.config_hash) != same]


def render_run(
    run_dir: Path, out_dir: Path | None, lang: str, history_db: Path | None = None
) -> ReportPaths:
    """Render the report of an earlier run in `lang` from its `results.json`, example
    pictures and the history store, without recomputing anything; nothing is recorded.

    The report goes to `out_dir` (default `run_dir/<lang>`), a folder of its own: the
    English report next to it stays as it is.
    """
    import json
    import shutil

    from reportgen.outputs.history import default_db_path, previous_runs
    from reportgen.report.render import render_report

    run_dir = Path(run_dir).expanduser().resolve()
    results = run_dir / "results.json"
    if not results.is_file():
        raise ReportgenError(
            f"{run_dir}: no results.json here; render takes the --out folder of `reportgen run`"
        )
    try:
        findings = Findings.from_json_dict(json.loads(results.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as err:
        raise ReportgenError(
            f"{results}: cannot read it ({type(err).__name__}: {err}); it is damaged or was "
            f"written by another version of reportgen (run the study again)"
        ) from None
    db = Path(history_db or default_db_path()).resolve()
    out = check_out_dir(out_dir or run_dir / lang, inputs=[results, db])
    with writing_to(out), staged_output(out) as staged:
        # The PDF renderer reads nothing outside its folder: the pictures come along.
        for example in findings.examples:
            source = (run_dir / example.image).resolve()
            if source.is_relative_to(run_dir) and source.is_file():
                target = staged.stage / example.image
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
        earlier = earlier_runs(previous_runs(db, findings.study.name), findings)
        paths = render_report(findings, staged.stage, lang=lang, history=earlier)
        staged.publish()
    return ReportPaths(
        html=out / paths.html.name,
        pdf=out / paths.pdf.name,
        figures={k: out / v.relative_to(staged.stage) for k, v in paths.figures.items()},
    )


def config_inputs(config: Config) -> list[Path]:
    """Every file and folder the run reads: `--out` may hold none of them."""
    paths = [config.path, config.stimuli.table, config.stimuli.images]
    if config.humans is not None:
        paths.append(config.humans.responses)
    if config.decisions is not None:
        paths.extend(config.decisions.models)
    if config.model is not None:
        paths.append(config.model.weights)
        if ".py:" in config.model.arch:
            paths.append(Path(config.model.arch.rpartition(":")[0]))
    return [Path(p) for p in paths if p is not None]


@contextmanager
def writing_to(out_dir: Path) -> Iterator[None]:
    """Turn a failure to write the output (disk full, no permission, read-only file system)
    into one line naming the folder and what to do."""
    try:
        yield
    except OSError as err:
        why = _WRITE_ERRORS.get(err.errno or 0)
        if why is None:
            raise
        where = Path(err.filename) if err.filename else out_dir
        if err.errno in (errno.EACCES, errno.EPERM) and not where.is_relative_to(out_dir.parent):
            raise ReportgenError(f"cannot open {where}: {why.split(' (')[0]}") from None
        raise ReportgenError(
            f"cannot write the report to {out_dir}: {where}: {why}; nothing was changed there"
        ) from None


_WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full (free some space or choose another --out)",
    errno.EDQUOT: "the disk quota is used up (free some space or choose another --out)",
    errno.EACCES: "permission denied (choose a folder you can write to)",
    errno.EPERM: "operation not permitted (choose a folder you can write to)",
    errno.EROFS: "the file system is read-only (choose another --out)",
}


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

    history = earlier_runs(previous_runs(db, findings.study.name), findings)
    paths = render_report(findings, out_dir, lang=lang, history=history)
    try:
        record_run(db, findings)
    except BaseException:
        paths.pdf.unlink(missing_ok=True)
        paths.html.unlink(missing_ok=True)
        raise
    return paths
