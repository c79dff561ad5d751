"""Evidence levels and every threshold of the report's wording and traffic lights.

Numbers and codes only (report-guide.md, "Wording follows the evidence"): how strongly the
Findings support a claim, how many more stimuli would settle it, and which light a key point
shows. The report turns the codes into words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reportgen.findings import Driver, Findings, ShapeBias
from reportgen.findings.queries import (
    drivers_of,
    group_entries,
    is_finite,
    is_nuisance,
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
#: Traffic light 1 (drivers): share of significant nuisance information.
NUISANCE_AMBER, NUISANCE_RED = 0.10, 0.25
#: Traffic light 2 (people): |model − people| shape bias, and model kappa / human ceiling.
SHAPE_GAP_AMBER, SHAPE_GAP_RED = 0.15, 0.40
KAPPA_RATIO_AMBER, KAPPA_RATIO_RED = 0.70, 0.40


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


def nuisance_share(f: Findings, model: str) -> float:
    """Summed share of significant nuisance groups for one model."""
    return sum(
        d.share
        for d in group_entries(drivers_of(f, model))
        if is_nuisance(d.group) and d.significant
    )


def drivers_light(f: Findings) -> str:
    """Red: a nuisance group leads, or significant nuisance share ≥ NUISANCE_RED; amber: ≥
    NUISANCE_AMBER or the lead driver is not clearly established; green otherwise."""
    worst = "green"
    for m in models_of(f):
        groups = group_entries(drivers_of(f, m))
        if not groups:
            return "grey"
        share = nuisance_share(f, m)
        top = groups[0]
        if (is_nuisance(top.group) and top.significant) or share >= NUISANCE_RED:
            return "red"
        if share >= NUISANCE_AMBER or driver_evidence(top, f).level != CLEAR:
            worst = "amber"
    return worst


def people_light(f: Findings) -> str:
    """Grey without people; red: shape-bias gap ≥ SHAPE_GAP_RED or kappa below
    KAPPA_RATIO_RED of the human ceiling; amber: ≥ SHAPE_GAP_AMBER or < KAPPA_RATIO_AMBER."""
    if not f.study.humans:
        return "grey"
    humans = pooled_humans_bias(f)
    ceiling = kappa_of(f, "human-human")
    light = "green"
    for m in models_of(f):
        sb = shape_bias_of(f, m)
        if humans and sb and is_finite(sb.shape_bias) and is_finite(humans.shape_bias):
            gap = abs(sb.shape_bias - humans.shape_bias)
            if gap >= SHAPE_GAP_RED:
                return "red"
            if gap >= SHAPE_GAP_AMBER:
                light = "amber"
        k = kappa_of(f, m)
        if k and ceiling and is_finite(k.kappa) and is_finite(ceiling.kappa) and ceiling.kappa > 0:
            ratio = k.kappa / ceiling.kappa
            if ratio < KAPPA_RATIO_RED:
                return "red"
            if ratio < KAPPA_RATIO_AMBER:
                light = "amber"
    return light


SEVERITY_LIGHT = {"high": "red", "medium": "amber", "low": "green", "info": "green"}
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
