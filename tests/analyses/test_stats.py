"""Tests for analyses.stats: permutation nulls, max-statistic p-values, resampling CIs.

Independent oracles are the per-call sweeps of analyses.info run on explicitly permuted
data; calibration tests simulate the global null (methods.md case 16) and check rates with
binomial tolerances stated next to each assertion.
"""

from __future__ import annotations

import math

import pytest
import torch

from analyses import info, stats
from analyses.info import copnorm
from analyses.stats import (
    BootstrapCI,
    _copnorm_rows,
    _corr_bias,
    _mi_from_corr_into,
    _perm_block,  # the accelerator branch, exercised on CPU
    bootstrap_ci,
    max_stat_pvalues,
    max_stat_threshold,
    perm_sweep_cc,
    perm_sweep_cd,
    permutation_indices,
)

F64 = torch.float64
# Batch implementations must reproduce the per-call reference to <= 1e-6 bits
# (methods.md 4.6); in float64 the two differ only by rounding (~1e-15).
TOL_BITS = 1e-6


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data_cc(n: int = 120, u: int = 7, f: int = 3, seed: int = 0, dtype=F64):
    g = _gen(seed)
    a = torch.randn(n, u, generator=g, dtype=dtype)
    b = torch.randn(n, f, generator=g, dtype=dtype)
    b[:, 0] += 0.8 * a[:, 2]  # one real dependence so the slices are not all ~0
    return a, b


def _data_cd(n: int = 150, u: int = 6, k: int = 3, n_classes: int = 4, seed: int = 1):
    g = _gen(seed)
    a = torch.randn(n, u, generator=g, dtype=F64)
    y = torch.randint(0, n_classes, (n, k), generator=g)
    a[:, 1] += y[:, 0].to(F64)  # class-dependent shift for one pair
    return a, y


# ---------------------------------------------------------------------------------------
# permutations
# ---------------------------------------------------------------------------------------


def test_permutation_rows_are_permutations_and_offsets_are_consistent():
    perms = permutation_indices(37, 150, seed=4)
    assert perms.shape == (150, 37) and perms.dtype == torch.int64
    assert torch.equal(perms.sort(dim=1).values, torch.arange(37).expand(150, 37))
    # Any window [start, start + len) equals the same rows of the full sequence: this is
    # what makes every null independent of the chunk size.
    assert torch.equal(permutation_indices(37, 80, seed=4, start=50), perms[50:130])
    assert torch.equal(permutation_indices(37, 1, seed=4, start=149), perms[149:])
    assert not torch.equal(permutation_indices(37, 150, seed=5), perms)


def test_permutation_chunks_are_the_same_rows_and_draw_each_block_once(monkeypatch):
    perms = permutation_indices(37, 150, seed=4)
    drawn = []
    real_block = stats._perm_block
    monkeypatch.setattr(
        stats, "_perm_block", lambda *args: drawn.append(args[2]) or real_block(*args)
    )
    for chunk in (1, 7, 64, 500):
        drawn.clear()
        pieces = list(stats.permutation_chunks(37, 150, 4, chunk))
        assert [s for s, _ in pieces] == list(range(0, 150, chunk))
        assert torch.equal(torch.cat([p for _, p in pieces]), perms)
        # 150 rows span blocks 0, 1 and 2: drawn once each, however small the chunks.
        assert drawn == [0, 1, 2], chunk
    assert list(stats.permutation_chunks(37, 0, 4, 8)) == []


def test_permutations_are_drawn_on_the_cpu_whatever_device_receives_them(monkeypatch):
    # Every device must test against the same null: the rows come from the CPU's generator
    # (Fisher-Yates) and are then moved, so the device only decides where they end up.
    devices = []
    real = torch.randperm

    def spy(n, *, generator, out):
        devices.append(generator.device.type)
        return real(n, generator=generator, out=out)

    monkeypatch.setattr(torch, "randperm", spy)
    on_meta = permutation_indices(50, 70, seed=3, device="meta")
    assert on_meta.device.type == "meta" and on_meta.shape == (70, 50)
    assert set(devices) == {"cpu"} and len(devices) == 2 * 64  # two blocks of 64 rows
    block = _perm_block(50, seed=3, block=2, device=torch.device("cpu"))
    assert torch.equal(block, _perm_block(50, seed=3, block=2, device=torch.device("cpu")))
    assert len({tuple(row) for row in block.tolist()}) == block.shape[0]  # all distinct


