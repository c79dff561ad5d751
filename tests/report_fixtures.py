"""Realistic Findings for the report tests. FIXTURE NUMBERS: invented to look like real runs
(shaped after the parts demo and after Geirhos et al. 2019's cue-conflict results); no analysis
produced them and nothing outside the tests should quote them."""

from __future__ import annotations

from pathlib import Path

from reportgen.demo.cue_conflict import CATEGORIES
from reportgen.findings import (
    Accuracy,
    Caveat,
    DecisionAgreement,
    Driver,
    ErrorConsistency,
    Example,
    Findings,
    LayerInfo,
    MorphPoint,
    RunInfo,
    ShapeBias,
    SharedInformation,
    Study,
)

#: Side of the fixture's example pictures in pixels; a size no report figure has, so a test can
#: find the pictures among the PDF's images.
FIXTURE_PICTURE_PX = 12
PARTS_CLASSES = ("bracket", "flange", "gear", "washer", "hinge", "clip", "nut", "spacer")

VERSIONS = {"reportgen": "0.1.0", "torch": "2.14.1", "torchvision": "0.29.1", "python": "3.11.7"}


def _group(name: str, *args, **kwargs) -> Driver:
    """A factor group's own entry: a driver whose group is itself."""
    return _factor(name, name, *args, **kwargs)


def _factor(
    name: str,
    group: str,
    mi: float,
    share: float,
    p: float,
    sig: bool,
    lo: float,
    hi: float,
    observer: str | None = None,
    est: str = "gcmi-model-cd",
) -> Driver:
    return Driver(name, group, mi, share, p, sig, lo, hi, observer, est)


