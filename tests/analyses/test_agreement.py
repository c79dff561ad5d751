"""Error consistency and decision agreement (analyses.agreement)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from analyses.agreement import (
    decision_agreement,
    error_consistency,
    human_ceiling,
    model_vs_humans,
    pairwise_error_consistency,
    shared_information,
)

SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "cue_conflict"


def _bernoulli(p: torch.Tensor | float, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64) < p


def _kappa_oracle(a: list[bool], b: list[bool]) -> float:
    """Cohen's kappa written out in plain Python from the 2x2 table (independent oracle)."""
    n = len(a)
    both_right = sum(x and y for x, y in zip(a, b, strict=True))
    both_wrong = sum((not x) and (not y) for x, y in zip(a, b, strict=True))
    p_a, p_b = sum(a) / n, sum(b) / n
    c_obs = (both_right + both_wrong) / n
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    return (c_obs - c_exp) / (1 - c_exp)


# ---- methods.md case 18 ---------------------------------------------------------------------


def test_identical_correctness_gives_kappa_one() -> None:
    c = _bernoulli(0.7, (500,), seed=0)
    out = error_consistency(c, c, dtype=torch.float64)
    assert out.kappa.item() == 1.0 and out.c_obs.item() == 1.0


def test_opposite_correctness_at_half_accuracy_gives_minus_one() -> None:
    c = torch.arange(1000) % 2 == 0  # p_i = p_j = 0.5 exactly
    out = error_consistency(c, ~c, dtype=torch.float64)
    assert out.c_exp.item() == 0.5 and out.c_obs.item() == 0.0
    assert out.kappa.item() == -1.0


def test_independent_observers_give_kappa_zero_on_average() -> None:
    # Null calibration: 2,000 pairs of independent observers (accuracies 0.6 and 0.8),
    # n = 1,000 trials each. The large-sample null variance of kappa (Fleiss, Cohen & Everitt
    # 1969, Psychol. Bull. 72:323) is [c_e + c_e^2 - sum_k a_k b_k (a_k + b_k)] / (n (1 - c_e)^2)
    # with marginals a = (0.6, 0.4), b = (0.8, 0.2): s.d. ~ 0.028, so the mean of 2,000
    # replicates has s.e. ~ 0.0006 and |mean| < 0.004 is six standard errors. The replicate s.d.
    # must match within 10% (its own sampling error at 2,000 replicates is ~1.6%).
    reps, n = 2000, 1000
    a = _bernoulli(0.6, (reps, n), seed=1)
    b = _bernoulli(0.8, (reps, n), seed=2)
    kappa = error_consistency(a, b, dtype=torch.float64).kappa
    ma, mb = (0.6, 0.4), (0.8, 0.2)
    c_exp = sum(x * y for x, y in zip(ma, mb, strict=True))
    third = sum(x * y * (x + y) for x, y in zip(ma, mb, strict=True))
    sd = math.sqrt((c_exp + c_exp**2 - third) / (n * (1 - c_exp) ** 2))
    assert abs(kappa.mean().item()) < 0.004
    assert kappa.std().item() == pytest.approx(sd, rel=0.10)


def test_kappa_matches_plain_python_oracle() -> None:
    a = _bernoulli(0.55, (300,), seed=3)
    b = a ^ _bernoulli(0.2, (300,), seed=4)  # correlated errors
    ours = error_consistency(a, b, dtype=torch.float64).kappa.item()
    assert ours == pytest.approx(_kappa_oracle(a.tolist(), b.tolist()), abs=1e-12)
    assert ours > 0.3  # the planted correlation is visible


def test_degenerate_pairs_follow_the_documented_convention() -> None:
    all_right = torch.ones(20, dtype=torch.bool)
    all_wrong = torch.zeros(20, dtype=torch.bool)
    assert error_consistency(all_right, all_right).kappa.item() == 1.0  # c_exp = 1, c_obs = 1
    assert error_consistency(all_wrong, all_wrong).kappa.item() == 1.0
    # one always right, the other always wrong: c_exp = 0, c_obs = 0 -> kappa 0, defined
    assert error_consistency(all_right, all_wrong).kappa.item() == 0.0
    # no trial answered by both: undefined
    none = torch.zeros(20, dtype=torch.bool)
    assert torch.isnan(error_consistency(all_right, all_right, none, None).kappa).item()


