"""Evidence levels and every threshold of the report's wording and traffic lights.

Numbers and codes only (report-guide.md, "Wording follows the evidence"): how strongly the
Findings support a claim, how many more stimuli would settle it, and which light a key point
shows. The report turns the codes into words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reportgen.findings import Accuracy, Driver, Findings, ShapeBias
from reportgen.findings.queries import (
    drivers_of,
    factor_entries,
    group_entries,
    is_finite,
    is_nuisance,
    is_off_target,
    kappa_of,
    models_of,
    pooled_humans_bias,
    shape_bias_of,
)

# ---- documented thresholds (shown to auditors in "Methods and data") -----------------------
#: Coverage of the accuracy interval that must clear chance for a model to count as working.
WORKING_LEVEL = 0.95
#: An information estimate whose interval stays above this many bits "excludes small effects".
SMALL_EFFECT_BITS = 0.02
#: An interval wider than this multiple of its estimate is "wide" (some evidence, not clear).
WIDE_CI_RATIO = 1.0
#: Gaussian-copula estimates need about 10 trials per dimension and class (methods.md 4.2).
MIN_TRIALS_PER_DIM = 10
#: Fewer cue-conflict trials than this with a cue-matching answer: too few for a shape bias.
MIN_CONFLICT_TRIALS = 30
#: A rate or kappa interval wider than this (in absolute units) is "wide".
MAX_RATE_CI_WIDTH = 0.25


@dataclass(frozen=True, slots=True)
class LightRule:
    """One row of the rule table: a measured quantity, the key point whose light it sets, and
    the values from which that light turns amber and red (at or above them, or below them
    when `above` is False). Recommendations take their severity from the same row, and a
    recommendation's target is the value that would turn it green."""

    id: str  # locale key: methods.rules.<id>
    key_point: int  # 1: what drives the decisions; 2: model versus people
    amber: float
    red: float
    above: bool = True

    def light(self, value: float | None) -> str:
        if not is_finite(value):
            return "grey"
        assert value is not None
        if self.above:
            return "red" if value >= self.red else "amber" if value >= self.amber else "green"
        return "red" if value < self.red else "amber" if value < self.amber else "green"


#: Share of the information behind the decisions carried by significant nuisance groups.
NUISANCE_SHARE = LightRule("nuisance_share", 1, 0.10, 0.25)
#: Share carried by significant groups the judgement should not rest on (incidental or
#: nuisance): a model mostly deciding on a shortcut is red whatever its accuracy.
OFF_TARGET_SHARE = LightRule("off_target_share", 1, 0.25, 0.50)
#: |model − people| shape bias on cue-conflict images.
SHAPE_GAP = LightRule("shape_gap", 2, 0.15, 0.40)
#: Model error consistency with people over the people's own (human–human kappa).
KAPPA_RATIO = LightRule("kappa_ratio", 2, 0.70, 0.40, above=False)
#: The whole rule table, in the order Methods prints it.
LIGHT_RULES = (NUISANCE_SHARE, OFF_TARGET_SHARE, SHAPE_GAP, KAPPA_RATIO)
#: A recommendation's severity is the light of the rule it rests on.
LIGHT_SEVERITY = {"red": "high", "amber": "medium", "green": "low", "grey": "low"}
SEVERITY_LIGHT = {"high": "red", "medium": "amber", "low": "green", "info": "green"}
_LIGHT_ORDER = {"grey": -1, "green": 0, "amber": 1, "red": 2}


def worst_light(*lights: str) -> str:
    """The most severe of several lights (grey only when nothing was assessed)."""
    return max(lights, key=lambda x: _LIGHT_ORDER[x], default="grey")


def _round_up_2sig(x: float) -> int:
    if x <= 0:
        return 0
    scale = 10 ** max(int(math.floor(math.log10(x))) - 1, 0)
    return int(math.ceil(x / scale) * scale)


# ---- evidence ------------------------------------------------------------------------------
CLEAR, SOME, NONE, TOO_FEW = "clear", "some", "none", "too_few"


@dataclass(frozen=True, slots=True)
class Evidence:
    """How strongly the numbers support a claim, and how many more stimuli would settle it."""

    level: str  # CLEAR, SOME, NONE or TOO_FEW
    n_more: int | None = None  # extra stimuli (or trials) suggested; None when not applicable


def more_for_width(n: int, width: float, target: float) -> int:
    """Extra samples to shrink an interval of `width` to `target` (width ∝ 1/√N)."""
    if not (is_finite(width) and target > 0) or width <= target or n <= 0:
        return 0
    return _round_up_2sig(n * ((width / target) ** 2 - 1.0))


