"""The model adapter: loading routes, refusal of pickled objects, error messages, layers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from reportgen.config import resolve_device
from reportgen.errors import ReportgenError
from reportgen.inputs.model import load_model, model_fingerprint, resolve_layers


def _resnet10(num_classes: int = 8) -> ResNet:
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)


class _Custom:
    """A class that weights-only unpickling does not know, so it must be refused."""

    def __init__(self) -> None:
        self.note = "trained on Tuesday"


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A resnet18 state dict with 8 classes, saved once, and its fingerprint."""
    torch.manual_seed(0)
    model = tvm.resnet18(weights=None, num_classes=8)
    path = tmp_path_factory.mktemp("ckpt") / "resnet18.pt"
    torch.save(model.state_dict(), path)
    return path, model_fingerprint(model)


@pytest.fixture()
def factory_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn
            from torchvision.models.resnet import BasicBlock, ResNet

            def resnet10(num_classes):
                return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)

            def fixed_ten():
                return nn.Sequential(nn.Flatten(), nn.Linear(12, 10))

            def not_a_model(num_classes):
                return "a string"
            """
        )
    )
    return path


def _message(excinfo: pytest.ExceptionInfo[ReportgenError]) -> str:
    return "\n".join(excinfo.value.problems)


# ------------------------------------------------------------------ torchvision route


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DataParallel
    ],
    ids=["plain", "nested-state_dict", "nested-model", "dataparallel-prefix"],
)
def test_torchvision_route_restores_the_saved_weights_exactly(
    resnet18_file: tuple[Path, str], tmp_path: Path, wrap
) -> None:
    path, fingerprint = resnet18_file
    wrapped = tmp_path / "wrapped.pt"
    torch.save(wrap(torch.load(path, weights_only=True)), wrapped)
    model = load_model("resnet18", wrapped, 8)
    # A fingerprint over every tensor's bytes: equal only if every weight was restored.
    assert model_fingerprint(model) == fingerprint
    assert not model.training


def test_pickled_module_is_refused_without_trust_and_loaded_with_it(
    resnet18_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, fingerprint = resnet18_file
    whole = load_model("resnet18", path, 8)
    pickled = tmp_path / "whole_model.pt"
    torch.save(whole, pickled)  # the whole object: unpickling it imports and runs code
    with pytest.raises(ReportgenError) as excinfo:
        load_model("resnet18", pickled, 8)
    text = _message(excinfo)
    assert "trust_checkpoint = true in [model]" in text and "--trust" not in text
    assert "torchvision.models.resnet.ResNet" in text  # says which object was refused
    assert "arbitrary code" in text  # and why
    assert model_fingerprint(load_model("resnet18", pickled, 8, trust_checkpoint=True)) == (
        fingerprint
    )


def test_checkpoint_with_custom_object_is_refused_without_trust(
    resnet18_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, fingerprint = resnet18_file
    odd = tmp_path / "with_custom.pt"
    torch.save({"state_dict": torch.load(path, weights_only=True), "meta": _Custom()}, odd)
    with pytest.raises(ReportgenError, match="trust_checkpoint = true"):
        load_model("resnet18", odd, 8)
    assert model_fingerprint(load_model("resnet18", odd, 8, trust_checkpoint=True)) == fingerprint


def test_wrong_num_classes_names_both_numbers(resnet18_file: tuple[Path, str]) -> None:
    path, _ = resnet18_file
    with pytest.raises(ReportgenError) as excinfo:
        load_model("resnet18", path, 10)
    assert len(excinfo.value.problems) == 1  # fc.bias is the same mistake, not a second one
    text = _message(excinfo)
    assert "fc.weight" in text and "8 outputs" in text and "num_classes = 10" in text
    assert "fix that first: set [model] num_classes = 8" in text


def test_unknown_architecture_suggests_close_names() -> None:
    with pytest.raises(ReportgenError) as excinfo:
        load_model("resnet81", None, 8)
    text = _message(excinfo)
    assert "'resnet81'" in text and "resnet18" in text


def test_key_mismatch_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = _resnet10().state_dict()
    state["extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "resnet10.pt"
    torch.save(state, path)
    with pytest.raises(ReportgenError) as excinfo:
        load_model("resnet18", path, 8)
    problems = excinfo.value.problems
    missing = next(p for p in problems if "missing" in p)
    assert "layer1.1.conv1.weight" in missing  # resnet18 has a second block per stage
    assert "more)" in missing  # a few keys, then the count of the rest
    assert any("extra_head.weight" in p for p in problems)
    assert any("another architecture" in p for p in problems)


@pytest.mark.parametrize("kind", ["missing", "directory", "garbage"])
def test_unreadable_weights_give_one_clear_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "weights.pt"
    if kind == "directory":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ReportgenError) as excinfo:
        load_model("resnet18", path, 8)
    assert len(excinfo.value.problems) == 1 and str(path) in excinfo.value.problems[0]
    assert "Traceback" not in excinfo.value.problems[0]


# ------------------------------------------------------------------ torchscript route


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_route_gives_the_same_outputs_as_the_eager_model(tmp_path: Path) -> None:
    torch.manual_seed(1)
    eager = _resnet10().eval()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(eager), str(path))
    loaded = load_model("torchscript", path, 8)
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        # Same weights and the same kernels: equal up to float32 rounding of fused ops.
        torch.testing.assert_close(loaded(x), eager(x), rtol=1e-5, atol=1e-6)
    assert model_fingerprint(loaded) == model_fingerprint(eager)

    assert resolve_layers(loaded, []) == []  # decisions only
    with pytest.raises(ReportgenError, match="TorchScript model cannot expose its layers"):
        resolve_layers(loaded, "auto")
    with pytest.raises(ReportgenError, match=r"8 outputs .*num_classes = 5"):
        load_model("torchscript", path, 5)
    with pytest.raises(ReportgenError, match="needs the file"):
        load_model("torchscript", None, 8)
    plain = tmp_path / "state.pt"
    torch.save(eager.state_dict(), plain)
    with pytest.raises(ReportgenError, match="not a TorchScript archive"):
        load_model("torchscript", plain, 8)


# ------------------------------------------------------------------ module:callable route


def test_callable_route_from_a_file_builds_and_loads_weights(
    factory_file: Path, tmp_path: Path
) -> None:
    torch.manual_seed(2)
    reference = _resnet10(num_classes=6)
    weights = tmp_path / "r10.pt"
    torch.save(reference.state_dict(), weights)
    model = load_model(f"{factory_file}:resnet10", weights, 6)
    assert isinstance(model, ResNet) and model.fc.out_features == 6
    assert model_fingerprint(model) == model_fingerprint(reference)
    built = load_model(f"{factory_file}:resnet10", None, 3)  # num_classes was passed through
    assert built.fc.out_features == 3


def test_callable_route_from_a_dotted_module() -> None:
    model = load_model("torchvision.models.resnet:resnet18", None, 5)
    assert isinstance(model, ResNet) and model.fc.out_features == 5


def test_callable_route_errors_are_clear(factory_file: Path) -> None:
    with pytest.raises(ReportgenError, match="did you mean resnet10"):
        load_model(f"{factory_file}:resnet01", None, 8)
    with pytest.raises(ReportgenError, match="returned a str, not a torch nn.Module"):
        load_model(f"{factory_file}:not_a_model", None, 8)
    # The callable takes no num_classes; its model has 10 outputs, the config says 8.
    with pytest.raises(ReportgenError, match=r"10 outputs .*'1.weight'.*num_classes = 8"):
        load_model(f"{factory_file}:fixed_ten", None, 8)
    with pytest.raises(ReportgenError, match="does not exist"):
        load_model(f"{factory_file.parent / 'nowhere.py'}:build", None, 8)
    with pytest.raises(ReportgenError, match="ModuleNotFoundError"):
        load_model("no_such_package_xyz:build", None, 8)


# ------------------------------------------------------------------ fingerprint, device


def test_fingerprint_is_stable_and_changes_with_any_weight() -> None:
    torch.manual_seed(3)
    model = _resnet10()
    first = model_fingerprint(model)
    assert first == model_fingerprint(model) and len(first) == 64
    copy = _resnet10()
    copy.load_state_dict(model.state_dict())
    assert model_fingerprint(copy) == first  # same weights, different object
    with torch.no_grad():
        copy.layer3[0].conv2.weight[0, 0, 0, 0] += 1e-3
    assert model_fingerprint(copy) != first


def test_resolve_device_refuses_cuda_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ReportgenError, match="no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ReportgenError, match="not one of auto, cpu, cuda"):
        resolve_device("tpu")


# ------------------------------------------------------------------ layers


def test_auto_layers_for_resnet_are_the_four_stages_and_the_pooled_features() -> None:
    model = tvm.resnet18(weights=None, num_classes=8)
    assert resolve_layers(model, "auto") == ["layer1", "layer2", "layer3", "layer4", "avgpool"]
    assert resolve_layers(_resnet10(), "auto") == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
    ]


def test_auto_layers_for_vgg_and_alexnet_are_the_pools_and_the_penultimate_layer() -> None:
    # Built on the meta device: the choice reads the structure only, and the 100M-parameter
    # classifier then costs no memory.
    with torch.device("meta"):
        vgg, alexnet = tvm.vgg11(weights=None, num_classes=8), tvm.alexnet(num_classes=8)
    vgg_pools = [f"features.{i}" for i, m in enumerate(vgg.features) if isinstance(m, nn.MaxPool2d)]
    assert len(vgg_pools) == 5
    # classifier: Linear ReLU Dropout Linear ReLU Dropout Linear; the ReLU at 4 feeds the last
    # Linear (the Dropout between them is the identity in eval mode).
    assert resolve_layers(vgg, "auto") == [*vgg_pools, "classifier.4"]
    assert resolve_layers(alexnet, "auto") == [
        "features.2",
        "features.5",
        "features.12",
        "classifier.5",
    ]


def test_auto_layers_generic_fallback_finds_downsampling_modules_and_the_head_input() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # 0: same size
        nn.ReLU(),  # 1
        nn.MaxPool2d(2),  # 2: halves
        nn.Conv2d(4, 6, 3, stride=2, padding=1),  # 3: halves
        nn.ReLU(),  # 4
        nn.AdaptiveAvgPool2d(1),  # 5: to 1x1
        nn.Flatten(),  # 6: feeds the Linear below
        nn.Dropout(),  # 7: identity in eval, skipped
        nn.Linear(6, 3),  # 8
    )
    assert resolve_layers(model, "auto") == ["2", "3", "5", "6"]


def test_layer_typos_are_listed_each_with_suggestions() -> None:
    model = _resnet10()
    assert resolve_layers(model, ["layer2", "fc", "layer2"]) == ["layer2", "fc"]
    assert resolve_layers(model, "layer3.0.conv1") == ["layer3.0.conv1"]
    with pytest.raises(ReportgenError) as excinfo:
        resolve_layers(model, ["layer1", "layr2", "avgpol", "zzzz"])
    problems = excinfo.value.problems
    assert len(problems) == 3
    assert "'layr2'" in problems[0] and "layer2" in problems[0]
    assert "'avgpol'" in problems[1] and "avgpool" in problems[1]
    assert "'zzzz'" in problems[2] and "top-level modules are conv1" in problems[2]


def test_code_named_by_a_config_is_found_next_to_the_config_not_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An `evil.py` where the command runs must not be the one imported."""
    from reportgen.config import load_config

    study, elsewhere = tmp_path / "study", tmp_path / "cwd"
    study.mkdir()
    elsewhere.mkdir()
    body = "import torch.nn as nn\ndef build(num_classes):\n    return nn.Linear(3, {})\n"
    (study / "net.py").write_text(body.format("num_classes"), encoding="utf-8")
    (elsewhere / "net.py").write_text("raise SystemExit('the wrong file ran')\n", encoding="utf-8")
    (study / "stimuli.csv").write_text("id,image,label,condition,f\n", encoding="utf-8")
    (study / "study.toml").write_text(
        '[report]\ntitle = "t"\n[model]\narch = "net.py:build"\nnum_classes = 2\n'
        '[stimuli]\ntable = "stimuli.csv"\nimages = "."\n[factors]\ng = ["f"]\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(elsewhere)
    mc = load_config(study / "study.toml").model
    assert mc is not None and mc.arch == f"{study / 'net.py'}:build"
    model = load_model(mc.arch, None, 2, code_dir=mc.code_dir)
    assert isinstance(model, nn.Linear) and model.out_features == 2
    # The module form looks in the config's folder first, too.
    (study / "study_nets.py").write_text(body.format("num_classes"), encoding="utf-8")
    (elsewhere / "study_nets.py").write_text("raise SystemExit(3)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(elsewhere))
    assert isinstance(load_model("study_nets:build", None, 2, code_dir=study), nn.Linear)


@pytest.mark.parametrize("arch", ["sys:exit", "exits:at_import"])
def test_a_callable_that_ends_the_process_is_a_clear_error(tmp_path: Path, arch: str) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    target = arch if arch == "sys:exit" else f"{tmp_path / 'exits.py'}:at_import"
    with pytest.raises(ReportgenError, match="ended the process"):
        load_model(target, None, 2)


def test_model_code_reads_an_empty_standard_input_not_the_terminal(tmp_path: Path) -> None:
    """`code:interact` once opened a console in the middle of a run."""
    (tmp_path / "asks.py").write_text(
        "import sys\nimport torch.nn as nn\nanswer = sys.stdin.read()\n"
        "def build(num_classes):\n    assert input.__name__ and sys.stdin.read() == ''\n"
        "    return nn.Linear(2, num_classes) if answer == '' else None\n",
        encoding="utf-8",
    )
    model = load_model(f"{tmp_path / 'asks.py'}:build", None, 2)
    assert isinstance(model, nn.Linear)
    with pytest.raises(ReportgenError, match="EOFError"):
        load_model("builtins:input", None, 2)


# ------------------------------------------------------------------ export route (.pt2)


def _exported_resnet18(folder: Path) -> tuple[Path, nn.Module]:
    torch.manual_seed(2)
    eager = tvm.resnet18(weights=None, num_classes=4).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(eager, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    path = folder / "resnet18.pt2"
    torch.export.save(program, path)
    return path, eager


def test_an_exported_resnet18_loads_with_its_layers_and_the_eager_outputs(
    tmp_path: Path,
) -> None:
    from reportgen.inputs.extract import extract

    path, eager = _exported_resnet18(tmp_path)
    loaded = load_model("export", path, 4)
    assert resolve_layers(loaded, "auto") == ["layer1", "layer2", "layer3", "layer4", "avgpool"]
    assert resolve_layers(loaded, ["layer3.1.conv2"]) == ["layer3.1.conv2"]
    with pytest.raises(ReportgenError, match="did you mean layer4"):
        resolve_layers(loaded, ["layr4"])
    x = torch.randn(5, 3, 32, 32)  # another batch size than the export's example
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), eager(x), rtol=1e-5, atol=1e-5)
    pictures = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    from_file = extract(loaded, pictures, ["layer2", "avgpool"], device="cpu", batch_size=4)
    from_eager = extract(eager, pictures, ["layer2", "avgpool"], device="cpu", batch_size=4)
    assert torch.equal(from_file.decisions, from_eager.decisions)
    for name in ("layer2", "avgpool"):  # forward hooks see the same activations
        torch.testing.assert_close(
            from_file.activations[name], from_eager.activations[name], rtol=1e-4, atol=1e-5
        )
    with pytest.raises(ReportgenError, match=r"4 outputs .*num_classes = 8"):
        load_model("export", path, 8)
    with pytest.raises(ReportgenError, match="not a torch.export archive"):
        (tmp_path / "junk.pt2").write_bytes(b"not a zip")
        load_model("export", tmp_path / "junk.pt2", 4)


def test_an_exported_program_carrying_a_pickle_is_refused_without_running_it(
    tmp_path: Path,
) -> None:
    """torch.export.load falls back to a full unpickling when a tensors-only load fails: a
    pickle planted in the archive's sample inputs runs on load unless it is refused."""
    import os
    import pickle
    import zipfile

    path, _ = _exported_resnet18(tmp_path)
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("data/sample_inputs/model.pt"):
                data = pickle.dumps(Planted())
            dst.writestr(item, data)
    with pytest.raises(ReportgenError, match="contains pickled Python objects") as err:
        load_model("export", evil, 4)
    assert "trust_checkpoint = true" in str(err.value)
    assert not marker.exists()
    assert torch.load is torch.serialization.load and pickle.loads is not None  # restored
    # The same file with trust: the planted code does run, which is why trust is opt-in.
    with pytest.raises(ReportgenError):
        load_model("export", evil, 4, trust_checkpoint=True)
    assert marker.exists()
