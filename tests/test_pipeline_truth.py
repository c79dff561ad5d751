"""The analysis suite end to end against known answers: planted truth, null calibration,
model randomisation (Adebayo et al. 2018) and hand-computed behaviour.

Studies are read through the real loading path (`load_config` + `load_study_data` on small
decision-only tables written to ``tmp_path``); synthetic layer activations are added to the
`StudyData` with `dataclasses.replace`, and `pipeline.analyse` produces the Findings checked here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch
from scipy.stats import binom

from analyses import drivers
from reportgen.config import Config, load_config
from reportgen.demo.resnet10 import resnet10
from reportgen.findings import Driver, Findings, LayerInfo
from reportgen.findings.build import HUMAN_HUMAN, POOLED_HUMANS, analyse
from reportgen.inputs.extract import extract, imagenet_preprocess
from reportgen.inputs.study_data import StudyData, load_study_data

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("c0", "c1", "c2", "c3")
ALPHA = 0.05
# Quadrant rule: argmax over the four sign vectors (+-1, +-1) of s . f picks the quadrant of
# the 2-D evidence f, i.e. class 2 * [f_0 > 0] + [f_1 > 0]: a fixed linear map, then argmax.
SIGNS = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _write_study(
    folder: Path,
    table: pd.DataFrame,
    models: dict[str, list[int | None]],
    factors: dict[str, list[str]],
    humans: dict[str, list[int | None]] | None = None,
) -> Config:
    """A decision-only study (stimulus table, logged decisions, optional people) -> Config.

    ``models`` / ``humans``: observer -> class index per stimulus row (None: no answer).
    """
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "stimuli.csv", index=False)

    def trials(answers: dict[str, list[int | None]]) -> pd.DataFrame:
        rows = [
            (obs, sid, "" if a is None else CLASSES[a])
            for obs, given in answers.items()
            for sid, a in zip(table["id"], given, strict=True)
        ]
        return pd.DataFrame(rows, columns=["observer", "stimulus_id", "response"])

    trials(models).to_csv(folder / "decisions.csv", index=False)
    groups = "\n".join(f"{g} = {cols!r}".replace("'", '"') for g, cols in factors.items())
    people = ""
    if humans is not None:
        trials(humans).to_csv(folder / "humans.csv", index=False)
        people = '[humans]\nresponses = "humans.csv"\n'
    classes = ", ".join(f'"{c}"' for c in CLASSES)
    (folder / "study.toml").write_text(
        f"""
[report]
title = "truth"
[decisions]
models = ["decisions.csv"]
[stimuli]
table = "stimuli.csv"
classes = [{classes}]
[factors]
{groups}
{people}
[analysis]
permutations = 200
bootstrap = 50
seed = 0
device = "cpu"
""",
        encoding="utf-8",
    )
    return load_config(folder / "study.toml")


def _factors(n: int, seed: int) -> pd.DataFrame:
    """Independent standard-normal factors of two diagnostic groups and one nuisance."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 5, generator=g, dtype=torch.float64).numpy()
    return pd.DataFrame(f, columns=["shape_a", "shape_b", "texture_a", "texture_b", "light"])


def _quadrant(evidence: torch.Tensor, noise: float, seed: int) -> torch.Tensor:
    """Decisions: argmax of the fixed sign map of 2-D evidence plus Gaussian noise, (n,)."""
    g = torch.Generator().manual_seed(seed)
    noisy = evidence + noise * torch.randn(evidence.shape, generator=g, dtype=torch.float64)
    return (noisy @ SIGNS.T).argmax(dim=1)


def _activations(f: pd.DataFrame, seed: int) -> dict[str, torch.Tensor]:
    """Two layers: "early" mixes shape and texture, "late" keeps texture only (n, 16) each."""
    g = torch.Generator().manual_seed(seed)
    both = torch.as_tensor(f[["shape_a", "shape_b", "texture_a", "texture_b"]].to_numpy().copy())
    texture = both[:, 2:]
    n = both.shape[0]
    w_early = torch.randn(16, 4, generator=g, dtype=torch.float64)
    w_late = torch.randn(16, 2, generator=g, dtype=torch.float64)
    early = torch.tanh(both @ w_early.T) + 0.3 * torch.randn(
        n, 16, generator=g, dtype=torch.float64
    )
    late = torch.tanh(texture @ w_late.T) + 0.3 * torch.randn(
        n, 16, generator=g, dtype=torch.float64
    )
    return {"early": early, "late": late}


