"""Each observer's trial order: seeded, the same on every call (a resumed session continues
it), different between observers, a subset drawn per condition, practice apart."""

from __future__ import annotations

import pytest

from reportgen.collect.order import check_subset, observer_plan
from reportgen.errors import ReportgenError

IDS = [f"s{i:02d}" for i in range(40)]
CONDITIONS = ["standard"] * 10 + ["cue-conflict"] * 30


def plan(observer: str, seed: int = 0, per_condition=None, practice: int = 0):
    return observer_plan(
        IDS, CONDITIONS, observer, seed=seed, per_condition=per_condition or {}, practice=practice
    )


def test_the_order_is_a_permutation_fixed_by_seed_and_observer() -> None:
    first = plan("p1")
    assert sorted(first.trials) == IDS  # every stimulus once
    assert plan("p1") == first  # a restarted server computes the same order
    assert plan("p2").trials != first.trials
    assert plan("p1", seed=1).trials != first.trials
    assert first.trials != tuple(IDS)  # shuffled, not table order


def test_the_order_does_not_depend_on_the_table_row_order() -> None:
    reordered = observer_plan(
        IDS[::-1], CONDITIONS[::-1], "p1", seed=0, per_condition={}, practice=0
    )
    assert reordered.trials == plan("p1").trials


def test_a_subset_per_condition_is_drawn_per_observer() -> None:
    subset = {"cue-conflict": 5}
    one, two = plan("p1", per_condition=subset), plan("p2", per_condition=subset)
    for p in (one, two):
        assert len(p.trials) == 15 and len(set(p.trials)) == 15
        chosen = [CONDITIONS[IDS.index(s)] for s in p.trials]
        assert chosen.count("standard") == 10  # not listed: shown whole
        assert chosen.count("cue-conflict") == 5
    assert set(one.trials) != set(two.trials)  # each draws their own five
    # 0 leaves a condition out
    assert {CONDITIONS[IDS.index(s)] for s in plan("p1", per_condition={"standard": 0}).trials} == {
        "cue-conflict"
    }


def test_practice_uses_stimuli_the_observer_does_not_see_when_there_are_enough() -> None:
    p = plan("p1", per_condition={"cue-conflict": 5}, practice=4)
    assert len(p.practice) == 4 and not set(p.practice) & set(p.trials)
    whole = plan("p1", practice=3)  # every stimulus is counted: practice repeats some
    assert len(whole.practice) == 3 and set(whole.practice) <= set(IDS)


def test_subset_checks_name_the_field_and_the_condition() -> None:
    with pytest.raises(ReportgenError) as err:
        check_subset(CONDITIONS, {"cue-conflcit": 3, "standard": 11}, "study.toml")
    assert err.value.problems == [
        "study.toml: collect.per_condition.cue-conflcit: not a condition of the stimuli "
        "(standard, cue-conflict)",
        "study.toml: collect.per_condition.standard: 11 stimuli asked, the condition has 10",
    ]
    with pytest.raises(ReportgenError, match="leaves no stimulus"):
        check_subset(CONDITIONS, {"standard": 0, "cue-conflict": 0}, "study.toml")
    check_subset(CONDITIONS, {"standard": 10}, "study.toml")  # all of one condition is fine
