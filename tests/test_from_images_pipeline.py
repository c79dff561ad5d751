"""From a folder of pictures only to a report: `stimuli from-images` -> `validate` -> `run`
names the cue each of two models was trained on, and finds the other cue not significant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from reportgen.cli import app
from tests.cue_models import export_model, train_cue_model
from tests.picture_set import CLASSES, write_picture_set

runner = CliRunner()
SIZE = 64


def _own_config(folder: Path, cue: str) -> Path:
    """The user's own config: the exported model, raw [0, 1] inputs, and the class order."""
    torch.manual_seed(0)
    export_model(train_cue_model(cue, size=SIZE), folder / f"{cue}.pt2", SIZE)
    path = folder / f"{cue}.toml"
    path.write_text(
        f'[report]\ntitle = "{cue} model"\n[model]\nname = "{cue}-net"\narch = "export"\n'
        f'weights = "{cue}.pt2"\nnum_classes = 4\nlayers = "auto"\n[model.preprocess]\n'
        "mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n"
        f"[stimuli]\nclasses = {json.dumps(list(CLASSES))}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("cue", "other"), [("shape", "texture"), ("texture", "shape")])
def test_run_names_the_cue_the_model_was_trained_on(cue: str, other: str, tmp_path: Path):
    pictures = write_picture_set(tmp_path / "pictures", per_class=6, size=96)
    mine = tmp_path / "mine"
    mine.mkdir()
    config = _own_config(mine, cue)
    study = tmp_path / "study"
    made = runner.invoke(
        app,
        ["stimuli", "from-images", str(pictures), "--out", str(study), "--size", str(SIZE),
         "--config-from", str(config), "--quiet"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["validate", str(study / "study.toml")])
    assert checked.exit_code == 0, checked.output
    report = tmp_path / "report"
    ran = runner.invoke(
        app, ["run", str(study / "study.toml"), "--out", str(report), "--no-history", "--quiet"]
    )
    assert ran.exit_code == 0, ran.output
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    groups = {d["group"]: d for d in results["drivers"] if d["name"] == d["group"]}
    assert groups[cue]["significant"] and groups[cue]["share"] > 0.8
    assert not groups[other]["significant"]
    bias = results["behaviour"]["shape_bias"][f"{cue}-net"]
    assert bias > 0.8 if cue == "shape" else bias < 0.2