def parts_findings(
    *,
    period: str = "2026-Q4",
    texture_share: float = 0.71,
    fingerprint: str | None = None,
    human_ids: tuple[str, ...] | None = None,
) -> Findings:
    """The parts demo: one small ResNet, 2,400 generated images, a SIMULATED panel of 6."""
    humans = human_ids or tuple(f"insp-0{i}" for i in range(1, 7))
    model = "parts-resnet10"
    # FIXTURE: texture dominates, shape second, nuisance small but significant.
    shape_share = round((1 - texture_share) * 0.62, 4)
    nuisance_share = round(1 - texture_share - shape_share, 4)
    total_bits = 1.30
    drivers = [
        _group(
            "texture",
            texture_share * total_bits,
            texture_share,
            0.001,
            True,
            texture_share * total_bits - 0.07,
            texture_share * total_bits + 0.07,
        ),
        _group(
            "shape",
            shape_share * total_bits,
            shape_share,
            0.001,
            True,
            shape_share * total_bits - 0.045,
            shape_share * total_bits + 0.05,
        ),
        _group(
            "nuisance",
            nuisance_share * total_bits,
            nuisance_share,
            0.004,
            True,
            nuisance_share * total_bits - 0.04,
            nuisance_share * total_bits + 0.045,
        ),
        _factor("texture_freq", "texture", 0.52, 0.40, 0.001, True, 0.47, 0.57),
        _factor("texture_contrast", "texture", 0.31, 0.24, 0.001, True, 0.27, 0.35),
        _factor("texture_orient", "texture", 0.06, 0.05, 0.02, True, 0.03, 0.09),
        _factor("shape_h2", "shape", 0.12, 0.09, 0.001, True, 0.09, 0.15),
        _factor("shape_notch", "shape", 0.07, 0.05, 0.003, True, 0.045, 0.095),
        _factor("shape_holes", "shape", 0.02, 0.015, 0.31, False, 0.0, 0.045),
        _factor("light_angle", "nuisance", 0.09, 0.07, 0.004, True, 0.06, 0.12),
        _factor("rotation", "nuisance", 0.03, 0.02, 0.21, False, 0.005, 0.055),
        _factor("scale", "nuisance", 0.01, 0.008, 0.74, False, 0.0, 0.03),
        # People pooled (SIMULATED panel): shape first.
        _group("shape", 0.96, 0.80, 0.001, True, 0.90, 1.02, "humans"),
        _group("texture", 0.144, 0.12, 0.002, True, 0.10, 0.19, "humans"),
        _group("nuisance", 0.096, 0.08, 0.09, False, 0.05, 0.14, "humans"),
    ]
    human_sb = (0.97, 0.92, 0.95, 0.90, 0.96, 0.93)
    shape_bias = [ShapeBias(model, 0.23, 83, 278, 39, 0.19, 0.27, "model")]
    shape_bias += [
        ShapeBias(
            h,
            sb,
            round(360 * sb),
            360 - round(360 * sb),
            40,
            sb - 0.03,
            min(sb + 0.025, 1.0),
            "human",
        )
        for h, sb in zip(humans, human_sb, strict=False)
    ]
    shape_bias.append(ShapeBias("humans", 0.94, 2030, 130, 240, 0.93, 0.95, "humans"))
    accuracy = [
        Accuracy(model, "standard", 0.91, 1600),
        Accuracy(model, "cue-conflict", 0.21, 400),
        Accuracy("humans", "standard", 0.88, 9600),
        Accuracy("humans", "cue-conflict", 0.86, 2400),
    ]
    levels = (0.0, 0.25, 0.5, 0.75, 1.0)
    morph = []
    for obs, shape_curve, tex_curve in (
        (model, (0.93, 0.86, 0.71, 0.52, 0.35), (0.95, 0.78, 0.46, 0.14, 0.04)),
        ("humans", (0.95, 0.84, 0.50, 0.15, 0.05), (0.94, 0.90, 0.86, 0.81, 0.78)),
    ):
        for lv, a, b in zip(levels, shape_curve, tex_curve, strict=True):
            morph.append(MorphPoint(obs, "shape-morph", lv, a, 1 - a, 40))
            morph.append(MorphPoint(obs, "texture-morph", lv, b, 1 - b, 40))
    for i, h in enumerate(humans):
        wobble = (i - 2.5) * 0.015
        for lv, a, b in zip(
            levels, (0.95, 0.84, 0.50, 0.15, 0.05), (0.94, 0.90, 0.86, 0.81, 0.78), strict=True
        ):
            morph.append(MorphPoint(h, "shape-morph", lv, min(max(a + wobble, 0), 1), 0.0, 8))
            morph.append(MorphPoint(h, "texture-morph", lv, min(max(b - wobble, 0), 1), 0.0, 8))
    layer_names = ("layer1", "layer2", "layer3", "layer4", "avgpool")
    profiles = {  # FIXTURE: (mi, mi_sig, redundancy, red_sig) per depth
        "texture": [
            (0.60, 1, 0.30, 1),
            (0.80, 1, 0.50, 1),
            (0.90, 1, 0.70, 1),
            (0.95, 1, 0.80, 1),
            (0.90, 1, 0.85, 1),
        ],
        "shape": [
            (0.02, 0, 0.00, 0),
            (0.05, 0, 0.01, 0),
            (0.12, 1, 0.02, 0),
            (0.30, 1, 0.05, 0),
            (0.35, 1, 0.08, 1),
        ],
        "nuisance": [
            (0.30, 1, 0.05, 1),
            (0.25, 1, 0.06, 1),
            (0.20, 1, 0.07, 1),
            (0.15, 1, 0.08, 1),
            (0.10, 1, 0.09, 1),
        ],
    }
    units = (64, 128, 256, 512, 512)
    layers = [
        LayerInfo(
            name,
            d,
            g,
            mi,
            0.001 if ms else 0.4,
            bool(ms),
            units[d],
            int(units[d] * (0.6 if ms else 0.02)),
            mi * 0.4,
            mi * 0.05,
            red,
            0.001 if rs else 0.3,
            bool(rs),
            "mmi",
        )
        for g, rows in profiles.items()
        for d, (name, (mi, ms, red, rs)) in enumerate(zip(layer_names, rows, strict=True))
    ]
    study = Study(
        name="parts-demo",
        title="Inspection model — quarterly review",
        period=period,
        language="en",
        classes=PARTS_CLASSES,
        groups={
            "shape": ["shape_h2", "shape_h3", "shape_notch", "shape_holes"],
            "texture": ["texture_freq", "texture_orient", "texture_contrast"],
            "nuisance": ["rotation", "scale", "light_angle", "light_strength"],
        },
        conditions={
            "standard": 1600,
            "cue-conflict": 400,
            "shape-morph": 200,
            "texture-morph": 200,
        },
        models=(model,),
        humans=humans,
        humans_simulated=True,
        decision_only=False,
        attribution="Stimuli generated by reportgen's parts generator; simulated inspector panel.",
        roles={"shape": "diagnostic", "texture": "incidental", "nuisance": "nuisance"},
    )
    run = RunInfo(
        config_hash="fixture-7c1e9a0b5d23",
        seed=0,
        permutations=999,
        alpha=0.05,
        n_stimuli=2400,
        n_trials=4800,
        device="cpu",
        versions=VERSIONS,
        timings_s={"extract": 11.8, "drivers": 19.6, "layers": 30.9, "agreement": 2.1},
        model_fingerprint=fingerprint or "sha256:3f9a6c2e81d47b05e9aa",
        started_at="2026-11-28T09:15:00+00:00",
    )
    return Findings(
        study=study,
        run=run,
        drivers=drivers,
        shape_bias=shape_bias,
        accuracy=accuracy,
        morph_curves=morph,
        error_consistency=[
            ErrorConsistency(model, 0.21, 0.15, 0.27, 6),
            ErrorConsistency("human-human", 0.55, 0.48, 0.62, 15),
        ],
        decision_agreement=[
            DecisionAgreement(model, 0.61, 0.13),
            DecisionAgreement("human-human", 0.84, 0.13),
        ],
        shared_information=[
            SharedInformation(model, "shape", 0.12, 0.001, True, "mmi"),
            SharedInformation(model, "texture", 0.03, 0.12, False, "mmi"),
            SharedInformation(model, "nuisance", 0.004, 0.66, False, "mmi"),
        ],
        layers=layers,
        warnings=[Caveat("class_imbalance", {"smallest": 281, "largest": 322})],
        examples=parts_examples(),
    )


