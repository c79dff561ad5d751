"""What to do next: the documented rule table of report-guide.md, applied to Findings.

Each rule reads Findings (and the previous run, for change rules) and yields recommendations
that name the evidence they rest on, a rough effort level, and what the next report should
show if the action worked. Sentences live in the locale files under `rules.<rule id>`.

The table (`RULES` below, in this order; effort in brackets):

- model_at_chance: a model's accuracy on the standard stimuli does not clearly clear chance
  (the `low_accuracy` caveat) → fix how the images reach it (preprocessing, class order,
  weights) before reading anything else [low]
- top_driver_changed: the top driver differs from the previous run's → treat it as a model
  change; confirm with the team that trained it [low]
- nuisance_reliance: a nuisance factor (lighting, pose, position) carries significant decision
  information → augment training data over it; check the line's control of it [medium]
- incidental_reliance: groups the study marks incidental carry a share of the decision
  information that sets key point 1's light (and no people comparison fired cue_mismatch)
  → add training images in which they vary independently of the class [medium]
- cue_mismatch: the model leans on texture where people lean on shape, or the reverse (shape
  bias, or the top factor groups without cue-conflict trials) → add cue-conflict and
  varied-finish images; review whether the model's cue is acceptable [medium]
- low_error_consistency: model kappa < KAPPA_RATIO.amber × human–human kappa → review the
  disagreements with inspectors before widening deployment [low]
- more_data: a headline claim has a wide CI or too few trials → collect about N more stimuli,
  N from the CI width (width ∝ 1/√N) [medium]
- late_decisive: the decision-relevant information appears only at the last analysed stage →
  no action; a note for model-size discussions [none]

Severity orders the list (and picks page 1's third key point): high, medium, low, info.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reportgen.findings import Findings
from reportgen.findings.evidence import (
    CLEAR,
    KAPPA_RATIO,
    LIGHT_SEVERITY,
    NONE,
    NUISANCE_SHARE,
    OFF_TARGET_SHARE,
    SHAPE_GAP,
    SOME,
    TOO_FEW,
    driver_evidence,
    intervals_overlap,
    kappa_ratios,
    nuisance_entries,
    nuisance_share,
    off_target_share,
    rate_evidence,
    shape_bias_evidence,
)
from reportgen.findings.headline import HistoryRow, row_from_findings
from reportgen.findings.queries import (
    drivers_of,
    factor_entries,
    group_entries,
    is_nuisance,
    kappa_of,
    models_of,
    pooled_humans_bias,
    role_of,
    shape_bias_of,
)
from reportgen.report.format import (
    Dec,
    Factor,
    Group,
    Model,
    ModelCount,
    Names,
    Num,
    Pct,
    Period,
    PStat,
    Range,
    Word,
)

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
SHAPE_TEXTURE = ("shape", "texture")


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One fired rule: its id (locale key), severity, effort, and the numbers it rests on."""

    rule: str
    severity: str  # "high", "medium", "low" or "info"
    effort: str  # "none", "low", "medium" or "high"
    params: dict[str, Any] = field(default_factory=dict)  # typed values for the locale strings


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    finding: str
    recommendation: str
    check: Callable[[Findings, list[HistoryRow]], list[Recommendation]]


def _models_param(models: list[str]) -> Names:
    return Names(tuple(Model(m) for m in models))


