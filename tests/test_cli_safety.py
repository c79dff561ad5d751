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
from tests.bad_files import png_header

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


MATH_NAME = r"$\frac{1}{$"


def people_and_pictures(folder: Path) -> Path:
    """`tiny_study` with a picture per stimulus and a panel of four: two who answered well
    (one named like broken mathtext), one who answered a single trial and one whose answers
    are all empty. The first standard picture is zero bytes, the second a decompression bomb."""
    from PIL import Image

    n = 60
    config = tiny_study(
        folder,
        n=n,
        extra='[humans]\nresponses = "people.csv"\n',
    )
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('table = "stimuli.csv"', 'table = "stimuli.csv"\nimages = "img"')
    )
    table = pd.read_csv(folder / "stimuli.csv")
    table["image"] = [f"{i}.png" for i in table["id"]]
    table.to_csv(folder / "stimuli.csv", index=False)
    (folder / "img").mkdir()
    rng = np.random.default_rng(1)
    for i in table["id"]:
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
            folder / "img" / f"{i}.png"
        )
    (folder / "img" / "s0.png").write_bytes(b"")
    png_header(folder / "img" / "s1.png", 20_000, 20_000)
    truth = list(table["label"])
    rows = []
    for who in ("good", MATH_NAME):
        for i, label in zip(table["id"], truth, strict=True):
            answer = label if rng.random() < 0.8 else CLASSES[int(rng.integers(3))]
            rows.append((who, i, answer))
    rows.append(("once", "s0", truth[0]))
    rows += [("silent", i, "") for i in table["id"]]
    pd.DataFrame(rows, columns=["observer", "stimulus_id", "response"]).to_csv(
        folder / "people.csv", index=False
    )
    return config


@pytest.mark.slow
def test_people_with_too_few_answers_and_unreadable_pictures_become_caveats(
    tmp_path: Path,
) -> None:
    config = people_and_pictures(tmp_path / "study")
    checked = CliRunner().invoke(app, ["validate", str(config)])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "same class): once, silent" in said
    assert "s0.png" in said and "s1.png" in said and "left out of the montages" in said
    assert "more than 67,108,864 pixels" in said

    out = tmp_path / "report"
    code, output = run(config, "--out", out, "--db", tmp_path / "h.sqlite")
    assert code == 0, output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["study"]["humans"] == ["good", MATH_NAME]
    caveats = {w["code"]: w["detail"] for w in results["warnings"]}
    assert caveats["observers_left_out"]["observers"] == "once, silent"
    assert caveats["pictures_unreadable"] == {"n": 2, "stimuli": ["s0", "s1"]}
    shown = {e["stimulus_id"] for e in results["examples"]}
    assert shown and not shown & {"s0", "s1"}  # the montage took the next pictures
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "same class): once, silent" in html and "Among them: s0, s1." in html
    assert "about 0 more" not in html  # bootstrap = 0: no interval, said as such
    assert MATH_NAME in html  # shown as typed, and the figures naming it were drawn


@pytest.mark.slow
def test_a_panel_where_nobody_answered_enough_is_a_run_without_people(tmp_path: Path) -> None:
    config = people_and_pictures(tmp_path / "study")
    people = pd.read_csv(tmp_path / "study" / "people.csv", keep_default_na=False)
    people[people["observer"].isin(["once", "silent"])].to_csv(
        tmp_path / "study" / "people.csv", index=False
    )
    out = tmp_path / "report"
    code, output = run(config, "--out", out, "--db", tmp_path / "h.sqlite")
    assert code == 0, output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["study"]["humans"] == []
    assert [w["code"] for w in results["warnings"]][:1] == ["observers_left_out"]
    text = " ".join((out / "report.html").read_text(encoding="utf-8").split())
    assert "Nobody on the panel gave enough usable answers" in text
    assert "No people were tested" not in text  # they were; none could be used


