"""The trials file: every answer on disk before it is acknowledged, a crash loses at most
the line being written, and nothing outside the study or the id rules gets in."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reportgen.collect.store import HEADER, TrialStore, observer_problem
from reportgen.errors import ReportgenError

IDS = {"a1", "a2", "b1", "b2"}
CLASSES = {"a", "b"}


def test_answers_are_appended_as_the_responses_reader_expects(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    store = TrialStore(path, IDS, CLASSES)
    store.append("p1", "a1", "a", 512.34, 1)
    store.append("p2", "b2", "b", 401, 1)
    store.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] + "\n" == HEADER == "observer,stimulus_id,response,rt_ms,trial,timestamp\n"
    assert lines[1].startswith("p1,a1,a,512.3,1,")
    stamp = datetime.fromisoformat(lines[1].rsplit(",", 1)[1])
    assert stamp.utcoffset() == timedelta(0)  # UTC, so panels in several places line up
    assert lines[2].startswith("p2,b2,b,401.0,1,")
    assert len(lines) == 3


def test_a_killed_writer_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    # A separate process appends and prints each acknowledgement, then dies by SIGKILL (no
    # Python cleanup, no buffered flush): every acknowledged answer must be in the file.
    path = tmp_path / "panel.csv"
    script = f"""
import os, signal, sys
from reportgen.collect.store import TrialStore
store = TrialStore({str(path)!r}, {sorted(IDS)!r}, {sorted(CLASSES)!r})
for i, ident in enumerate(["a1", "a2", "b1"]):
    store.append("p1", ident, ident[0], 100.0 + i, i + 1)
    print("acked", ident, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    acked = [line.split()[1] for line in done.stdout.splitlines()]
    assert acked == ["a1", "a2", "b1"]
    resumed = TrialStore(path, IDS, CLASSES)
    assert sorted(resumed.answers("p1")) == acked
    assert resumed.answers("p1")["a2"].trial == 2


def test_a_line_cut_short_by_a_crash_is_dropped_and_the_rest_resumes(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    store = TrialStore(path, IDS, CLASSES)
    store.append("p1", "a1", "a", 300.0, 1)
    store.close()
    with open(path, "ab") as f:
        f.write(b"p1,a2,a,31")  # a write the crash interrupted: never acknowledged
    resumed = TrialStore(path, IDS, CLASSES)
    assert list(resumed.answers("p1")) == ["a1"]
    resumed.append("p1", "a2", "b", 250.0, 2)  # the same trial, answered again
    resumed.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [["p1", "a1", "a"], ["p1", "a2", "b"]]


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    store = TrialStore(path, IDS, CLASSES)
    store.append("p1", "a1", "a", 300.0, 1)
    store.close()
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # e.g. saved by an editor that drops the final newline
    resumed = TrialStore(path, IDS, CLASSES)
    assert list(resumed.answers("p1")) == ["a1"]
    resumed.append("p1", "a2", "b", 250.0, 2)
    resumed.close()
    assert path.read_bytes().startswith(whole)
    # A time stamp cut short is an unfinished line: dropped, the trial is shown again.
    path.write_bytes(whole + b"p1,a2,b,250.0,2,2026-12-07T20:45:1")
    assert list(TrialStore(path, IDS, CLASSES).answers("p1")) == ["a1"]
    assert path.read_bytes() == whole


def test_a_file_with_a_bad_line_is_refused_before_anything_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    text = (HEADER + "p1,zz,a,1.0,1,t\n" + "p1,a1,a,31").encode("utf-8")
    path.write_bytes(text)
    with pytest.raises(ReportgenError, match="not in this study's stimuli"):
        TrialStore(path, IDS, CLASSES)
    assert path.read_bytes() == text


def test_a_file_reportgen_did_not_write_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    mine = "observer,stimulus_id,response\np1,a1,a\n"
    path.write_text(mine, encoding="utf-8")
    with pytest.raises(ReportgenError, match="was not written by `reportgen collect`"):
        TrialStore(path, IDS, CLASSES)
    assert path.read_text(encoding="utf-8") == mine


def test_resuming_checks_every_line_against_the_study(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    path.write_text(
        HEADER
        + "p1,a1,a,1.0,1,t\n"
        + "p1,zz,a,1.0,2,t\n"  # not a stimulus of the study
        + "p1,a2,c,1.0,3,t\n"  # not a class
        + "../x,a2,a,1.0,4,t\n"  # not an observer id
        + "p1,a1,b,1.0,5,t\n",  # answered twice
        encoding="utf-8",
    )
    with pytest.raises(ReportgenError) as err:
        TrialStore(path, IDS, CLASSES)
    assert [p.split(": ", 1)[1] for p in err.value.problems] == [
        "line 3: stimulus 'zz' is not in this study's stimuli",
        "line 4: response 'c' is not one of the study's classes",
        "line 5: an observer id is 1 to 64 letters, digits, '-', '_' or '.', starting with a "
        "letter or digit",
        "line 6: observer 'p1' answered 'a1' twice",
    ]


@pytest.mark.parametrize(
    "observer",
    ["../x", "<script>", "a/b", "", ".hidden", "=cmd()", "p 1", "x" * 65, "humans", "ｐ１", 7],
)
def test_observer_ids_that_could_be_paths_markup_or_formulas_are_refused(observer) -> None:
    assert observer_problem(observer) is not None


@pytest.mark.parametrize("observer", ["p1", "P-01", "lab2.anna_k", "9", "x" * 64])
def test_plain_observer_ids_pass(observer: str) -> None:
    assert observer_problem(observer) is None


def test_append_refuses_what_is_not_in_the_study_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    store = TrialStore(path, IDS, CLASSES)
    for args in [
        ("p1", "zz", "a", 1.0, 1),
        ("p1", "a1", "<b>a</b>", 1.0, 1),
        ("../p", "a1", "a", 1.0, 1),
        ("p1", "a1", "a", float("nan"), 1),
        ("p1", "a1", "a", -5.0, 1),
    ]:
        with pytest.raises(ValueError):
            store.append(*args)
    store.append("p1", "a1", "a", 10.0, 1)
    with pytest.raises(ValueError, match="already answered"):
        store.append("p1", "a1", "b", 10.0, 1)
    store.close()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert os.stat(path).st_size > len(HEADER)
