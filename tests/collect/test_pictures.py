"""The pictures people see are the study's own: from the table's image folder, or drawn by
the built-in generator exactly as a run draws them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reportgen.collect.pictures import load_pictures
from reportgen.config import load_config
from reportgen.errors import ReportgenError
from reportgen.inputs.generated import generated_stimulus_set
from tests.collect.studies import COLOURS


def _decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_table_pictures_are_served_as_the_files_hold_them(study: Path) -> None:
    pictures = load_pictures(load_config(study))
    assert pictures.ids == ("bolt-00", "bolt-01", "nut-00", "nut-01", "pin-00", "pin-01")
    assert pictures.classes == ("bolt", "nut", "pin")
    assert pictures.conditions[:2] == ("standard", "cue-conflict")
    png = pictures.png("nut-01")
    on_disk = np.asarray(Image.open(study.parent / "img" / "nut-01.png").convert("RGB"))
    assert np.array_equal(_decoded(png), on_disk)
    assert tuple(_decoded(png)[0, 0]) == COLOURS["nut"]
    with pytest.raises(KeyError):
        pictures.png("img/nut-01.png")


def test_a_missing_picture_is_named_before_anyone_starts(study: Path) -> None:
    (study.parent / "img" / "pin-01.png").unlink()
    with pytest.raises(
        ReportgenError, match=r"line 7 \(id pin-01\), column 'image': image not found"
    ):
        load_pictures(load_config(study))


def test_generated_pictures_are_the_ones_a_run_analyses(tmp_path: Path) -> None:
    config_path = tmp_path / "study.toml"
    config_path.write_text(
        """[report]
title = "generated"
[model]
arch = "reportgen.demo.resnet10:resnet10"
num_classes = 2
[stimuli]
generator = "parts"
[stimuli.params]
standard = 6
cue_conflict = 4
shape_morph = 0
texture_morph = 0
n_types = 2
size = 32
[factors]
shape = ["shape_h*"]
[collect]
practice = 0
""",
        encoding="utf-8",
    )
    config = load_config(config_path)
    pictures = load_pictures(config)
    stimset, images = generated_stimulus_set(config)
    assert pictures.ids == tuple(stimset.table["id"]) and len(pictures.ids) == 10
    for row in (0, 7):
        shown = torch.from_numpy(_decoded(pictures.png(pictures.ids[row])).copy())
        assert torch.equal(shown.permute(2, 0, 1), images[row])
