"""The headline figures of one run, as numbers: driver shares, shape bias, agreement and accuracy
with their intervals, per model. The history store keeps one per published report; the change
section, the trend chart and the recommendations compare them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reportgen.findings import Findings
from reportgen.findings.queries import (
    drivers_of,
    group_entries,
    group_total,
    headline_accuracy,
    kappa_of,
    pooled_humans_bias,
    shape_bias_of,
    share_interval,
)


@dataclass(frozen=True, slots=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ModelHeadline:
    """One model's headline figures in one run."""

    top_driver: str | None
    shares: dict[str, Interval]  # factor group -> share with its interval
    shape_bias: Interval | None
    kappa: Interval | None  # error consistency with people
    agreement: float | None  # decision agreement with people
    accuracy: float | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """A run's headline figures as stored; `models` holds every model of the study."""

    id: int | None
    study: str
    period: str
    title: str
    model_fingerprint: str | None
    config_hash: str
    headline_model: str
    created_at: str
    models: dict[str, ModelHeadline]
    humans_shape_bias: Interval | None = None
    human_ceiling: Interval | None = None  # human-human kappa
    n_stimuli: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> ModelHeadline:
        return self.models[self.headline_model]


def _iv(value: float, low: float, high: float) -> Interval:
    return Interval(float(value), float(low), float(high))


def row_from_findings(f: Findings, created_at: str | None = None) -> HistoryRow:
    """The headline figures of a Findings, in the form the store keeps (id not yet assigned)."""
    models: dict[str, ModelHeadline] = {}
    for m in f.study.models:
        ds = drivers_of(f, m)
        groups = group_entries(ds)
        total = group_total(ds)  # the shares' own denominator, as in the report's tables
        sb = shape_bias_of(f, m)
        k = kappa_of(f, m)
        agree = next((a.agreement for a in f.decision_agreement if a.observer == m), None)
        models[m] = ModelHeadline(
            top_driver=groups[0].group if groups else None,
            shares={d.group: _iv(d.share, *share_interval(d, total)) for d in groups},
            shape_bias=_iv(sb.shape_bias, sb.ci_low, sb.ci_high) if sb else None,
            kappa=_iv(k.kappa, k.ci_low, k.ci_high) if k else None,
            agreement=agree,
            accuracy=headline_accuracy(f, m),
        )
    humans = pooled_humans_bias(f)
    ceiling = kappa_of(f, "human-human")
    return HistoryRow(
        id=None,
        study=f.study.name,
        period=f.study.period,
        title=f.study.title,
        model_fingerprint=f.run.model_fingerprint,
        config_hash=f.run.config_hash,
        headline_model=f.study.models[0],
        created_at=created_at
        or f.run.started_at
        or datetime.now(UTC).isoformat(timespec="seconds"),
        models=models,
        humans_shape_bias=_iv(humans.shape_bias, humans.ci_low, humans.ci_high) if humans else None,
        human_ceiling=_iv(ceiling.kappa, ceiling.ci_low, ceiling.ci_high) if ceiling else None,
        n_stimuli=f.run.n_stimuli,
    )