def test_text_from_data_reaches_the_terminal_with_its_control_characters_written_out(
    tmp_path: Path,
) -> None:
    from reportgen.cli.terminal import visible

    assert visible("a\x1b[2Jb\x07\u202ec\u2066\td\n") == "a\\x1b[2Jb\\x07\\u202ec\\u2066\td\n"
    assert visible("\x9b31m") == "\\x9b31m"  # the one-byte C1 form of ESC [
    assert visible("日本語 ok") == "日本語 ok"

    config = tiny_study(tmp_path / "study")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('"tiny"', '"tiny\\u001b]0;owned\\u0007\\u202e"'))
    checked = CliRunner().invoke(app, ["validate", str(config)])
    assert checked.exit_code == 0, checked.output
    assert "\x1b" not in checked.output and "\x07" not in checked.output
    assert "\u202e" not in checked.output
    assert "tiny\\x1b]0;owned\\x07\\u202e" in checked.output

    # the same text inside an error message
    decisions = pd.read_csv(tmp_path / "study" / "decisions.csv")
    decisions.loc[0, "response"] = "\x1b[2J"
    decisions.to_csv(tmp_path / "study" / "decisions.csv", index=False)
    code, output = run(config, "--out", tmp_path / "out", "--db", tmp_path / "h.sqlite")
    assert code == 2, output
    assert "\x1b" not in output and "\\x1b[2J" in output, output
    assert not (tmp_path / "out").exists()


# ---- fuzz: malformed configs and tables ----------------------------------------------------


def _replace(old: str, new: str):  # type: ignore[no-untyped-def]
    def mutate(study: Path) -> None:
        path = study / "study.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return mutate


def _cell(name: str, row: int, column: str, value: str):  # type: ignore[no-untyped-def]
    def mutate(study: Path) -> None:
        frame = pd.read_csv(study / name, dtype=str, keep_default_na=False)
        frame.loc[row, column] = value
        frame.to_csv(study / name, index=False)

    return mutate


def _table(name: str, edit):  # type: ignore[no-untyped-def]
    def mutate(study: Path) -> None:
        frame = pd.read_csv(study / name, dtype=str, keep_default_na=False)
        edit(frame).to_csv(study / name, index=False)

    return mutate


def _bytes(name: str, data: bytes):  # type: ignore[no-untyped-def]
    return lambda study: (study / name).write_bytes(data)


