"""Stimulus tables: good tables load with the right types and groups; every kind of bad input
gets its own message naming the file, line, id and column, and all problems come at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import (
    build_stimulus_set,
    check_sample_size,
    encode,
    image_notices,
    load_images,
    load_stimuli,
    sample_size_limits,
)
from tests.bad_files import png_header

# grain (text) is its own group: a group is one variable, numbers or categories, not both
GLOBS = {
    "shape": ["shape_*"],
    "texture": ["texture_*"],
    "finish": ["grain"],
    "nuisance": ["rotation"],
}


def _table(n_per_class: int = 4, classes: tuple[str, ...] = ("bolt", "nut", "washer")) -> dict:
    rows: dict[str, list] = {k: [] for k in ("id", "image", "label", "condition")}
    rng = np.random.default_rng(0)
    n = n_per_class * len(classes)
    for i in range(n):
        rows["id"].append(f"s{i}")
        rows["image"].append(f"s{i}.png")
        rows["label"].append(classes[i % len(classes)])
        rows["condition"].append("standard" if i % 2 else "cue-conflict")
    # deliberately not in glob order: groups must follow the table's column order
    rows["texture_b"] = list(rng.normal(size=n).round(3))
    rows["shape_2"] = list(rng.normal(size=n).round(3))
    rows["rotation"] = list(rng.uniform(0, 360, size=n).round(1))
    rows["shape_1"] = list(rng.normal(size=n).round(3))
    rows["texture_a"] = list(rng.normal(size=n).round(3))
    rows["grain"] = ["fine" if i % 3 else "coarse" for i in range(n)]
    rows["notes"] = ["x"] * n  # not in any group: must be ignored, even though constant
    return rows


def _write(folder: Path, rows: dict, *, images: bool = True) -> Path:
    img_dir = folder / "images"
    img_dir.mkdir(exist_ok=True)
    if images:
        for i, name in enumerate(rows["image"]):
            if name.startswith("absent"):  # planted missing image
                continue
            Image.new("RGB", (6, 4), (i * 10 % 256, 20, 30)).save(img_dir / name)
    path = folder / "stimuli.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _load(path: Path, **kw) -> object:
    return load_stimuli(path, path.parent / "images", kw.pop("globs", GLOBS), **kw)


def test_good_table_loads_with_groups_in_table_column_order_and_typed_columns(
    tmp_path: Path,
) -> None:
    st = _load(_write(tmp_path, _table()))
    assert st.groups == {
        "shape": ["shape_2", "shape_1"],
        "texture": ["texture_b", "texture_a"],
        "finish": ["grain"],
        "nuisance": ["rotation"],
    }
    assert st.classes == ("bolt", "nut", "washer")
    assert st.kinds["shape_1"] == "continuous" and st.kinds["grain"] == "categorical"
    assert st.table["shape_1"].dtype == np.float64
    assert len(st) == 12 and st.ids[:2] == ("s0", "s1")
    assert st.label_codes().tolist() == [0, 1, 2] * 4
    assert st.image_paths()[0] == tmp_path / "images" / "s0.png"


def test_numeric_labels_sort_as_numbers_so_class_index_matches_model_output(
    tmp_path: Path,
) -> None:
    rows = _table(n_per_class=1, classes=tuple(str(k) for k in range(12)))
    st = _load(_write(tmp_path, rows), globs={"shape": ["shape_*"]})
    assert st.classes == tuple(str(k) for k in range(12))  # '10' after '9', not after '1'


def test_a_whole_number_code_is_categorical_unless_declared_continuous(tmp_path: Path) -> None:
    # Ranking a part type 0..3 as if it were a measurement is the trap: 3 is not "more" than 1.
    rows = _table(n_per_class=5)
    n = len(rows["id"])
    rows["part_type"] = [float(i % 4) for i in range(n)]  # 0.0, 1.0, ... read as a code too
    rows["count"] = list(range(n))  # 15 whole numbers: more than a code has
    path = _write(tmp_path, rows)
    globs = {**GLOBS, "type": ["part_type"], "n": ["count"]}
    st = _load(path, globs=globs)
    assert st.kinds["part_type"] == "categorical" and st.integer_coded == ("part_type",)
    assert st.kinds["count"] == "continuous"
    codes = st.factor_tensor("part_type")
    assert codes.dtype == torch.long and codes.tolist() == [i % 4 for i in range(n)]
    assert set(st.table["part_type"]) == {"0", "1", "2", "3"}  # not '0.0'
    declared = _load(path, globs=globs, continuous=["part_*"])
    assert declared.kinds["part_type"] == "continuous" and declared.integer_coded == ()


def test_a_glob_never_sweeps_a_cue_column_into_a_factor_group(tmp_path: Path) -> None:
    rows = _table()
    rows["shape_class"] = [("bolt", "nut", "washer")[i % 3] for i in range(len(rows["id"]))]
    path = _write(tmp_path, rows)
    with pytest.raises(ReportgenError, match="shape_class"):  # swept in without [cues]
        _load(path, globs={"shape": ["shape_*"]})
    st = _load(path, globs={"shape": ["shape_*"]}, cue_columns=("shape_class", "texture_class"))
    assert st.groups["shape"] == ["shape_2", "shape_1"]
    named = _load(
        path, globs={"shape": ["shape_*"], "cue": ["shape_class"]}, cue_columns=("shape_class",)
    )
    assert named.groups["cue"] == ["shape_class"]  # named outright, it is the user's choice


def _set(column: str, row: int, value: object) -> Callable[[dict], None]:
    def edit(rows: dict) -> None:
        rows[column][row] = value

    return edit


def _drop_image(rows: dict) -> None:
    rows["image"][2] = "absent.png"


def _drop_column(name: str) -> Callable[[dict], None]:
    def edit(rows: dict) -> None:
        del rows[name]

    return edit


def _constant(rows: dict) -> None:
    rows["rotation"] = [5.0] * len(rows["id"])


# (edit of the good table, the message expected, globs)  Lines count the header as line 1, so
# table row i is on line i + 2.
BAD_TABLES = [
    pytest.param(_drop_image, "line 4 (id s2), column 'image': image not found", None, id="image"),
    pytest.param(
        _set("id", 3, "s1"), "column 'id': id 's1' repeated on lines 3, 5", None, id="dup"
    ),
    pytest.param(
        _set("label", 5, "bollt"),
        "line 7 (id s5), column 'label': label 'bollt' is not in the class set (bolt, nut, "
        "washer) (did you mean 'bolt'?)",
        None,
        id="label",
    ),
    pytest.param(
        _set("shape_1", 4, "abc"),
        "line 6 (id s4), column 'shape_1': 'abc' is not a number (continuous factor)",
        None,
        id="non-numeric",
    ),
    pytest.param(
        _set("texture_a", 0, ""),
        "line 2 (id s0), column 'texture_a': missing value (NaN)",
        None,
        id="nan",
    ),
    pytest.param(
        _set("texture_a", 1, "NaN"),
        "line 3 (id s1), column 'texture_a': missing value (NaN)",
        None,
        id="nan-text",
    ),
    pytest.param(
        _constant, "column 'rotation': constant factor (every value is 5.0)", None, id="constant"
    ),
    pytest.param(
        None,
        "factors.shape: 'shap_*' matches no column of the table",
        {"shape": ["shap_*"]},
        id="glob",
    ),
    pytest.param(
        None,
        "column 'shape_1' is in two factor groups, factors.shape and factors.other",
        {"shape": ["shape_*"], "other": ["shape_1"]},
        id="two-groups",
    ),
    pytest.param(
        None,
        "factors.shape: 'label' is a reserved column, not a factor",
        {"shape": ["label"]},
        id="reserved",
    ),
    pytest.param(
        _drop_column("condition"), "missing required column 'condition'", None, id="no-condition"
    ),
    pytest.param(
        _set("label", 2, ""), "line 4 (id s2), column 'label': missing value", None, id="no-label"
    ),
]


@pytest.mark.parametrize(("edit", "message", "globs"), BAD_TABLES)
def test_each_bad_input_gets_its_own_message_naming_file_line_and_column(
    tmp_path: Path, edit: Callable[[dict], None] | None, message: str, globs: dict | None
) -> None:
    rows = _table()
    if edit is not None:
        edit(rows)
    path = _write(tmp_path, rows)
    with pytest.raises(ReportgenError) as err:
        _load(path, globs=globs or GLOBS, classes=("bolt", "nut", "washer"))
    matching = [p for p in err.value.problems if message in p]
    assert len(matching) == 1, err.value.problems
    assert matching[0].startswith(str(path)), "every message names the file"
    assert len(err.value.problems) == 1, f"only the planted problem: {err.value.problems}"


def test_unreadable_image_is_reported_with_its_path(tmp_path: Path) -> None:
    path = _write(tmp_path, _table())
    (tmp_path / "images" / "s3.png").write_bytes(b"not an image at all")
    with pytest.raises(ReportgenError) as err:
        _load(path)
    assert len(err.value.problems) == 1
    assert "line 5 (id s3), column 'image': cannot read image" in err.value.problems[0]


def test_pictures_over_the_pixel_limit_are_refused_from_their_header(tmp_path: Path) -> None:
    path = _write(tmp_path, _table())
    png_header(tmp_path / "images" / "s3.png", 20_000, 20_000)  # PIL's own bomb limit trips
    png_header(tmp_path / "images" / "s5.png", 9_000, 9_000)  # under PIL's, over ours
    with pytest.raises(ReportgenError) as err:
        _load(path)
    first, second = err.value.problems
    assert "(id s3), column 'image': image" in first and "more than 67,108,864 pixels" in first
    assert "(id s5)" in second and "is 9000x9000 px, more than 67,108,864 pixels" in second
    decision_only = _load(path, require_images=False)  # pictures unchecked until they are read
    with pytest.raises(ReportgenError, match="s3.png has more than 67,108,864 pixels"):
        load_images(decision_only, rows=[3])
    assert load_images(decision_only, rows=[4]).shape == (1, 3, 4, 6)


def test_validate_notices_name_unreadable_pictures_and_pictures_outside_the_study(
    tmp_path: Path,
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    rows = _table()
    rows["image"][7] = str(tmp_path / "elsewhere.png")
    path = _write(study, rows)
    Image.new("RGB", (6, 4)).save(tmp_path / "elsewhere.png")
    (study / "images" / "s2.png").write_bytes(b"")
    notices = image_notices(_load(path, require_images=False), study)
    assert len(notices) == 2
    assert "s2.png" in notices[0] and notices[0].endswith("left out of the montages")
    assert notices[1] == f"picture outside the study folder {study}: {tmp_path / 'elsewhere.png'}"
    assert image_notices(_load(path, require_images=False), tmp_path)[1:] == []


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    rows = _table()
    _drop_image(rows)
    _set("shape_1", 4, "abc")(rows)
    _set("label", 5, "bollt")(rows)
    path = _write(tmp_path, rows)
    with pytest.raises(ReportgenError) as err:
        _load(path, globs={**GLOBS, "extra": ["nothing_*"]}, classes=("bolt", "nut", "washer"))
    text = "\n".join(err.value.problems)
    for part in ("image not found", "is not a number", "not in the class set", "nothing_*"):
        assert part in text
    assert len(err.value.problems) == 4


def test_long_runs_of_one_problem_are_cut_to_ten_lines_and_a_count(tmp_path: Path) -> None:
    rows = _table(n_per_class=9)  # 27 stimuli, none of whose images exist
    path = _write(tmp_path, rows, images=False)
    with pytest.raises(ReportgenError) as err:
        _load(path)
    assert len(err.value.problems) == 11
    assert err.value.problems[-1].startswith("... and 17 more: image not found")


def test_decision_only_tables_need_no_images(tmp_path: Path) -> None:
    rows = _table()
    del rows["image"]
    path = _write(tmp_path, {**rows, "image": [""] + ["x"] * 11}, images=False)
    st = _load(path, require_images=False)  # neither absent files nor empty cells matter
    assert len(st) == 12
    with pytest.raises(ReportgenError, match="line 2 \\(id s0\\), column 'image': missing value"):
        _load(path)
    pd.DataFrame(rows).to_csv(path, index=False)  # no image column at all
    st = _load(path, require_images=False)
    assert st.image_dir is None and "image" not in st.table.columns


def test_parquet_without_an_engine_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine(*args: object, **kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    path = tmp_path / "stimuli.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(ReportgenError, match="needs pyarrow; install it"):
        load_stimuli(path, None, GLOBS, require_images=False)


def test_in_memory_tables_from_a_generator_count_rows_from_one(tmp_path: Path) -> None:
    rows = _table()
    rows["shape_1"][0] = "oops"
    with pytest.raises(ReportgenError) as err:
        build_stimulus_set(
            pd.DataFrame(rows),
            source="generator 'parts'",
            image_dir=None,
            factor_globs=GLOBS,
            require_images=False,
        )
    assert err.value.problems == [
        "generator 'parts': row 1 (id s0), column 'shape_1': 'oops' is not a number "
        "(continuous factor)"
    ]


def test_sample_size_limits_follow_the_widest_continuous_group(tmp_path: Path) -> None:
    st = _load(_write(tmp_path, _table()))
    # texture has two continuous columns (grain is categorical), so d = 2: max(10, 4), max(10, 20)
    assert sample_size_limits(st) == (10, 20)
    check_sample_size(st, 4)  # 4 per class: enough for 4
    with pytest.raises(ReportgenError) as err:
        check_sample_size(st, 5)
    assert len(err.value.problems) == 3
    assert "class 'bolt' has 4 stimuli, fewer than the 5 per class needed" in err.value.problems[0]


def test_load_images_returns_exact_rgb_pixels_and_resizes(tmp_path: Path) -> None:
    st = _load(_write(tmp_path, _table()))
    images = load_images(st)
    assert images.shape == (12, 3, 4, 6) and images.dtype == torch.uint8
    # PNG is lossless, so every pixel equals the colour it was saved with
    assert torch.equal(images[3, :, 0, 0], torch.tensor([30, 20, 30], dtype=torch.uint8))
    assert torch.equal(images[3], images[3, :, :1, :1].expand(3, 4, 6))
    assert load_images(st, size=8, rows=[0, 5]).shape == (2, 3, 8, 8)
    assert load_images(st, size=(2, 3)).shape == (12, 3, 2, 3)


def test_load_images_refuses_mixed_sizes_without_a_target_size(tmp_path: Path) -> None:
    st = _load(_write(tmp_path, _table()))
    Image.new("L", (5, 5), 7).save(tmp_path / "images" / "s1.png")  # grey, other size
    with pytest.raises(ReportgenError, match="is 5x5 px but earlier ones are 4x6"):
        load_images(st)
    assert load_images(st, size=5)[1].eq(7).all()  # grey converted to RGB, resized exactly


def test_encode_round_trips_and_marks_unknown_or_missing_as_minus_one() -> None:
    codes, cats = encode(["nut", "bolt", None, "nut", float("nan")])
    assert cats == ("bolt", "nut")
    assert codes.tolist() == [1, 0, -1, 1, -1] and codes.dtype == torch.long
    codes, cats = encode(["b", "z"], categories=["z", "a", "b"])
    assert codes.tolist() == [2, 0] and cats == ("z", "a", "b")
    assert encode(["x"], categories=["a"])[0].tolist() == [-1]
    assert encode(["10", "9", "1"])[1] == ("1", "9", "10")
