"""The three key points of page 1 (what drives the decisions, model versus people, the main
risk and its action) and the words of a fired recommendation rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reportgen.findings import DecisionAgreement, Driver, Findings

if TYPE_CHECKING:
    from reportgen.report.recommendations import Recommendation
from reportgen.findings.evidence import (
    CLEAR,
    NONE,
    SEVERITY_LIGHT,
    SOME,
    TOO_FEW,
    driver_evidence,
    drivers_light,
    intervals_overlap,
    off_target_entries,
    people_light,
    shape_bias_evidence,
)
from reportgen.findings.queries import (
    drivers_of,
    group_entries,
    models_of,
    no_people_key,
    pooled_humans_bias,
    role_of,
    shape_bias_of,
)
from reportgen.report.format import Factor, Formatter, Group, Model, Names, Num, Pct, Range
from reportgen.report.strings import lookup


# ---- the narrative ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyPoint:
    number: int
    heading: str
    sentence: str
    evidence: str
    light: str  # "green", "amber", "red" or "grey"
    light_label: str


@dataclass(frozen=True, slots=True)
class RecommendationText:
    title: str
    risk: str
    action: str
    evidence: str
    plain: str  # page 1's evidence line, without jargon
    effort: str
    next_report: str
    severity: str


def people_label(f: Findings, fmt: Formatter) -> str:
    return fmt.t("people.panel_simulated" if f.study.humans_simulated else "people.panel")


def analysed_line(f: Findings, fmt: Formatter) -> str:
    models = models_of(f)
    parts = [
        fmt.count(len(f.study.classes), "classes"),
        fmt.count(f.run.n_stimuli, "images"),
    ]
    if f.study.humans:
        key = "people_simulated" if f.study.humans_simulated else "people"
        parts.append(fmt.count(len(f.study.humans), key))
    if len(models) == 1 and not is_generic_model_id(models[0], fmt):
        parts.append(fmt.t("summary.one_model", model=Model(models[0])))
    else:
        parts.append(fmt.count(len(models), "models"))
    return fmt.t("summary.analysed", items=Names(tuple(parts)))


def is_generic_model_id(observer: str, fmt: Formatter) -> bool:
    """An id that only says "model" (the parts demo passes "model"): naming it in prose would
    read "model model", so sentences say "the model" / "1 model" instead."""
    word = observer.strip().lower()
    return word in {"model", "the model", fmt.t("kinds.model").lower()}


def _evidence_line(level: str, fmt: Formatter, **params: Any) -> str:
    return fmt.t(f"evidence.{level}", **params)


def key_point_drivers(f: Findings, fmt: Formatter) -> KeyPoint:
    models = models_of(f)
    heading = fmt.t("summary.kp1_heading")
    per_model = {m: group_entries(drivers_of(f, m)) for m in models}
    if not any(per_model.values()):
        text = fmt.t("summary.kp1_missing")
        return KeyPoint(1, heading, text, "", "grey", fmt.t("lights.grey"))
    if len(models) == 1:
        groups = per_model[models[0]]
        top = groups[0]
        ev = driver_evidence(top, f)
        others = Names(
            tuple(
                fmt.t("summary.share_item", group=Group(d.group), share=Pct(d.share))
                for d in groups[1:]
            )
        )
        if ev.level == TOO_FEW:
            sentence = fmt.t_more("summary.kp1_too_few", ev.n_more, n=Num(ev.n_more or 0))
        elif ev.level == NONE:
            sentence = fmt.t("summary.kp1_none", group=Group(top.group), share=Pct(top.share))
        else:
            key = "summary.kp1_clear" if ev.level == CLEAR else "summary.kp1_some"
            sentence = fmt.t(key, group=Group(top.group), share=Pct(top.share))
            key = "summary.kp1_with_others" if groups[1:] else "summary.kp1_alone"
            sentence = _with_role(f, fmt, fmt.t(key, first=sentence, others=others), top.group)
            if role_of(f, top.group) == "diagnostic" and drivers_light(f) != "green":
                sentence = _with_off_target(f, fmt, sentence, models[0])
        evidence = _evidence_line(
            ev.level,
            fmt,
            n=fmt.count(f.run.n_stimuli, "images"),
            chance=fmt.chance(top.p_value),
        )
    else:
        sentence, level, sig, led = _drivers_several(f, fmt, per_model)
        if level != NONE:
            sentence = _with_role(f, fmt, sentence, _lead_group(per_model))
        evidence = _evidence_line(
            level,
            fmt,
            n=fmt.count(f.run.n_stimuli, "images"),
            chance=fmt.t(
                "evidence.significant_all" if sig == led else "evidence.significant_in",
                k=Num(sig),
                m=Num(led),
            ),
        )
    light = drivers_light(f)
    return KeyPoint(1, heading, sentence, evidence, light, fmt.t(f"lights.{light}"))


def _with_role(f: Findings, fmt: Formatter, sentence: str, group: str) -> str:
    """`sentence` about a leading group, followed by what its role makes of it when the
    judgement should not rest on that group (the reason key point 1 is not green)."""
    role = role_of(f, group)
    if role == "diagnostic":
        return sentence
    note = fmt.t(f"summary.kp1_role_{role}", group=Group(group))
    return fmt.t("format.sentence_join").join([sentence, note])


def _with_off_target(f: Findings, fmt: Formatter, sentence: str, model: str) -> str:
    """`sentence` about a diagnostic lead group, followed by the largest part of the decision
    information that should not count (`off_target_entries`): why key point 1 is not green
    although the lead is right."""
    off = off_target_entries(f, model)
    if not off:
        return sentence
    d = max(off, key=lambda d: d.share)
    what = Group(d.group) if d.name == d.group else Factor(d.name)
    note = fmt.t("summary.kp1_off_target", what=what, share=Pct(d.share))
    return fmt.t("format.sentence_join").join([sentence, note])


def _lead_group(per_model: Mapping[str, list[Driver]]) -> str:
    """The factor group that leads in most models (the first such in model order on ties)."""
    tops = [g[0].group for g in per_model.values() if g]
    return max(dict.fromkeys(tops), key=tops.count)


def _drivers_several(
    f: Findings, fmt: Formatter, per_model: Mapping[str, list[Driver]]
) -> tuple[str, str, int, int]:
    """Several models: the factor group that leads in most of them, with the range of its
    share over exactly those models, then the groups that lead in the others.

    Returns the sentence, its evidence level, and how many of the models it leads in have it
    significant, out of how many.
    """
    tops = {m: g[0] for m, g in per_model.items() if g}
    lead = _lead_group(per_model)
    led = [d for d in tops.values() if d.group == lead]  # the models the sentence speaks of
    shares = [d.share for d in led]
    sig = sum(d.significant for d in led)
    levels = [driver_evidence(d, f).level for d in led]
    level = CLEAR if all(x == CLEAR for x in levels) else (SOME if sig else NONE)
    key = {CLEAR: "summary.kpm_clear", SOME: "summary.kpm_some", NONE: "summary.kpm_none"}[level]
    if len(led) == len(per_model) and level != NONE:
        key += "_all"  # "In all 7 models", not "In 7 of the 7 models"
    sentence = fmt.t(
        key,
        k=Num(len(led)),
        m=Num(len(per_model)),
        group=Group(lead),
        share=Range(min(shares), max(shares)),
    )
    others = [d for d in tops.values() if d.group != lead]
    if others:
        by_group: dict[str, list[float]] = {}
        for d in others:
            by_group.setdefault(d.group, []).append(d.share)
        items = Names(
            tuple(
                fmt.t("summary.rest_item", group=Group(g), share=Range(min(v), max(v)))
                for g, v in by_group.items()
            )
        )
        rest = "summary.kpm_rest_one" if len(others) == 1 else "summary.kpm_rest"
        sentence = fmt.t("format.sentence_join").join(
            [sentence, fmt.t(rest, n=Num(len(others)), items=items)]
        )
    return sentence, level, sig, len(led)


def key_point_people(f: Findings, fmt: Formatter) -> KeyPoint:
    heading = fmt.t("summary.kp2_heading")
    light = people_light(f)
    if not f.study.humans:
        text = fmt.t(no_people_key(f, "summary.kp2_no_people"))
        return KeyPoint(2, heading, text, "", "grey", fmt.t("lights.grey"))
    models = models_of(f)
    humans = pooled_humans_bias(f)
    model_sb = [s for m in models if (s := shape_bias_of(f, m))]
    agreements = [a for a in f.decision_agreement if a.observer in models]
    parts = []
    if humans and model_sb:
        if len(models) == 1:
            parts.append(
                fmt.t(
                    "summary.kp2_shape",
                    people=Pct(humans.shape_bias),
                    model=Pct(model_sb[0].shape_bias),
                )
            )
        else:
            values = [s.shape_bias for s in model_sb]
            parts.append(
                fmt.t(
                    "summary.kpm2_shape",
                    people=Pct(humans.shape_bias),
                    m=Num(len(model_sb)),
                    low=Pct(min(values)),
                    high=Pct(max(values)),
                )
            )
    else:
        hd = group_entries(drivers_of(f, "humans"))
        md = group_entries(drivers_of(f, models[0]))
        if hd and md:
            parts.append(
                fmt.t(
                    "summary.kp2_drivers",
                    people_group=Group(hd[0].group),
                    people_share=Pct(hd[0].share),
                    model_group=Group(md[0].group),
                    model_share=Pct(md[0].share),
                )
            )
    if agreements:
        if len(agreements) == 1:
            parts.append(agreement_sentence(f, agreements[0], fmt))
        else:
            values = [a.agreement for a in agreements]
            parts.append(fmt.t("summary.kpm2_agree", low=Pct(min(values)), high=Pct(max(values))))
    if not parts:
        parts.append(fmt.t("summary.kp2_missing"))
    sentence = fmt.t("format.sentence_join").join(parts)
    # Evidence: do the model's and people's intervals separate?
    level = NONE if humans and model_sb else "drivers"
    if humans and model_sb:
        separated = [
            not intervals_overlap((s.ci_low, s.ci_high), (humans.ci_low, humans.ci_high))
            for s in model_sb
        ]
        evs = [shape_bias_evidence(s).level for s in [*model_sb, humans]]
        if TOO_FEW in evs:
            level = TOO_FEW
        elif all(separated):
            level = CLEAR if all(e == CLEAR for e in evs) else SOME
        elif any(separated):
            level = SOME
    evidence = fmt.t(
        f"evidence.people_{level}",
        people=fmt.count(
            len(f.study.humans), "people_simulated" if f.study.humans_simulated else "people"
        ),
        n=fmt.count(humans.n_shape + humans.n_texture if humans else 0, "trials"),
    )
    return KeyPoint(2, heading, sentence, evidence, light, fmt.t(f"lights.{light}"))


def agreement_sentence(
    f: Findings, a: DecisionAgreement, fmt: Formatter, prefix: str = "summary.kp2_"
) -> str:
    """How often the model and people give the same answer: per condition (standard versus
    conflicting images) with people's agreement with each other beside it, where the study
    has both conditions; else over all images, with its chance level. `prefix` is the stem of
    the locale keys (page 1's, or section 2's)."""
    split = ("standard", "cue-conflict")
    people = next((h for h in f.decision_agreement if h.observer == "human-human"), None)
    if not all(c in a.by_condition for c in split):
        return fmt.t(f"{prefix}agree", agree=Pct(a.agreement), chance=Pct(a.chance))
    values = {c: Pct(a.by_condition[c][0]) for c in split}
    if people is not None and all(c in people.by_condition for c in split):
        return fmt.t(
            f"{prefix}agree_split",
            standard=values["standard"],
            conflict=values["cue-conflict"],
            people_standard=Pct(people.by_condition["standard"][0]),
            people_conflict=Pct(people.by_condition["cue-conflict"][0]),
        )
    return fmt.t(
        f"{prefix}agree_split_alone",
        standard=values["standard"],
        conflict=values["cue-conflict"],
    )


def key_point_risk(
    recs: list[Recommendation], texts: list[RecommendationText], fmt: Formatter
) -> KeyPoint:
    heading = fmt.t("summary.kp3_heading")
    acting = [(r, t) for r, t in zip(recs, texts, strict=True) if r.severity != "info"]
    if not acting:
        return KeyPoint(
            3,
            heading,
            fmt.t("summary.kp3_none"),
            fmt.t("summary.kp3_none_evidence"),
            "green",
            fmt.t("lights.green"),
        )
    rec, text = acting[0]  # recommend() returns them most severe first
    sentence = fmt.t("summary.kp3", risk=text.risk, action=text.action)
    light = SEVERITY_LIGHT[rec.severity]
    return KeyPoint(3, heading, sentence, text.plain, light, fmt.t(f"lights.{light}"))


def recommendation_text(
    r: Recommendation, fmt: Formatter, several: bool = False
) -> RecommendationText:
    """A fired rule in words. With several models a rule's `<field>_m` sentence (naming how
    many and which models) replaces the one-model sentence, which speaks of "the model"."""
    base = lookup(fmt.s, f"rules.{r.rule}")

    def text(name: str) -> str:
        key = f"{name}_m" if several and f"{name}_m" in base else name
        # a rule may word its action for logged decisions (no preprocessing, no weights)
        if r.params.get("logged") and f"{key}_logged" in base:
            key = f"{key}_logged"
        # ... and by the role the study gives the group it is about ("action_incidental")
        variant = r.params.get("variant")
        if variant and f"{key}_{variant}" in base:
            key = f"{key}_{variant}"
        return fmt.t(f"rules.{r.rule}.{key}", **r.params)

    return RecommendationText(
        title=text("title"),
        risk=text("risk"),
        action=text("action"),
        evidence=text("evidence"),
        plain=text("plain"),
        effort=fmt.t(f"effort.{r.effort}"),
        next_report=text("next"),
        severity=fmt.t(f"severity.{r.severity}"),
    )
