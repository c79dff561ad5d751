"""The history store: one SQLite row per published report, for "Change since the last report".

Each row keeps a run's headline figures (driver shares, shape bias, agreement, accuracy) with
their intervals, so the next report of the same study can say what moved beyond its CI. Writes
happen in one transaction; a row is only added after the report itself was written.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.findings import Findings
from reportgen.findings.headline import HistoryRow, Interval, ModelHeadline, row_from_findings

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    study             TEXT NOT NULL,
    period            TEXT NOT NULL,
    title             TEXT NOT NULL,
    model_fingerprint TEXT,
    config_hash       TEXT NOT NULL,
    headline_model    TEXT NOT NULL,
    top_driver        TEXT,
    driver_shares     TEXT NOT NULL,   -- JSON: group -> share of the headline model's information
    shape_bias        REAL,            -- headline model, cue-conflict trials
    agreement         REAL,            -- headline model's error consistency (kappa) with people
    accuracy          REAL,            -- headline model, standard stimuli
    detail            TEXT NOT NULL,   -- JSON: every model's figures with intervals, people
    created_at        TEXT NOT NULL    -- ISO 8601, UTC
);
CREATE INDEX IF NOT EXISTS runs_by_study ON runs (study, id);
"""


SCHEMA_VERSION = 1


def default_db_path() -> Path:
    """`$REPORTGEN_HISTORY`, else `$XDG_DATA_HOME/reportgen/history.sqlite` (~/.local/share)."""
    if env := os.environ.get("REPORTGEN_HISTORY"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reportgen" / "history.sqlite"


# ---- JSON round trip (NaN becomes null: JSON has no NaN) ------------------------------------
def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _unnum(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _iv_doc(iv: Interval | None) -> dict[str, float | None] | None:
    return (
        None
        if iv is None
        else {"value": _num(iv.value), "low": _num(iv.low), "high": _num(iv.high)}
    )


def _iv_load(doc: dict[str, Any] | None) -> Interval | None:
    if doc is None:
        return None
    return Interval(_unnum(doc["value"]), _unnum(doc["low"]), _unnum(doc["high"]))


def _detail_doc(row: HistoryRow) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "n_stimuli": row.n_stimuli,
        "humans_shape_bias": _iv_doc(row.humans_shape_bias),
        "human_ceiling": _iv_doc(row.human_ceiling),
        "models": {
            m: {
                "top_driver": h.top_driver,
                "shares": {g: _iv_doc(iv) for g, iv in h.shares.items()},
                "shape_bias": _iv_doc(h.shape_bias),
                "kappa": _iv_doc(h.kappa),
                "agreement": _num(h.agreement),
                "accuracy": _num(h.accuracy),
            }
            for m, h in row.models.items()
        },
    }


def _row_load(rec: sqlite3.Row, db_path: Path) -> HistoryRow:
    try:
        return _row_from_record(rec)
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError included
        raise ReportgenError(
            f"{db_path}: history row {rec['id']} is damaged ({type(err).__name__}: {err}); "
            f"remove it (sqlite3 {db_path} 'DELETE FROM runs WHERE id = {rec['id']}') "
            "or give another store with --db"
        ) from None


def _row_from_record(rec: sqlite3.Row) -> HistoryRow:
    doc = json.loads(rec["detail"])
    models = {
        m: ModelHeadline(
            top_driver=h["top_driver"],
            shares={g: _iv_load(iv) for g, iv in h["shares"].items()},
            shape_bias=_iv_load(h["shape_bias"]),
            kappa=_iv_load(h["kappa"]),
            agreement=h["agreement"],
            accuracy=h["accuracy"],
        )
        for m, h in doc["models"].items()
    }
    return HistoryRow(
        id=rec["id"],
        study=rec["study"],
        period=rec["period"],
        title=rec["title"],
        model_fingerprint=rec["model_fingerprint"],
        config_hash=rec["config_hash"],
        headline_model=rec["headline_model"],
        created_at=rec["created_at"],
        models=models,
        humans_shape_bias=_iv_load(doc["humans_shape_bias"]),
        human_ceiling=_iv_load(doc["human_ceiling"]),
        n_stimuli=doc["n_stimuli"],
    )


# ---- the store -------------------------------------------------------------------------------
@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """An open store with the schema in place; closed on exit (commit is the caller's `with`)."""
    db_path = Path(db_path)
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    except (OSError, sqlite3.Error) as err:
        raise ReportgenError(f"{db_path}: cannot open the history store: {err}") from None
    con.row_factory = sqlite3.Row
    try:
        con.executescript(SCHEMA)
        yield con
    except sqlite3.DatabaseError as err:
        raise ReportgenError(f"{db_path}: history store error: {err}") from None
    finally:
        con.close()


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error: a run is stored whole or not at all."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_row(con: sqlite3.Connection, row: HistoryRow) -> int:
    """Insert one row inside the caller's transaction; returns its id."""
    head = row.headline
    cur = con.execute(
        "INSERT INTO runs (study, period, title, model_fingerprint, config_hash, headline_model,"
        " top_driver, driver_shares, shape_bias, agreement, accuracy, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.study,
            row.period,
            row.title,
            row.model_fingerprint,
            row.config_hash,
            row.headline_model,
            head.top_driver,
            json.dumps({g: _num(iv.value) for g, iv in head.shares.items()}),
            _num(head.shape_bias.value) if head.shape_bias else None,
            _num(head.kappa.value) if head.kappa else None,
            _num(head.accuracy),
            json.dumps(_detail_doc(row), ensure_ascii=False),
            row.created_at,
        ),
    )
    return int(cur.lastrowid)


def record_run(db_path: Path, findings: Findings, created_at: str | None = None) -> HistoryRow:
    """Store the run's headline figures in one transaction; returns the stored row."""
    row = row_from_findings(findings, created_at or datetime.now(UTC).isoformat(timespec="seconds"))
    with connect(db_path) as con, transaction(con):
        new_id = insert_row(con, row)
    return HistoryRow(**{**_fields(row), "id": new_id})


def _fields(row: HistoryRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in HistoryRow.__slots__}


def previous_runs(db_path: Path, study_name: str) -> list[HistoryRow]:
    """Every stored run of `study_name`, oldest first (an absent store has none)."""
    if not Path(db_path).exists():
        return []
    with connect(db_path) as con:
        recs = con.execute("SELECT * FROM runs WHERE study = ? ORDER BY id", (study_name,))
        return [_row_load(r, db_path) for r in recs.fetchall()]


def list_runs(db_path: Path) -> list[HistoryRow]:
    """Every stored run of every study, oldest first."""
    if not Path(db_path).exists():
        return []
    with connect(db_path) as con:
        recs = con.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [_row_load(r, db_path) for r in recs]


def delete_run(db_path: Path, run_id: int) -> bool:
    """Remove run `run_id` from the store; False when there is no such run (or no store)."""
    if not Path(db_path).exists():
        return False
    with connect(db_path) as con, transaction(con):
        return con.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0
