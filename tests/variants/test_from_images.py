"""`reportgen stimuli from-images` as a user meets it: what it writes, that it is
reproducible, and one clear line per bad input with nothing written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.config import load_config
from reportgen.inputs.stimuli import load_stimuli_from_config
from tests.picture_set import CLASSES, write_picture_set

runner = CliRunner()


def _make(src: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        ["stimuli", "from-images", str(src), "--out", str(out), "--size", "48", "--quiet", *extra],
    )


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    return write_picture_set(tmp_path / "pictures", per_class=3, size=64)


def test_writes_a_study_that_loads_with_every_condition_and_cue(pictures: Path, tmp_path: Path):
    out = tmp_path / "study"
    result = _make(pictures, out, "--per-image", "2", "--morph-levels", "3")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {
        "images",
        "stimuli.csv",
        "study.toml",
        "contact_sheet.png",
    }
    table = pd.read_csv(out / "stimuli.csv")
    n = 12  # 4 classes x 3 pictures
    counts = table["condition"].value_counts().to_dict()
    assert counts == {
        "standard": n,
        "cue-conflict": 2 * n,
        "texture-weakened": 2 * n,
        "shape-warped": 2 * n,
        "nuisance-varied": 2 * n,
        "shape-morph": 3 * n,
        "texture-morph": 3 * n,
    }
    assert len(list((out / "images").iterdir())) == len(table)
    # the label is the outline's class; the cue columns say which class each cue points to
    conflict = table[table["condition"] == "cue-conflict"]
    assert (conflict["label"] == conflict["shape_class"]).all()
    assert set(conflict["texture_class"]) == set(CLASSES)
    # the outline's and the surface's classes are balanced against each other: every pair
    # appears 24 / 16 = 1.5 times, so once or twice
    pairs = conflict.groupby(["shape_class", "texture_class"]).size()
    assert len(pairs) == 16 and pairs.between(1, 2).all()
    # the study.toml it writes loads (with a model filled in) and finds the factor groups
    text = (out / "study.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert config["stimuli"]["classes"] == sorted(CLASSES)
    assert config["analysis"]["conditions"] == ["cue-conflict"]
    # the default title has its Japanese, so a Japanese report's title is in Japanese
    assert config["labels"]["ja"]["report"]["title"].endswith("：モデルの判断を左右するもの")
    stimset = load_stimuli_from_config(_with_model(out, text))
    assert stimset.kinds["shape_class"] == "categorical"
    assert set(stimset.groups) == {"shape", "texture", "nuisance"}


def _with_model(out: Path, text: str):
    """The written config, with a placeholder model file so it loads."""
    (out / "model.pt").write_bytes(b"")
    (out / "study.toml").write_text(text, encoding="utf-8")
    return load_config(out / "study.toml")


def test_same_seed_same_bytes_other_seed_other_pictures(pictures: Path, tmp_path: Path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert _make(pictures, tmp_path / name, "--seed", seed, "--per-image", "1").exit_code == 0
    a, b, c = (tmp_path / n / "images" / "cue-conflict-00005.png" for n in "abc")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert (tmp_path / "a" / "stimuli.csv").read_text() == (
        tmp_path / "b" / "stimuli.csv"
    ).read_text()


def test_masks_given_in_a_masks_folder_are_used(tmp_path: Path):
    src = write_picture_set(tmp_path / "pics", per_class=2, size=64, masks=True)
    out = tmp_path / "study"
    assert _make(src, out, "--per-image", "1", "--morph-levels", "0").exit_code == 0
    assert "masks: given" in (out / "study.toml").read_text(encoding="utf-8")


def test_whole_image_swaps_spectra_and_leaves_out_outline_changes(pictures: Path, tmp_path: Path):
    out = tmp_path / "study"
    assert _make(pictures, out, "--whole-image", "--per-image", "1").exit_code == 0
    table = pd.read_csv(out / "stimuli.csv")
    assert not table["condition"].isin(["shape-warped", "shape-morph"]).any()
    conflict = table[table["condition"] == "cue-conflict"]
    assert (conflict["texture_patch"] == 0).all()  # the donor's spectrum, not its patches
    assert "masks: whole image" in (out / "study.toml").read_text(encoding="utf-8")


def test_a_csv_of_images_and_labels_is_read(pictures: Path, tmp_path: Path):
    rows = [
        (p.relative_to(pictures).as_posix(), p.parent.name) for p in sorted(pictures.rglob("*.png"))
    ]
    pd.DataFrame(rows, columns=["image", "label"]).to_csv(pictures / "list.csv", index=False)
    out = tmp_path / "study"
    result = _make(pictures / "list.csv", out, "--per-image", "1", "--morph-levels", "0")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "stimuli.csv")) == 12 * 5


def test_config_from_copies_the_model_with_its_paths_moved(pictures: Path, tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "net.pt2").write_bytes(b"")
    (mine / "study.toml").write_text(
        '[report]\ntitle = "Line 3"\n[model]\narch = "export"\nweights = "net.pt2"\n'
        "num_classes = 5\n[model.preprocess]\nmean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n"
        '[stimuli]\nclasses = ["triangle", "square", "other", "disc", "cross"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "deep" / "study"
    result = _make(pictures, out, "--config-from", str(mine / "study.toml"), "--per-image", "1")
    assert result.exit_code == 0, result.output
    config = load_config(out / "study.toml")
    assert config.model.weights == (mine / "net.pt2").resolve()
    assert config.model.preprocess.mean == (0.0, 0.0, 0.0)
    assert config.report.title == "Line 3"
    # the user's own title gets no made-up translation
    assert "report" not in tomllib.loads((out / "study.toml").read_text())["labels"]["ja"]
    assert config.stimuli.classes == ("triangle", "square", "other", "disc", "cross")


def test_config_from_must_name_every_picture_class(pictures: Path, tmp_path: Path):
    (tmp_path / "mine.toml").write_text(
        '[model]\narch = "export"\nweights = "x.pt2"\n[stimuli]\nclasses = ["disc", "square"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "study"
    result = _make(pictures, out, "--config-from", str(tmp_path / "mine.toml"))
    assert result.exit_code == 2
    assert "does not list the picture class(es) cross, triangle" in result.output
    assert not out.exists()


def _bad_case(kind: str, src: Path) -> str:
    """Damage the picture set one way; return the text the error must contain."""
    if kind == "unreadable":
        bad = src / "disc" / "disc_01.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        return str(bad)
    if kind == "one picture":
        (src / "lonely").mkdir()
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(src / "lonely" / "only.png")
        return "class 'lonely' has one picture (lonely/only.png)"
    if kind == "mask size":
        (src / "masks" / "disc").mkdir(parents=True)
        for p in sorted((src).rglob("*.png")):
            if "masks" in p.parts:
                continue
            m = src / "masks" / p.relative_to(src)
            m.parent.mkdir(parents=True, exist_ok=True)
            size = (30, 30) if p.name == "disc_02.png" else (64, 64)
            Image.fromarray(np.full(size, 255, np.uint8)).save(m)
        return "masks/disc/disc_02.png: mask is 30x30 px but its image"
    if kind == "too small":
        Image.fromarray(np.zeros((40, 70, 3), np.uint8)).save(src / "square" / "square_00.png")
        return "square/square_00.png: 40x70 px, smaller than the requested size 48"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["unreadable", "one picture", "mask size", "too small"])
def test_bad_input_names_the_file_and_writes_nothing(kind: str, pictures: Path, tmp_path: Path):
    expected = _bad_case(kind, pictures)
    out = tmp_path / "study"
    result = _make(pictures, out)
    assert result.exit_code == 2, result.output
    assert expected in result.output.replace("\n", "")
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".study")]


def test_a_folder_of_the_users_is_never_replaced(pictures: Path, tmp_path: Path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine", encoding="utf-8")
    result = _make(pictures, mine)
    assert result.exit_code == 2
    assert (mine / "keep.txt").read_text(encoding="utf-8") == "mine"
    # a folder the command wrote before is replaced
    out = tmp_path / "study"
    assert _make(pictures, out, "--per-image", "1").exit_code == 0
    assert _make(pictures, out, "--per-image", "2").exit_code == 0
    assert (pd.read_csv(out / "stimuli.csv")["condition"] == "shape-warped").sum() == 24


def test_a_nearly_empty_mask_is_warned_about(tmp_path: Path):
    src = write_picture_set(tmp_path / "pics", per_class=2, size=64, masks=True)
    m = src / "masks" / "disc" / "disc_00.png"
    tiny = np.zeros((64, 64), np.uint8)
    tiny[20:32, 20:32] = 255  # 3.5 % of the picture
    Image.fromarray(tiny).save(m)
    result = runner.invoke(
        app, ["stimuli", "from-images", str(src), "--out", str(tmp_path / "s"), "--size", "48"]
    )
    assert result.exit_code == 0, result.output
    assert "disc/disc_00.png: the given mask covers 4% of the picture" in result.output.replace(
        "\n", ""
    )


def test_too_few_cue_conflict_images_are_flagged_with_a_per_image_that_suffices() -> None:
    from analyses.drivers import min_class_trials
    from reportgen.variants.design import NUISANCE
    from reportgen.variants.folder import _too_few_conflicts

    need = min_class_trials(len(NUISANCE))
    # 24 pictures x 2 variants: 48 cue-conflict images, fewer than 3 classes x `need`
    (line,) = _too_few_conflicts({"cue-conflict": 48, "standard": 24}, 3, per_image=2)
    assert f"the {48} cue-conflict images" in line and f"about {need}" in line
    suggested = int(line.split("--per-image ")[1].split()[0])
    assert 24 * suggested >= 3 * need > 24 * (suggested - 1)  # enough, and no more than that
    assert _too_few_conflicts({"cue-conflict": 24 * suggested}, 3, per_image=suggested) == ()
    assert _too_few_conflicts({"standard": 24}, 3, per_image=2) == ()  # nothing to analyse
