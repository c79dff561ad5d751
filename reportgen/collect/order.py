"""Each observer's trials: a seeded random order over the study's stimuli, or over a subset
drawn per condition, and the practice trials before them.

The order is a sort by a hash of (seed, observer, stimulus id), so it is the same on every
restart and in every Python or NumPy version (a resumed session continues the same order),
differs between observers, and does not depend on the table's row order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reportgen.errors import ReportgenError


@dataclass(frozen=True, slots=True)
class ObserverPlan:
    """One observer's trials: ``trials[k]`` is the stimulus of counted trial k + 1."""

    practice: tuple[str, ...]
    trials: tuple[str, ...]


def _key(seed: int, observer: str, purpose: str, stimulus_id: str) -> bytes:
    text = f"{seed}\x1f{observer}\x1f{purpose}\x1f{stimulus_id}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def check_subset(conditions: Sequence[str], per_condition: Mapping[str, int], where: str) -> None:
    """`per_condition` against the study's conditions: every key a condition, no count above
    the stimuli it has, and something left to show; `ReportgenError` naming `where` (the
    config file) otherwise."""
    counts: dict[str, int] = {}
    for c in conditions:
        counts[c] = counts.get(c, 0) + 1
    problems = []
    for condition, n in per_condition.items():
        if condition not in counts:
            known = ", ".join(counts)
            problems.append(
                f"{where}: collect.per_condition.{condition}: not a condition of the stimuli "
                f"({known})"
            )
        elif n > counts[condition]:
            problems.append(
                f"{where}: collect.per_condition.{condition}: {n} stimuli asked, the condition "
                f"has {counts[condition]}"
            )
    if not problems and sum(per_condition.get(c, n) for c, n in counts.items()) == 0:
        problems.append(f"{where}: collect.per_condition: leaves no stimulus to show")
    if problems:
        raise ReportgenError(problems)


def observer_plan(
    ids: Sequence[str],
    conditions: Sequence[str],
    observer: str,
    *,
    seed: int,
    per_condition: Mapping[str, int],
    practice: int,
) -> ObserverPlan:
    """The practice and counted trials of `observer`.

    Parameters
    ----------
    ids, conditions : sequences of str, length n
        Every stimulus of the study and its condition.
    per_condition : condition -> count
        Stimuli of that condition this observer sees (drawn for them); a condition not
        listed is shown whole, 0 leaves it out.
    practice : int
        Practice trials: stimuli this observer does not see in the counted trials where
        there are enough, else drawn from all of them.
    """
    chosen: list[str] = []
    by_condition: dict[str, list[str]] = {}
    for ident, condition in zip(ids, conditions, strict=True):
        by_condition.setdefault(condition, []).append(ident)
    for condition, members in by_condition.items():
        want = per_condition.get(condition, len(members))
        # a separate hash for the draw, so the drawn stimuli are not also the first shown
        members = sorted(members, key=lambda s: _key(seed, observer, "draw", s))
        chosen += members[:want]
    trials = tuple(sorted(chosen, key=lambda s: _key(seed, observer, "order", s)))
    shown = set(trials)
    pool = [s for s in ids if s not in shown]
    if len(pool) < practice:
        pool = list(ids)
    pool.sort(key=lambda s: _key(seed, observer, "practice", s))
    return ObserverPlan(practice=tuple(pool[:practice]), trials=trials)
