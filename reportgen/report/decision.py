"""Page 1's decision box: go / hold / no-go, fitness for use, the sized risk, what to do, who
and by when, and the options the study's owner priced (`[report.decision]`).

The verdict and its numbers come from `findings.evidence.verdict`; this module only words
them. Nothing here is computed that the Findings do not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.findings import Accuracy, Findings
from reportgen.findings.evidence import GO, HOLD, NO_GO, NOT_ASSESSED, Verdict, verdict
from reportgen.findings.queries import is_finite, models_of, role_of
from reportgen.report.format import Formatter, Group, Model, Num, Pct, Range
from reportgen.report.key_points import RecommendationText
from reportgen.report.recommendations import Recommendation

#: How the box shows a verdict (CSS class of its badge).
VERDICT_LIGHT = {GO: "green", HOLD: "amber", NO_GO: "red", NOT_ASSESSED: "grey"}
_ORDER = {NO_GO: 0, HOLD: 1, NOT_ASSESSED: 2, GO: 3}


@dataclass(frozen=True, slots=True)
class OptionRow:
    name: str
    cost: str
    effort: str
    benefit: str
    owner: str
    due: str


@dataclass(frozen=True, slots=True)
class DecisionBox:
    verdict: str  # GO, HOLD, NO_GO or NOT_ASSESSED: the worst over the models
    light: str
    label: str  # "Go", "Hold", ...
    why: str  # one sentence: the reason for the verdict
    fitness: str
    risk: str  # sized in the user's terms where the study has cue-conflict images
    action: str  # the first recommendation's title, with who owns it and by when
    # several models: (model, accuracy on standard images, accuracy when cues conflict,
    # verdict label); either accuracy column is None when no model has it
    models: list[tuple[str, str | None, str | None, str]]
    options: list[OptionRow]


def decision_box(
    f: Findings,
    fmt: Formatter,
    recs: list[Recommendation],
    texts: list[RecommendationText],
) -> DecisionBox:
    verdicts = [verdict(f, m) for m in models_of(f)]
    worst = min(verdicts, key=lambda v: _ORDER[v.code])
    several = len(verdicts) > 1
    # Accuracy on cue-conflict images is a risk only where the study marks a group
    # incidental: with every cue diagnostic, "right" on a conflict image is a convention.
    shortcut = any(role_of(f, g) == "incidental" for g in f.study.groups)
    risks = [
        v.risk for v in verdicts if shortcut and v.risk is not None and is_finite(v.risk.accuracy)
    ]
    label = fmt.t(f"decision.verdict_{worst.code}")
    return DecisionBox(
        verdict=worst.code,
        light=VERDICT_LIGHT[worst.code],
        label=label,
        why=_why(worst, fmt, several),
        fitness=_fitness(worst, fmt, several),
        risk=_risk(f, worst, fmt, recs, texts, shortcut)
        if len(risks) < 2
        else _risks(f, risks, fmt),
        action=_action(f, recs, texts, fmt),
        models=_model_rows(verdicts, fmt) if several else [],
        options=[_option(o, fmt) for o in f.study.decision.get("options", [])],
    )


def _option(o: dict, fmt: Formatter) -> OptionRow:
    """One option's texts in the report's language where the config gives them
    (`[report.decision.options.<lang>]`), else as written."""
    own = o.get("translations", {}).get(fmt.s["meta"]["lang"], {})

    def text(key: str) -> str:
        return own.get(key) or o.get(key) or ""

    missing = fmt.t("decision.not_given")
    return OptionRow(
        text("name"),
        text("cost") or missing,
        text("effort"),  # "" where not given: section 6 says so
        text("benefit") or missing,
        text("owner") or missing,
        text("due"),  # likewise
    )


def _model_rows(
    verdicts: list[Verdict], fmt: Formatter
) -> list[tuple[str, str | None, str | None, str]]:
    standard = any(v.accuracy for v in verdicts)
    conflict = any(v.risk for v in verdicts)
    return [
        (
            fmt.model(v.model),
            _accuracy(v.accuracy, fmt) if standard else None,
            _accuracy(v.risk, fmt) if conflict else None,
            fmt.t(f"decision.verdict_{v.code}"),
        )
        for v in verdicts
    ]


def _accuracy(a: Accuracy | None, fmt: Formatter) -> str:
    if a is None:
        return fmt.s["format"]["missing"]
    return fmt.t(
        "decision.accuracy_short",
        accuracy=Pct(a.accuracy),
        interval=fmt.interval(a.ci_low, a.ci_high),
    )


def _why(v: Verdict, fmt: Formatter, several: bool) -> str:
    model = Model(v.model)
    key = f"decision.why_{v.reason}" + ("_m" if several else "")
    red = (
        fmt.t("decision.red_both")
        if len(v.red) == 2
        else fmt.t("decision.red_one", kp=v.red[0])
        if v.red
        else ""
    )
    return fmt.t(key, model=model, red=red, bar=Pct(v.bar))


def _fitness(v: Verdict, fmt: Formatter, several: bool) -> str:
    a = v.accuracy
    if a is None:
        return fmt.t("decision.fitness_none")
    bar = "decision.bar_configured" if v.bar_configured else "decision.bar_chance"
    return fmt.t(
        "decision.fitness_m" if several else "decision.fitness",
        model=Model(v.model),
        accuracy=Pct(a.accuracy),
        interval=fmt.interval(a.ci_low, a.ci_high),
        n=fmt.count(a.n, "images"),
        bar=fmt.t(bar, bar=Pct(v.bar)),
    )


def _risk(
    f: Findings,
    v: Verdict,
    fmt: Formatter,
    recs: list[Recommendation],
    texts: list[RecommendationText],
    shortcut: bool,
) -> str:
    """The risk in the user's terms: accuracy once the cue the judgement should not rest on
    points elsewhere (cue-conflict images, where the study marks a group incidental), else
    the main recommendation's risk."""
    r, a = v.risk, v.accuracy
    if shortcut and r is not None and is_finite(r.accuracy):
        off = _off_target_cue(f)
        cue = Group(off) if off else None
        key = "decision.risk_conflict" if cue else "decision.risk_conflict_plain"
        against = (
            fmt.t("decision.risk_against", accuracy=Pct(a.accuracy))
            if a is not None and is_finite(a.accuracy)
            else ""
        )
        return fmt.t(
            key,
            model=Model(v.model),
            cue=cue or "",
            accuracy=Pct(r.accuracy),
            interval=fmt.interval(r.ci_low, r.ci_high),
            n=fmt.count(r.n, "images"),
            against=against,
        )
    acting = [t for rec, t in zip(recs, texts, strict=True) if rec.severity != "info"]
    return acting[0].risk if acting else fmt.t("decision.risk_none")


