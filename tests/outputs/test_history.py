"""The history store: round trip, per-study ordering, transactional writes, and the CLI table."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.findings.headline import row_from_findings
from reportgen.outputs.history import (
    connect,
    insert_row,
    list_runs,
    previous_runs,
    record_run,
    transaction,
)
from tests.report_fixtures import cue_conflict_findings, parts_findings


def test_recorded_run_reads_back_with_its_headline_figures(tmp_path) -> None:
    db = tmp_path / "h.sqlite"
    f = parts_findings()
    stored = record_run(db, f)
    (back,) = previous_runs(db, "parts-demo")
    assert back.id == stored.id
    assert back.period == "2026-Q4" and back.model_fingerprint == f.run.model_fingerprint
    head = back.headline
    texture = next(d for d in f.drivers if d.observer is None and d.name == "texture")
    # JSON keeps float64 exactly (repr round trip), so equality is exact.
    assert head.shares["texture"].value == texture.share
    assert head.top_driver == "texture"
    assert head.shape_bias.value == 0.23 and head.kappa.value == 0.21
    assert head.accuracy == 0.91  # the `standard` condition
    assert back.humans_shape_bias.value == 0.94 and back.human_ceiling.value == 0.55


def test_stored_share_intervals_are_over_the_group_total_like_the_report_tables() -> None:
    # Planted case: a group whose bias-corrected estimate is below 0 has share 0, so its total
    # cannot be recovered as mi_bits / share; the interval must use the summed group bits.
    f = parts_findings()
    drivers = [
        dataclasses.replace(d, mi_bits=-0.001, share=0.0, ci_low=-0.06, ci_high=0.02)
        if d.observer is None and d.name == "nuisance"
        else d
        for d in f.drivers
    ]
    f = dataclasses.replace(f, drivers=drivers)
    groups = [d for d in f.drivers if d.observer is None and d.name == d.group]
    total = sum(max(d.mi_bits, 0.0) for d in groups)  # methods.md 4.5: floored group bits
    shares = row_from_findings(f).headline.shares
    nuisance = shares["nuisance"]
    # Closed form: [max(lo, 0), hi] / total; the low end is clamped at a share of 0.
    assert nuisance.low == 0.0 and nuisance.high == pytest.approx(0.02 / total, rel=1e-12)
    texture = next(d for d in groups if d.name == "texture")
    assert shares["texture"].low == pytest.approx(texture.ci_low / total, rel=1e-12)


def test_undefined_numbers_survive_the_store_as_nan(tmp_path) -> None:
    db = tmp_path / "h.sqlite"
    f = parts_findings()
    f = dataclasses.replace(
        f,
        error_consistency=[
            dataclasses.replace(e, kappa=math.nan, ci_low=math.nan, ci_high=math.nan)
            for e in f.error_consistency
        ],
    )
    record_run(db, f)
    (back,) = previous_runs(db, "parts-demo")
    assert math.isnan(back.headline.kappa.value)


def test_previous_runs_are_per_study_and_oldest_first(tmp_path) -> None:
    db = tmp_path / "h.sqlite"
    record_run(db, parts_findings(period="2026-Q2"))
    record_run(db, cue_conflict_findings())
    record_run(db, parts_findings(period="2026-Q3"))
    assert [r.period for r in previous_runs(db, "parts-demo")] == ["2026-Q2", "2026-Q3"]
    assert [r.study for r in previous_runs(db, "cue-conflict")] == ["cue-conflict"]
    assert len(list_runs(db)) == 3
    assert previous_runs(tmp_path / "absent.sqlite", "parts-demo") == []


def test_a_failed_write_rolls_back_and_leaves_no_row(tmp_path) -> None:
    db = tmp_path / "h.sqlite"
    record_run(db, parts_findings(period="2026-Q2"))
    row = row_from_findings(parts_findings())
    with connect(db) as con, pytest.raises(sqlite3.IntegrityError):
        with transaction(con):
            insert_row(con, row)  # the first statement succeeds ...
            con.execute("INSERT INTO runs (id, study) VALUES (1, 'x')")  # ... the second fails
    assert [r.period for r in previous_runs(db, "parts-demo")] == ["2026-Q2"]


def test_history_command_lists_runs_as_a_table(tmp_path) -> None:
    db = tmp_path / "h.sqlite"
    record_run(db, parts_findings(period="2026-Q3"))
    record_run(db, cue_conflict_findings())
    result = CliRunner().invoke(app, ["history", "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "parts-demo" in result.output and "cue-conflict" in result.output
    assert "2026-Q3" in result.output and "71%" in result.output and "23%" in result.output
    empty = CliRunner().invoke(app, ["history", "--db", str(tmp_path / "none.sqlite")])
    assert empty.exit_code == 0 and "No runs recorded" in empty.output


def test_trend_shows_the_latest_report_of_each_of_the_last_periods() -> None:
    from reportgen.report.figure_plan import TREND_PERIODS, trend_rows

    def run(period: str, share: float):
        return row_from_findings(parts_findings(period=period, texture_share=share))

    # Three reruns in Q3, two in Q4, then this run (Q4): one point per quarter, the latest.
    history = [run("2026-Q3", s) for s in (0.60, 0.61, 0.62)] + [run("2026-Q4", 0.65)] * 2
    rows = trend_rows(parts_findings(period="2026-Q4", texture_share=0.71), history)
    assert [r.period for r in rows] == ["2026-Q3", "2026-Q4"]
    shares = [r.headline.shares["texture"].value for r in rows]
    assert shares == pytest.approx([0.62, 0.71])
    # A report filed late for an earlier period lands in its place on the axis.
    late = trend_rows(parts_findings(period="2026-Q2"), [run("2026-Q3", 0.6), run("2026-Q4", 0.6)])
    assert [r.period for r in late] == ["2026-Q2", "2026-Q3", "2026-Q4"]
    # Another study's runs are not this study's trend; only the last periods are shown.
    other = dataclasses.replace(run("2025-Q1", 0.5), study="another-study")
    quarters = [run(f"{2020 + i // 4}-Q{i % 4 + 1}", 0.6) for i in range(12)]  # 2020-2022
    rows = trend_rows(parts_findings(period="2026-Q4"), [other, *quarters])
    assert len(rows) == TREND_PERIODS == 8
    assert [r.period for r in rows] == [
        "2021-Q2", "2021-Q3", "2021-Q4", "2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4", "2026-Q4"
    ]  # fmt: skip


def test_history_filters_prints_json_fits_80_columns_and_deletes_one_run(tmp_path) -> None:
    import json

    db = tmp_path / "h.sqlite"
    for period in ("2026-Q2", "2026-Q3"):
        record_run(db, parts_findings(period=period))
    record_run(db, cue_conflict_findings())

    def history(*args: str, columns: int = 80):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(
            app, ["history", "--db", str(db), *args], env={"COLUMNS": str(columns)}
        )

    narrow = history()
    assert narrow.exit_code == 0, narrow.output
    assert all(len(line) <= 80 for line in narrow.output.splitlines())
    for header in ("study", "period", "share", "kappa", "acc."):  # no column dropped
        assert header in narrow.output
    listed = json.loads(history("--study", "parts-demo", "--limit", "1", "--json").output)
    assert [r["period"] for r in listed] == ["2026-Q3"]
    assert listed[0]["top_driver"] == "texture" and listed[0]["top_driver_share"] == 0.71
    assert "No runs recorded for study 'nope'" in " ".join(
        history("--study", "nope").output.split()
    )

    first = list_runs(db)[0].id
    gone = CliRunner().invoke(app, ["history", "delete", str(first), "--db", str(db)])
    assert gone.exit_code == 0 and f"Removed run #{first}" in gone.output
    assert [r.period for r in list_runs(db)][:1] == ["2026-Q3"]
    missing = CliRunner().invoke(app, ["history", "delete", "999", "--db", str(db)])
    assert missing.exit_code == 2 and "no run #999" in missing.output