#: (what is wrong, how to make it so, words the one-line error must contain)
MALFORMED = [
    ("toml syntax", _replace('title = "tiny"', 'title = "tiny'), "line 3"),
    ("config not utf-8", _bytes("study.toml", b'[report]\ntitle = "\xff"\n'), "utf-8"),
    ("typo in a key", _replace("permutations = 100", "permutation = 100"), "'permutations'"),
    ("10**12 permutations", _replace("= 100", "= 1000000000000"), "at most 100,000"),
    ("negative bootstrap", _replace("bootstrap = 0", "bootstrap = -1"), "analysis.bootstrap"),
    ("seed as text", _replace("[analysis]", '[analysis]\nseed = "zero"'), "analysis.seed"),
    ("seed over 64 bits", _replace("[analysis]", "[analysis]\nseed = 1" + "0" * 22), "seed"),
    ("alpha nan", _replace("[analysis]", "[analysis]\nalpha = nan"), "analysis.alpha"),
    ("permutations true", _replace("= 100", "= true"), "analysis.permutations"),
    ("unknown device", _replace('device = "cpu"', 'device = "tpu"'), "'tpu'"),
    ("unknown language", _replace('"tiny"', '"tiny"\nlanguage = "fr"'), "'fr'"),
    ("no classes", _replace('classes = ["a", "b", "c"]', "classes = []"), "stimuli.classes"),
    ("class twice", _replace('["a", "b", "c"]', '["a", "a", "c"]'), "'a' more than once"),
    ("unknown factor column", _replace('["f2"]', '["f3"]'), "'f3'"),
    ("a column in two groups", _replace('["f2"]', '["f1"]'), "two factor groups"),
    ("missing table", _replace('"stimuli.csv"', '"nope.csv"'), "nope.csv"),
    ("table is a folder", _replace('"stimuli.csv"', '"."'), "is a folder"),
    ("no rows", _table("stimuli.csv", lambda f: f.iloc[:0]), "no rows"),
    ("binary table", _bytes("stimuli.csv", b"\x00\xff\xfe\x00junk\n"), "cannot read"),
    ("label not a class", _cell("stimuli.csv", 3, "label", "z"), "line 5"),
    ("duplicate id", _cell("stimuli.csv", 3, "id", "s0"), "lines 2, 5"),
    ("text in a factor", _cell("stimuli.csv", 5, "f1", "abc"), "'abc' is not a number"),
    ("empty factor cell", _cell("stimuli.csv", 5, "f1", ""), "line 7"),
    ("infinite factor", _cell("stimuli.csv", 5, "f1", "inf"), "not finite"),
    ("constant factor", _table("stimuli.csv", lambda f: f.assign(f2="1")), "constant factor"),
    (
        "a group of numbers and text",
        lambda study: (
            _table("stimuli.csv", lambda f: f.assign(kind=["x", "y", "z"] * 20))(study),
            _replace('first = ["f1"]', 'first = ["f1", "kind"]')(study),
        ),
        "mixes continuous and categorical",
    ),
    ("decision for no stimulus", _cell("decisions.csv", 2, "stimulus_id", "s999"), "'s999'"),
    ("decision not a class", _cell("decisions.csv", 2, "response", "zz"), "'zz'"),
    ("decisions zero bytes", _bytes("decisions.csv", b""), "empty"),
    ("a trial twice", _table("decisions.csv", lambda f: pd.concat([f, f[:1]])), "lines 2, 62"),
    ("model always 'a'", _table("decisions.csv", lambda f: f.assign(response="a")), "constant"),
    ("model never answered", _table("decisions.csv", lambda f: f.assign(response="")), "no usable"),
    ("model answered half", _table("decisions.csv", lambda f: f[:30]), "per class"),
    (
        "missing people file",
        _replace("[analysis]", '[humans]\nresponses = "p.csv"\n[analysis]'),
        "p.csv",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "named"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_are_one_named_line_with_exit_2_and_nothing_written(
    tmp_path: Path, case: str, mutate, named: str
) -> None:
    study = tmp_path / "study"
    config = tiny_study(study)
    mutate(study)
    before = sorted(p.name for p in study.iterdir())
    for args in (
        ["validate", str(config)],
        ["run", str(config), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "h.sqlite")],
    ):
        result = CliRunner().invoke(app, args)
        said = " ".join(result.output.split())
        assert result.exit_code == 2, (case, said)
        assert isinstance(result.exception, SystemExit), case  # not an escaped exception
        assert "Traceback" not in result.output and said.startswith("error:"), said
        assert named.lower() in said.lower(), (case, said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]  # no report, no history
    assert sorted(p.name for p in study.iterdir()) == before


def test_model_code_that_aborts_the_process_leaves_no_stage_and_no_exit_status_0(
    tmp_path: Path,
) -> None:
    """`os.abort` skips every cleanup handler, so the only defence is order: the model is
    built (and run) before the run creates anything on disk."""
    import subprocess
    import sys

    from PIL import Image

    study = tmp_path / "study"
    config = tiny_study(study)
    table = pd.read_csv(study / "stimuli.csv")
    table["image"] = [f"{i}.png" for i in table["id"]]
    table.to_csv(study / "stimuli.csv", index=False)
    for i in table["id"]:
        Image.new("RGB", (8, 8), (90, 90, 90)).save(study / f"{i}.png")
    (study / "net.py").write_text("import os\ndef build(num_classes):\n    os.abort()\n")
    text = config.read_text(encoding="utf-8")
    text = text.replace('[decisions]\nmodels = ["decisions.csv"]\n', "")
    text = text.replace('table = "stimuli.csv"', 'table = "stimuli.csv"\nimages = "."')
    config.write_text(text + '[model]\narch = "net.py:build"\nnum_classes = 3\n')
    done = subprocess.run(
        [sys.executable, "-c", "from reportgen.cli import app; app()", "run", str(config)]
        + ["--out", str(tmp_path / "out"), "--db", str(tmp_path / "h.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]  # no stage, no history


@pytest.mark.slow
def test_a_run_can_stay_out_of_the_history_store_and_a_demo_does_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.sqlite"
    config = tiny_study(tmp_path / "study")
    code, output = run(config, "--out", tmp_path / "a", "--db", db, "--no-history")
    assert code == 0, output
    assert (tmp_path / "a" / "report.pdf").is_file() and not db.exists()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('title = "tiny"', 'title = "tiny"\nhistory = false'))
    code, output = run(config, "--out", tmp_path / "b", "--db", db)
    assert code == 0, output
    assert not db.exists() and "Recorded in" not in output
    config.write_text(text)
    code, output = run(config, "--out", tmp_path / "c", "--db", db)
    assert code == 0 and "Recorded in" in output and len(list_runs(db)) == 1

    # The demo's run_study call: recorded only when --db names a store.
    import reportgen.runner

    calls: list[dict] = []

    def fake_run_study(config, out, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        raise ReportgenError("stop here")

    monkeypatch.setattr(reportgen.runner, "run_study", fake_run_study)
    for extra in ([], ["--db", str(db)]):
        CliRunner().invoke(app, ["demo", "parts", "--out", str(tmp_path / "d"), *extra])
    assert [c["record"] for c in calls] == [False, True]


def test_progress_off_a_terminal_is_a_line_per_stage_and_every_30_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import reportgen.cli.terminal as terminal

    now = [100.0]
    monkeypatch.setattr(terminal.time, "perf_counter", lambda: now[0])
    said: list[str] = []
    monkeypatch.setattr(terminal.console, "print", lambda text, **kw: said.append(text))
    with terminal.progress_bars(terminal.Verbosity.verbose) as progress:
        advance = progress("Permutations", 100)
        for _ in range(9):  # 90 steps over 90 seconds: a line at 30 s and at 60 s
            now[0] += 10.0
            advance(10)
        progress("Layers", 5)  # a new stage ends the unfinished one
        now[0] += 1.0
        advance(10)  # the old stage's counter is stale now and says nothing
    assert said == [
        "[   0.0 s] Permutations: started",
        "[  30.0 s] Permutations: 30%",
        "[  60.0 s] Permutations: 60%",
        "[  90.0 s] Permutations: 90%",
        "[  90.0 s] Permutations: done in 90.0 s",
        "[  90.0 s] Layers: started",
        "[  91.0 s] Layers: done in 1.0 s",
    ]
    with terminal.progress_bars(terminal.Verbosity.quiet) as progress:
        progress("Anything", 3)(3)
    assert len(said) == 7
    # A stage that an error ends has not finished: it does not say "done".
    with pytest.raises(ValueError), terminal.progress_bars(terminal.Verbosity.verbose) as progress:
        progress("Drivers", 4)(1)
        now[0] += 2.0
        raise ValueError("bad data")
    assert said[-1] == "[   2.0 s] Drivers: stopped after 2.0 s"


def test_too_few_analysed_decisions_say_which_stimuli_and_what_to_add(tmp_path: Path) -> None:
    # 60 decisions pass the check when the study is read; the 27 of the analysed condition
    # (9 per class) cannot be analysed, which only the run finds out.
    config = tiny_study(tmp_path / "study", extra='conditions = ["few"]')
    table = pd.read_csv(tmp_path / "study" / "stimuli.csv")
    table.loc[:26, "condition"] = "few"
    table.to_csv(tmp_path / "study" / "stimuli.csv", index=False)
    checked = CliRunner().invoke(app, ["validate", str(config)])
    said = " ".join(checked.output.split())
    assert checked.exit_code == 0, checked.output  # a warning: the model may answer unevenly
    assert "warning: the information analyses use 27 stimuli (analysis.conditions: few)" in said
    assert "(60 for 3 classes if the answers spread evenly)" in said
    code, output = run(config, "--out", tmp_path / "out", "--no-history", "-v")
    said = " ".join(output.split())
    assert code == 2, output
    assert "the decisions of 'net' cannot be analysed: too few decisions per class" in said
    assert "use the 27 stimuli of analysis.conditions (few)" in said
    assert "add stimuli there" in said
    assert "Information about the decisions: stopped after" in said
    assert "Information about the decisions: done" not in said
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_run_output_off_a_terminal_and_with_quiet(tmp_path: Path) -> None:
    config = tiny_study(tmp_path / "study")
    db = tmp_path / "h.sqlite"
    code, output = run(config, "--out", tmp_path / "a", "--db", db)  # CliRunner: no terminal
    assert code == 0, output
    assert "Information about the decisions: started" in output
    assert "Information about the decisions: done in" in output
    code, output = run(config, "--out", tmp_path / "b", "--db", db, "--quiet")
    assert code == 0 and output == ""
    code, output = run(config, "--out", tmp_path / "c", "--db", db, "-q", "-v")
    assert code == 2 and "contradict" in output
