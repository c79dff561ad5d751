"""`[collect]` in the study config: defaults, checks naming file and field, and where the
trials go."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.collect.server import collect_settings
from reportgen.config import load_config
from reportgen.errors import ReportgenError
from tests.collect.studies import write_study


def test_defaults_follow_the_lab_protocol(tmp_path: Path) -> None:
    config = load_config(write_study(tmp_path / "s", collect=""))
    c = config.collect
    assert c is not None and c.trials == (tmp_path / "s" / "panel.csv").resolve()
    assert (c.duration_ms, c.mask_ms, c.break_every, c.practice, c.seed) == (200, 200, 100, 5, 0)
    assert c.per_condition == {}


def test_the_trials_default_to_humans_responses_which_need_not_exist_yet(tmp_path: Path) -> None:
    config_path = write_study(tmp_path / "s", humans=True)
    text = config_path.read_text(encoding="utf-8").replace('trials = "panel.csv"\n', "")
    config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)  # panel.csv does not exist: collect writes it
    assert config.collect.trials == config.humans.responses == (tmp_path / "s/panel.csv").resolve()
    # without [collect], a missing responses file is still an error
    config_path.write_text(text.replace("[collect]\npractice = 1\nbreak_every = 100\n", ""))
    with pytest.raises(ReportgenError, match="humans.responses: file not found"):
        load_config(config_path)


def test_without_humans_or_trials_the_file_sits_beside_the_config(tmp_path: Path) -> None:
    config_path = write_study(tmp_path / "s")
    text = config_path.read_text(encoding="utf-8").replace('trials = "panel.csv"\n', "")
    config_path.write_text(text, encoding="utf-8")
    expected = (tmp_path / "s" / "study-trials.csv").resolve()
    assert load_config(config_path).collect.trials == expected
    bare = text.replace("[collect]\npractice = 1\nbreak_every = 100\n", "")
    config_path.write_text(bare, encoding="utf-8")
    assert collect_settings(load_config(config_path)).trials == expected


def test_every_bad_setting_is_named_with_file_and_field(tmp_path: Path) -> None:
    config_path = write_study(
        tmp_path / "s",
        collect=(
            'trials = "out/panel.parquet"\nduration_ms = 0\nmask_ms = -1\nbreak_every = 0\n'
            'practice = "five"\nduraton_ms = 100\n[collect.per_condition]\nstandard = -2\n'
        ),
    )
    with pytest.raises(ReportgenError) as err:
        load_config(config_path)
    problems = [p.split(": ", 1)[1] for p in err.value.problems]
    assert problems == [
        "collect.duraton_ms: unknown key (did you mean 'duration_ms'?)",
        "collect.trials: must be a .csv file (an append-only table), got "
        f"{(tmp_path / 's/out/panel.parquet').resolve()}",
        "collect.per_condition.standard: must be a whole number at least 0, got -2",
        "collect.duration_ms: must be a whole number at least 10 and at most 10000, got 0",
        "collect.mask_ms: must be a whole number at least 0 and at most 10000, got -1",
        "collect.break_every: must be a whole number at least 1 and at most 100000, got 0",
        "collect.practice: must be a whole number at least 0 and at most 100, got 'five'",
    ]


def test_validate_before_anyone_answered_says_to_collect_first(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reportgen.cli import app

    config_path = write_study(tmp_path / "s", humans=True)  # panel.csv not written yet
    result = CliRunner().invoke(app, ["validate", str(config_path)])
    assert result.exit_code == 2
    assert "no answers yet; run `reportgen collect` on this study first" in " ".join(
        result.output.split()
    )
