"""The study config: typed values, every problem at once as `file: section.key: reason`, a hash
that ignores formatting, and the `validate` / `init` commands (exit 2, no traceback)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.config import Config, config_hash, load_config
from reportgen.errors import ReportgenError

GOOD = """\
[report]
title = "Inspection model"
period = "2026-Q4"
language = "ja"

[model]
arch = "resnet18"
weights = "models/model.pt"
num_classes = 3
layers = ["layer1", "layer4"]
projection = "pca"
projection_dim = 32

[stimuli]
table = "data/stimuli.csv"
images = "data/images"

[factors]
shape = ["shape_*"]
texture = "texture_*"

[humans]
responses = "data/panel.csv"

[analysis]
permutations = 200
alpha = 0.01
seed = 7
"""

DECISION_ONLY = (
    GOOD.split("[model]")[0]
    + """\
[decisions]
models = ["logs/a.csv", "logs/b.csv"]

[stimuli]
table = "data/stimuli.csv"

[factors]
shape = ["shape_*"]
"""
)


def _files(root: Path) -> None:
    """Empty files where GOOD points (the config checks existence; contents are checked later)."""
    for name in (
        "models/model.pt",
        "data/stimuli.csv",
        "data/panel.csv",
        "logs/a.csv",
        "logs/b.csv",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "data/images").mkdir(exist_ok=True)


def _config(tmp_path: Path, text: str) -> Path:
    _files(tmp_path)
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_gives_typed_values_and_paths_relative_to_its_folder(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, GOOD))
    assert isinstance(cfg, Config) and not cfg.decision_only
    assert cfg.report.language == "ja" and cfg.report.period == "2026-Q4"
    assert cfg.model is not None and cfg.model.weights == tmp_path / "models" / "model.pt"
    assert cfg.model.layers == ("layer1", "layer4") and cfg.model.projection_dim == 32
    assert cfg.model.batch_size == 64 and cfg.model.trust_checkpoint is False  # defaults
    assert cfg.stimuli.images == tmp_path / "data" / "images"
    assert cfg.factors == {"shape": ("shape_*",), "texture": ("texture_*",)}
    assert cfg.analysis.permutations == 200 and cfg.analysis.alpha == 0.01
    assert cfg.analysis.device == "auto" and cfg.analysis.bootstrap == 200
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.analysis.seed = 1  # type: ignore[misc]


def test_roles_and_labels_are_read_and_unlisted_roles_are_assumed(tmp_path: Path) -> None:
    text = GOOD.replace("[factors]\n", '[factors]\nlighting = ["light_*"]\nplacement = ["pos_*"]\n')
    text = text.replace(
        "[humans]",
        '[roles]\ntexture = "incidental"\nplacement = "nuisance"\n\n'
        '[labels.ja.groups]\nshape = "形状"\n[labels.ja.classes]\nbolt = "ボルト"\n\n[humans]',
    )
    cfg = load_config(_config(tmp_path, text))
    # A role given is kept whatever the name ("placement" is a nuisance because it says so);
    # a role not given is assumed from the name, and said to be assumed.
    assert cfg.roles == {
        "lighting": "nuisance",
        "placement": "nuisance",
        "shape": "diagnostic",
        "texture": "incidental",
    }
    assert set(cfg.roles_assumed) == {"lighting", "shape"}
    assert cfg.labels == {"ja": {"groups": {"shape": "形状"}, "classes": {"bolt": "ボルト"}}}


def test_report_decision_is_read_as_given(tmp_path: Path) -> None:
    text = GOOD.replace(
        'language = "ja"\n',
        'language = "ja"\n[report.decision]\nfit_accuracy = 0.9\nowner = "QA"\n'
        '[[report.decision.options]]\nname = "Retrain"\ncost = "3 weeks"\n'
        '[report.decision.options.ja]\nname = "再学習"\n'
        '[[report.decision.options]]\nname = "Keep"\n',
    )
    d = load_config(_config(tmp_path, text)).report.decision
    assert d.fit_accuracy == 0.9 and d.owner == "QA" and d.due == ""
    assert [(o.name, o.cost) for o in d.options] == [("Retrain", "3 weeks"), ("Keep", "")]
    assert d.options[0].translations == {"ja": {"name": "再学習"}} and not d.options[1].translations
    assert load_config(_config(tmp_path, GOOD)).report.decision.fit_accuracy is None


def test_decision_only_config_has_no_model_and_needs_no_images(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, DECISION_ONLY))
    assert cfg.decision_only and cfg.model is None and cfg.stimuli.images is None
    assert cfg.decisions is not None
    assert cfg.decisions.models == (tmp_path / "logs/a.csv", tmp_path / "logs/b.csv")


def test_generator_stimuli_pass_their_params_through(tmp_path: Path) -> None:
    text = GOOD.replace(
        'table = "data/stimuli.csv"\nimages = "data/images"',
        'generator = "parts"\n\n[stimuli.params]\nstandard = 64\nsize = 96',
    )
    cfg = load_config(_config(tmp_path, text))
    assert cfg.stimuli.generator is not None and cfg.stimuli.table is None
    assert cfg.stimuli.generator.name == "parts"
    params = dict(cfg.stimuli.generator.params)
    assert params["standard"] == 64 and params["size"] == 96 and params["n_types"] == 8


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ('size = "big"', "stimuli.params.size: must be a whole number"),
        ("standard = [1, 2]", "stimuli.params.standard: must be a whole number"),
        ('shape_jitter = "x"', "stimuli.params.shape_jitter: must be a number from 0 to 10"),
        ("texture_jitter = nan", "stimuli.params.texture_jitter: must be a number"),
        ("n_per_type = 64", "stimuli.params.n_per_type: unknown setting"),
        ("standard = 40000\ncue_conflict = 40000\nsize = 512", "GiB of memory"),
    ],
)
def test_generator_settings_of_the_wrong_type_are_named(
    tmp_path: Path, setting: str, named: str
) -> None:
    text = GOOD.replace(
        'table = "data/stimuli.csv"\nimages = "data/images"',
        f'generator = "parts"\n\n[stimuli.params]\n{setting}',
    )
    with pytest.raises(ReportgenError) as err:
        load_config(_config(tmp_path, text))
    assert any(named in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("permutations = 1000000000000", "at most 100,000"),
        ("bootstrap = 1000000000000", "at most 10,000"),
        ("seed = 18446744073709551616", "at most"),
    ],
)
def test_monte_carlo_settings_have_bounds_that_say_why(
    tmp_path: Path, setting: str, named: str
) -> None:
    # GOOD ends in its [analysis] table; its own permutations and seed make way.
    text = GOOD.replace("permutations = 200\n", "").replace("seed = 7\n", "") + setting + "\n"
    with pytest.raises(ReportgenError) as err:
        load_config(_config(tmp_path, text))
    assert any(named in p for p in err.value.problems), err.value.problems


def _swap(old: str, new: str):
    return lambda text: text.replace(old, new)


# (edit of GOOD, the one problem expected after "study.toml: ")
BAD_CONFIGS = [
    pytest.param(
        _swap("[analysis]", "[analisys]"),
        "analisys: unknown section (did you mean 'analysis'?)",
        id="section",
    ),
    pytest.param(
        _swap("seed = 7", "seeds = 7"),
        "analysis.seeds: unknown key (did you mean 'seed'?)",
        id="key",
    ),
    pytest.param(
        _swap("permutations = 200", "permutations = 10"),
        "analysis.permutations: must be a whole number at least 100, got 10",
        id="perm",
    ),
    pytest.param(
        _swap("alpha = 0.01", "alpha = 0.7"),
        "analysis.alpha: must be a number between 0 and 0.5 (exclusive), got 0.7",
        id="alpha",
    ),
    pytest.param(
        _swap("seed = 7", "seed = 1.5"),
        "analysis.seed: must be a whole number at least 0 and at most 9223372036854775807, got 1.5",
        id="seed",
    ),
    pytest.param(
        _swap("seed = 7", 'device = "gpu"'),
        "analysis.device: must be one of 'auto', 'cpu', 'cuda' (did you mean 'cuda'?), got 'gpu'",
        id="device",
    ),
    pytest.param(
        _swap('language = "ja"', 'language = "fr"'),
        "report.language: must be one of 'en', 'ja', got 'fr'",
        id="language",
    ),
    pytest.param(
        _swap('title = "Inspection model"\n', ""),
        "report.title: missing; expected text",
        id="title",
    ),
    pytest.param(
        _swap('arch = "resnet18"', 'arch = "resnet81"'),
        "model.arch: unknown torchvision architecture 'resnet81' (did you mean "
        "'resnet18'?); or use 'export', 'torchscript' or 'package.module:function'",
        id="arch",
    ),
    pytest.param(
        _swap("models/model.pt", "models/missing.pt"),
        "model.weights: file not found: ",
        id="weights",
    ),
    pytest.param(
        _swap("projection_dim = 32\n", ""),
        "model.projection_dim: missing; projection = 'pca' needs a size",
        id="proj",
    ),
    pytest.param(
        _swap("layers = [", "layers = 3 #"),
        "model.layers: must be a list of non-empty texts, got 3",
        id="layers",
    ),
    pytest.param(
        _swap('"data/images"', '"data/stimuli.csv"'),
        "stimuli.images: is a file, expected a folder: ",
        id="images",
    ),
    pytest.param(
        _swap('texture = "texture_*"', "texture = 3"),
        "factors.texture: must be a list of non-empty texts, got 3",
        id="factors",
    ),
    pytest.param(
        _swap('images = "data/images"', 'images = "data/images"\ngenerator = "parts"'),
        "stimuli.table: give either stimuli.table (and images) or stimuli.generator, not both",
        id="generator",
    ),
    pytest.param(
        _swap("[humans]", '[decisions]\nmodels = ["logs/a.csv"]\n[humans]'),
        "decisions: give either [model] (weights) or [decisions]",
        id="both",
    ),
    pytest.param(
        lambda t: t.split("[model]")[0] + "[stimuli]" + t.split("[stimuli]")[1],
        "model: missing; give [model] (the classifier's weights) or [decisions]",
        id="neither",
    ),
    pytest.param(
        _swap('images = "data/images"', 'images = "data/images"\nclasses = ["a", "b"]'),
        "model.num_classes: is 3 but stimuli.classes lists 2 classes",
        id="classes",
    ),
    pytest.param(
        _swap('language = "ja"\n', 'language = "ja"\n[report.decision]\nfit_accuracy = 95\n'),
        "report.decision.fit_accuracy: must be a fraction in (0, 1], e.g. 0.95 for 95%",
        id="fit-accuracy",
    ),
    pytest.param(
        _swap(
            'language = "ja"\n',
            'language = "ja"\n[[report.decision.options]]\nname = "Retrain"\nprice = "1"\n',
        ),
        "report.decision.options[0].price: unknown key",
        id="option-key",
    ),
    pytest.param(
        _swap("[humans]", '[roles]\nshape = "diagnostc"\n\n[humans]'),
        "roles.shape: must be one of 'diagnostic', 'incidental', 'nuisance' (did you mean "
        "'diagnostic'?)",
        id="role",
    ),
    pytest.param(
        _swap("[humans]", '[roles]\nlighting = "nuisance"\n\n[humans]'),
        "roles.lighting: not a factor group",
        id="role-group",
    ),
    pytest.param(
        _swap("[humans]", '[labels.fr.groups]\nshape = "forme"\n\n[humans]'),
        "labels.fr: unknown key",
        id="label-language",
    ),
    pytest.param(
        _swap("[humans]", '[labels.ja.group]\nshape = "形"\n\n[humans]'),
        "labels.ja.group: unknown kind (did you mean 'groups'?)",
        id="label-kind",
    ),
    pytest.param(
        _swap("[humans]", '[labels.ja.groups]\nshap = "形"\n\n[humans]'),
        "labels.ja.groups.shap: not one of the study's groups (did you mean 'shape'?)",
        id="label-id",
    ),
    pytest.param(
        _swap("[humans]", '[labels.ja.classes]\nwasher = ""\n\n[humans]'),
        "labels.ja.classes.washer: must be non-empty text",
        id="label-empty",
    ),
    pytest.param(
        _swap("[humans]\n", '[humans]\nsimulated = "yes"\n'),
        "humans.simulated: must be true or false, got 'yes'",
        id="bool",
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD_CONFIGS)
def test_each_config_mistake_is_named_as_file_section_key_reason(
    tmp_path: Path, edit, message: str
) -> None:
    path = _config(tmp_path, edit(GOOD))
    with pytest.raises(ReportgenError) as err:
        load_config(path)
    assert len(err.value.problems) == 1, err.value.problems
    assert err.value.problems[0].startswith(f"{path}: {message}")


def test_decisions_files_are_checked_one_by_one(tmp_path: Path) -> None:
    path = _config(tmp_path, DECISION_ONLY.replace("logs/b.csv", "logs/c.csv"))
    with pytest.raises(ReportgenError) as err:
        load_config(path)
    assert err.value.problems == [
        f"{path}: decisions.models[1]: file not found: {tmp_path / 'logs' / 'c.csv'}"
    ]


def test_every_config_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace("permutations = 200", "permutations = 10")
        .replace('language = "ja"', 'language = "fr"')
        .replace("[analysis]", "[analysis]\nbogus = 1")
    )
    path = _config(tmp_path, text)
    with pytest.raises(ReportgenError) as err:
        load_config(path)
    keys = sorted(p.split(": ")[1] for p in err.value.problems)
    assert keys == ["analysis.bogus", "analysis.permutations", "report.language"]


def test_toml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = _config(tmp_path, GOOD.replace('period = "2026-Q4"', "period = 2026-Q4"))
    with pytest.raises(ReportgenError, match=r"study.toml: not valid TOML: .*line 3"):
        load_config(path)


def test_config_hash_ignores_comments_and_key_order_but_not_values(tmp_path: Path) -> None:
    base = config_hash(load_config(_config(tmp_path, GOOD)))
    reordered = GOOD.replace(
        "permutations = 200\nalpha = 0.01", "alpha = 0.01 # risk\npermutations = 200"
    )
    assert config_hash(load_config(_config(tmp_path, "# note\n" + reordered))) == base
    changed = config_hash(load_config(_config(tmp_path, GOOD.replace("seed = 7", "seed = 8"))))
    assert changed != base and len(base) == 64


# --------------------------------------------------------------------------------------------
# The commands

runner = CliRunner()
STARTER_CLASSES = tuple(f"part-{k}" for k in range(8))  # the starter says num_classes = 8


def _fill_starter_files(root: Path, n_per_class: int = 10) -> None:
    """Put small valid files where the starter config points ("yours")."""
    rng = np.random.default_rng(1)
    n = n_per_class * len(STARTER_CLASSES)
    (root / "data/images").mkdir(parents=True)
    (root / "models").mkdir()
    # validate loads the model and runs it on the standard stimuli: a real (untrained) one
    torch.manual_seed(0)
    torch.save(
        torchvision.models.resnet18(num_classes=len(STARTER_CLASSES)).state_dict(),
        root / "models/model.pt",
    )
    table = pd.DataFrame(
        {
            "id": [f"p{i:03d}" for i in range(n)],
            "image": [f"p{i:03d}.png" for i in range(n)],
            "label": [STARTER_CLASSES[i % 8] for i in range(n)],
            "condition": ["standard", "cue-conflict"] * (n // 2),
            "shape_1": rng.normal(size=n),
            "shape_2": rng.normal(size=n),
            "texture_1": rng.normal(size=n),
            "rotation": rng.uniform(0, 360, size=n),
            "scale": rng.uniform(0.8, 1.2, size=n),
            "light_x": rng.normal(size=n),
        }
    )
    table.to_csv(root / "data/stimuli.csv", index=False)
    for name in table["image"]:
        Image.new("RGB", (4, 4), (90, 90, 90)).save(root / "data/images" / name)
    panel = pd.DataFrame(
        {
            "observer": ["insp-1"] * n + ["insp-2"] * n,
            "stimulus_id": list(table["id"]) * 2,
            "response": list(table["label"]) * 2,
        }
    )
    panel.to_csv(root / "data/panel.csv", index=False)


def test_init_then_validate_lists_missing_files_then_passes_once_they_exist(
    tmp_path: Path,
) -> None:
    path = tmp_path / "study.toml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0 and path.is_file()

    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    for key in ("model.weights", "stimuli.table", "stimuli.images"):
        assert f"{path}: {key}: " in result.output
    assert "humans" not in result.output  # [humans] is commented out until one has people

    _fill_starter_files(tmp_path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "80 stimuli" in out and "cue-conflict" in out and "standard" in out
    assert "part-0, part-1" in out and "shape_1 (continuous)" in out
    assert "resnet18" in out and "people: none" in out
    assert "model check: right on" in out and "of 40 standard stimuli" in out
    # nuisance has 3 columns, so 10 per class is enough (>= 2*3) but below the 30 recommended
    assert "warning:" in out and "recommended" in out and "valid:" in out


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text("mine")
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2 and "already exists; use --force" in result.output
    assert path.read_text() == "mine"
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0
    assert path.read_text().startswith("# reportgen study configuration")


def test_validate_reports_every_input_problem_at_once_without_traceback(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path / "study.toml")])
    _fill_starter_files(tmp_path)
    table = pd.read_csv(tmp_path / "data/stimuli.csv").astype({"shape_2": object})
    table.loc[3, "shape_2"] = "wide"
    table.loc[5, "label"] = None
    table.to_csv(tmp_path / "data/stimuli.csv", index=False)
    (tmp_path / "data/images/p007.png").unlink()
    result = runner.invoke(app, ["validate", str(tmp_path / "study.toml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 3, result.output
    assert "line 5 (id p003), column 'shape_2': 'wide' is not a number" in result.output
    assert "line 7 (id p005), column 'label': missing value" in result.output
    assert "line 9 (id p007), column 'image': image not found" in result.output


def _with_people(text: str) -> str:
    """The starter config with its commented-out [humans] section switched on."""
    commented = '# [humans]\n# responses = "data/panel.csv"'
    assert commented in text
    return text.replace(commented, '[humans]\nresponses = "data/panel.csv"')


def test_validate_checks_responses_and_sample_size_together(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path / "study.toml")])
    config = tmp_path / "study.toml"
    config.write_text(_with_people(config.read_text()))
    _fill_starter_files(tmp_path, n_per_class=5)  # below the hard minimum of 10 per class
    panel = pd.read_csv(tmp_path / "data/panel.csv")
    panel.loc[0, "response"] = "part-9"
    panel.to_csv(tmp_path / "data/panel.csv", index=False)
    result = runner.invoke(app, ["validate", str(tmp_path / "study.toml")])
    assert result.exit_code == 2
    assert "class 'part-0' has 5 stimuli, fewer than the 10 per class the analysis" in result.output
    assert "line 2, column 'response': 'part-9' is not in the class set" in result.output


def test_validate_summarises_a_decision_only_study(tmp_path: Path) -> None:
    _fill_starter_files(tmp_path, n_per_class=20)  # the logs need 20 answers in two classes
    panel = pd.read_csv(tmp_path / "data/panel.csv")
    logs = panel.assign(observer=panel["observer"].str.replace("insp", "vendor-model"))
    logs.to_csv(tmp_path / "logs.csv", index=False)
    text = (Path(__file__).parents[1] / "reportgen" / "starter_config.toml").read_text()
    model = text[text.index("[model]") : text.index("[stimuli]")]
    text = text.replace(model, '[decisions]\nmodels = ["logs.csv"]\n\n')
    text = text.replace('images = "data/images"', "")
    (tmp_path / "study.toml").write_text(text)
    (tmp_path / "data/images/p000.png").unlink()  # images are not needed without a model
    result = runner.invoke(app, ["validate", str(tmp_path / "study.toml")])
    assert result.exit_code == 0, result.output
    assert "decision-only study" in result.output and "vendor-model-1" in result.output
    assert "layer analysis needs the model weights" in result.output
    # the starter config gives every group a role; one left out is shown as assumed
    assert "incidental" in result.output and "assumed" not in result.output
    text = text.replace('texture = "incidental"', "")
    (tmp_path / "study.toml").write_text(text)
    result = runner.invoke(app, ["validate", str(tmp_path / "study.toml")])
    assert result.exit_code == 0, result.output
    assert "(assumed:" in result.output  # the table wraps the rest of the hint


def test_validate_refuses_an_observer_id_shared_by_a_person_and_a_model_log(
    tmp_path: Path,
) -> None:
    _fill_starter_files(tmp_path)
    panel = pd.read_csv(tmp_path / "data/panel.csv")
    panel.query("observer == 'insp-2'").to_csv(tmp_path / "logs.csv", index=False)
    text = (Path(__file__).parents[1] / "reportgen" / "starter_config.toml").read_text()
    model = text[text.index("[model]") : text.index("[stimuli]")]
    (tmp_path / "study.toml").write_text(
        _with_people(text.replace(model, '[decisions]\nmodels = ["logs.csv"]\n'))
    )
    result = runner.invoke(app, ["validate", str(tmp_path / "study.toml")])
    assert result.exit_code == 2
    assert "column 'observer': observer 'insp-2' also appears in" in result.output


def test_validate_accepts_generated_stimuli_and_says_when_they_are_checked(
    tmp_path: Path,
) -> None:
    text = GOOD.replace(
        'table = "data/stimuli.csv"\nimages = "data/images"', 'generator = "parts"'
    ).replace('generator = "parts"', 'generator = "parts"\n[stimuli.params]\nseed = 3')
    result = runner.invoke(app, ["validate", str(_config(tmp_path, text))])
    assert result.exit_code == 0, result.output
    assert "built-in 'parts' generator at run time" in result.output
    bad = text.replace('generator = "parts"', 'generator = "part"')
    result = runner.invoke(app, ["validate", str(_config(tmp_path, bad))])
    assert result.exit_code == 2
    assert "stimuli.generator: must be one of 'parts' (did you mean 'parts'?)" in result.output


# --------------------------------------------------------------------------------------------
# The resolved config: command-line overrides, the device, and the hash of what a run used


def test_overrides_reach_the_config_and_its_hash(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, GOOD))
    resolved = config.with_overrides(device="cpu")
    assert not config.resolved and resolved.resolved
    overridden = config.with_overrides(seed=8, device="cpu", language="en")
    assert (overridden.analysis.seed, overridden.analysis.device) == (8, "cpu")
    assert overridden.report.language == "en"
    assert config_hash(overridden) != config_hash(resolved)
    # An override is the same run as the same value written in the file.
    edited = load_config(_config(tmp_path, GOOD.replace("seed = 7", "seed = 8")))
    edited = edited.with_overrides(device="cpu", language="en")
    assert config_hash(edited) == config_hash(overridden)
    # Resolving again changes nothing.
    assert resolved.with_overrides() == resolved
    assert config_hash(resolved.with_overrides()) == config_hash(resolved)


def test_auto_device_resolves_to_what_the_machine_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    config = load_config(_config(tmp_path, GOOD))  # no device given: "auto"
    assert config.analysis.device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.with_overrides().analysis.device == "cpu"
    with pytest.raises(ReportgenError, match="no CUDA GPU"):
        config.with_overrides(device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.with_overrides().analysis.device == "cuda"


def test_bad_overrides_are_named(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, GOOD))
    with pytest.raises(ReportgenError) as err:
        config.with_overrides(seed=-1, language="fr", device="cpu")
    assert len(err.value.problems) == 2
    assert "--seed" in err.value.problems[0] and "--lang" in err.value.problems[1]


def test_a_bug_is_reported_as_an_internal_error_with_a_log_not_as_bad_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    import reportgen.runner

    def broken(*args, **kwargs):
        raise ValueError("shape mismatch in some estimator")

    monkeypatch.setattr(reportgen.runner, "run_study", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = runner.invoke(app, ["run", str(_config(tmp_path, GOOD)), "--device", "cpu"])
    assert result.exit_code == 1, result.output
    assert "internal error" in result.output and "not a problem with your data" in result.output
    assert "Traceback" not in result.output
    (log,) = tmp_path.glob("reportgen-internal-error-*.log")
    assert "ValueError: shape mismatch in some estimator" in log.read_text(encoding="utf-8")
    assert re.search(r"details in .*reportgen-internal-error-", " ".join(result.output.split()))


def test_model_preprocess_is_read_with_imagenet_defaults(tmp_path: Path) -> None:
    from reportgen.config import IMAGENET_MEAN, IMAGENET_STD

    plain = load_config(_config(tmp_path, GOOD)).model
    assert plain is not None
    assert plain.preprocess.mean == IMAGENET_MEAN and plain.preprocess.std == IMAGENET_STD
    assert plain.preprocess.resize is None and not plain.preprocess.grayscale
    text = GOOD.replace(
        "[stimuli]",
        "[model.preprocess]\nresize = 72\ncenter_crop = [64, 48]\nmean = [0, 0, 0]\n"
        "std = [1, 1, 1]\ngrayscale = true\n\n[stimuli]",
    )
    p = load_config(_config(tmp_path, text)).model.preprocess  # type: ignore[union-attr]
    assert (p.resize, p.center_crop, p.mean, p.std, p.grayscale) == (
        72,
        (64, 48),
        (0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0),
        True,
    )
    assert p.describe().startswith("grey (one channel copied to three), then resize to shorter")


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("resize = 0", "model.preprocess.resize: must be a whole number of pixels"),
        ("resize = [1, 2, 3]", "model.preprocess.resize"),
        ("center_crop = 1.5", "model.preprocess.center_crop"),
        ("mean = [0.5, 0.5]", "model.preprocess.mean: must be three numbers"),
        ("mean = [0, 0, 255]", "model.preprocess.mean: must be three numbers from 0 to 1"),
        ("std = [0.2, 0, 0.2]", "model.preprocess.std: must be three numbers above 0"),
        ("grayscale = 1", "model.preprocess.grayscale: must be true or false"),
        ("normalize = true", "model.preprocess.normalize: unknown key"),
    ],
)
def test_bad_preprocess_settings_are_named(tmp_path: Path, setting: str, named: str) -> None:
    text = GOOD.replace("[stimuli]", f"[model.preprocess]\n{setting}\n\n[stimuli]")
    with pytest.raises(ReportgenError) as err:
        load_config(_config(tmp_path, text))
    assert any(named in p for p in err.value.problems), err.value.problems