N_PLANTED = 400
FACTOR_GROUPS = {
    "shape": ["shape_a", "shape_b"],
    "texture": ["texture_a", "texture_b"],
    "nuisance": ["light"],
}


def _planted_study(folder: Path, rule: str) -> tuple[StudyData, Config]:
    """One model whose decisions follow `rule`, with the synthetic two-layer activations."""
    f = _factors(N_PLANTED, seed=1)
    if rule == "texture":
        dec = _quadrant(
            torch.as_tensor(f[["texture_a", "texture_b"]].to_numpy().copy()), 0.5, seed=2
        )
    elif rule == "shape":
        dec = _quadrant(torch.as_tensor(f[["shape_a", "shape_b"]].to_numpy().copy()), 0.5, seed=2)
    elif rule == "texture_a":
        # Quartile of texture_a plus noise: texture_b, shape and light play no part.
        g = torch.Generator().manual_seed(2)
        ev = torch.as_tensor(f["texture_a"].to_numpy().copy()) + 0.5 * torch.randn(
            N_PLANTED, generator=g, dtype=torch.float64
        )
        dec = torch.bucketize(ev, ev.quantile(torch.tensor([0.25, 0.5, 0.75], dtype=ev.dtype)))
    else:
        raise AssertionError(rule)
    table = f.assign(
        id=[f"s{i:04d}" for i in range(N_PLANTED)],
        label=[CLASSES[int(c)] for c in dec],  # labels play no part in the information analyses
        condition="planted",
    )
    config = _write_study(folder, table, {rule: dec.tolist()}, FACTOR_GROUPS)
    data = load_study_data(config)
    data = dataclasses.replace(data, activations=_activations(f, seed=3))
    return data, config


def _groups(findings: Findings, observer: str) -> dict[str, Driver]:
    return {d.name: d for d in findings.drivers if d.observer == observer and d.name == d.group}


def _singles(findings: Findings, observer: str) -> dict[str, Driver]:
    return {d.name: d for d in findings.drivers if d.observer == observer and d.name != d.group}


def _layers(findings: Findings) -> dict[tuple[str, str], LayerInfo]:
    return {(x.layer, x.group): x for x in findings.layers}


