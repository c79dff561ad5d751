"""The demo-network recipe (reportgen.demo.train_sample) and the checkpoint it shipped."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from reportgen.demo.train_sample import (
    ARCH,
    MODEL_JSON_KEYS,
    NUM_CLASSES,
    choice_rates,
    evaluate,
    train_sample,
)
from reportgen.inputs.model import load_model

DEMO = Path(__file__).resolve().parents[2] / "sample_data" / "parts"


@pytest.fixture(scope="module")
def shipped_record() -> dict:
    return json.loads((DEMO / "model.json").read_text(encoding="utf-8"))


def test_tiny_training_run_writes_checkpoint_and_recipe(tmp_path: Path) -> None:
    calls: list[tuple[int, int, float]] = []
    threads = torch.get_num_threads()
    record = train_sample(
        tmp_path,
        seed=3,
        epochs=1,
        n_train=64,
        size=32,
        batch_size=32,
        n_test=32,
        n_conflict=32,
        on_progress=lambda s, t, loss: calls.append((s, t, loss)),
    )
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]
    assert all(math.isfinite(c[2]) for c in calls)
    on_disk = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(record))
    assert tuple(on_disk) == MODEL_JSON_KEYS
    data = (tmp_path / "model.pt").read_bytes()
    assert on_disk["model"]["size_bytes"] == len(data)
    assert on_disk["model"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert on_disk["recipe"]["epochs"] == 1 and on_disk["recipe"]["n_train_per_epoch"] == 64
    assert on_disk["generator"]["size"] == 32 and on_disk["seeds"]["seed"] == 3
    cc = on_disk["evaluation"]["cue_conflict"]
    assert math.isclose(cc["texture"] + cc["shape"] + cc["other"], 1.0)
    assert 0.0 <= on_disk["evaluation"]["standard"]["accuracy"] <= 1.0
    # The checkpoint is an fp16 state dict that loads with weights_only into the fp32 network.
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    model = load_model(ARCH, tmp_path / "model.pt", NUM_CLASSES)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.get_num_threads() == threads  # training used 2 threads, then restored them


def test_choice_rates_closed_form() -> None:
    shape = torch.tensor([0, 1, 2, 3, 4])
    texture = torch.tensor([1, 2, 3, 4, 5])
    decisions = torch.tensor([0, 2, 3, 7, 4])  # shape, texture, texture, other, shape
    rates = choice_rates(decisions, shape, texture)
    assert rates == {"texture": 0.4, "shape": 0.4, "other": pytest.approx(0.2), "shape_bias": 0.5}


def test_shipped_checkpoint_loads_weights_only(shipped_record: dict) -> None:
    path = DEMO / "model.pt"
    assert path.stat().st_size <= 20 * 2**20
    assert hashlib.sha256(path.read_bytes()).hexdigest() == shipped_record["model"]["sha256"]
    state = torch.load(path, weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    model = load_model(
        shipped_record["model"]["arch"], path, shipped_record["model"]["num_classes"]
    )
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert tuple(shipped_record) == MODEL_JSON_KEYS


def test_shipped_figures_hold_on_fresh_stimuli(shipped_record: dict) -> None:
    model = load_model(ARCH, DEMO / "model.pt", NUM_CLASSES)
    n = 256
    # seed 7: generator seeds 200007 / 300007, used neither in training nor in the recorded test
    fresh = evaluate(model, n_standard=n, n_conflict=n, seed=7, size=64)
    recorded = shipped_record["evaluation"]
    n_rec = recorded["standard"]["n"]

    def tolerance(p: float) -> float:
        # 4 sd of the difference of two binomial proportions (fresh n, recorded n_rec); p is
        # kept inside [0.02, 0.98] so that a near-perfect recorded figure still allows the
        # few errors a fresh sample of 256 can show by chance.
        p = min(max(p, 0.02), 0.98)
        return 4 * math.sqrt(p * (1 - p) * (1 / n + 1 / n_rec))

    acc = recorded["standard"]["accuracy"]
    assert acc >= 0.9
    assert abs(fresh["standard"]["accuracy"] - acc) <= tolerance(acc)
    for key in ("texture", "shape", "other"):
        rate = recorded["cue_conflict"][key]
        assert abs(fresh["cue_conflict"][key] - rate) <= tolerance(rate), key
