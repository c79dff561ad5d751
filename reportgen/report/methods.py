"""The "Methods and data" table for auditors: sample sizes, estimator, permutations, seed,
versions, config hash.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reportgen.findings import Findings
from reportgen.findings.evidence import (
    KAPPA_RATIO_AMBER,
    KAPPA_RATIO_RED,
    MAX_RATE_CI_WIDTH,
    MIN_CONFLICT_TRIALS,
    MIN_TRIALS_PER_DIM,
    NUISANCE_AMBER,
    NUISANCE_RED,
    SHAPE_GAP_AMBER,
    SHAPE_GAP_RED,
    SMALL_EFFECT_BITS,
    WIDE_CI_RATIO,
)
from reportgen.report.format import Formatter, Num, Pct


def methods_rows(f: Findings, fmt: Formatter) -> list[tuple[str, str]]:
    s, r = f.study, f.run
    t = fmt.t
    rows = [
        (t("methods.study"), f"{s.title} ({s.name})"),
        (t("methods.period"), fmt.period(s.period) or t("methods.not_recorded")),
        (
            t("methods.stimuli"),
            fmt.join(
                t("format.pair", label=fmt.condition(c), value=fmt.num(n))
                for c, n in s.conditions.items()
            )
            + t("methods.total", n=Num(r.n_stimuli), trials=Num(r.n_trials)),
        ),
        (t("methods.classes"), fmt.join(s.classes)),
        (
            t("methods.factors"),
            t("format.item_sep").join(
                t("format.pair", label=fmt.group(g), value=fmt.join(cols))
                for g, cols in s.groups.items()
            ),
        ),
        (t("methods.models"), fmt.join(s.models)),
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
            fmt.join(t(f"methods.redundancy_{m}") for m in measures) or t("methods.not_recorded"),
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
            fmt.join(f"{k} {fmt.seconds(v)}" for k, v in r.timings_s.items()),
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
                n_amber=Pct(NUISANCE_AMBER),
                n_red=Pct(NUISANCE_RED),
                g_amber=Pct(SHAPE_GAP_AMBER),
                g_red=Pct(SHAPE_GAP_RED),
                k_amber=Pct(KAPPA_RATIO_AMBER),
                k_red=Pct(KAPPA_RATIO_RED),
            ),
        ),
        (t("methods.attribution"), s.attribution or t("methods.not_recorded")),
    ]
    return rows


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
