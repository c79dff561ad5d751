"""Lookups on Findings: one observer's drivers, its groups and factors, shape bias, kappa and
accuracy. They select and combine numbers the analyses produced; they compute no statistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from reportgen.errors import ReportgenError
from reportgen.findings import Driver, ErrorConsistency, Findings, ShapeBias


def is_finite(x: float | None) -> bool:
    """A real, finite number (not None, NaN or infinite)."""
    return x is not None and isinstance(x, float | int) and math.isfinite(x)


# ---- selecting the Findings a sentence speaks about -------------------------------------------
def models_of(f: Findings) -> list[str]:
    if not f.study.models:
        raise ReportgenError("findings: study.models is empty; the report needs at least one model")
    return list(f.study.models)


def drivers_of(f: Findings, observer: str) -> list[Driver]:
    """Drivers of one observer; a single-model study may leave the model's `observer` unset."""
    single = len(f.study.models) == 1 and observer == f.study.models[0]
    return [d for d in f.drivers if d.observer == observer or (single and d.observer is None)]


def group_entries(drivers: Iterable[Driver]) -> list[Driver]:
    """The factor groups' own entries, largest share first."""
    return sorted((d for d in drivers if d.name == d.group), key=lambda d: -d.share)


def factor_entries(drivers: Iterable[Driver], group: str) -> list[Driver]:
    return sorted(
        (d for d in drivers if d.group == group and d.name != d.group), key=lambda d: -d.mi_bits
    )


def role_of(f: Findings, group: str) -> str:
    """The group's role ("diagnostic", "incidental" or "nuisance"), as the config gave it or,
    where it did not, as `config.NUISANCE_NAMES` assumed it; never read from the name here."""
    return f.study.roles.get(group, "diagnostic")


def is_nuisance(f: Findings, group: str) -> bool:
    return role_of(f, group) == "nuisance"


def is_off_target(f: Findings, group: str) -> bool:
    """A group the judgement should not rest on (incidental or nuisance)."""
    return role_of(f, group) != "diagnostic"


def group_total(drivers: Iterable[Driver]) -> float:
    """The denominator of one observer's shares: its groups' information floored at 0, in bits
    (methods.md 4.5: a share is max(I, 0) over the summed floored group information)."""
    return sum(max(d.mi_bits, 0.0) for d in drivers if d.name == d.group and is_finite(d.mi_bits))


def share_interval(d: Driver, total: float | None = None) -> tuple[float, float]:
    """The share's interval: the interval of `mi_bits` over the observer's summed group bits
    (`total`; recovered as mi_bits / share when not given), clamped to [0, 1] for display.

    A share is descriptive and lives in [0, 1]; the bits interval may leave that range (it is
    kept signed in the statistics), but a share of "107%" or "-3%" means nothing to a reader.
    """
    if not (is_finite(d.ci_low) and is_finite(d.ci_high)):
        return math.nan, math.nan
    if total is None or not (is_finite(total) and total > 0):
        if not (is_finite(d.mi_bits) and d.mi_bits > 0 and is_finite(d.share) and d.share > 0):
            return math.nan, math.nan
        total = d.mi_bits / d.share
    return _clamp01(d.ci_low / total), _clamp01(d.ci_high / total)


def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def shown_bits(x: float) -> float:
    """Information as the report shows it (`Formatter.bits`, in sentences and tables alike):
    bias-corrected estimates can fall below 0, and the statistics keep them signed, but
    "-0.05 bits" is read as 0 (methods.md 4.5)."""
    return max(x, 0.0) + 0.0 if is_finite(x) else x  # + 0.0: no "-0.000" from -0.0


def no_people_key(f: Findings, key: str) -> str:
    """The locale key for "no people": `key`, or `key`_left_out when a panel was given but
    every person in it was left out for too few usable answers (it was not "not tested")."""
    left_out = any(c.code == "observers_left_out" for c in f.warnings)
    return f"{key}_left_out" if left_out else key


def shape_bias_of(f: Findings, observer: str) -> ShapeBias | None:
    return next((s for s in f.shape_bias if s.observer == observer), None)


def pooled_humans_bias(f: Findings) -> ShapeBias | None:
    return next((s for s in f.shape_bias if s.kind == "humans"), None)


def kappa_of(f: Findings, observer: str) -> ErrorConsistency | None:
    return next((e for e in f.error_consistency if e.observer == observer), None)


def model_kappas(f: Findings) -> list[ErrorConsistency]:
    """Each model's error consistency with people, in the study's model order."""
    return [k for m in models_of(f) if (k := kappa_of(f, m)) is not None]


def people_panels(f: Findings) -> tuple[bool, bool]:
    """Which panels the people figure has data for: (shape bias, error consistency)."""
    return bool(f.shape_bias), bool(model_kappas(f))


def headline_accuracy(f: Findings, observer: str) -> float | None:
    """Accuracy on `standard` stimuli, else over all conditions (weighted by trials)."""
    rows = [a for a in f.accuracy if a.observer == observer]
    standard = [a for a in rows if a.condition == "standard"]
    rows = standard or rows
    total = sum(a.n for a in rows)
    if not rows or total == 0:
        return None
    return sum(a.accuracy * a.n for a in rows) / total
