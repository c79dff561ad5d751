"""Trials tables: checked against the stimulus table and the class set, several observers, and a
decision matrix that round-trips model decisions exported in the same shape."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from reportgen.errors import ReportgenError
from reportgen.inputs.responses import (
    Trials,
    build_trials,
    combine_trials,
    decision_matrix,
    load_trials,
    model_decisions_table,
)
from reportgen.inputs.stimuli import StimulusSet, build_stimulus_set

CLASSES = ("bolt", "nut", "washer")


@pytest.fixture(scope="module")
def stimset() -> StimulusSet:
    n = 6
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "label": [CLASSES[i % 3] for i in range(n)],
            "condition": ["standard"] * n,
            "shape_1": [0.1 * i for i in range(n)],
        }
    )
    return build_stimulus_set(
        table,
        source="stimuli.csv",
        image_dir=None,
        factor_globs={"shape": ["shape_*"]},
        require_images=False,
    )


def _panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "observer": ["ann", "ann", "ann", "bo", "bo"],
            "stimulus_id": ["s0", "s1", "s2", "s0", "s5"],
            "response": ["bolt", "na", "washer", "nut", ""],
            "rt": ["0.41", "", "0.52", "0.38", "1.2"],
            "session": [1, 1, 1, 2, 2],  # extra columns are kept as they are
        }
    )


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return path


def test_good_trials_load_with_observers_kinds_and_no_answers(
    tmp_path: Path, stimset: StimulusSet
) -> None:
    trials = load_trials(_csv(tmp_path, _panel()), stimset)
    assert trials.observers == ("ann", "bo")
    assert trials.kinds == {"ann": "human", "bo": "human"} and trials.models == ()
    assert trials.table["response"].tolist() == ["bolt", None, "washer", "nut", None]
    assert trials.table["rt"].isna().tolist() == [False, True, False, False, False]
    assert trials.table["rt"].iloc[0] == 0.41
    assert list(trials.table.columns[:4]) == [
        "observer",
        "stimulus_id",
        "response",
        "observer_kind",
    ]
    assert "session" in trials.table.columns
    assert len(trials.for_observer("bo")) == 2


def _edit(column: str, row: int, value: object):
    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return apply


# (edit of the good panel, expected message)  Row i of the table is on CSV line i + 2.
BAD_TRIALS = [
    pytest.param(
        _edit("stimulus_id", 2, "s9"),
        "line 4, column 'stimulus_id': 's9' is not an id of the stimulus table stimuli.csv",
        id="unknown-stimulus",
    ),
    pytest.param(
        _edit("response", 0, "bolts"),
        "line 2, column 'response': 'bolts' is not in the class set (bolt, nut, washer) "
        "(did you mean 'bolt'?); leave the cell empty or write 'na' for no answer",
        id="response",
    ),
    pytest.param(
        _edit("stimulus_id", 1, "s0"),
        "observer 'ann' answered stimulus 's0' more than once (lines 2, 3)",
        id="duplicate",
    ),
    pytest.param(
        lambda f: f.drop(columns="response"), "missing required column 'response'", id="column"
    ),
    pytest.param(
        lambda f: f.rename(columns={"observer": "observr"}),
        "missing required column 'observer' (did you mean 'observr'?)",
        id="column-typo",
    ),
    pytest.param(_edit("rt", 3, "fast"), "line 5, column 'rt': 'fast' is not a number", id="rt"),
    pytest.param(
        _edit("observer", 4, ""), "line 6, column 'observer': missing observer id", id="observer"
    ),
    pytest.param(
        lambda f: f.assign(observer_kind=["human", "human", "robot", "human", "human"]),
        "line 4, column 'observer_kind': must be 'human' or 'model', got 'robot'",
        id="kind",
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD_TRIALS)
def test_each_bad_trial_gets_its_own_message_naming_file_line_and_column(
    tmp_path: Path, stimset: StimulusSet, edit, message: str
) -> None:
    path = _csv(tmp_path, edit(_panel()))
    with pytest.raises(ReportgenError) as err:
        load_trials(path, stimset)
    assert err.value.problems == [f"{path}: {message}"]


def test_all_trial_problems_are_reported_at_once(tmp_path: Path, stimset: StimulusSet) -> None:
    frame = _edit("response", 0, "bolts")(_edit("stimulus_id", 2, "s9")(_panel()))
    frame = _edit("rt", 3, "fast")(frame)
    with pytest.raises(ReportgenError) as err:
        load_trials(_csv(tmp_path, frame), stimset)
    assert len(err.value.problems) == 3


def test_decision_matrix_places_each_answer_and_marks_gaps_minus_one(
    tmp_path: Path, stimset: StimulusSet
) -> None:
    trials = load_trials(_csv(tmp_path, _panel()), stimset)
    observers, codes = decision_matrix(trials, stimset)
    assert observers == ("ann", "bo")
    # ann: s0 bolt, s1 no answer, s2 washer; bo: s0 nut, s5 no answer; unseen stimuli -1
    expected = torch.tensor([[0, -1, 2, -1, -1, -1], [1, -1, -1, -1, -1, -1]])
    assert codes.dtype == torch.long and torch.equal(codes, expected)


def test_model_decisions_round_trip_through_a_trials_file(
    tmp_path: Path, stimset: StimulusSet
) -> None:
    decisions = torch.tensor([2, 0, -1, 1, 1, 0])
    confidence = torch.tensor([0.9, 0.5, 0.0, 0.7, 0.6, 0.99], dtype=torch.float64)
    frame = model_decisions_table(
        "resnet10-demo", stimset.ids, decisions, CLASSES, confidence=confidence
    )
    assert list(frame.columns) == [
        "observer",
        "stimulus_id",
        "response",
        "observer_kind",
        "confidence",
    ]
    trials = load_trials(_csv(tmp_path, frame), stimset, default_kind="human")
    assert trials.kinds == {"resnet10-demo": "model"}  # the exported kind wins over the default
    observers, codes = decision_matrix(trials, stimset)
    assert observers == ("resnet10-demo",) and torch.equal(codes[0], decisions)
    # CSV keeps 17 significant digits, so float64 confidences come back exactly
    assert torch.equal(torch.tensor(trials.table["confidence"].to_numpy()), confidence)


def test_model_decisions_table_rejects_codes_outside_the_class_set() -> None:
    with pytest.raises(ValueError, match="-1..2"):
        model_decisions_table("m", ["s0"], torch.tensor([3]), CLASSES)


def test_combining_files_refuses_an_observer_id_used_in_two_files(stimset: StimulusSet) -> None:
    a = build_trials(_panel(), stimset, source="caffe.csv", default_kind="model")
    b = build_trials(_panel().query("observer == 'bo'"), stimset, source="torchvision.csv")
    with pytest.raises(ReportgenError) as err:
        combine_trials([a, b])
    assert err.value.problems == [
        "torchvision.csv: column 'observer': observer 'bo' also appears in caffe.csv; "
        "give each model and person a unique id"
    ]
    renamed = _panel().query("observer == 'bo'").assign(observer="bo-2")
    both = combine_trials([a, build_trials(renamed, stimset, source="tv.csv")])
    assert isinstance(both, Trials) and both.observers == ("ann", "bo", "bo-2")
    assert both.kinds == {"ann": "model", "bo": "model", "bo-2": "human"}
    assert both.sources == ("caffe.csv", "tv.csv")