# ---------------------------------------------------------------------------------------
# perm_sweep_cc
# ---------------------------------------------------------------------------------------


def test_cc_observed_mi_equals_gcmi_sweep_cc():
    a, b = _data_cc()
    mi, null = perm_sweep_cc(a, b, n_perm=20, seed=0)
    assert mi.shape == (7, 3) and null.shape == (20, 7, 3)
    assert torch.allclose(mi, info.gcmi_sweep_cc(a, b), atol=TOL_BITS, rtol=0)


def test_cc_each_null_slice_equals_sweep_on_explicitly_permuted_b():
    a, b = _data_cc()
    n_perm = 70  # spans two permutation blocks
    mi, null = perm_sweep_cc(a, b, n_perm=n_perm, seed=11, chunk=16)
    perms = permutation_indices(a.shape[0], n_perm, seed=11)
    for k in (0, 33, 64, n_perm - 1):
        # Shuffle the trials of b by hand: row t of the permuted b is b[perm[t]].
        b_perm = torch.stack([b[int(t)] for t in perms[k]])
        expected = info.gcmi_sweep_cc(a, b_perm)
        assert torch.allclose(null[k], expected, atol=TOL_BITS, rtol=0)
    # The dependence planted in pair (2, 0) disappears under permutation.
    assert mi[2, 0] > null[:, 2, 0].max()


def test_cc_one_permutation_is_shared_by_all_columns():
    g = _gen(2)
    a = torch.randn(80, 5, generator=g, dtype=F64)
    x = torch.randn(80, 1, generator=g, dtype=F64)
    # exp(x) has the same ranks as x, so both columns copula-normalise identically; with
    # one permutation per k for all columns their null slices must agree. The GEMM may
    # round different output columns differently (~1e-17 bits), while separate
    # permutations would make them differ by ~1e-2 bits (the null's spread).
    b = torch.cat([x, x.exp(), torch.randn(80, 1, generator=g, dtype=F64)], dim=1)
    _, null = perm_sweep_cc(a, b, n_perm=40, seed=3, chunk=9)
    assert torch.allclose(null[..., 0], null[..., 1], atol=1e-12, rtol=0)
    assert (null[..., 0] - null[..., 2]).abs().max() > 1e-3


def test_cc_null_does_not_depend_on_chunk_size():
    a, b = _data_cc()
    ref_mi, ref = perm_sweep_cc(a, b, n_perm=100, seed=7, chunk=1)
    for chunk in (7, 64, 100, None):
        mi, null = perm_sweep_cc(a, b, n_perm=100, seed=7, chunk=chunk)
        assert torch.equal(mi, ref_mi)
        # Same permutations, same arithmetic; only the BLAS blocking of a wider product
        # may reorder the float64 sums (differences ~1e-16 bits).
        assert torch.allclose(null, ref, atol=1e-12, rtol=0)


def test_cc_seeded_reproducible_and_seed_sensitive():
    a, b = _data_cc()
    _, n1 = perm_sweep_cc(a, b, n_perm=30, seed=123)
    _, n2 = perm_sweep_cc(a, b, n_perm=30, seed=123)
    _, n3 = perm_sweep_cc(a, b, n_perm=30, seed=124)
    assert torch.equal(n1, n2)
    assert not torch.equal(n1, n3)


def test_cc_float32_stays_float32_and_progress_counts_permutations():
    a, b = _data_cc(dtype=torch.float32)
    done: list[int] = []
    mi, null = perm_sweep_cc(a, b, n_perm=50, seed=1, chunk=16, on_progress=done.append)
    assert mi.dtype == torch.float32 and null.dtype == torch.float32
    assert done == [16, 16, 16, 2]
    # float32 products of unit vectors: r is accurate to ~1e-7, MI to ~1e-6 bits.
    assert torch.allclose(mi.double(), info.gcmi_sweep_cc(a.double(), b.double()), atol=1e-5)
    assert not a.requires_grad and torch.isfinite(null).all()