# ------------------------------------------------------------------------------------------
# 1-2. planted truth
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def texture_model(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    data, config = _planted_study(tmp_path_factory.mktemp("texture"), "texture")
    return analyse(data, config)


def test_planted_texture_model_top_driver_is_texture_and_the_rest_carry_nothing(
    texture_model: Findings,
) -> None:
    groups = _groups(texture_model, "texture")
    top = max(groups.values(), key=lambda d: d.mi_bits)
    assert top.name == "texture"
    assert top.significant
    # I(texture; quadrant of texture + N(0, 0.5^2) noise) is about 0.9 bits of the 2-bit
    # decision entropy. Shape and light are independent of the decisions: their reported group
    # values (mixture form minus its null mean) scatter around 0 with an sd of about 0.03 bits
    # at N = 400 (measured over permutations), so 3 sd = 0.09 bits next to ~0.9 bits bounds
    # each of their shares by 0.1, and the top share is then above 0.9 / (0.9 + 2 * 0.09) > 0.8.
    assert top.mi_bits > 0.6
    assert top.share > 0.8
    for name in ("shape", "nuisance"):
        assert not groups[name].significant, name
        assert groups[name].share < 0.1, name
    singles = _singles(texture_model, "texture")
    for name in ("shape_a", "shape_b", "light"):
        assert not singles[name].significant, name
    for name in ("texture_a", "texture_b"):
        assert singles[name].significant, name


def test_planted_layer_profile_texture_everywhere_shape_only_early(
    texture_model: Findings,
) -> None:
    layers = _layers(texture_model)
    assert set(layers) == {(la, g) for la in ("early", "late") for g in FACTOR_GROUPS}
    for layer in ("early", "late"):
        assert layers[(layer, "texture")].mi_significant, layer
        assert layers[(layer, "texture")].n_significant_units > 8, layer  # most of 16 units
        assert not layers[(layer, "nuisance")].mi_significant, layer  # no unit reads light
        assert layers[(layer, "nuisance")].n_significant_units == 0, layer
    assert layers[("early", "shape")].mi_significant
    assert layers[("early", "shape")].n_significant_units > 8
    # The late layer is built from texture alone: shape information is a null there.
    assert not layers[("late", "shape")].mi_significant
    assert layers[("late", "shape")].n_significant_units == 0
    # Depth ordering follows the activations dict.
    assert [x.depth for x in texture_model.layers if x.group == "texture"] == [0, 1]


def test_planted_redundancy_with_decision_is_texture_not_shape(texture_model: Findings) -> None:
    layers = _layers(texture_model)
    for layer in ("early", "late"):
        # The decision uses texture and both layers hold it: shared information.
        assert layers[(layer, "texture")].redundancy_significant, layer
        assert layers[(layer, "texture")].redundancy_bits > 0.5, layer
        # The early layer holds shape, but the decision does not use it: min(I(F;H), I(F;D))
        # is bounded by I(shape; D) ~ 0.
        assert not layers[(layer, "shape")].redundancy_significant, layer
        assert not layers[(layer, "nuisance")].redundancy_significant, layer


def test_planted_shape_model_mirror_top_driver_is_shape(tmp_path: Path) -> None:
    data, config = _planted_study(tmp_path, "shape")
    findings = analyse(data, config)
    groups = _groups(findings, "shape")
    top = max(groups.values(), key=lambda d: d.mi_bits)
    assert top.name == "shape" and top.significant and top.share > 0.8  # bounds as above
    assert not groups["texture"].significant and not groups["nuisance"].significant
    layers = _layers(findings)
    # The early layer holds the shape the decision uses; the late layer holds no shape, so it
    # cannot share any; texture is held at both depths but unused by this decision.
    assert layers[("early", "shape")].redundancy_significant
    assert not layers[("late", "shape")].redundancy_significant
    for layer in ("early", "late"):
        assert not layers[(layer, "texture")].redundancy_significant, layer
        # What a layer holds does not depend on the decision rule.
        assert layers[(layer, "texture")].mi_significant, layer


def test_rule_ignoring_one_factor_of_a_group_gives_it_no_significant_information(
    tmp_path: Path,
) -> None:
    data, config = _planted_study(tmp_path, "texture_a")
    findings = analyse(data, config)
    singles = _singles(findings, "texture_a")
    groups = _groups(findings, "texture_a")
    assert singles["texture_a"].significant
    assert groups["texture"].significant  # the group contains the factor that is used
    for name in ("texture_b", "shape_a", "shape_b", "light"):
        assert not singles[name].significant, name
        # Bias-corrected estimates of zero at N = 400 stay within a few hundredths of a bit,
        # against ~0.9 bits for texture_a.
        assert abs(singles[name].mi_bits) < 0.05, name
    assert singles["texture_a"].mi_bits > 0.5


# ------------------------------------------------------------------------------------------
# 3. null calibration
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_null_decisions_any_significant_factor_at_most_alpha_across_seeds() -> None:
    # 40 data sets on one fixed set of factors (the pipeline's family: two 2-D groups, their
    # four columns, a 1-D nuisance and a 3-level categorical factor) with decisions independent
    # of every factor: 20 uniformly random, 20 the planted texture decisions shuffled across
    # trials (the same class frequencies as a real rule, no stimulus dependence).
    n, runs, n_perm = 300, 40, 100
    f = _factors(n, seed=11)
    col = {c: torch.as_tensor(f[c].to_numpy().copy()) for c in f.columns}
    continuous = {
        "shape": torch.stack([col["shape_a"], col["shape_b"]], dim=1),
        "texture": torch.stack([col["texture_a"], col["texture_b"]], dim=1),
        **col,
    }
    g = torch.Generator().manual_seed(12)
    categorical = {"finish": (torch.randint(0, 3, (n,), generator=g), 3)}
    planted = _quadrant(continuous["texture"], 0.5, seed=13)
    hits = 0
    for run in range(runs):
        g = torch.Generator().manual_seed(100 + run)
        if run % 2:
            dec = planted[torch.randperm(n, generator=g)]
        else:
            dec = torch.randint(0, 4, (n,), generator=g)
        res = drivers.decision_information(
            dec, 4, continuous, categorical, n_perm=n_perm, seed=run, n_boot=2
        )
        hits += bool((res.p_value <= ALPHA).any())
    # Under the null each run rejects anything with probability <= alpha (max-statistic
    # permutation test, p = (1 + #)/(K + 1)); the runs are independent (fresh decisions and
    # permutations), so hits ~ Binomial(40, q <= 0.05): P(X >= 7) = 0.0034 at q = 0.05, so a
    # calibrated test passes with probability > 0.99. Per-test p-values without the family-wise
    # correction (8 correlated tests, about 5 effectively independent: q ~ 0.25) would show 7
    # or more with probability 0.90.
    limit = 6
    assert binom.sf(limit, runs, ALPHA) < 0.005
    assert binom.cdf(limit, runs, 0.25) < 0.1
    assert hits <= limit


# ------------------------------------------------------------------------------------------
# 4. sanity: a re-initialised network must change the profiles (Adebayo et al. 2018)
# ------------------------------------------------------------------------------------------


def _parts_config(folder: Path, stimulus_seed: int) -> Config:
    """400 cue-conflict parts and the shipped demo network, the demo's factor groups."""
    folder.mkdir(parents=True, exist_ok=True)
    demo = (ROOT / "sample_data" / "parts" / "study.toml").read_text(encoding="utf-8")
    factors = demo[demo.index("[factors]") : demo.index("[cues]")]
    (folder / "study.toml").write_text(
        f"""
[report]
title = "sanity"
[model]
arch = "reportgen.demo.resnet10:resnet10"
weights = "{(ROOT / "sample_data" / "parts" / "model.pt").as_posix()}"
num_classes = 8
[stimuli]
generator = "parts"
classes = ["washer", "flange", "sprocket", "bracket", "cam", "coupling", "plate", "pulley"]
[stimuli.params]
standard = 0
cue_conflict = 400
shape_morph = 0
texture_morph = 0
seed = {stimulus_seed}
{factors}
[analysis]
permutations = 200
bootstrap = 50
seed = 0
device = "cpu"
""",
        encoding="utf-8",
    )
    return load_config(folder / "study.toml")


def _random_network_responses(data: StudyData, images: torch.Tensor) -> StudyData:
    """The same study answered by a freshly initialised ResNet-10 (learned weights gone).

    BatchNorm running statistics are re-estimated on the stimuli: with the initial statistics
    (mean 0, variance 1) the untrained network's logits are dominated by one class and all 400
    decisions are identical, which the drivers analysis refuses (nothing to compare). The
    statistics are data moments, not learned weights, so the network stays untrained.
    """
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = resnet10(8)
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    with torch.no_grad():
        for batch in images.split(100):
            net(imagenet_preprocess(batch))
    responses = extract(net, images, list(data.activations), device="cpu")
    assert len(responses.decisions.unique()) > 2  # decisions vary: the drivers can be measured
    return dataclasses.replace(
        data,
        decisions=responses.decisions.to(torch.int64).reshape(1, -1),
        activations={k: v.to(torch.float64) for k, v in responses.activations.items()},
    )


def _driver_profile(findings: Findings) -> torch.Tensor:
    """Group information about the decisions, bits, clipped at 0 as the shares are."""
    groups = {d.name: d.mi_bits for d in findings.drivers if d.name == d.group}
    return torch.tensor([max(groups[g], 0.0) for g in ("shape", "texture", "nuisance")])


def _layer_profile(findings: Findings, group: str) -> torch.Tensor:
    return torch.tensor([x.mi_bits for x in findings.layers if x.group == group])


@pytest.mark.slow
def test_reinitialised_network_changes_driver_and_layer_profiles(tmp_path: Path) -> None:
    # Study A: the shipped network on 400 cue-conflict parts; study B: the same network on
    # 400 other parts (the noise floor: how much the profiles move when only the stimuli are
    # redrawn); study A': the stimuli of A answered by a re-initialised network.
    from reportgen.inputs.generated import generate_stimuli

    config_a = _parts_config(tmp_path / "a", stimulus_seed=3)
    config_b = _parts_config(tmp_path / "b", stimulus_seed=4)
    data_a = load_study_data(config_a)
    data_b = load_study_data(config_b)
    assert config_a.stimuli.generator is not None
    _, images = generate_stimuli("parts", dict(config_a.stimuli.generator.params))
    data_r = _random_network_responses(data_a, images)
    trained, redrawn, untrained = (
        analyse(d, c) for d, c in ((data_a, config_a), (data_b, config_b), (data_r, config_a))
    )

    # Driver profile: L1 distance of the group information vectors (bits). The trained
    # network's decisions carry ~2.7 bits about (shape, texture, nuisance); redrawing the
    # stimuli moves that vector by ~0.15 bits (0.15-0.16 over two seed pairs). Re-initialising
    # (measured: 2.1-2.5 bits) must move it by more than 1 bit (over a third of the trained
    # total) and by more than 3x the noise floor. The group *shares* are not the measure:
    # the untrained network's decisions are texture-dominated too (random convolutions respond
    # to tone, tint and grain), so its shares stay within ~0.1 of the trained ones while the
    # information drops from ~2.3 to ~0.3-0.6 bits.
    floor = float((_driver_profile(trained) - _driver_profile(redrawn)).abs().sum())
    change = float((_driver_profile(trained) - _driver_profile(untrained)).abs().sum())
    assert change > max(1.0, 3 * floor), (change, floor)

    # Layer profile: I(texture; layer) per analysed layer, bits. Redrawing the stimuli moves
    # each layer's value by at most 0.2-0.4 bits; re-initialising (measured: 2.4-2.7 bits at
    # the deepest layers) must move some layer by more than 1 bit and by more than 3x the
    # largest redraw change. (Random convolutions keep much of the low-level texture
    # information, so the largest change is expected at depth.)
    tex_a, tex_b, tex_r = (_layer_profile(f, "texture") for f in (trained, redrawn, untrained))
    assert tex_a.numel() == tex_r.numel() >= 2
    floor_layer = float((tex_a - tex_b).abs().max())
    change_layer = float((tex_a - tex_r).abs().max())
    assert change_layer > max(1.0, 3 * floor_layer), (change_layer, floor_layer)


# ------------------------------------------------------------------------------------------
# 5. shape bias, error consistency and agreement against hand counts
# ------------------------------------------------------------------------------------------

# Eight cue-conflict stimuli, classes A..D = c0..c3, label = shape class (correct = shape).
#      shape tex  model    h1        h2
# s1   A     B    B tex    A shape   A shape
# s2   B     A    A tex    B shape   A tex
# s3   C     D    D tex    C shape   C shape
# s4   D     C    C tex    D shape   D shape
# s5   A     C    A shape  A shape   (no answer)
# s6   B     D    D tex    D tex     D tex
# s7   C     A    B other  C shape   C shape
# s8   D     B    B tex    D shape   B tex
# Shape bias = shape / (shape + texture): model 1/7, h1 7/8, h2 4/7, people pooled 11/15.
# Correct: model {s5}; h1 all but s6; h2 {s1, s3, s4, s7} of the 7 answered.
# kappa(model, h1), 8 trials: p_m = 1/8, p_1 = 7/8, c_exp = 14/64, c_obs = (s5 + s6)/8 =
#   16/64, kappa = (16 - 14) / (64 - 14) = 1/25.
# kappa(model, h2), 7 trials (s5 excluded pairwise): p_m = 0, p_2 = 4/7, c_exp = 3/7,
#   c_obs = both wrong {s2, s6, s8} = 3/7, kappa = 0.  Model: mean 1/50.
# kappa(h1, h2), 7 trials: p_1 = 6/7, p_2 = 4/7, c_exp = 24/49 + 3/49 = 27/49,
#   c_obs = (4 both right + s6 both wrong)/7 = 35/49, kappa = 8/22 = 4/11.
# Agreement: model-h1 {s5, s6} = 2/8, chance sum(hist_m * hist_1)/64 = (2*2 + 3*1 + 1*2 +
#   2*3)/64 = 15/64; model-h2 {s2, s6, s8} = 3/7, chance (1*2 + 3*1 + 1*2 + 2*2)/49 = 11/49;
#   h1-h2 {s1, s3, s4, s6, s7} = 5/7, chance (1*2 + 1*1 + 2*2 + 3*2)/49 = 13/49.
# Every quantity is a ratio of counts, so replicating the eight stimuli 20 times (160 trials,
# enough per class for the information analyses that run alongside) leaves it unchanged and
# multiplies the shape-bias counts by 20.
_SHAPE = [0, 1, 2, 3, 0, 1, 2, 3]
_TEXTURE = [1, 0, 3, 2, 2, 3, 0, 1]
_MODEL = [1, 0, 3, 2, 0, 3, 1, 1]
_H1 = [0, 1, 2, 3, 0, 3, 2, 3]
_H2: list[int | None] = [0, 0, 2, 3, None, 3, 2, 1]
_REPS = 20
# Kappa, agreement and accuracy are computed in torch's default dtype (float32): a few ulps of
# 2**-24 ~ 6e-8 on ratios of order 1. Shape bias is float64.
F32_TOL = 1e-6


@pytest.fixture(scope="module")
def hand_case(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    n = 8 * _REPS
    g = torch.Generator().manual_seed(5)
    table = pd.DataFrame(
        {
            "id": [f"cc{i:03d}" for i in range(n)],
            "label": [CLASSES[_SHAPE[i % 8]] for i in range(n)],
            "condition": "cue-conflict",
            "shape_class": [CLASSES[_SHAPE[i % 8]] for i in range(n)],
            "texture_class": [CLASSES[_TEXTURE[i % 8]] for i in range(n)],
            "x": torch.randn(n, generator=g, dtype=torch.float64).numpy(),
        }
    )

    def rep(answers: list[int | None]) -> list[int | None]:
        return [answers[i % 8] for i in range(n)]

    config = _write_study(
        tmp_path_factory.mktemp("hand"),
        table,
        {"model": rep(_MODEL)},
        {"noise": ["x"]},
        humans={"h1": rep(_H1), "h2": rep(_H2)},
    )
    return analyse(load_study_data(config), config)


def test_shape_bias_equals_hand_counts(hand_case: Findings) -> None:
    bias = {b.observer: b for b in hand_case.shape_bias}
    assert set(bias) == {"model", "h1", "h2", POOLED_HUMANS}
    expected = {
        "model": (1, 6, 1),
        "h1": (7, 1, 0),
        "h2": (4, 3, 1),  # the missing answer counts as "other"
        POOLED_HUMANS: (11, 4, 1),
    }
    for obs, (k_shape, k_texture, k_other) in expected.items():
        b = bias[obs]
        assert (b.n_shape, b.n_texture, b.n_other) == (
            _REPS * k_shape,
            _REPS * k_texture,
            _REPS * k_other,
        ), obs
        # Exact ratio of integers, float64: rounding only.
        assert b.shape_bias == pytest.approx(k_shape / (k_shape + k_texture), abs=1e-12), obs
        assert b.ci_low < b.shape_bias < b.ci_high, obs
    missing = [w.detail for w in hand_case.warnings if w.code == "missing_responses"]
    assert missing == [{"observer": "h2", "n": _REPS}]


def test_error_consistency_equals_hand_kappa(hand_case: Findings) -> None:
    ec = {e.observer: e for e in hand_case.error_consistency}
    assert set(ec) == {"model", HUMAN_HUMAN}
    assert ec["model"].kappa == pytest.approx(1 / 50, abs=F32_TOL)
    assert ec[HUMAN_HUMAN].kappa == pytest.approx(4 / 11, abs=F32_TOL)
    assert ec["model"].n_pairs == 2 and ec[HUMAN_HUMAN].n_pairs == 1
    for e in ec.values():
        assert e.ci_low <= e.kappa <= e.ci_high


def test_decision_agreement_equals_hand_counts(hand_case: Findings) -> None:
    agree = {a.observer: a for a in hand_case.decision_agreement}
    assert agree["model"].agreement == pytest.approx((2 / 8 + 3 / 7) / 2, abs=F32_TOL)
    assert agree["model"].chance == pytest.approx((15 / 64 + 11 / 49) / 2, abs=F32_TOL)
    assert agree[HUMAN_HUMAN].agreement == pytest.approx(5 / 7, abs=F32_TOL)
    assert agree[HUMAN_HUMAN].chance == pytest.approx(13 / 49, abs=F32_TOL)


def test_accuracy_equals_hand_counts(hand_case: Findings) -> None:
    acc = {(a.observer, a.condition): a for a in hand_case.accuracy}
    expected = {"model": (1, 8), "h1": (7, 8), "h2": (4, 7), POOLED_HUMANS: (11, 15)}
    for obs, (k, n) in expected.items():
        a = acc[(obs, "cue-conflict")]
        assert a.accuracy == pytest.approx(k / n, abs=F32_TOL), obs
        assert a.n == _REPS * n, obs


def test_factors_with_many_repeated_values_get_a_caveat() -> None:
    # methods.md 4.1: warn when more than 10% of the analysed stimuli share their value with
    # another (analyses.info.tie_fraction), counting only the analysed stimuli.
    from reportgen.findings.build import tie_caveats
    from reportgen.inputs.stimuli import build_stimulus_set

    n = 100
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "label": ["a", "b"] * (n // 2),
            "condition": ["standard"] * 50 + ["morph"] * 50,
            "shape_smooth": [0.01 * i for i in range(n)],  # no repeats
            "shape_zeroes": [0.0] * 12 + [0.01 * i for i in range(12, n)],  # 12 tied: 12%
            "shape_zeroes_ok": [0.0] * 10 + [0.01 * i for i in range(10, n)],  # 10%: no caveat
            # every value tied (halves: whole numbers with few values would be a categorical code)
            "shape_levels": [0.5 * (i % 5) for i in range(n)],
            "kind": ["x", "y"] * (n // 2),  # categorical: never a tie caveat
            "texture_step": [0.01 * (i + 1) for i in range(50)] + [0.0] * 50,  # morphs tied
        }
    )
    stimset = build_stimulus_set(
        table,
        source="stimuli.csv",
        image_dir=None,
        factor_globs={"shape": ["shape_*"], "texture": ["texture_*"], "kind": ["kind"]},
        require_images=False,
    )

    def found(subset: torch.Tensor) -> dict[str, float]:
        return {c.detail["factor"]: c.detail["fraction"] for c in tie_caveats(stimset, subset)}

    everything = {"shape_zeroes": 0.12, "shape_levels": 1.0, "texture_step": 0.5}
    assert found(torch.arange(n)) == pytest.approx(everything)
    # The standard stimuli only: texture_step is tied in the morphs alone; 10 of 50 (20%)
    # tied zeroes now count.
    standard = {"shape_zeroes": 0.24, "shape_zeroes_ok": 0.2, "shape_levels": 1.0}
    assert found(torch.arange(50)) == pytest.approx(standard)


def test_unbalanced_classes_get_a_caveat() -> None:
    from reportgen.findings.build import imbalance_caveats

    labels = torch.tensor([0] * 10 + [1] * 30 + [2] * 21)
    (c,) = imbalance_caveats(labels, 3)
    assert (c.code, c.detail) == ("class_imbalance", {"smallest": 10, "largest": 30})
    assert imbalance_caveats(torch.tensor([0] * 10 + [1] * 20), 2) == []  # 2:1 is tolerated
    (empty,) = imbalance_caveats(torch.tensor([0] * 10 + [1] * 12), 3)  # class 2 absent
    assert empty.detail == {"smallest": 0, "largest": 12}


def test_a_model_that_always_answers_the_same_is_named_as_a_data_problem(tmp_path: Path) -> None:
    from reportgen.errors import ReportgenError

    f = _factors(N_PLANTED, seed=1)
    table = f.assign(
        id=[f"s{i:04d}" for i in range(N_PLANTED)],
        label=[CLASSES[i % 4] for i in range(N_PLANTED)],
        condition="planted",
    )
    good = _quadrant(torch.as_tensor(f[["shape_a", "shape_b"]].to_numpy().copy()), 0.5, seed=2)
    config = _write_study(
        tmp_path, table, {"works": good.tolist(), "stuck": [1] * N_PLANTED}, FACTOR_GROUPS
    )
    with pytest.raises(ReportgenError) as err:
        analyse(load_study_data(config), config)
    (problem,) = err.value.problems
    assert "'stuck'" in problem and "constant" in problem