def driver_evidence(d: Driver, f: Findings) -> Evidence:
    """Classify one driver by report-guide's wording table, with the thresholds above."""
    n = f.run.n_stimuli
    dims = len(f.study.groups.get(d.group, [])) if d.name == d.group else 1
    n_min = MIN_TRIALS_PER_DIM * max(dims, 1) * max(len(f.study.classes), 1)
    if n < n_min:
        return Evidence(TOO_FEW, n_min - n)
    if not (is_finite(d.ci_low) and is_finite(d.ci_high) and is_finite(d.mi_bits)):
        return Evidence(TOO_FEW, None)
    if not d.significant:
        return Evidence(NONE)
    width = d.ci_high - d.ci_low
    target = WIDE_CI_RATIO * max(d.mi_bits, SMALL_EFFECT_BITS)
    if d.ci_low >= SMALL_EFFECT_BITS and width <= target:
        return Evidence(CLEAR)
    return Evidence(SOME, more_for_width(n, width, target) or None)


def rate_evidence(n: int, low: float, high: float) -> Evidence:
    """A rate (shape bias) or kappa with its interval: precise, wide, or too few trials."""
    if n < MIN_CONFLICT_TRIALS:
        return Evidence(TOO_FEW, MIN_CONFLICT_TRIALS - n)
    if not (is_finite(low) and is_finite(high)):
        return Evidence(TOO_FEW, None)
    width = high - low
    if width > MAX_RATE_CI_WIDTH:
        return Evidence(SOME, more_for_width(n, width, MAX_RATE_CI_WIDTH) or None)
    return Evidence(CLEAR)


def shape_bias_evidence(s: ShapeBias) -> Evidence:
    return rate_evidence(s.n_shape + s.n_texture, s.ci_low, s.ci_high)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if not all(is_finite(x) for x in (*a, *b)):
        return True  # an unknown interval cannot show a difference
    return a[0] <= b[1] and b[0] <= a[1]


def nuisance_entries(f: Findings, model: str) -> list[Driver]:
    """Per nuisance group, the entry whose share counts for one model: the group's own when it
    is significant, else its strongest significant factor, else none. A group of many
    columns (pose, light and camera) meets a wider null than each of its factors, so one
    factor (brightness) can be significant while the group as a whole is not."""
    ds = drivers_of(f, model)
    out = []
    for g in group_entries(ds):
        if not is_nuisance(f, g.group):
            continue
        if g.significant:
            out.append(g)
        elif members := [d for d in factor_entries(ds, g.group) if d.significant]:
            out.append(max(members, key=lambda d: d.share))
    return out


def nuisance_share(f: Findings, model: str) -> float:
    """Summed share of the nuisance entries (`nuisance_entries`) for one model."""
    return sum(d.share for d in nuisance_entries(f, model))


def off_target_entries(f: Findings, model: str) -> list[Driver]:
    """What the judgement should not rest on, for one model: the significant incidental
    groups and the nuisance entries (`nuisance_entries`)."""
    incidental = [
        d
        for d in group_entries(drivers_of(f, model))
        if is_off_target(f, d.group) and not is_nuisance(f, d.group) and d.significant
    ]
    return incidental + nuisance_entries(f, model)


def off_target_share(f: Findings, model: str) -> float:
    """Summed share of `off_target_entries` for one model."""
    return sum(d.share for d in off_target_entries(f, model))


def drivers_light(f: Findings, models: list[str] | None = None) -> str:
    """Key point 1, "is the model relying on what it should?": the worst over the models of
    NUISANCE_SHARE and OFF_TARGET_SHARE; red as well when a nuisance group leads; amber at
    least when the lead group is not clearly established."""
    lights = []
    for m in models or models_of(f):
        groups = group_entries(drivers_of(f, m))
        if not groups:
            return "grey"
        top = groups[0]
        lights += [
            NUISANCE_SHARE.light(nuisance_share(f, m)),
            OFF_TARGET_SHARE.light(off_target_share(f, m)),
            "red" if is_nuisance(f, top.group) and top.significant else "green",
            "amber" if driver_evidence(top, f).level != CLEAR else "green",
        ]
    return worst_light(*lights)


def shape_gaps(f: Findings) -> dict[str, float]:
    """|model − people| shape bias per model with both measured."""
    humans = pooled_humans_bias(f)
    if humans is None or not is_finite(humans.shape_bias):
        return {}
    return {
        m: abs(sb.shape_bias - humans.shape_bias)
        for m in models_of(f)
        if (sb := shape_bias_of(f, m)) and is_finite(sb.shape_bias)
    }