def test_null_transform_matches_mi_from_corr():
    # The null is turned into bits in place; it must be mi_from_corr's formula.
    for dtype in (F64, torch.float32):
        r = torch.linspace(-1, 1, 20001, dtype=dtype)
        out = torch.empty_like(r)
        _mi_from_corr_into(r, out, _corr_bias(50, r))
        ref = info.mi_from_corr(r, 50)
        if dtype == F64:
            assert torch.allclose(out, ref, atol=1e-12, rtol=0)
        else:
            # log(1 - r^2) vs log1p(-r^2) in float32: ~1e-7 absolute in the null's range
            # (|r| <= 0.9 is already 1.2 bits), ~1e-5 relative where 1 - r^2 -> eps.
            mid = r.abs() <= 0.9
            assert torch.allclose(out[mid], ref[mid], atol=1e-6, rtol=0)
            assert torch.allclose(out, ref, atol=1e-6, rtol=3e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, F64])
def test_row_copnorm_from_integer_keys_is_exactly_copnorm(dtype):
    # The sweeps rank floats by their bit patterns read as integers; the scores must be
    # bit-identical to copnorm's, across signs, zeros of both signs, infinities and ties.
    g = _gen(3)
    x = torch.randn(300, 14, generator=g, dtype=F64).mul(50).to(dtype)
    x[:40, 0] = torch.tensor([-0.0, 0.0] * 20, dtype=dtype)  # equal values, two bit patterns
    x[:2, 6:] = torch.tensor([[-0.0], [0.0]], dtype=dtype)  # one tie each, of -0.0 and +0.0
    x[5, 1], x[6, 1] = float("inf"), float("-inf")
    x[:, 2] = x[:, 2].abs().neg()  # every value negative
    x[::3, 3] = x[0, 3]  # many ties
    assert torch.equal(_copnorm_rows(x), copnorm(x).T.contiguous())
    x[7, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        _copnorm_rows(x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, F64])
def test_row_copnorm_without_ties_never_falls_back_to_copnorm(monkeypatch, dtype):
    # Tie-free columns (exact in every width: multiples of 1/8 up to 18.6, both signs, and a
    # -0.0) must be ranked by their integer keys alone.
    g = _gen(4)
    cols = [torch.randperm(300, generator=g) for _ in range(5)]
    x = ((torch.stack(cols, dim=1) - 150) / 8).to(dtype)
    x[x == 0] = -0.0
    expected = copnorm(x).T.contiguous()

    def no_fallback(*args, **kwargs):
        raise AssertionError("a tie-free column went through copnorm")

    monkeypatch.setattr(stats, "copnorm", no_fallback)
    assert torch.equal(_copnorm_rows(x), expected)


def test_cd_sweep_with_no_units_or_no_targets_is_empty():
    a, y = _data_cd()
    mi, null = perm_sweep_cd(a[:, :0], y, 4, n_perm=5, seed=0)
    assert mi.shape == (0, 3) and null.shape == (5, 0, 3)
    mi, null = perm_sweep_cd(a, y[:, :0], 4, n_perm=5, seed=0)
    assert mi.shape == (6, 0) and null.shape == (5, 6, 0)


def test_cd_float32_close_to_float64_reference():
    a, y = _data_cd(n=400)
    a32 = a.float()
    mi, null = perm_sweep_cd(a32, y, 4, n_perm=5, seed=0)
    assert mi.dtype == torch.float32 and null.dtype == torch.float32
    # float32 class moments over ~100 trials: ~1e-7 relative, a few 1e-7 bits here.
    assert torch.allclose(mi.double(), info.gcmi_sweep_cd(a, y, 4), atol=1e-5, rtol=0)
    perm = permutation_indices(400, 5, seed=0)[3]
    assert torch.allclose(null[3].double(), info.gcmi_sweep_cd(a, y[perm], 4), atol=1e-5)


def test_cc_input_checks():
    a, b = _data_cc()
    with pytest.raises(ValueError, match="trials"):
        perm_sweep_cc(a, b[:-1], n_perm=5, seed=0)
    with pytest.raises(ValueError, match="n_perm"):
        perm_sweep_cc(a, b, n_perm=-1, seed=0)
    with pytest.raises(ValueError, match="2-D"):
        perm_sweep_cc(a[:, 0], b, n_perm=5, seed=0)


