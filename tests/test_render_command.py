"""`reportgen render`: an earlier run's report in another language, from its results.json,
without recomputing and without a second history row (issue 14, item 4)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from tests.test_shared_information_run import _study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("render")
    config = _study(work / "study", "f2")
    db = work / "history.sqlite"
    result = CliRunner().invoke(
        app, ["run", str(config), "--out", str(work / "out"), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    return work / "out", db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_writes_the_other_language_beside_the_run_and_changes_nothing_else(run_dir):
    out, db = run_dir
    before = {p: _digest(p) for p in (out / "results.json", out / "report.pdf")}
    result = CliRunner().invoke(app, ["render", str(out), "--lang", "ja", "--db", str(db)])
    assert result.exit_code == 0, result.output
    html = (out / "ja" / "report.html").read_text(encoding="utf-8")
    assert (out / "ja" / "report.pdf").stat().st_size > 10_000
    assert "モデルと人は" in html  # the Japanese people section
    assert {p: _digest(p) for p in before} == before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    # The run itself is in the history, but it is not "the previous report" of its own
    # second language: the change section says this is the first report.
    assert "前回のレポート（" not in html


def test_render_refuses_what_is_not_a_run_folder_and_damaged_results(tmp_path: Path, run_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["render", str(empty), "--lang", "ja"])
    assert result.exit_code == 2 and "no results.json here" in result.output
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "results.json").write_text('{"study": {}}', encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(damaged), "--lang", "en"])
    assert result.exit_code == 2 and "cannot read it" in result.output
    assert "Traceback" not in result.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    out, _ = run_dir
    result = CliRunner().invoke(app, ["render", str(out), "--lang", "en", "--out", str(mine)])
    assert result.exit_code == 2 and "did not write" in result.output
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_run_with_two_languages_analyses_once_and_writes_both(tmp_path: Path):
    config = _study(tmp_path / "study", "f1")
    db, out = tmp_path / "h.sqlite", tmp_path / "out"
    args = ["run", str(config), "--out", str(out), "--db", str(db), "--lang", "en,ja"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert 'lang="en"' in (out / "report.html").read_text(encoding="utf-8")
    assert 'lang="ja"' in (out / "ja" / "report.html").read_text(encoding="utf-8")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    bad = CliRunner().invoke(app, ["run", str(config), "--lang", "en,fr"])
    assert bad.exit_code == 2 and "give en, ja or both" in bad.output