def rule_model_at_chance(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    alarms = [c.detail for c in f.warnings if c.code == "low_accuracy"]
    if not alarms:
        return []
    worst = min(alarms, key=lambda d: d["accuracy"])
    return [
        Recommendation(
            "model_at_chance",
            "high",
            "low",
            {
                "accuracy": Pct(worst["accuracy"]),
                "low": Pct(worst["ci_low"]),
                "high": Pct(worst["ci_high"]),
                "chance": Pct(worst["chance"]),
                "n": Num(worst["n"]),
                "models": _models_param([d["observer"] for d in alarms]),
                "logged": f.study.decision_only,
            },
        )
    ]


def rule_top_driver_changed(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    previous = [h for h in history if h.study == f.study.name]
    if not previous:
        return []
    before, now = previous[-1], row_from_findings(f)
    changed = [
        (m, before.models[m].top_driver, h.top_driver)
        for m, h in now.models.items()
        if m in before.models
        and before.models[m].top_driver
        and h.top_driver
        and before.models[m].top_driver != h.top_driver
    ]
    if not changed:
        return []
    m, old, new = changed[0]
    return [
        Recommendation(
            "top_driver_changed",
            "high",
            "low",
            {
                "models": _models_param([c[0] for c in changed]),
                "before": Group(old),
                "after": Group(new),
                "period": Period(before.period),
            },
        )
    ]


def rule_nuisance_reliance(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    """Nuisance groups carry decision information (`nuisance_entries`: a significant group, or
    a significant factor of one); the light is key point 1's NUISANCE_SHARE light."""
    hits: dict[str, tuple[float, float]] = {}  # factor -> (largest share, its p-value)
    group_of: dict[str, str] = {}
    models: list[str] = []
    for m in models_of(f):
        ds = drivers_of(f, m)
        for g in group_entries(ds):
            if not is_nuisance(f, g.group):
                continue
            factors = [d for d in factor_entries(ds, g.group) if d.significant]
            if not factors and g.significant:
                factors = [g]
            for d in factors:
                if d.share > hits.get(d.name, (-1.0, 1.0))[0]:
                    hits[d.name] = (d.share, d.p_value)
                    group_of[d.name] = d.group
            if factors and m not in models:
                models.append(m)
    if not hits:
        return []
    names = sorted(hits, key=lambda n: -hits[n][0])
    # The headline is the entry the lights count: the group's own share (its factors
    # overlap), or its strongest factor's where the group as a whole is not significant.
    top = max((d for m in models for d in nuisance_entries(f, m)), key=lambda d: d.share)
    share = max(nuisance_share(f, m) for m in models)
    # A group standing for itself (no significant single factor) is named in plain words.
    shown = tuple(Group(n) if n == group_of[n] else Factor(n) for n in names[:3])
    return [
        Recommendation(
            "nuisance_reliance",
            LIGHT_SEVERITY[NUISANCE_SHARE.light(share)],
            "medium",
            {
                "factors": Names(shown),
                "group": Group(top.group),
                "factor": Factor(top.name),
                "share": Pct(top.share),
                "p": PStat(max(hits[n][1] for n in names[:3])),
                "models": _models_param(models),
                # "pose, light and camera account for 43 %" or "brightness alone carries 25 %"
                "variant": "factor" if top.name != top.group else "",
            },
        )
    ]


def rule_incidental_reliance(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    """Groups the study marks incidental carry enough of the decision information to set
    key point 1's OFF_TARGET_SHARE light, and no people comparison already says so."""
    if rule_cue_mismatch(f, history):
        return []  # the cue-mismatch rule names the same cue, with people's numbers
    hits = [
        (m, g)
        for m in models_of(f)
        for g in group_entries(drivers_of(f, m))
        if role_of(f, g.group) == "incidental" and g.significant
    ]
    if not hits:
        return []
    light = OFF_TARGET_SHARE.light(max(off_target_share(f, m) for m, _ in hits))
    if light == "green":
        return []
    top = max((g for _, g in hits), key=lambda g: g.share)
    diagnostic = tuple(Group(g) for g in f.study.groups if role_of(f, g) == "diagnostic")
    return [
        Recommendation(
            "incidental_reliance",
            LIGHT_SEVERITY[light],
            "medium",
            {
                "group": Group(top.group),
                "share": Pct(top.share),
                "p": PStat(top.p_value),
                "models": _models_param(list(dict.fromkeys(m for m, _ in hits))),
                "diagnostic": Names(diagnostic) if diagnostic else Word("format.other_factors"),
                "target": Pct(OFF_TARGET_SHARE.amber),
            },
        )
    ]


def _lean(shape_bias: float) -> str:
    return "shape" if shape_bias > 0.5 else "texture"


def rule_cue_mismatch(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    humans = pooled_humans_bias(f)
    out_models, gaps, values = [], [], []
    if humans is not None:
        for m in models_of(f):
            sb = shape_bias_of(f, m)
            if sb is None or _lean(sb.shape_bias) == _lean(humans.shape_bias):
                continue
            if intervals_overlap((sb.ci_low, sb.ci_high), (humans.ci_low, humans.ci_high)):
                continue  # no reliable difference: no rule fires on it
            out_models.append(m)
            gaps.append(abs(sb.shape_bias - humans.shape_bias))
            values.append(sb.shape_bias)
        if out_models:
            model_cue = "texture" if _lean(humans.shape_bias) == "shape" else "shape"
            # The target is the shape bias that would turn the people light green: within
            # SHAPE_GAP.amber of people's, on the side the models fall short from.
            below = model_cue == "texture"
            target = humans.shape_bias + (-SHAPE_GAP.amber if below else SHAPE_GAP.amber)
            return [
                Recommendation(
                    "cue_mismatch",
                    LIGHT_SEVERITY[SHAPE_GAP.light(max(gaps))],
                    "medium",
                    {
                        "model_cue": Group(model_cue),
                        "people_cue": Group(_lean(humans.shape_bias)),
                        "people": Pct(humans.shape_bias),
                        "model_sb": Range(min(values), max(values)),
                        "models": _models_param(out_models),
                        "variant": role_of(f, model_cue),
                        "target": Pct(min(max(target, 0.0), 1.0)),
                        "bound": Word("format.bound_above" if below else "format.bound_below"),
                        "gap": Pct(SHAPE_GAP.amber),
                    },
                )
            ]
        return []
    # Without cue-conflict trials, compare the top factor groups of model and people.
    people = group_entries(drivers_of(f, "humans"))
    if not people or people[0].group not in SHAPE_TEXTURE or not people[0].significant:
        return []
    for m in models_of(f):
        model = group_entries(drivers_of(f, m))
        if model and model[0].group in SHAPE_TEXTURE and model[0].group != people[0].group:
            if model[0].significant:
                out_models.append(m)
    if not out_models:
        return []
    top = group_entries(drivers_of(f, out_models[0]))[0]
    return [
        Recommendation(
            "cue_mismatch_drivers",
            "medium",
            "medium",
            {
                "model_cue": Group(top.group),
                "people_cue": Group(people[0].group),
                "model_share": Pct(top.share),
                "people_share": Pct(people[0].share),
                "models": _models_param(out_models),
                "variant": role_of(f, top.group),
            },
        )
    ]


def rule_low_error_consistency(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    ceiling = kappa_of(f, "human-human")
    if ceiling is None or not ceiling.kappa > 0.1:  # a ceiling near 0 cannot be fallen short of
        return []
    ratios = {m: r for m, r in kappa_ratios(f).items() if KAPPA_RATIO.light(r) != "green"}
    low = [k for m in ratios if (k := kappa_of(f, m)) is not None]
    if not low:
        return []
    return [
        Recommendation(
            "low_error_consistency",
            LIGHT_SEVERITY[KAPPA_RATIO.light(min(ratios.values()))],
            "low",
            {
                "target": Dec(KAPPA_RATIO.amber * ceiling.kappa),
                "ratio": Pct(KAPPA_RATIO.amber),
                "kappa": Range(min(k.kappa for k in low), max(k.kappa for k in low), "dec"),
                "ceiling": Dec(ceiling.kappa),
                "models": _models_param([k.observer for k in low]),
                "n_people": Num(len(f.study.humans)),
            },
        )
    ]


def rule_more_data(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    claims: list[tuple[str, int | None, str]] = []  # (claim, extra stimuli, unit)
    for m in models_of(f):
        groups = group_entries(drivers_of(f, m))
        if groups:
            ev = driver_evidence(groups[0], f)
            if ev.level == TOO_FEW or (ev.level == SOME and ev.n_more):
                claims.append((m, ev.n_more, "images"))
        sb = shape_bias_of(f, m)
        if sb is not None:
            ev = shape_bias_evidence(sb)
            if ev.level in (TOO_FEW, SOME) and ev.n_more:
                claims.append((m, ev.n_more, "trials"))
        k = kappa_of(f, m)
        if k is not None:
            ev = rate_evidence(f.run.n_stimuli, k.ci_low, k.ci_high)
            if ev.level in (TOO_FEW, SOME) and ev.n_more:
                claims.append((m, ev.n_more, "images"))
    sized = [c for c in claims if c[1]]
    if not sized:
        return []
    most = max(c[1] or 0 for c in sized)
    return [
        Recommendation(
            "more_data",
            "medium",
            "medium",
            {"n": Num(most), "models": _models_param(list(dict.fromkeys(c[0] for c in sized)))},
        )
    ]


def rule_late_decisive(f: Findings, history: list[HistoryRow]) -> list[Recommendation]:
    if f.study.decision_only or not f.layers:
        return []
    groups = group_entries(drivers_of(f, models_of(f)[0]))
    if not groups or driver_evidence(groups[0], f).level not in (CLEAR, SOME):
        return []
    top = groups[0].group
    last = max(x.depth for x in f.layers)
    reach = [x for x in f.layers if x.group == top and x.redundancy_significant]
    if not reach or any(x.depth != last for x in reach):
        return []
    return [
        Recommendation(
            "late_decisive", "info", "none", {"group": Group(top), "layer": reach[0].layer}
        )
    ]


RULES: tuple[Rule, ...] = (
    Rule(
        "model_at_chance",
        "the model's accuracy on standard images is not clearly above chance",
        "fix how the images reach the model (preprocessing, class order, weights) first",
        rule_model_at_chance,
    ),
    Rule(
        "top_driver_changed",
        "the top driver changed since the last report",
        "treat as a model change; confirm with the team that trained it",
        rule_top_driver_changed,
    ),
    Rule(
        "nuisance_reliance",
        "a nuisance factor (lighting, pose, position) carries significant decision information",
        "augment training data over that factor; check the line's control of it",
        rule_nuisance_reliance,
    ),
    Rule(
        "incidental_reliance",
        "a factor group the study marks incidental carries much of the decision information",
        "add training images in which it varies independently of the class; re-test",
        rule_incidental_reliance,
    ),
    Rule(
        "cue_mismatch",
        "the model relies on texture where people rely on shape (or the reverse)",
        "add cue-conflict / varied-finish images to training; review whether the cue is acceptable",
        rule_cue_mismatch,
    ),
    Rule(
        "low_error_consistency",
        "human–model error consistency well below the human–human ceiling",
        "review the disagreements with inspectors before widening deployment",
        rule_low_error_consistency,
    ),
    Rule(
        "more_data",
        "wide CIs or too few trials for a headline claim",
        "collect about N more stimuli (N from the CI width, width ∝ 1/√N) before deciding",
        rule_more_data,
    ),
    Rule(
        "late_decisive",
        "decisive information appears only in the last stage",
        "no action by itself; note it for model-size discussions",
        rule_late_decisive,
    ),
)


def recommend(f: Findings, history: list[HistoryRow] | None = None) -> list[Recommendation]:
    """Apply every rule of `RULES`; most severe first, table order within a severity."""
    fired = [r for rule in RULES for r in rule.check(f, history or [])]
    # A rule's several-model sentences say which share of the studied models it fired on
    # ({which}: "all 7 models", "6 of the 7 models").
    fired = [
        Recommendation(
            r.rule,
            r.severity,
            r.effort,
            {**r.params, "which": ModelCount(len(r.params["models"].values), len(f.study.models))}
            if isinstance(r.params.get("models"), Names)
            else dict(r.params),
        )
        for r in fired
    ]
    return sorted(fired, key=lambda r: SEVERITY_ORDER[r.severity])


__all__ = ["RULES", "Recommendation", "Rule", "recommend", "NONE"]