def test_kappa_max_bounds_kappa_when_accuracies_differ() -> None:
    a = _bernoulli(0.9, (64, 400), seed=5)
    b = _bernoulli(0.5, (64, 400), seed=6)
    out = error_consistency(a, b, dtype=torch.float64)
    assert (out.kappa <= out.kappa_max + 1e-12).all()
    assert (out.kappa_max < 1).all()


def test_missing_trials_are_excluded_pairwise() -> None:
    a = _bernoulli(0.7, (200,), seed=7)
    b = _bernoulli(0.6, (200,), seed=8)
    ans_a = _bernoulli(0.9, (200,), seed=9)
    ans_b = _bernoulli(0.9, (200,), seed=10)
    both = ans_a & ans_b
    masked = error_consistency(a, b, ans_a, ans_b, dtype=torch.float64)
    subset = error_consistency(a[both], b[both], dtype=torch.float64)
    assert masked.n_trials.item() == both.sum().item()
    assert torch.equal(masked.kappa, subset.kappa)


def test_pairwise_matrix_equals_loop_over_pairs() -> None:
    correct = _bernoulli(torch.linspace(0.3, 0.9, 7).unsqueeze(-1), (7, 250), seed=11)
    answered = _bernoulli(0.92, (7, 250), seed=12)
    mat = pairwise_error_consistency(correct, answered, dtype=torch.float64)
    assert mat.kappa.shape == (7, 7)
    for i in range(7):
        for j in range(7):
            one = error_consistency(
                correct[i], correct[j], answered[i], answered[j], dtype=torch.float64
            )
            # counts are exact integers in both paths; the same float formula follows
            assert mat.n_trials[i, j] == one.n_trials
            assert mat.kappa[i, j].item() == pytest.approx(one.kappa.item(), abs=1e-14)
    assert torch.allclose(mat.kappa, mat.kappa.T, atol=1e-14, rtol=0)
    assert torch.all(mat.kappa.diagonal() == 1)


def test_pairwise_matrix_is_exact_in_float32_counts() -> None:
    correct = _bernoulli(0.6, (2, 5, 300), seed=13)  # a batch of two panels
    m64 = pairwise_error_consistency(correct, dtype=torch.float64)
    m32 = pairwise_error_consistency(correct, dtype=torch.float32)
    assert m32.kappa.dtype == torch.float32 and m64.kappa.shape == (2, 5, 5)
    assert torch.equal(m32.n_trials, m64.n_trials)
    # float32 kappa from the same exact counts: relative rounding ~1e-7, 1e-5 is generous
    assert torch.allclose(m32.kappa.double(), m64.kappa, atol=1e-5, rtol=0)


def test_human_ceiling_is_the_mean_over_distinct_pairs() -> None:
    correct = _bernoulli(0.7, (5, 400), seed=14)
    mat = pairwise_error_consistency(correct, dtype=torch.float64).kappa
    pairs = [mat[i, j].item() for i in range(5) for j in range(i + 1, 5)]
    assert len(pairs) == 10
    expected = sum(pairs) / 10
    assert human_ceiling(correct, dtype=torch.float64).item() == pytest.approx(expected, abs=1e-14)


def test_model_vs_humans_is_the_mean_over_people_batched_over_models() -> None:
    humans = _bernoulli(0.8, (4, 300), seed=15)
    models = _bernoulli(0.5, (3, 300), seed=16)
    models[0] = humans[0]  # a model that copies person 0's errors
    got = model_vs_humans(models, humans, dtype=torch.float64)
    assert got.shape == (3,)
    for m in range(3):
        each = [error_consistency(models[m], h, dtype=torch.float64).kappa.item() for h in humans]
        assert got[m].item() == pytest.approx(sum(each) / 4, abs=1e-14)
    assert got[0] > got[1] and got[0] > got[2]


