"""`reportgen run` as a careless or hostile user drives it: nothing of theirs is lost, every
mistake is one line and exit status 2, and nothing is written when the run cannot start."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import reportgen.outputs.history
from reportgen.cli import app
from reportgen.errors import ReportgenError
from reportgen.outputs.history import list_runs

CLASSES = ("a", "b", "c")


def tiny_study(folder: Path, *, n: int = 60, extra: str = "") -> Path:
    """A decision-only study that runs end to end in seconds: one model deciding by `f1`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=n), rng.normal(size=n)
    ids = [f"s{i}" for i in range(n)]
    pd.DataFrame(
        {
            "id": ids,
            "label": [CLASSES[i % 3] for i in range(n)],
            "condition": "standard",
            "f1": f1,
            "f2": f2,
        }
    ).to_csv(folder / "stimuli.csv", index=False)
    decided = np.digitize(f1, np.quantile(f1, [1 / 3, 2 / 3]))
    pd.DataFrame(
        {"observer": "net", "stimulus_id": ids, "response": [CLASSES[k] for k in decided]}
    ).to_csv(folder / "decisions.csv", index=False)
    (folder / "study.toml").write_text(
        f"""
[report]
title = "tiny"
[decisions]
models = ["decisions.csv"]
[stimuli]
table = "stimuli.csv"
classes = ["a", "b", "c"]
[factors]
first = ["f1"]
second = ["f2"]
[analysis]
permutations = 100
bootstrap = 0
device = "cpu"
{extra}
""",
        encoding="utf-8",
    )
    return folder / "study.toml"


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", *map(str, args)])
    return result.exit_code, result.output


@pytest.mark.parametrize("case", ["folder with a file", "file", "current folder", "study folder"])
def test_out_never_replaces_what_reportgen_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    config = tiny_study(tmp_path / "study")
    db = tmp_path / "h.sqlite"
    keep = {
        "folder with a file": tmp_path / "d" / "keepme.txt",
        "file": tmp_path / "notes.txt",
        "current folder": tmp_path / "study" / "study.toml",
        "study folder": tmp_path / "study" / "decisions.csv",
    }[case]
    keep.parent.mkdir(parents=True, exist_ok=True)
    if not keep.exists():
        keep.write_text("mine", encoding="utf-8")
    before = keep.read_bytes()
    out = {
        "folder with a file": keep.parent,
        "file": keep,
        "current folder": Path("."),
        "study folder": tmp_path / "study",
    }[case]
    monkeypatch.chdir(tmp_path / "study" if case == "current folder" else tmp_path)
    code, output = run(config, "--out", out, "--db", db)
    assert code == 2, output
    assert output.count("error:") == 1 and "--out" in output
    assert "Traceback" not in output
    assert keep.read_bytes() == before
    assert not db.exists()  # refused before anything ran: no history row either
    assert not list(tmp_path.rglob(".*partial-*"))


@pytest.mark.slow
def test_a_rerun_replaces_its_own_folder_and_a_failed_history_row_restores_the_old_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_study(tmp_path / "study")
    out, db = tmp_path / "report", tmp_path / "h.sqlite"
    code, output = run(config, "--out", out, "--db", db)
    assert code == 0, output
    first = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (out / "report.pdf").is_file() and len(list_runs(db)) == 1

    def full_disk(*args: object, **kwargs: object) -> None:
        raise ReportgenError(f"{db}: history store error: database or disk is full")

    monkeypatch.setattr(reportgen.outputs.history, "record_run", full_disk)
    code, output = run(config, "--out", out, "--db", db, "--seed", "5")
    assert code == 2 and "disk is full" in output, output
    again = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert again == first  # the previous report is back in place, whole
    assert len(list_runs(db)) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    monkeypatch.undo()
    code, output = run(config, "--out", out, "--db", db, "--seed", "5")
    assert code == 0, output
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["run"]["seed"] == 5
    assert len(list_runs(db)) == 2
    assert not (out / "assets" / "ipaexg.ttf").exists()  # an English report needs no CJK font
