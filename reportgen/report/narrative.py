"""Findings → the report's sentences, in English or Japanese.

Every sentence is a locale string (`templates/locale/{en,ja}.toml`) filled with numbers taken
from one Finding; this module picks *which* string by the evidence rules of report-guide.md
("Wording follows the evidence") and the traffic-light thresholds below. It computes no
statistics: it only compares numbers the analyses already produced (estimates, intervals,
p-values, sample sizes) against documented thresholds.

This module assembles the page-1 key points and the whole `Narrative`; the sentences of
each part come from the modules beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reportgen.findings import Findings

if TYPE_CHECKING:
    from reportgen.findings.headline import HistoryRow
    from reportgen.report.recommendations import Recommendation
from reportgen.findings.queries import models_of, people_panels
from reportgen.report.change import ChangeRow, change_section
from reportgen.report.decision import DecisionBox, decision_box
from reportgen.report.format import Formatter, Model, Num, Pct
from reportgen.report.key_points import (
    KeyPoint,
    RecommendationText,
    analysed_line,
    key_point_drivers,
    key_point_people,
    key_point_risk,
    people_label,
    recommendation_text,
)
from reportgen.report.methods import light_rule_rows, methods_rows, model_card_rows
from reportgen.report.montage import Montage, disagreement_montage, stimuli_montage
from reportgen.report.sections import (
    drivers_section,
    layers_caption,
    network_section,
    people_section,
    risks_section,
)


@dataclass(slots=True)
class Narrative:
    """Everything the template shows as text; numbers in tables are formatted by filters."""

    lang: str
    analysed: str
    alarms: list[str]  # page 1, before anything else: the model does not work
    notices: list[str]
    key_points: list[KeyPoint]
    drivers: list[str]
    people: list[str]
    network: list[str]
    network_omitted: str | None
    risks: list[str]
    change: list[str]
    change_rows: list[ChangeRow]
    first_run: bool
    recommendations: list[RecommendationText]
    methods: list[tuple[str, str]]
    light_rules: list[tuple[str, str, str, str]]  # the rule table, as Methods prints it
    decision: DecisionBox | None  # page 1's decision box
    model_card: list[tuple[str, str]]  # the appendix's model card
    glossary: list[tuple[str, str]]
    people_label: str
    people_caption: str  # says what the people figure shows: one panel or both
    people_alt: str
    layers_caption: str  # the network figure's caption, with a note where dashed > solid
    stimuli: Montage | None = None  # "What the stimuli look like" (section 1)
    disagreements: Montage | None = None  # images the model and people disagree on (section 2)
    extra: dict[str, Any] = field(default_factory=dict)


def _has(f: Findings, what: str | None) -> bool:
    """Whether the study holds what a glossary entry explains (`needs` in the locale)."""
    return {
        None: True,
        "people": bool(f.study.humans),
        "shape_bias": bool(f.shape_bias),
        "redundancy": bool(f.layers or f.shared_information),
        "fingerprint": bool(f.run.model_fingerprint),
    }[what]


def build_narrative(
    f: Findings,
    strings: Mapping[str, Any],
    recommendations: list[Recommendation],
    history: list[HistoryRow] | None,
    pictures: Mapping[str, int] | None = None,
) -> Narrative:
    """Turn Findings (plus rule-based recommendations and past runs) into the report's text.

    `pictures` maps each example image (path relative to the output folder) that exists there
    to its width in pixels; examples without an entry are left out of the montages and counted
    as missing. None takes every example's picture as present (text-only use).
    """
    fmt = Formatter.for_findings(strings, f)
    models_of(f)
    several = len(f.study.models) > 1
    recs = [recommendation_text(r, fmt, several) for r in recommendations]
    logged = "_logged" if f.study.decision_only else ""  # no preprocessing to check
    alarms = [
        fmt.t(
            f"notices.low_accuracy{logged}",
            model=Model(c.detail["observer"]),
            accuracy=Pct(c.detail["accuracy"]),
            n=Num(c.detail["n"]),
            chance=Pct(c.detail["chance"]),
        )
        for c in f.warnings
        if c.code == "low_accuracy"
    ]
    notices = []
    if f.study.humans and f.study.humans_simulated:
        notices.append(fmt.t("notices.simulated_panel"))
    if f.study.decision_only:
        notices.append(fmt.t("notices.decision_only"))
    change, change_rows, first = change_section(f, history or [], fmt)
    box = decision_box(f, fmt, recommendations, recs)
    with_bias, with_kappa = people_panels(f)
    caption = "" if with_bias and with_kappa else "_bias" if with_bias else "_kappa"
    if caption == "_bias" and not f.study.humans:
        caption = "_models"  # shape bias of the models alone: no dots for people
    return Narrative(
        lang=strings["meta"]["lang"],
        analysed=analysed_line(f, fmt),
        alarms=alarms,
        notices=notices,
        key_points=[
            key_point_drivers(f, fmt),
            key_point_people(f, fmt),
            key_point_risk(recommendations, recs, fmt),
        ],
        drivers=drivers_section(f, fmt),
        people=people_section(f, fmt),
        network=network_section(f, fmt),
        network_omitted=(
            fmt.t("network.omitted")
            if f.study.decision_only
            else fmt.t("network.no_layers")
            if not f.layers
            else None
        ),
        risks=risks_section(f, fmt),
        layers_caption=layers_caption(f, fmt),
        change=change,
        change_rows=change_rows,
        first_run=first,
        recommendations=recs,
        methods=methods_rows(f, fmt),
        light_rules=light_rule_rows(fmt),
        decision=box,
        model_card=model_card_rows(f, fmt, recommendations, recs),
        glossary=[
            (g["term"], g["text"])
            for g in strings["glossary"]["entries"]
            if _has(f, g.get("needs"))
        ],
        people_label=people_label(f, fmt),
        people_caption=fmt.t(f"figures.people_caption{caption}"),
        people_alt=fmt.t("figures.shape_bias_title" if with_bias else "figures.kappa_title"),
        stimuli=stimuli_montage(f, fmt, pictures),
        disagreements=disagreement_montage(f, fmt, pictures),
    )