# ---- decision agreement -----------------------------------------------------------------------


def test_decision_agreement_hand_case() -> None:
    i = torch.tensor([0, 1, 2, 2, -1, 3])
    j = torch.tensor([0, 1, 1, 2, 0, -1])
    out = decision_agreement(i, j, n_classes=4, dtype=torch.float64)
    # shared answered trials: 0..3 -> responses i = 0,1,2,2 and j = 0,1,1,2; 3 of 4 identical
    assert out.n_trials.item() == 4
    assert out.agreement.item() == 0.75
    # marginals i: (1/4, 1/4, 2/4, 0), j: (1/4, 2/4, 1/4, 0) -> chance 1/16 + 2/16 + 2/16
    assert out.chance.item() == 5 / 16
    assert out.kappa.item() == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16), abs=1e-15)


def test_two_different_errors_do_not_count_as_agreement() -> None:
    # both wrong on every trial (truth would be class 0), but with different wrong classes:
    # error consistency calls them consistent, decision agreement does not.
    i = torch.full((10,), 1)
    j = torch.full((10,), 2)
    assert decision_agreement(i, j).agreement.item() == 0.0
    wrong = torch.zeros(10, dtype=torch.bool)
    assert error_consistency(wrong, wrong).kappa.item() == 1.0


def test_decision_agreement_chance_is_calibrated_for_independent_observers() -> None:
    # Null calibration: independent responders with skewed marginals over 16 classes; observed
    # agreement must equal sum_k p_i(k) p_j(k). Mean over 500 replicates of n = 2,000: s.e. of
    # the mean difference is about sqrt(0.1 / 2000 / 500) ~ 3e-4; allow 1.5e-3 (5 s.e.).
    gen = torch.Generator().manual_seed(17)
    w_i = torch.rand(16, generator=gen, dtype=torch.float64) ** 3
    w_j = torch.rand(16, generator=gen, dtype=torch.float64) ** 3
    i = torch.multinomial(w_i, 500 * 2000, replacement=True, generator=gen).view(500, 2000)
    j = torch.multinomial(w_j, 500 * 2000, replacement=True, generator=gen).view(500, 2000)
    out = decision_agreement(i, j, n_classes=16, dtype=torch.float64)
    assert out.agreement.shape == (500,)
    assert abs((out.agreement - out.chance).mean().item()) < 1.5e-3
    assert abs(out.kappa.mean().item()) < 0.01


# ---- the real data --------------------------------------------------------------------------


def test_real_people_agree_with_each_other_more_than_with_imagenet_cnns() -> None:
    """On the cue-conflict images people err on similar trials; ImageNet CNNs, which answer
    by texture, do not share their errors (Geirhos et al. 2020 found the same pattern)."""
    stimuli = pd.read_csv(SHIPPED / "stimuli.csv")
    trials = pd.concat(
        [pd.read_csv(SHIPPED / "humans.csv"), pd.read_csv(SHIPPED / "models.csv")],
        ignore_index=True,
    )
    wide = trials.pivot(index="observer", columns="stimulus_id", values="response")
    wide = wide[stimuli["id"]]
    answered = torch.tensor(wide.notna().to_numpy())
    correct = torch.tensor(wide.to_numpy() == stimuli["label"].to_numpy()[None, :])
    people = torch.tensor([o.startswith("subject-") for o in wide.index])
    ceiling = human_ceiling(correct[people], answered[people], dtype=torch.float64).item()
    imagenet = [
        i
        for i, o in enumerate(wide.index)
        if not o.startswith("subject-") and o != "resnet50-sin-torchvision"
    ]
    vs = model_vs_humans(
        correct[imagenet],
        correct[people],
        answered[imagenet],
        answered[people],
        dtype=torch.float64,
    )
    # With 1,280 trials a kappa has s.e. ~0.03, so a gap of 0.1 is not sampling noise.
    assert (vs < ceiling - 0.1).all(), (ceiling, vs)


