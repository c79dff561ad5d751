"""The cue-conflict converter, run on the shipped copy of the published raw tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from reportgen.demo.cue_conflict import (
    CATEGORIES,
    CueConflictTables,
    convert,
    parse_image_id,
    read_raw_tables,
)
from reportgen.errors import ReportgenError

SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "cue_conflict"
RAW = SHIPPED / "raw"
SUBJECT_01 = (
    RAW / "humans_and_caffe_cnns" / "style-transfer-512-nomask-experiment_subject-01_session_1.csv"
)
RESNET = RAW / "torchvision_cnns" / "style-transfer-512-nomask-experiment_resnet50_session-1.csv"

EXPECTED_OBSERVERS = {
    *(f"subject-{i:02d}" for i in range(1, 11)),
    "alexnet-caffe",
    "googlenet-caffe",
    "vgg-caffe",
    "alexnet-torchvision",
    "vgg16-torchvision",
    "resnet50-torchvision",
    "resnet50-sin-torchvision",
}


@pytest.fixture(scope="module")
def tables() -> CueConflictTables:
    return read_raw_tables(RAW)


def test_real_tables_give_1280_stimuli_with_80_without_conflict(tables: CueConflictTables) -> None:
    stimuli = tables.stimuli
    assert len(stimuli) == 1280
    assert stimuli["id"].is_unique
    assert (stimuli["condition"] == "no-conflict").sum() == 80
    assert (stimuli["condition"] == "cue-conflict").sum() == 1200
    # condition follows from the parsed columns alone
    same = stimuli["shape"].astype(str) == stimuli["texture"].astype(str)
    assert ((stimuli["condition"] == "no-conflict") == same).all()
    assert (stimuli["label"] == stimuli["shape"].astype(str)).all()
    assert (stimuli["image"] == stimuli["id"] + ".png").all()
    assert list(stimuli["shape"].cat.categories) == list(CATEGORIES)


def test_known_image_names_parse_into_categories(tables: CueConflictTables) -> None:
    by_id = tables.stimuli.set_index("id")
    # (id, shape, texture, shape_image, texture_image), read by eye from the raw image names
    cases = [
        ("bird3-bird2", "bird", "bird", "bird3", "bird2"),
        ("airplane10-airplane1", "airplane", "airplane", "airplane10", "airplane1"),
        ("dog10-bicycle1", "dog", "bicycle", "dog10", "bicycle1"),
        ("keyboard5-dog3", "keyboard", "dog", "keyboard5", "dog3"),
    ]
    for image_id, shape, texture, shape_image, texture_image in cases:
        row = by_id.loc[image_id]
        assert (row["shape"], row["texture"]) == (shape, texture)
        assert (row["shape_image"], row["texture_image"]) == (shape_image, texture_image)
        assert parse_image_id(image_id) == (shape, texture, shape_image, texture_image)
    assert by_id.loc["bird3-bird2", "condition"] == "no-conflict"
    assert by_id.loc["dog10-bicycle1", "condition"] == "cue-conflict"


def test_seventeen_observers_with_unique_explicit_ids(tables: CueConflictTables) -> None:
    assert set(tables.humans["observer"]) == {f"subject-{i:02d}" for i in range(1, 11)}
    assert set(tables.humans["observer"]) | set(tables.models["observer"]) == EXPECTED_OBSERVERS
    assert (tables.humans["observer_kind"] == "human").all()
    assert (tables.models["observer_kind"] == "model").all()
    trials = tables.trials
    assert len(trials) == 17 * 1280
    # every observer answered every image exactly once
    assert not trials.duplicated(["observer", "stimulus_id"]).any()
    assert (trials.groupby("observer")["stimulus_id"].nunique() == 1280).all()
    assert set(trials["stimulus_id"]) == set(tables.stimuli["id"])


def test_no_answer_stays_missing_and_rt_is_kept_for_people(tables: CueConflictTables) -> None:
    raw = pd.read_csv(SUBJECT_01, dtype=str, keep_default_na=False)
    n_na = int((raw["object_response"] == "na").sum())
    assert n_na > 0  # subject-01 missed some trials: the test needs that to mean anything
    mine = tables.humans[tables.humans["observer"] == "subject-01"]
    assert int(mine["response"].isna().sum()) == n_na
    assert mine["response"].dropna().isin(CATEGORIES).all()
    assert "rt" not in tables.models.columns
    # first trial of subject-01 in the raw file: bird3-bird2 answered "bird" after 1.1338 s
    first = mine.sort_values("trial").iloc[0]
    assert (first["stimulus_id"], first["response"]) == ("bird3-bird2", "bird")
    assert first["rt"] == pytest.approx(1.13377118110657, abs=1e-12)


def test_torchvision_alexnet_is_named_apart_from_caffe_alexnet(tables: CueConflictTables) -> None:
    models = tables.models.set_index(["observer", "stimulus_id"])["response"]
    # the two AlexNets answer differently on the first image, so they are not one observer
    assert models[("alexnet-caffe", "airplane1-chair2")] == "boat"
    assert models[("alexnet-torchvision", "airplane1-chair2")] == "chair"
    raw = pd.read_csv(RESNET, dtype=str, keep_default_na=False)
    ids = raw["imagename"].str.rsplit("_", n=1).str[-1].str.removesuffix(".png")
    expected = dict(zip(ids, raw["object_response"], strict=True))
    got = tables.models[tables.models["observer"] == "resnet50-torchvision"]
    assert dict(zip(got["stimulus_id"], got["response"], strict=True)) == expected


def test_shipped_tables_equal_a_fresh_conversion(tmp_path: Path) -> None:
    convert(RAW, tmp_path)
    for name in ("stimuli.csv", "humans.csv", "models.csv"):
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name


def test_shipped_images_are_named_by_stimulus_ids(tables: CueConflictTables) -> None:
    images = sorted(p.name for p in (SHIPPED / "images").glob("*.png"))
    assert len(images) == 32
    assert set(images) <= set(tables.stimuli["image"])
    # two per shape category
    shapes = pd.Series([parse_image_id(name.removesuffix(".png"))[0] for name in images])
    assert (shapes.value_counts() == 2).all() and shapes.nunique() == 16


# ---- malformed input: each problem named with its file and line ----------------------------


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    target = tmp_path / "raw"
    shutil.copytree(RAW, target)
    for path in target.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return target


def _edit(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame).to_csv(path, index=False)


def _problems(raw_dir: Path) -> list[str]:
    with pytest.raises(ReportgenError) as err:
        read_raw_tables(raw_dir)
    return err.value.problems


def test_missing_column_is_named_with_its_file(raw_copy: Path) -> None:
    path = raw_copy / "humans_and_caffe_cnns" / SUBJECT_01.name
    _edit(path, lambda f: f.drop(columns=["imagename"]))
    problems = _problems(raw_copy)
    assert len(problems) == 1
    assert str(path) in problems[0] and "missing column(s) imagename" in problems[0]


def test_unknown_category_is_named_with_file_line_and_value(raw_copy: Path) -> None:
    path = raw_copy / "torchvision_cnns" / RESNET.name

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[4, "object_response"] = "zebra"  # line 6 of the file
        return frame

    _edit(path, edit)
    (problem,) = _problems(raw_copy)
    assert str(path) in problem
    assert "line 6" in problem and "object_response" in problem and "'zebra'" in problem


def test_unknown_category_in_image_name_is_rejected(raw_copy: Path) -> None:
    path = raw_copy / "torchvision_cnns" / RESNET.name

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "imagename"] = frame.loc[0, "imagename"].replace("bicycle2", "zebra2")
        return frame

    _edit(path, edit)
    problems = _problems(raw_copy)
    assert any("line 2" in p and "unknown texture category 'zebra'" in p for p in problems)


def test_duplicate_trial_is_named_with_both_lines(raw_copy: Path) -> None:
    path = raw_copy / "humans_and_caffe_cnns" / SUBJECT_01.name

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[1, "imagename"] = frame.loc[0, "imagename"]  # lines 2 and 3 show one image
        frame.loc[1, "category"] = frame.loc[0, "category"]
        return frame

    _edit(path, edit)
    problems = _problems(raw_copy)
    dup = [p for p in problems if "duplicate trial" in p]
    assert len(dup) == 1
    assert str(path) in dup[0] and "lines 2, 3" in dup[0] and "'bird3-bird2'" in dup[0]


def test_tables_covering_different_images_are_rejected(raw_copy: Path) -> None:
    path = raw_copy / "torchvision_cnns" / RESNET.name
    _edit(path, lambda f: f.iloc[1:])  # one image fewer than the others
    problems = _problems(raw_copy)
    assert any(str(path) in p and "1279 distinct images" in p for p in problems)
    assert any(str(path) in p and "airplane1-bicycle2" in p for p in problems)


def test_same_observer_twice_is_rejected(raw_copy: Path) -> None:
    src = raw_copy / "humans_and_caffe_cnns" / SUBJECT_01.name
    shutil.copy(src, raw_copy / "humans_and_caffe_cnns" / "copy_of_subject-01.csv")
    problems = _problems(raw_copy)
    assert any("observer id 'subject-01' already comes from" in p for p in problems)


def test_unknown_model_name_is_rejected(raw_copy: Path) -> None:
    path = raw_copy / "torchvision_cnns" / RESNET.name
    _edit(path, lambda f: f.assign(subj="resnet18"))
    (problem,) = _problems(raw_copy)
    assert str(path) in problem and "'resnet18'" in problem


def test_nothing_is_written_when_the_input_is_malformed(raw_copy: Path, tmp_path: Path) -> None:
    path = raw_copy / "humans_and_caffe_cnns" / SUBJECT_01.name
    _edit(path, lambda f: f.drop(columns=["object_response"]))
    out = tmp_path / "out"
    with pytest.raises(ReportgenError):
        convert(raw_copy, out)
    assert not out.exists()
