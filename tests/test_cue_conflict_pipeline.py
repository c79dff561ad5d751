"""End to end: the decision-only cue-conflict study through `reportgen run`, on the real data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reportgen.cli import app

# The whole demo through `reportgen run`: seconds, not milliseconds.
pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "cue_conflict"
IMAGENET_CNNS = (
    "alexnet-caffe",
    "googlenet-caffe",
    "vgg-caffe",
    "alexnet-torchvision",
    "vgg16-torchvision",
    "resnet50-torchvision",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the demo study with fewer permutations and resamples, to keep CI quick."""
    work = tmp_path_factory.mktemp("cue")
    study = work / "study"
    shutil.copytree(SAMPLE, study, ignore=shutil.ignore_patterns("raw"))
    toml = (study / "study.toml").read_text(encoding="utf-8")
    toml = toml.replace("permutations = 1000", "permutations = 200")
    toml = toml.replace("bootstrap = 200", "bootstrap = 50")
    (study / "study.toml").write_text(toml, encoding="utf-8")
    out = work / "out"
    result = CliRunner().invoke(
        app, ["run", str(study / "study.toml"), "--out", str(out), "--db", str(work / "h.sqlite")]
    )
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_every_output(run_dir: Path) -> None:
    for name in ("report.pdf", "report.html", "results.json", "run.log", "tables/drivers.csv"):
        assert (run_dir / name).is_file(), name


def test_shape_bias_per_observer_matches_the_paper(run_dir: Path) -> None:
    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    bias = doc["behaviour"]["shape_bias"]
    # Geirhos et al. 2019 (section 3, Figure 4): people pooled 95.9%, AlexNet 42.9%,
    # GoogLeNet 31.2%, VGG-16 17.2%, ResNet-50 22.1%; rounding of one decimal of a percent.
    for observer, paper in {
        "humans": 0.959,
        "alexnet-caffe": 0.429,
        "googlenet-caffe": 0.312,
        "vgg-caffe": 0.172,
        "resnet50-torchvision": 0.221,
    }.items():
        assert bias[observer] == pytest.approx(paper, abs=0.0006), observer
    assert len([k for k in bias if k.startswith("subject-")]) == 10


def test_imagenet_cnns_are_driven_by_texture_and_people_by_shape(run_dir: Path) -> None:
    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    mi = {(d["observer"], d["name"]): d for d in doc["drivers"]}
    for cnn in IMAGENET_CNNS:
        assert mi[(cnn, "texture")]["mi_bits"] > mi[(cnn, "shape")]["mi_bits"], cnn
        assert mi[(cnn, "texture")]["significant"], cnn
    assert mi[("humans", "shape")]["mi_bits"] > mi[("humans", "texture")]["mi_bits"]
    assert mi[("humans", "shape")]["significant"]


def test_error_consistency_keys_and_human_ceiling(run_dir: Path) -> None:
    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    ec = doc["agreement"]["error_consistency"]
    assert set(ec) == set(IMAGENET_CNNS) | {"resnet50-sin-torchvision", "human-human"}
    # People agree with each other on which images they get wrong far more than any
    # ImageNet CNN agrees with them (kappa 0.34 vs 0.04-0.11 on these data).
    assert all(ec["human-human"] > ec[m] + 0.1 for m in IMAGENET_CNNS)
    assert doc["layers"] == []  # decision-only: no weights, no layer analysis
