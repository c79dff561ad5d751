"""analyses.drivers: information between stimulus factors and decisions."""

from __future__ import annotations

import math

import pytest
import torch

from analyses import drivers, info
from analyses.errors import DataError


def _planted(n: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Decisions that depend on `texture` only (4 classes by quartile of a noisy texture value)."""
    g = torch.Generator().manual_seed(seed)
    factors = {
        name: torch.randn(n, generator=g, dtype=torch.float64) for name in ("shape", "texture")
    }
    evidence = factors["texture"] + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    edges = evidence.quantile(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return torch.bucketize(evidence, edges), factors


def test_observed_information_equals_the_reference_estimators() -> None:
    decisions, factors = _planted(600, seed=1)
    g = torch.Generator().manual_seed(2)
    levels = torch.randint(0, 3, (600,), generator=g)
    group = torch.stack([factors["shape"], factors["texture"]], dim=1)
    res = drivers.decision_information(
        decisions,
        4,
        {"shape": factors["shape"], "both": group},
        {"levels": (levels, 3)},
        n_perm=20,
        seed=0,
        n_boot=10,
    )
    expected = [
        info.gcmi_model_cd(factors["shape"].unsqueeze(1), decisions, 4),
        info.gcmi_model_cd(group, decisions, 4),
        info.mi_dd(levels, decisions, 3, 4, biascorrect=True),
    ]
    # Same formula, different summation order: float64 rounding only.
    torch.testing.assert_close(
        res.statistic, torch.stack(expected).to(torch.float64), rtol=0, atol=1e-9
    )
    # Single factors report the test statistic itself; the group reports the mixture form
    # minus a bias that is positive and small next to it at n = 600.
    torch.testing.assert_close(res.mi[[0, 2]], res.statistic[[0, 2]])
    mixture = float(info.gcmi_mixture_cd(group, decisions, 4))
    assert 0 < mixture - float(res.mi[1]) < 0.1
    assert res.estimator == ("gcmi-model-cd", "gcmi-mixture-cd", "discrete-plugin-mm")


def test_clustered_factor_group_is_not_credited_with_more_than_the_decision_entropy() -> None:
    # Eight tight clusters in 8-D, one per decision class: the decisions carry log2(8) = 3
    # bits, so no estimate of I(group; decisions) may exceed 3 bits. The model form's single
    # pooled Gaussian credits the group with far more; the reported mixture form must not.
    g = torch.Generator().manual_seed(11)
    y = torch.arange(8).repeat(120)
    centres = 3 * torch.randn(8, 8, generator=g, dtype=torch.float64)
    x = centres[y] + 0.3 * torch.randn(960, 8, generator=g, dtype=torch.float64)
    res = drivers.decision_information(y, 8, {"group": x}, {}, n_perm=20, seed=0, n_boot=20)
    assert float(res.statistic[0]) > 6.0
    # Truth is 3 bits (the clusters are separated by many within-cluster sds). The raw
    # mixture estimate is 3.00; subtracting its null mean (about 0.64 bits here, d = 8 with
    # 120 trials per class) is exact near independence and conservative at saturation, so
    # the reported value lies between 3 - 0.7 and 3.
    assert 2.3 < float(res.mi[0]) <= 3.0 + 1e-6
    assert res.ci_low[0] <= res.mi[0] <= res.ci_high[0]


def test_planted_texture_rule_is_found_and_shape_is_not() -> None:
    decisions, factors = _planted(800, seed=3)
    res = drivers.decision_information(decisions, 4, factors, {}, n_perm=200, seed=0, n_boot=50)
    shape, texture = res.mi.tolist()
    assert texture > 0.5  # I(texture; quartile of texture + noise) is about 0.9 bits
    assert res.p_value[1] <= 1 / 201 + 1e-12  # nothing in 200 permutations comes close
    assert res.p_value[0] > 0.05  # the decision rule ignores shape
    assert res.ci_low[1] < texture < res.ci_high[1]
    assert abs(shape) < 0.02  # bias-corrected estimate of zero information, N = 800


def test_null_decisions_give_no_significant_factor_more_often_than_alpha() -> None:
    # 60 data sets in which the decisions are independent of every factor. With FWER control at
    # alpha = 0.05 the count of data sets with any significant factor is Binomial(60, <= 0.05):
    # P(X >= 9) < 0.01, so 8 is the largest count a correct test should plausibly show.
    hits = 0
    for seed in range(60):
        g = torch.Generator().manual_seed(1000 + seed)
        factors = {f"f{j}": torch.randn(200, generator=g, dtype=torch.float64) for j in range(4)}
        cat = {"c": (torch.randint(0, 3, (200,), generator=g), 3)}
        decisions = torch.randint(0, 3, (200,), generator=g)
        res = drivers.decision_information(
            decisions, 3, factors, cat, n_perm=99, seed=seed, n_boot=2
        )
        hits += bool((res.p_value <= 0.05).any())
    assert hits <= 8


def test_missing_decisions_are_dropped_and_rare_classes_merged() -> None:
    decisions, factors = _planted(400, seed=5)
    decisions = decisions.clone()
    decisions[:7] = -1
    decisions[7:10] = 9  # a class answered only three times
    res = drivers.decision_information(
        decisions, 10, {"texture": factors["texture"]}, {}, n_perm=10, seed=0, n_boot=4
    )
    assert res.n_trials == 393
    assert res.merged_classes == (9,)
    assert int(res.class_counts.sum()) == 393


def test_constant_decisions_are_refused() -> None:
    with pytest.raises(ValueError, match="constant"):
        drivers.decision_information(
            torch.zeros(50, dtype=torch.long), 3, {"x": torch.randn(50)}, {}, n_perm=5, seed=0
        )


def test_p_values_never_reach_zero() -> None:
    decisions, factors = _planted(300, seed=7)
    res = drivers.decision_information(decisions, 4, factors, {}, n_perm=50, seed=1, n_boot=4)
    assert float(res.p_value.min()) >= 1 / 51 - 1e-12
    assert math.isfinite(float(res.ci_low[0]))


def test_mixture_bias_uses_more_relabellings_only_while_its_error_is_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The mixture estimate's null mean is estimated in rounds until its Monte Carlo standard
    # error is at most _BIAS_SE_BITS; a small noisy study needs every round, a large one stops
    # after the first. Count the relabellings each one actually evaluated.
    evaluated: list[int] = []
    real = info.gcmi_mixture_cd

    def counting(x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        evaluated.append(y.shape[0] if y.dim() > 1 else 1)
        return real(x, y, k)

    monkeypatch.setattr(info, "gcmi_mixture_cd", counting)
    for n, expected in ((120, drivers._MIXTURE_BIAS_PERMS), (20000, drivers._MIXTURE_BIAS_ROUND)):
        g = torch.Generator().manual_seed(n)
        y = torch.randint(0, 3, (n,), generator=g)
        x = torch.randn(n, 3, generator=g, dtype=torch.float64)
        evaluated.clear()
        bias = drivers._mixture_bias(x, y, 3, seed=0, n_perm=1000)
        assert sum(evaluated) == expected, n
        assert 0 < float(bias) < 0.5  # independent x and y: a small positive bias, in bits


@pytest.mark.parametrize("with_single", [True, False])
def test_progress_reports_every_permutation_and_resample_once(with_single: bool) -> None:
    # The bar a user watches must reach exactly n_perm + n_boot, and the intervals (which
    # come after the null) must move it: with one single factor and two groups, or groups only.
    decisions, factors = _planted(300, seed=4)
    g = torch.Generator().manual_seed(5)
    cont = {f"group{i}": torch.randn(300, 2, generator=g, dtype=torch.float64) for i in (1, 2)}
    if with_single:
        cont["shape"] = factors["shape"]
    calls: list[int] = []
    drivers.decision_information(
        decisions, 4, cont, {}, n_perm=37, seed=0, n_boot=11, on_progress=calls.append
    )
    assert sum(calls) == 37 + 11
    after_null = calls[next(i for i in range(len(calls)) if sum(calls[: i + 1]) == 37) + 1 :]
    assert len(after_null) == 2 + with_single and all(c > 0 for c in after_null)


def test_decisions_too_few_says_which_of_three_reasons_stops_the_analysis() -> None:
    from analyses.drivers import decisions_too_few, min_class_trials

    assert min_class_trials(1) == 20 and min_class_trials(12) == 2 * 13 + 2
    none = torch.full((50,), -1)
    assert "no usable decisions" in decisions_too_few(none, 3, 20)
    same = torch.tensor([2] * 40 + [-1] * 10)
    assert "constant" in decisions_too_few(same, 3, 20) and "all 40 answers" in decisions_too_few(
        same, 3, 20
    )
    # 13 + 9 + 8: three classes, none with 20, so all are pooled into one: the decisions
    # are not constant, yet nothing can be estimated.
    few = torch.tensor([0] * 13 + [1] * 9 + [2] * 8)
    why = decisions_too_few(few, 3, 20)
    assert why is not None and "too few decisions per class" in why and "has 13" in why
    # 20 + 12 + 9: the pooled rare classes (21) form a second class: analysable.
    assert decisions_too_few(torch.tensor([0] * 20 + [1] * 12 + [2] * 9), 3, 20) is None
    with pytest.raises(DataError, match="too few decisions per class"):
        drivers.decision_information(few, 3, {"x": torch.randn(30)}, {}, n_perm=10, seed=0)


def test_class_outer_sums_in_blocks_equal_the_sums_over_all_trials() -> None:
    # Blocks bound memory; they must not change the sums beyond float64 summation order.
    from analyses.drivers import _class_outer_sums

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1001, 4, generator=g, dtype=torch.float64)  # a batch of 3 resamples
    y = torch.nn.functional.one_hot(torch.randint(0, 5, (3, 1001), generator=g), 5).double()
    whole = torch.einsum("bnc,bni,bnj->bcij", y, x, x)
    for block in (1, 7, 1000, 5000):
        assert torch.allclose(_class_outer_sums(x, y, block), whole, rtol=1e-12, atol=1e-10)
    # The null's path (outer products computed once, label-free) gives the same information
    # as the blocked one used when they would not fit in memory.
    from analyses.drivers import _continuous_mi, _label_free

    hld, outer = _label_free(x)
    assert outer is not None
    torch.testing.assert_close(
        _continuous_mi(x, y, (hld, outer)), _continuous_mi(x, y, (hld, None)), rtol=0, atol=1e-12
    )