# ---------------------------------------------------------------------------------------
# perm_sweep_cd
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 4])
def test_cd_observed_mi_equals_gcmi_sweep_cd(n_classes):
    a, y = _data_cd(n_classes=n_classes)
    mi, null = perm_sweep_cd(a, y, n_classes, n_perm=10, seed=0)
    assert mi.shape == (6, 3) and null.shape == (10, 6, 3)
    assert torch.allclose(mi, info.gcmi_sweep_cd(a, y, n_classes), atol=TOL_BITS, rtol=0)


def test_cd_each_null_slice_equals_sweep_on_explicitly_permuted_labels():
    a, y = _data_cd()
    n_perm = 70
    mi, null = perm_sweep_cd(a, y, 4, n_perm=n_perm, seed=5, chunk=13)
    perms = permutation_indices(a.shape[0], n_perm, seed=5)
    for k in (0, 40, n_perm - 1):
        y_perm = torch.stack([y[int(t)] for t in perms[k]])
        expected = info.gcmi_sweep_cd(a, y_perm, 4)
        assert torch.allclose(null[k], expected, atol=TOL_BITS, rtol=0)
    assert mi[1, 0] > null[:, 1, 0].max()


def test_cd_empty_class_matches_reference_and_single_trial_class_is_rejected():
    a, y = _data_cd()
    y = torch.where(y == 3, 1, y)  # class 3 is empty; class 1, now the largest, gets no bag
    mi, null = perm_sweep_cd(a, y, 4, n_perm=8, seed=2)
    assert torch.allclose(mi, info.gcmi_sweep_cd(a, y, 4), atol=TOL_BITS, rtol=0)
    perm = permutation_indices(a.shape[0], 8, seed=2)[6]
    assert torch.allclose(null[6], info.gcmi_sweep_cd(a, y[perm], 4), atol=TOL_BITS, rtol=0)
    y[0, 2] = 3  # exactly one trial of class 3 in column 2
    with pytest.raises(ValueError, match="only 1 trial"):
        perm_sweep_cd(a, y, 4, n_perm=8, seed=2)
    with pytest.raises(ValueError, match="labels outside"):
        perm_sweep_cd(a, y, 3, n_perm=8, seed=2)


def test_cd_null_does_not_depend_on_chunk_size_and_is_seeded():
    a, y = _data_cd()
    _, ref = perm_sweep_cd(a, y, 4, n_perm=90, seed=9, chunk=1)
    for chunk in (11, 64, None):
        _, null = perm_sweep_cd(a, y, 4, n_perm=90, seed=9, chunk=chunk)
        assert torch.equal(null, ref)  # every bag is summed on its own
    _, same = perm_sweep_cd(a, y, 4, n_perm=90, seed=9)
    _, other = perm_sweep_cd(a, y, 4, n_perm=90, seed=10)
    assert torch.equal(same, perm_sweep_cd(a, y, 4, n_perm=90, seed=9)[1])
    assert not torch.equal(same, other)


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_cd_null_does_not_depend_on_the_bag_tile_width(monkeypatch, dtype):
    # On CPU the bag weight is read in column tiles that are joined again; one tile of
    # the full width is what accelerators use. Odd widths split a and a^2 unevenly.
    a, y = _data_cd()
    a = a.to(dtype)
    mi, null = perm_sweep_cd(a, y, 4, n_perm=20, seed=4)
    for width in (1, 5, 10_000):
        monkeypatch.setattr(stats, "_BAG_TILE_CPU", width)
        mi_w, null_w = perm_sweep_cd(a, y, 4, n_perm=20, seed=4)
        assert torch.equal(mi_w, mi) and torch.equal(null_w, null)


def test_cd_one_permutation_is_shared_by_all_columns():
    a, y = _data_cd()
    y = torch.cat([y[:, :1], y[:, :1]], dim=1)
    _, null = perm_sweep_cd(a, y, 4, n_perm=30, seed=1)
    assert torch.equal(null[..., 0], null[..., 1])


# ---------------------------------------------------------------------------------------
# max statistic
# ---------------------------------------------------------------------------------------


