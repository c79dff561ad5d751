"""The study's device, end to end: resolved once, every analysed tensor moved there once.

This machine may have no GPU, so the device is injected two ways: `StudyData.to` is run onto
PyTorch's ``meta`` device (a real, different device whose tensors hold no values), which shows
that every tensor field is moved; and every call into `analyses` during a run is recorded,
which shows that the analysis stage hands the estimators only tensors of the study's device
and creates none of its own elsewhere (the static check below finds a factory call without
``device=``). `bench/gpu_check.py` compares CPU and CUDA numbers on a machine with a GPU.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
from pathlib import Path

import pytest
import torch

from analyses import agreement, behaviour, drivers, info, layers, pid, stats
from reportgen.findings.build import analyse
from reportgen.inputs.study_data import load_study_data

ROOT = Path(__file__).resolve().parents[1]


def _tensors(value: object, path: str = "data"):
    """Every tensor reachable from a StudyData value, with where it was found."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _tensors(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _tensors(v, f"{path}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{path}[{i}]")


def test_study_data_to_moves_every_analysed_tensor_and_records_the_device(
    cue_conflict_study,
) -> None:
    data, _ = cue_conflict_study
    data = dataclasses.replace(data, activations={"layer": torch.randn(len(data.stimuli), 8)})
    moved = data.to("meta")
    found = dict(_tensors(moved))
    assert found, "no tensors found: the walk is broken"
    # Pictures are not analysed; they stay where they are and are written out as PNGs.
    elsewhere = [p for p, t in found.items() if t.device.type != "meta" and p != "data.images"]
    assert elsewhere == []
    assert moved.device == "meta" and data.device == "cpu"
    assert {p for p in found if p.startswith("data.variables")}  # factor values were walked
    assert "data.activations['layer']" in found


def _record_devices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, torch.device]]:
    """Wrap every public function of `analyses` (and the names the pipeline imported from
    it) so that each call records the device of every tensor argument."""
    seen: list[tuple[str, str, torch.device]] = []

    def spy(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for where, value in [*enumerate(args), *kwargs.items()]:
                for path, t in _tensors(value, str(where)):
                    seen.append((name, path, t.device))
            return fn(*args, **kwargs)

        return wrapper

    for module in (agreement, behaviour, drivers, info, layers, pid, stats):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                monkeypatch.setattr(module, name, spy(f"{module.__name__}.{name}", fn))
    return seen


@pytest.mark.parametrize(
    ("study", "stages"),
    [
        # models and people: drivers, behaviour, agreement, shared information
        ("cue-conflict", ("drivers.decision_information", "behaviour.shape_bias",
                          "agreement.model_vs_humans", "agreement.shared_information")),
        # a model with layers
        ("planted", ("drivers.decision_information", "layers.layer_information")),
    ],
)  # fmt: skip
def test_every_tensor_handed_to_the_analyses_lies_on_the_study_device(
    study: str,
    stages: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if study == "cue-conflict":
        data, config = request.getfixturevalue("cue_conflict_study")
    else:
        from test_pipeline_truth import _planted_study

        data, config = _planted_study(tmp_path, "texture")
    seen = _record_devices(monkeypatch)
    findings = analyse(data, config)
    called = {name for name, _, _ in seen}
    assert {f"analyses.{stage}" for stage in stages} <= called
    assert {str(d) for _, _, d in seen} == {data.device}
    assert findings.run.device == data.device == "cpu"


def test_the_analysis_refuses_data_on_another_device_than_the_run_is_configured_for(
    cue_conflict_study,
) -> None:
    data, config = cue_conflict_study
    with pytest.raises(RuntimeError, match="configured for"):
        analyse(data.to("meta"), config)  # data moved elsewhere than the config says


FACTORIES = {
    "tensor", "as_tensor", "arange", "zeros", "ones", "full", "empty", "eye", "linspace",
    "rand", "randn", "randint", "randperm",
}  # fmt: skip


def test_the_analysis_stage_creates_no_tensor_without_naming_its_device() -> None:
    module = "reportgen/findings/build.py"
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    missing = [
        f"{module}:{node.lineno} torch.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
        and node.func.attr in FACTORIES
        and not any(k.arg == "device" for k in node.keywords)
    ]
    assert missing == []


def test_loading_a_study_delivers_it_on_the_configured_device(cue_conflict_study) -> None:
    _, config = cue_conflict_study
    # `meta` stands in for an accelerator: a device other than the CPU that any machine has.
    config = dataclasses.replace(
        config, analysis=dataclasses.replace(config.analysis, device="meta")
    )
    data = load_study_data(config)
    assert data.device == "meta"
    assert {str(t.device) for p, t in _tensors(data) if p != "data.images"} == {"meta"}
