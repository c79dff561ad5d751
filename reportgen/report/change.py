""" "Change since the last report": the headline figures of this run against the previous one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reportgen.findings import Findings

if TYPE_CHECKING:
    from reportgen.findings.headline import HistoryRow
from reportgen.findings.queries import is_finite
from reportgen.report.format import Formatter, Group, Model, Names


@dataclass(frozen=True, slots=True)
class ChangeRow:
    what: str
    previous: str
    current: str
    moved: str  # "moved", "steady" or "no_interval" (locale word in `moved_label`)
    moved_label: str


def change_section(
    f: Findings, history: list[HistoryRow], fmt: Formatter
) -> tuple[list[str], list[ChangeRow], bool]:
    """Compare with the previous run of the same study; an earlier value outside the current
    interval counts as 'moved beyond its CI'."""
    from reportgen.findings.headline import row_from_findings

    previous = [h for h in history if h.study == f.study.name]
    if not previous:
        return [fmt.t("change.first_run")], [], True
    prev = previous[-1]
    cur = row_from_findings(f)
    date = fmt.date(prev.created_at)
    if prev.period:
        out = [fmt.t("change.compared", period=fmt.period(prev.period), date=date)]
    else:  # a study without [report] period
        out = [fmt.t("change.compared_no_period", date=date)]
    before, after = prev.model_fingerprint, cur.model_fingerprint
    if before is None or after is None:
        # A decision-only run records no fingerprint: a match or a change is claimed only
        # when both runs have one.
        out.append(
            fmt.t("change.fingerprint_none" if before == after else "change.fingerprint_one")
        )
    elif before != after:
        out.append(fmt.t("change.fingerprint_changed", before=before[:12], after=after[:12]))
    else:
        out.append(fmt.t("change.fingerprint_same"))
    rows: list[ChangeRow] = []
    moved_names = []
    for model, now in cur.models.items():
        before = prev.models.get(model)
        if before is None:
            continue
        tag = f"{model} · " if len(cur.models) > 1 else ""
        if before.top_driver and now.top_driver and before.top_driver != now.top_driver:
            out.append(
                fmt.t(
                    "change.top_changed" if len(cur.models) > 1 else "change.top_changed_one",
                    model=Model(model),
                    before=Group(before.top_driver),
                    after=Group(now.top_driver),
                )
            )
        for g, iv in now.shares.items():
            if g in before.shares:
                label = tag + fmt.t("change.share_of", group=Group(g))
                rows.append(_change_row(label, before.shares[g].value, iv, fmt, "pct"))
        if now.shape_bias and before.shape_bias:
            label = tag + fmt.t("change.shape_bias")
            rows.append(_change_row(label, before.shape_bias.value, now.shape_bias, fmt, "pct"))
        if now.kappa and before.kappa:
            label = tag + fmt.t("change.kappa")
            rows.append(_change_row(label, before.kappa.value, now.kappa, fmt, "dec"))
        if now.accuracy is not None and before.accuracy is not None:
            label = tag + fmt.t("change.accuracy")
            rows.append(
                ChangeRow(
                    label,
                    fmt.pct(before.accuracy),
                    fmt.pct(now.accuracy),
                    "no_interval",
                    fmt.t("change.state_no_interval"),
                )
            )
    moved_names = [r.what for r in rows if r.moved == "moved"]
    if moved_names:
        out.append(fmt.t("change.moved", items=Names(tuple(moved_names))))
    else:
        out.append(fmt.t("change.nothing_moved"))
    return out, rows, False


def _change_row(label: str, before: float, now: Any, fmt: Formatter, kind: str) -> ChangeRow:
    show = fmt.pct if kind == "pct" else fmt.dec
    if is_finite(now.low) and is_finite(now.high) and is_finite(before):
        moved = "moved" if not (now.low <= before <= now.high) else "steady"
    else:
        moved = "no_interval"
    return ChangeRow(label, show(before), show(now.value), moved, fmt.t(f"change.state_{moved}"))