def _risks(f: Findings, risks: list[Accuracy], fmt: Formatter) -> str:
    """Several models: the range of their accuracy on cue-conflict images (the table beside
    it gives each model's)."""
    off = _off_target_cue(f)
    return fmt.t(
        "decision.risk_conflict_m" if off else "decision.risk_conflict_plain_m",
        cue=Group(off) if off else "",
        m=Num(len(risks)),
        range=Range(min(r.accuracy for r in risks), max(r.accuracy for r in risks)),
    )


def _off_target_cue(f: Findings) -> str | None:
    """The cue group (shape or texture) the judgement should not rest on, if one is."""
    cues = [g for g in f.study.groups if g in ("shape", "texture")]
    return next((g for g in cues if role_of(f, g) != "diagnostic"), None)


def _action(
    f: Findings, recs: list[Recommendation], texts: list[RecommendationText], fmt: Formatter
) -> str:
    """The first recommendation (key point 3 words it in full), who owns it and by when."""
    acting = [t for rec, t in zip(recs, texts, strict=True) if rec.severity != "info"]
    if not acting:
        return fmt.t("decision.action_none")
    d = f.study.decision
    owner = fmt.report_text("owner", d.get("owner", ""))
    due = fmt.report_text("due", d.get("due", ""))
    if owner or due:
        missing = fmt.t("decision.not_given")
        who = fmt.t("decision.owner", owner=owner or missing, due=due or missing)
    else:
        who = fmt.t("decision.owner_unset")
    return fmt.t("decision.action", title=acting[0].title, who=who)


__all__ = ["DecisionBox", "OptionRow", "decision_box"]
