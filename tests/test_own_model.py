"""A new user's own model and pictures: preprocessing declared in the config reaches the
model, and a model that answers at chance is an alarm, in `validate` and on page 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.config import IMAGENET_MEAN, Preprocess
from reportgen.findings.evidence import accuracy_alarm, chance_level
from reportgen.inputs.stimuli import shape_pictures

#: Answers class floor(30 × mean input) mod 3: right on raw [0, 1] inputs, at chance on
#: ImageNet-normalised ones (the normalisation moves every mean to another band).
BANDS_NET = """import torch
from torch import nn


class Bands(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.feat = nn.Identity()
        self.n = num_classes

    def forward(self, x):
        m = self.feat(x).mean(dim=(1, 2, 3))
        k = torch.floor(m * 30).long().remainder(self.n)
        return nn.functional.one_hot(k, self.n).float() * 5.0


def build(num_classes):
    return Bands(num_classes)
"""


def bands_study(root: Path, preprocess: str) -> Path:
    """90 grey 8×8 pictures whose mean sits in the band of their class, and BANDS_NET."""
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    # A zero-mean checkerboard, different per channel, keeps each picture's mean and makes
    # the three pooled channels differ (the layer analysis needs them apart).
    board = (np.add.outer(range(8), range(8)) % 2) * 2 - 1
    rows = []
    for i in range(90):
        label = i % 3
        v = (3 * int(rng.integers(0, 10)) + label + 0.5) / 30
        px = round(v * 255) + np.array([6, 3, 0])[None, None, :] * board[:, :, None]
        Image.fromarray(px.clip(0, 255).astype(np.uint8)).save(root / "img" / f"p{i}.png")
        rows.append((f"p{i}", f"p{i}.png", "abc"[label], "standard", v, rng.normal()))
    pd.DataFrame(rows, columns=["id", "image", "label", "condition", "bright", "noise"]).to_csv(
        root / "stimuli.csv", index=False
    )
    (root / "net.py").write_text(BANDS_NET, encoding="utf-8")
    (root / "study.toml").write_text(
        f"""[report]
title = "own"
[model]
arch = "net.py:build"
num_classes = 3
layers = ["feat"]
{preprocess}
[stimuli]
table = "stimuli.csv"
images = "img"
classes = ["a", "b", "c"]
[factors]
brightness = ["bright"]
other = ["noise"]
[analysis]
permutations = 100
bootstrap = 0
device = "cpu"
""",
        encoding="utf-8",
    )
    return root / "study.toml"


@pytest.mark.slow
@pytest.mark.parametrize("declared", [True, False], ids=["raw inputs declared", "default"])
def test_declared_preprocessing_reaches_the_model_and_chance_is_an_alarm(
    tmp_path: Path, declared: bool
) -> None:
    preprocess = "[model.preprocess]\nmean = [0, 0, 0]\nstd = [1, 1, 1]\n" if declared else ""
    config = bands_study(tmp_path / "study", preprocess)
    checked = CliRunner().invoke(app, ["validate", str(config)])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "layers analysed: feat" in said
    if declared:
        assert "subtract mean [0.0, 0.0, 0.0] and divide by std [1.0, 1.0, 1.0]" in said
        assert "right on 90 of 90 standard stimuli (100.0%; chance 33.3%)" in said
        assert "not clearly better than chance" not in said
    else:
        assert "(ImageNet)" in said
        assert "not clearly better than chance" in said and "[model.preprocess]" in said

    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["run", str(config), "--out", str(out), "--db", str(tmp_path / "h.sqlite")]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    (accuracy,) = results["behaviour"]["accuracy"]
    alarms = [w["detail"] for w in results["warnings"] if w["code"] == "low_accuracy"]
    html = (out / "report.html").read_text(encoding="utf-8")
    if declared:
        assert accuracy["accuracy"] == 1.0 and not alarms
        assert "ALARM" not in html
    else:
        assert accuracy["accuracy"] < 0.45
        (alarm,) = alarms
        assert alarm["observer"] == "build" and alarm["n"] == 90
        assert alarm["chance"] == pytest.approx(1 / 3)
        assert alarm["ci_low"] <= alarm["chance"] <= alarm["ci_high"]
        assert '<p class="notice alarm">ALARM: the model build answers' in html
        # page 1's third key point is the alarm's action, not "no action is needed"
        assert "Make the model work on these images before reading anything else" in html


def test_an_accuracy_above_chance_by_its_point_estimate_alone_is_still_an_alarm() -> None:
    # 12 of 30 right (40 %) with 3 balanced classes: above 1/3 as a number, but its 95 %
    # interval (25 %–58 %) includes chance, so the model does not clearly work.
    alarm = accuracy_alarm(12, 30, 1 / 3)
    assert alarm is not None and alarm[0] < 1 / 3 < alarm[1]
    assert accuracy_alarm(24, 30, 1 / 3) is None  # 80 %: clearly working
    # 60 of 100 with one class at 70 %: always answering it would do better than this model
    assert chance_level([0] * 70 + [1] * 20 + [2] * 10) == pytest.approx(0.7)
    assert accuracy_alarm(60, 100, 0.7) is not None


def test_preprocess_geometry_resizes_crops_and_greys_like_torchvision() -> None:
    from torchvision.transforms.v2 import functional as tvf

    pictures = torch.randint(0, 256, (2, 3, 40, 60), dtype=torch.uint8)
    shorter = shape_pictures(pictures, Preprocess(resize=20))
    assert shorter.shape == (2, 3, 20, 30) and shorter.dtype == torch.uint8
    both = shape_pictures(pictures, Preprocess(resize=(10, 12), center_crop=8))
    assert both.shape == (2, 3, 8, 8)
    assert torch.equal(
        both, tvf.center_crop(tvf.resize(pictures, [10, 12], antialias=True), [8, 8])
    )
    grey = shape_pictures(pictures, Preprocess(grayscale=True))
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert not torch.equal(grey[:, 0], pictures[:, 0])
    assert torch.equal(shape_pictures(pictures, Preprocess()), pictures)
    assert Preprocess().mean == IMAGENET_MEAN


def test_pictures_of_different_sizes_are_accepted_once_a_resize_makes_them_one(
    tmp_path: Path,
) -> None:
    from reportgen.errors import ReportgenError
    from reportgen.inputs.stimuli import build_stimulus_set, load_images

    for i, (h, w) in enumerate([(30, 40), (50, 50), (20, 60)]):
        Image.new("RGB", (w, h), (i * 40, 0, 0)).save(tmp_path / f"p{i}.png")
    table = pd.DataFrame(
        {
            "id": ["p0", "p1", "p2"],
            "image": ["p0.png", "p1.png", "p2.png"],
            "label": ["a", "b", "a"],
            "condition": "standard",
            "f": [0.1, 0.2, 0.3],
        }
    )
    st = build_stimulus_set(table, source="t.csv", image_dir=tmp_path, factor_globs={"g": ["f"]})
    with pytest.raises(ReportgenError, match="set \\[model.preprocess\\] resize"):
        load_images(st)
    with pytest.raises(ReportgenError, match="center_crop too"):
        load_images(st, preprocess=Preprocess(resize=16))
    assert load_images(st, preprocess=Preprocess(resize=16, center_crop=16)).shape == (
        3,
        3,
        16,
        16,
    )
    assert load_images(st, preprocess=Preprocess(resize=(16, 24))).shape == (3, 3, 16, 24)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_torchscript_model_is_analysed_on_its_decisions_with_consistent_advice(
    tmp_path: Path,
) -> None:
    import sys

    study = tmp_path / "study"
    config = bands_study(study, "[model.preprocess]\nmean = [0, 0, 0]\nstd = [1, 1, 1]\n")
    sys.path.insert(0, str(study))
    try:
        import net  # the study's own BANDS_NET

        torch.jit.save(torch.jit.script(net.build(3)), str(study / "bands.ts"))
    finally:
        sys.path.remove(str(study))
        sys.modules.pop("net", None)
    text = config.read_text(encoding="utf-8")
    text = text.replace('arch = "net.py:build"', 'arch = "torchscript"\nweights = "bands.ts"')
    config.write_text(text.replace('layers = ["feat"]', 'layers = "auto"'), encoding="utf-8")
    refused = CliRunner().invoke(app, ["validate", str(config)])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "cannot expose its layers" in said and "set layers = [] in [model]" in said
    assert "arch = 'export'" in said

    config.write_text(text.replace('layers = ["feat"]', "layers = []"), encoding="utf-8")
    checked = CliRunner().invoke(app, ["validate", str(config)])
    assert checked.exit_code == 0, checked.output  # the advice given is a config that works
    assert "layers analysed: none (decisions only)" in " ".join(checked.output.split())
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["run", str(config), "--out", str(out), "--db", str(tmp_path / "h.sqlite")]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["behaviour"]["accuracy"][0]["accuracy"] == 1.0
    assert results["layers"] == []
    assert "No network stage was analysed" in (out / "report.html").read_text(encoding="utf-8")


def test_validate_names_a_label_the_model_cannot_output_and_a_typo_in_layers(
    tmp_path: Path,
) -> None:
    config = bands_study(tmp_path / "study", "")
    table = pd.read_csv(tmp_path / "study" / "stimuli.csv")
    table["label"] = [str("abc".index(x)) for x in table["label"]]
    table.loc[5, "label"] = "9"
    table.to_csv(tmp_path / "study" / "stimuli.csv", index=False)
    text = config.read_text(encoding="utf-8").replace('classes = ["a", "b", "c"]\n', "")
    config.write_text(text.replace('layers = ["feat"]', 'layers = ["faet"]'), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "label '9' (first at id p5) cannot be an output of a 3-class model" in said
    assert "'faet' is not a module of the model; did you mean feat?" in said  # both at once
    assert "valid:" not in said


def test_validate_warns_when_the_model_gives_one_answer_to_every_sampled_stimulus(
    tmp_path: Path,
) -> None:
    raw = "[model.preprocess]\nmean = [0, 0, 0]\nstd = [1, 1, 1]\n"  # every mean above 0
    config = bands_study(tmp_path / "study", raw)
    (tmp_path / "study" / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass One(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.feat = nn.Identity()\n"
        "    def forward(self, x):\n"
        "        return self.feat(x).mean(dim=(1, 2, 3))[:, None] * torch.tensor([0.0, 1.0, 0.0])\n"
        "\n\ndef build(num_classes):\n    return One()\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "the model gave the same answer ('b') to all 90 sampled stimuli" in said
    assert "not clearly better than chance" in said
    assert "read the 2 warnings above first" in said


@pytest.mark.slow
def test_categorical_groups_are_analysed_inside_the_network_or_said_to_be_left_out(
    tmp_path: Path,
) -> None:
    raw = "[model.preprocess]\nmean = [0, 0, 0]\nstd = [1, 1, 1]\n"
    config = bands_study(tmp_path / "study", raw)
    table = pd.read_csv(tmp_path / "study" / "stimuli.csv")
    table["finish"] = ["matt", "gloss"] * (len(table) // 2)
    table["coating"] = ["plain"] * (len(table) - 3) + ["chrome"] * 3  # 3 images: too few
    table.to_csv(tmp_path / "study" / "stimuli.csv", index=False)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            'other = ["noise"]', 'other = ["noise"]\nfinish = ["finish"]\ncoating = ["coating"]'
        )
    )
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["run", str(config), "--out", str(out), "--db", str(tmp_path / "h.sqlite")]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    caveats = {w["code"]: w["detail"] for w in results["warnings"]}
    assert caveats["layers_categorical"] == {"groups": "coating"}
    layer_rows = results["layers"]
    assert {x["group"] for x in layer_rows} == {"brightness", "other", "finish"}
    # finish alternates with the table rows, so the layer holds nothing of it
    finish = [x for x in layer_rows if x["group"] == "finish"]
    assert finish and not any(x["mi_significant"] for x in finish)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Inside the network leaves out coating" in html