def test_max_stat_pvalues_hand_computed():
    # K = 4 permutations of 3 tests; per-permutation maxima are 0.4, 0.9, 0.3 (NaN ignored)
    # and -inf (all NaN: never counts).
    nan = math.nan
    null = torch.tensor(
        [
            [0.1, 0.4, 0.2],
            [0.9, nan, 0.0],
            [0.3, 0.3, nan],
            [nan, nan, nan],
        ],
        dtype=F64,
    )
    mi = torch.tensor([1.0, 0.4, 0.05], dtype=F64)
    p = max_stat_pvalues(mi, null)
    # #{M >= 1.0} = 0 -> 1/5; #{M >= 0.4} = 2 (0.4 and 0.9) -> 3/5; #{M >= 0.05} = 3 -> 4/5
    assert torch.equal(p, torch.tensor([1 / 5, 3 / 5, 4 / 5], dtype=F64))
    # Never zero: the smallest attainable p is 1/(K+1); a NaN statistic gives NaN.
    p2 = max_stat_pvalues(torch.tensor([1e9, nan], dtype=F64), null[:, :2])
    assert p2[0] == 1 / 5 and torch.isnan(p2[1])
    assert p.dtype == F64


def test_threshold_agrees_with_pvalues():
    g = _gen(0)
    for n_perm, alpha in ((99, 0.05), (1000, 0.05), (28, 0.1), (10, 0.05), (200, 0.01)):
        null = torch.randn(n_perm, 6, 5, generator=g, dtype=F64)
        mi = torch.randn(6, 5, generator=g, dtype=F64) * 1.5 + 1.0
        tau = max_stat_threshold(null, alpha)
        p = max_stat_pvalues(mi, null)
        # Documented equivalence: mi > tau exactly when p <= alpha.
        assert torch.equal(mi > tau, p <= alpha + 1e-12)
    assert max_stat_threshold(null[:10], 0.05) == math.inf  # alpha (K+1) < 1: unreachable


@pytest.mark.slow
def test_fwer_null_calibration_max_statistic():
    """methods.md case 16: 100 correlated tests, global null, FWER ~ alpha."""
    n_sets, n, n_perm, alpha = 1500, 30, 99, 0.05
    g = _gen(16)
    rejections = 0
    for d in range(n_sets):
        # 50 units sharing a latent factor (pairwise r ~ 0.5) x 2 correlated factors,
        # all independent of each other: 100 dependent tests under the global null.
        latent = torch.randn(n, 1, generator=g, dtype=F64)
        a = latent + torch.randn(n, 50, generator=g, dtype=F64)
        z = torch.randn(n, 1, generator=g, dtype=F64)
        b = z + 0.7 * torch.randn(n, 2, generator=g, dtype=F64)
        mi, null = perm_sweep_cc(a, b, n_perm=n_perm, seed=d)
        rejections += bool((max_stat_pvalues(mi, null) <= alpha).any())
    # With exchangeable trials and continuous statistics the rank of the observed maximum
    # among K+1 is uniform, so P(min p <= alpha) = floor(alpha (K+1)) / (K+1) = 5/100
    # exactly. Over 1500 independent data sets (independent seeds, so independent
    # permutations too) the count is Binomial(1500, 0.05): mean 75, sd 8.4; the band
    # 75 +/- 3.5 sd = [45, 105] (rate 0.030-0.070) fails by chance with p < 1e-3.
    assert 45 <= rejections <= 105, rejections


def test_planted_effects_are_detected_and_only_they():
    g = _gen(5)
    n = 300
    a = torch.randn(n, 40, generator=g, dtype=F64)
    b = torch.randn(n, 3, generator=g, dtype=F64)
    b[:, 1] = 0.5 * a[:, 7] + torch.randn(n, generator=g, dtype=F64)  # r ~ 0.45
    mi, null = perm_sweep_cc(a, b, n_perm=199, seed=0)
    p = max_stat_pvalues(mi, null)
    assert p[7, 1] == 1 / 200  # beats every permutation maximum
    others = torch.ones_like(p, dtype=torch.bool)
    others[7, 1] = False
    # Under the null the FWER is 5%: with this seed nothing else is significant.
    assert (p[others] > 0.05).all()

    y = torch.randint(0, 3, (n, 2), generator=g)
    a[:, 3] += 0.6 * y[:, 1].to(F64)
    mi_d, null_d = perm_sweep_cd(a, y, 3, n_perm=199, seed=0)
    p_d = max_stat_pvalues(mi_d, null_d)
    assert p_d[3, 1] == 1 / 200
    assert (p_d <= 0.05).sum() == 1