def kappa_ratios(f: Findings) -> dict[str, float]:
    """Each model's error consistency over the human–human kappa, where that is above 0."""
    ceiling = kappa_of(f, "human-human")
    if not (ceiling and is_finite(ceiling.kappa) and ceiling.kappa > 0):
        return {}
    return {
        m: k.kappa / ceiling.kappa
        for m in models_of(f)
        if (k := kappa_of(f, m)) and is_finite(k.kappa)
    }


def people_light(f: Findings, models: list[str] | None = None) -> str:
    """Key point 2, "does the model judge as people do?": grey without people, else the worst
    over the models of SHAPE_GAP and KAPPA_RATIO."""
    if not f.study.humans:
        return "grey"
    chosen = set(models or models_of(f))
    lights = [SHAPE_GAP.light(g) for m, g in shape_gaps(f).items() if m in chosen]
    lights += [KAPPA_RATIO.light(r) for m, r in kappa_ratios(f).items() if m in chosen]
    return worst_light("green", *lights)


# ---- the verdict of page 1's decision box ----------------------------------------------------
GO, HOLD, NO_GO, NOT_ASSESSED = "go", "hold", "no_go", "not_assessed"
STANDARD, CONFLICT = "standard", "cue-conflict"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Go / hold / no-go for one model, by the rule in `verdict`, with the numbers it rests
    on: accuracy on standard stimuli against the bar, and the sized risk (accuracy on
    cue-conflict stimuli, scored against the label)."""

    model: str
    code: str  # GO, HOLD, NO_GO or NOT_ASSESSED
    reason: str  # "fit", "fit_unclear", "unfit", "at_chance", "red", "no_standard"
    accuracy: Accuracy | None  # on standard stimuli
    bar: float  # the accuracy that counts as fit: the configured one, else chance
    bar_configured: bool
    risk: Accuracy | None  # on cue-conflict stimuli
    red: tuple[int, ...] = ()  # key points whose light is red for this model


def verdict(f: Findings, model: str) -> Verdict:
    """The documented rule (Methods prints it): no-go when the accuracy interval on standard
    stimuli lies wholly below the bar (`[report.decision] fit_accuracy`), or, with no bar
    set, when it is not clearly above chance (the `low_accuracy` test); hold when it
    straddles a set bar, or the model is fit but key point 1 or 2 is red for it; go when the
    interval clears the bar and neither is red; not assessed without standard stimuli."""
    rows = {a.condition: a for a in f.accuracy if a.observer == model}
    standard, risk = rows.get(STANDARD), rows.get(CONFLICT)
    fit = f.study.decision.get("fit_accuracy")
    chance = standard.chance if standard is not None else math.nan
    if not is_finite(chance):  # results.json written before accuracy rows carried it
        chance = 1.0 / max(len(f.study.classes), 1)
    bar = float(fit) if fit is not None else chance
    red = tuple(
        kp
        for kp, light in ((1, drivers_light(f, [model])), (2, people_light(f, [model])))
        if light == "red"
    )
    args = dict(accuracy=standard, bar=bar, bar_configured=fit is not None, risk=risk, red=red)
    if standard is None or not (is_finite(standard.ci_low) and is_finite(standard.ci_high)):
        return Verdict(model, NOT_ASSESSED, "no_standard", **args)
    if fit is None and standard.ci_low <= bar:
        return Verdict(model, NO_GO, "at_chance", **args)
    if standard.ci_high < bar:
        return Verdict(model, NO_GO, "unfit", **args)
    if standard.ci_low < bar:
        return Verdict(model, HOLD, "fit_unclear", **args)
    if red:
        return Verdict(model, HOLD, "red", **args)
    return Verdict(model, GO, "fit", **args)


#: A factor group making up less than this part of what the last stage passes on to the
#: decision is "little of it reaches the decision".
LITTLE_REACHES = 0.25


def accuracy_alarm(
    correct: int, n: int, chance: float, level: float = WORKING_LEVEL
) -> tuple[float, float] | None:
    """The Wilson interval of an accuracy of `correct` / `n` when it does not clear `chance`
    (its lower end at or below it): the model does not clearly work. None when it does."""
    from analyses.behaviour import wilson_interval

    low, high = wilson_interval(correct, n, level)
    return (low, high) if n > 0 and low <= chance else None


def chance_level(labels: list[int] | tuple[int, ...]) -> float:
    """Accuracy of always answering the commonest true class: the bar a working model must
    clear (1 / K for balanced classes, higher for unbalanced ones)."""
    if not labels:
        return math.nan
    counts: dict[int, int] = {}
    for y in labels:
        counts[y] = counts.get(y, 0) + 1
    return max(counts.values()) / len(labels)