def parts_examples() -> list[Example]:
    """FIXTURE: the montage examples of the parts study: one standard picture per class, four
    cue-conflict pictures, three disagreements (people right, the model wrong)."""
    out = [
        Example("standard", f"s{i}", f"figures/stimuli/stimulus-{i:05d}.png", c)
        for i, c in enumerate(PARTS_CLASSES)
    ]
    for k, (shape, texture) in enumerate(
        (("gear", "washer"), ("hinge", "clip"), ("nut", "bracket"), ("spacer", "flange"))
    ):
        i = 100 + k
        out.append(
            Example(
                "cue-conflict",
                f"c{k}",
                f"figures/stimuli/stimulus-{i:05d}.png",
                shape,
                shape,
                texture,
            )
        )
    for k, (label, model, share) in enumerate(
        (("clip", "hinge", 1.0), ("gear", "washer", 0.83), ("nut", "spacer", 0.67))
    ):
        i = 200 + k
        out.append(
            Example(
                "disagreement",
                f"d{k}",
                f"figures/stimuli/stimulus-{i:05d}.png",
                label,
                model_answer=model,
                people_answer=label,
                people_agree=share,
            )
        )
    return out


def write_example_pictures(f: Findings, out_dir: Path, skip: tuple[str, ...] = ()) -> None:
    """Write a tiny PNG, one flat colour each, for every example picture except `skip` (so
    the PDF cannot merge two of them into one image)."""
    from PIL import Image

    for k, e in enumerate(f.examples):
        if e.image in skip:
            continue
        path = Path(out_dir) / e.image
        path.parent.mkdir(parents=True, exist_ok=True)
        colour = (40 + 9 * k % 200, 200 - 7 * k % 160, 90 + 13 * k % 150)
        Image.new("RGB", (FIXTURE_PICTURE_PX, FIXTURE_PICTURE_PX), colour).save(path)


CUE_MODELS = {  # FIXTURE: (shape bias, texture share, kappa, agreement), shaped after the paper
    "alexnet-caffe": (0.43, 0.58, 0.16, 0.31),
    "alexnet-torchvision": (0.29, 0.66, 0.15, 0.29),
    "vgg16": (0.17, 0.77, 0.12, 0.27),
    "googlenet": (0.31, 0.65, 0.14, 0.30),
    "resnet50": (0.22, 0.72, 0.13, 0.28),
    "resnet152": (0.25, 0.70, 0.14, 0.30),
    "densenet121": (0.21, 0.73, 0.13, 0.29),
}


