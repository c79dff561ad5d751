"""The "Methods and data" table for auditors: sample sizes, estimator, permutations, seed,
versions, config hash.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reportgen.findings import Findings
from reportgen.findings.evidence import (
    LIGHT_RULES,
    MAX_RATE_CI_WIDTH,
    MIN_CONFLICT_TRIALS,
    MIN_TRIALS_PER_DIM,
    SMALL_EFFECT_BITS,
    WIDE_CI_RATIO,
)
from reportgen.report.format import Formatter, Num, Pct, Word
from reportgen.report.key_points import RecommendationText
from reportgen.report.recommendations import Recommendation


def methods_rows(f: Findings, fmt: Formatter) -> list[tuple[str, str]]:
    s, r = f.study, f.run
    t = fmt.t
    rows = [
        (t("methods.study"), f"{fmt.title(s.title)} ({s.name})"),
        (t("methods.period"), fmt.period(s.period) or t("methods.not_recorded")),
        (
            t("methods.stimuli"),
            fmt.join(
                t("format.pair", label=fmt.condition(c), value=fmt.num(n))
                for c, n in s.conditions.items()
            )
            + t("methods.total", n=Num(r.n_stimuli), trials=Num(r.n_trials)),
        ),
        (t("methods.classes"), fmt.join(fmt.cls(c) for c in s.classes)),
        (
            t("methods.factors"),
            t("format.item_sep").join(
                t("format.pair", label=fmt.group(g), value=fmt.join(fmt.factor(c) for c in cols))
                for g, cols in s.groups.items()
            ),
        ),
        (
            t("methods.roles"),
            t("format.item_sep").join(
                t(
                    "format.pair",
                    label=fmt.group(g),
                    value=t("methods.role_assumed", role=Word(f"roles.{r}"))
                    if g in s.roles_assumed
                    else t(f"roles.{r}"),
                )
                for g, r in s.roles.items()
            )
            or t("methods.not_recorded"),
        ),
        (t("methods.models"), fmt.join(fmt.model(m) for m in s.models)),
        (t("methods.fingerprint"), r.model_fingerprint or t("methods.no_fingerprint")),
    ]
    if f.layers:
        layers = dict.fromkeys(x.layer for x in sorted(f.layers, key=lambda x: x.depth))
        rows.append((t("methods.layers"), fmt.join(layers)))
    else:
        why = "network.omitted" if f.study.decision_only else "network.no_layers"
        rows.append((t("methods.layers"), t(why)))
    if s.humans:
        label = t("methods.observers_simulated" if s.humans_simulated else "methods.observers")
        rows.append((label, fmt.join(s.humans)))
    estimators = sorted({d.estimator for d in f.drivers if d.estimator})
    measures = sorted({x.measure for x in f.layers} | {x.measure for x in f.shared_information})
    rows += [
        (t("methods.estimators"), fmt.join(estimators) or t("methods.not_recorded")),
        (
            t("methods.redundancy"),
            fmt.join(t(f"methods.redundancy_{m}") for m in measures)
            or t("methods.redundancy_absent"),
        ),
        (t("methods.permutations"), fmt.num(r.permutations)),
        (t("methods.correction"), t("methods.correction_text")),
        (t("methods.alpha"), f"{r.alpha:g}"),
        (t("methods.seed"), str(r.seed)),
        (t("methods.versions"), fmt.join(f"{k} {v}" for k, v in r.versions.items())),
        (t("methods.device"), r.device),
        (t("methods.config_hash"), r.config_hash),
        (
            t("methods.timings"),
            fmt.join(
                f"{fmt.s['stages'].get(k, k)} {fmt.seconds(v)}" for k, v in r.timings_s.items()
            ),
        ),
        (
            t("methods.started"),
            fmt.date(r.started_at) if r.started_at else t("methods.not_recorded"),
        ),
        (t("methods.schema"), f.schema_version),
        (
            t("methods.thresholds"),
            t(
                "methods.thresholds_text",
                small=SMALL_EFFECT_BITS,
                wide=WIDE_CI_RATIO,
                per_dim=MIN_TRIALS_PER_DIM,
                min_conflict=MIN_CONFLICT_TRIALS,
                rate_width=MAX_RATE_CI_WIDTH,
            ),
        ),
        (
            t("methods.attribution"),
            s.attribution
            or (t("methods.generated", name=s.generator) if s.generator else "")
            or t("methods.not_recorded"),
        ),
    ]
    return rows


def light_rule_rows(fmt: Formatter) -> list[tuple[str, str, str, str]]:
    """The rule table every light and severity reads (`evidence.LIGHT_RULES`), as Methods
    prints it: key point, what is measured, from which value amber, from which red; then the
    rules that are not thresholds."""
    t = fmt.t
    rows: list[tuple[int, tuple[str, str, str]]] = []  # (key point, (measure, amber, red))
    for rule in LIGHT_RULES:
        when = "methods.rules.from" if rule.above else "methods.rules.below"
        row = (t(f"methods.rules.{rule.id}"), t(when, v=Pct(rule.amber)), t(when, v=Pct(rule.red)))
        rows.append((rule.key_point, row))
    for extra in ("nuisance_leads", "lead_unclear"):  # key point 1's rules without a number
        key = f"methods.rules.{extra}"
        rows.append((1, (t(key), t(f"{key}_amber"), t(f"{key}_red"))))
    for extra in ("verdict_fit", "verdict_red"):  # page 1's go / hold / no-go
        key = f"methods.rules.{extra}"
        rows.append((3, (t(key), t(f"{key}_amber"), t(f"{key}_red"))))
    rows.sort(key=lambda r: r[0])  # stable: table order within a key point
    return [
        (t("methods.rules.verdict" if kp == 3 else f"methods.rules.kp{kp}"), *row)
        for kp, row in rows
    ]


def model_card_rows(
    f: Findings, fmt: Formatter, recs: list[Recommendation], texts: list[RecommendationText]
) -> list[tuple[str, str]]:
    """The model card of the appendix: what the study's owner says the model is for
    (`[report.model_card]`), what it is, what it was tested on, and the limitations this
    run found (the recommendations that call for action, then the caveats' count)."""
    t = fmt.t
    card = f.study.model_card
    missing = t("model_card.not_given")
    limitations = [
        t("model_card.limitation", title=x.title, severity=x.severity)
        for r, x in zip(recs, texts, strict=True)
        if r.severity in ("high", "medium")
    ]
    if f.warnings:
        limitations.append(t("model_card.caveats", n=Num(len(f.warnings))))
    people = (
        fmt.count(len(f.study.humans), "people_simulated" if f.study.humans_simulated else "people")
        if f.study.humans
        else t("model_card.no_people")
    )
    return [
        (t("model_card.model"), fmt.join(fmt.model(m) for m in f.study.models)),
        (t("model_card.version"), card.get("version") or missing),
        (t("model_card.fingerprint"), f.run.model_fingerprint or t("methods.no_fingerprint")),
        (
            t("model_card.intended"),
            fmt.report_text("intended_use", card.get("intended_use", ""))
            or t("model_card.intended_unset"),
        ),
        (
            t("model_card.out_of_scope"),
            fmt.report_text("out_of_scope", card.get("out_of_scope", "")) or missing,
        ),
        (
            t("model_card.data"),
            t(
                "model_card.data_text",
                images=fmt.count(f.run.n_stimuli, "images"),
                conditions=fmt.join(fmt.condition(c) for c in f.study.conditions),
                people=people,
            ),
        ),
        (
            t("model_card.limitations"),
            t("format.item_sep").join(limitations) or t("model_card.none_found"),
        ),
    ]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