def _quartile(x: torch.Tensor) -> torch.Tensor:
    return torch.bucketize(x, torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=x.dtype)))


def _panel(seed: int, model_factor: int, n: int = 480):
    """Group (f1, f2) of independent factors; the model decides by the quartile of a noisy
    f[model_factor], four people by the quartile of a noisy f2; one person skips 40 trials."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 2, generator=g, dtype=torch.float64)

    def noisy(c: int) -> torch.Tensor:
        return _quartile(f[:, c] + 0.3 * torch.randn(n, generator=g, dtype=torch.float64))

    people = torch.stack([noisy(1) for _ in range(4)])
    people[2, :40] = -1
    return [f], noisy(model_factor)[None], people


def test_shared_information_is_the_same_information_not_two_amounts_about_one_group():
    # MMI gave ~1 significant bit in both cases. I_ccs with independent-copy surrogates:
    # different factors -> ~0, significant at most at the nominal rate (2 of 20 allowed:
    # P(>= 3 | 20, 0.05) = 0.075 for a calibrated test); the same factor -> significant in
    # every seed and most of the bracket.
    false_positives = 0
    for seed in range(20):
        other = shared_information(*_panel(seed, 0), 4, n_perm=200, seed=seed, min_class_trials=20)
        same = shared_information(*_panel(seed, 1), 4, n_perm=200, seed=seed, min_class_trials=20)
        assert float(other.mmi) > 0.5 and float(same.mmi) > 0.5
        assert abs(float(other.redundancy)) < 0.05, seed
        false_positives += float(other.p_value) <= 0.05
        assert float(same.p_value) <= 1 / 201 + 1e-12, seed
        assert float(same.redundancy) >= 0.5 * float(same.mmi), seed
    assert false_positives <= 2
    assert int(same.n_rows) == 4 * 480 - 40


def test_shared_information_without_answers_or_permutations_is_nan_not_an_error():
    groups, model, people = _panel(0, 1, n=60)
    none = shared_information(groups, torch.full_like(model, -1), people, 4, n_perm=10, seed=0)
    assert math.isnan(float(none.redundancy)) and int(none.n_rows) == 0
    fast = shared_information(groups, model, people, 4, n_perm=0, seed=0)
    assert math.isfinite(float(fast.redundancy)) and math.isnan(float(fast.p_value))


def _category_panel(seed: int, model_half: str, n: int = 480):
    """A 4-level category F = (u, v); the model reveals u or v (15 % flips, plus a random
    bit), four people reveal v; one person skips 40 trials."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(0, 2, (n,), generator=g)
    v = torch.randint(0, 2, (n,), generator=g)

    def reveal(bit: torch.Tensor) -> torch.Tensor:
        kept = torch.where(torch.rand(n, generator=g) < 0.85, bit, 1 - bit)
        return 2 * kept + torch.randint(0, 2, (n,), generator=g)

    people = torch.stack([reveal(v) for _ in range(4)])
    people[1, :40] = -1
    return [(2 * u + v, 4)], reveal(u if model_half == "u" else v)[None], people


def test_shared_information_about_a_category_is_the_same_information():
    # The model knows one half of the category, people the other: |R| ~ 0 and significant at
    # the nominal rate (measured: 1 of 20, |R| <= 0.03 bits; 2 of 20 allowed); both know the
    # same half: significant in every seed (~0.4 bits).
    false_positives = 0
    for seed in range(20):
        kw = {"n_perm": 200, "seed": seed, "min_class_trials": 20}
        other = shared_information(*_category_panel(seed, "u"), 4, **kw)
        same = shared_information(*_category_panel(seed, "v"), 4, **kw)
        assert float(other.mmi) > 0.1 and abs(float(other.redundancy)) < 0.05, seed
        false_positives += float(other.p_value) <= 0.05
        assert float(same.p_value) <= 1 / 201 + 1e-12 and float(same.redundancy) > 0.1, seed
    assert false_positives <= 2