# ---------------------------------------------------------------------------------------
# bootstrap / subsampling confidence intervals
# ---------------------------------------------------------------------------------------


def _mean_stat(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=-2)[..., 0]  # [B, D, m, 1] -> [B, D]


@pytest.mark.parametrize("method", ["subsample", "bootstrap"])
def test_ci_for_a_mean_covers_at_the_nominal_rate(method):
    # 400 independent data sets of 40 standard normals, batched along a leading dim.
    x = torch.randn(400, 40, 1, generator=_gen(21), dtype=F64)
    ci = bootstrap_ci(_mean_stat, x, n_boot=300, seed=3, method=method)
    assert isinstance(ci, BootstrapCI) and ci.low.shape == (400,)
    assert torch.allclose(ci.estimate, x.mean(dim=(-2, -1)))
    coverage = ((ci.low <= 0) & (0 <= ci.high)).double().mean().item()
    # Nominal 0.95. Binomial sd over 400 sets is 0.011; with n = 40 both intervals run
    # about 0.01 narrow (normal rather than t quantiles, and the bootstrap's n-1/n
    # variance), so accept [0.90, 0.985]: 4 sd below 0.94 and 3 sd above 0.95.
    assert 0.90 <= coverage <= 0.985, coverage


def test_subsample_ci_for_gcmi_covers_closed_form_truth():
    # methods.md case 1: rho = 0.5 gives I = -0.5 log2(1 - 0.25) = 0.2075 bits.
    truth = -0.5 * math.log2(1 - 0.25)
    g = _gen(1)
    n_sets, n = 150, 200
    x = torch.randn(n_sets, n, 1, generator=g, dtype=F64)
    y = 0.5 * x + math.sqrt(0.75) * torch.randn(n_sets, n, 1, generator=g, dtype=F64)

    def gcmi(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return info.gcmi_sweep_cc(xb, yb)[..., 0, 0]

    ci = bootstrap_ci(gcmi, x, y, n_boot=200, seed=0)
    assert ci.resample_size == n // 2 and ci.method == "subsample"
    coverage = ((ci.low <= truth) & (truth <= ci.high)).double().mean().item()
    # Binomial sd over 150 sets is 0.018. GCMI is a smooth function of r with mild skew
    # at n = 200, so the basic interval stays within ~0.02 of nominal; accept
    # [0.87, 0.99] (about 3 sd either side plus that approximation error).
    assert 0.87 <= coverage <= 0.99, coverage


def test_ordinary_bootstrap_inflates_copula_mi_and_subsampling_does_not():
    # methods.md 4.1: duplicated trials become ties and leave fewer distinct samples than
    # the bias correction assumes, so resampled GCMI of independent data drifts upward.
    g = _gen(8)
    x = torch.randn(300, 1, generator=g, dtype=F64)
    y = torch.randn(300, 1, generator=g, dtype=F64)
    draws: dict[str, torch.Tensor] = {}

    def recording_gcmi(key: str):
        def stat(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            out = info.gcmi_sweep_cc(xb, yb)[..., 0, 0]
            if out.shape[0] > 1:  # the resamples, not the full-sample estimate
                draws[key] = out
            return out

        return stat

    boot = bootstrap_ci(recording_gcmi("boot"), x, y, n_boot=400, seed=1, method="bootstrap")
    sub = bootstrap_ci(recording_gcmi("sub"), x, y, n_boot=400, seed=1, method="subsample")
    # With Poisson(1) multiplicities the variance of the resampled r roughly doubles, so
    # the mean resampled MI exceeds the estimate by ~1/(2 n ln 2) = 2.4e-3 bits (1.7e-3 to
    # 2.8e-3 over seeds 0-5). Subsamples of m distinct trials are bias-corrected at m and
    # average to the estimate within ~5e-4 bits (the mean of 400 draws of sd ~5e-3 plus
    # second-order terms). The thresholds sit halfway between the two behaviours.
    assert draws["boot"].mean() - boot.estimate > 1.2e-3
    assert abs(draws["sub"].mean() - sub.estimate) < 9e-4


def test_ci_seeded_reproducible_and_chunk_invariant():
    x = torch.randn(60, 2, generator=_gen(4), dtype=F64)

    def stat(xb: torch.Tensor) -> torch.Tensor:
        return xb.mean(dim=-2)  # [B, 2]

    c1 = bootstrap_ci(stat, x, n_boot=50, seed=9)
    c2 = bootstrap_ci(stat, x, n_boot=50, seed=9, chunk=7)
    c3 = bootstrap_ci(stat, x, n_boot=50, seed=10)
    assert torch.equal(c1.low, c2.low) and torch.equal(c1.high, c2.high)
    assert not torch.equal(c1.low, c3.low)
    b1 = bootstrap_ci(stat, x, n_boot=50, seed=9, method="bootstrap")
    b2 = bootstrap_ci(stat, x, n_boot=50, seed=9, method="bootstrap", chunk=13)
    assert torch.equal(b1.low, b2.low)
    with pytest.raises(ValueError, match="subsample size"):
        bootstrap_ci(stat, x, n_boot=50, seed=9, m=60)
    with pytest.raises(ValueError, match="disagree"):
        bootstrap_ci(lambda p, q: p.mean(-2), x, x[:-1], n_boot=10, seed=0)


def test_perm_pvalues_count_exceedances_by_hand() -> None:
    mi = torch.tensor([0.5, 0.1])
    null = torch.tensor([[0.6, 0.0], [0.2, 0.3], [0.5, 0.05]])
    # Test 0: 0.6 and 0.5 reach 0.5 -> (1 + 2) / 4; test 1: only 0.3 -> (1 + 1) / 4.
    torch.testing.assert_close(stats.perm_pvalues(mi, null), torch.tensor([0.75, 0.5]))


def test_standardized_max_by_hand_and_never_below_uncorrected() -> None:
    mi = torch.tensor([5.0, 0.25])
    null = torch.tensor([[1.0, 0.1], [2.0, 0.3], [3.0, 0.2]])
    # Column 0: mean 2, sd sqrt(2/3); column 1: mean 0.2, sd sqrt(0.02/3). z of the nulls:
    # column 0: -1.22, 0, 1.22; column 1: -1.22, 1.22, 0; maxima per permutation: -1.22,
    # 1.22, 1.22. Observed z: 3.67 and 0.61.
    # Corrected: test 0 -> (1 + 0) / 4; test 1 -> (1 + #{M >= 0.61} = 2) / 4.
    p = stats.standardized_max_pvalues(mi, null)
    torch.testing.assert_close(p, torch.tensor([0.25, 0.75]))
    assert bool((p >= stats.perm_pvalues(mi, null)).all())


def test_standardized_max_controls_fwer_across_tests_of_different_scales() -> None:
    # 400 global-null data sets, each with 3 tests whose nulls differ in scale by 10x.
    # The family-wise rejection rate must stay near alpha = 0.05: Binomial(400, 0.05) has
    # sd 4.4, so 5 sd above the mean is 42.
    g = torch.Generator().manual_seed(7)
    scale = torch.tensor([1.0, 10.0, 0.1])
    rejections = 0
    for _ in range(400):
        draws = torch.randn(200, 3, generator=g).abs() * scale  # 1 observed + 199 permutations
        rejections += bool((stats.standardized_max_pvalues(draws[0], draws[1:]) <= 0.05).any())
    assert rejections <= 42


def test_standardized_max_reaches_the_smallest_p_for_a_statistic_far_above_its_null() -> None:
    # A test far beyond its permuted values is significant at 1/(K+1) in a family of 50,
    # where the minimum p-value method could not go below about 50/(K+1).
    null = torch.rand(99, 50, generator=torch.Generator().manual_seed(0))
    mi = torch.full((50,), 0.5)
    mi[3] = 5.0
    assert float(stats.standardized_max_pvalues(mi, null)[3]) == pytest.approx(1 / 100)