def cue_conflict_findings() -> Findings:
    """Decision-only cue-conflict study: 7 ImageNet CNNs and 10 real people."""
    humans = tuple(f"subject-{i:02d}" for i in range(1, 11))
    drivers, shape_bias, accuracy, ec, agree, shared = [], [], [], [], [], []
    for m, (sb, tex, kappa, ag) in CUE_MODELS.items():
        bits = 1.9
        shp = 1 - tex
        drivers += [
            _group(
                "texture",
                tex * bits,
                tex,
                0.001,
                True,
                tex * bits - 0.08,
                tex * bits + 0.08,
                m,
                "discrete-plugin",
            ),
            _group(
                "shape",
                shp * bits,
                shp,
                0.001,
                True,
                shp * bits - 0.07,
                shp * bits + 0.07,
                m,
                "discrete-plugin",
            ),
        ]
        n_conf = 1120
        shape_bias.append(
            ShapeBias(
                m,
                sb,
                round(n_conf * sb * 0.8),
                round(n_conf * (1 - sb) * 0.8),
                round(n_conf * 0.2),
                sb - 0.03,
                sb + 0.03,
                "model",
            )
        )
        accuracy.append(Accuracy(m, "cue-conflict", round(sb * 0.8, 3), 1280))
        ec.append(ErrorConsistency(m, kappa, kappa - 0.04, kappa + 0.04, 10))
        agree.append(DecisionAgreement(m, ag, 0.07))
        shared += [
            SharedInformation(m, "shape", 0.15 + sb * 0.2, 0.001, True, "ccs"),
            SharedInformation(m, "texture", 0.02, 0.21, False, "ccs"),
        ]
    drivers += [
        _group("shape", 2.1, 0.93, 0.001, True, 2.0, 2.2, "humans", "discrete-plugin"),
        _group("texture", 0.16, 0.07, 0.004, True, 0.09, 0.23, "humans", "discrete-plugin"),
    ]
    people_sb = (0.97, 0.95, 0.99, 0.92, 0.96, 0.94, 0.98, 0.96, 0.93, 0.97)
    for h, sb in zip(humans, people_sb, strict=True):
        shape_bias.append(
            ShapeBias(
                h,
                sb,
                round(100 * sb),
                100 - round(100 * sb),
                12,
                sb - 0.04,
                min(sb + 0.03, 1.0),
                "human",
            )
        )
        accuracy.append(Accuracy(h, "cue-conflict", round(sb * 0.9, 3), 112))
    shape_bias.append(ShapeBias("humans", 0.96, 960, 40, 120, 0.95, 0.97, "humans"))
    ec.append(ErrorConsistency("human-human", 0.33, 0.28, 0.38, 45))
    agree.append(DecisionAgreement("human-human", 0.78, 0.07))
    study = Study(
        name="cue-conflict",
        title="Shape or texture? ImageNet CNNs and people on cue-conflict images",
        period="2026-Q4",
        language="en",
        classes=CATEGORIES,
        groups={"shape": ["shape_category"], "texture": ["texture_category"]},
        conditions={"cue-conflict": 1280},
        models=tuple(CUE_MODELS),
        humans=humans,
        humans_simulated=False,
        decision_only=True,
        roles={"shape": "diagnostic", "texture": "incidental"},
        attribution=(
            "Cue-conflict images and human and CNN responses: Geirhos et al., ImageNet-trained "
            "CNNs are biased towards texture, ICLR 2019; data CC BY 4.0."
        ),
    )
    run = RunInfo(
        config_hash="fixture-0b44d1e2f9c8",
        seed=0,
        permutations=1000,
        alpha=0.05,
        n_stimuli=1280,
        n_trials=1280 * 7 + 1120,
        device="cpu",
        versions=VERSIONS,
        timings_s={"load": 0.8, "drivers": 6.2, "agreement": 1.4},
        model_fingerprint=None,
        started_at="2026-11-28T10:02:00+00:00",
    )
    return Findings(
        study=study,
        run=run,
        drivers=drivers,
        shape_bias=shape_bias,
        accuracy=accuracy,
        morph_curves=[],
        error_consistency=ec,
        decision_agreement=agree,
        shared_information=shared,
        layers=[],
        warnings=[Caveat("missing_responses", {"observer": "subject-03", "n": 4})],
    )
