"""Properties of analyses.info: closed forms, invariances, independent oracles, planted truths.

Every expected value is either a closed form, a numerical integral, or an independent
implementation (frites, dit, scipy); every tolerance is argued next to the assertion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp, ndtri
from scipy.stats import multivariate_normal, rankdata

from analyses import info
from analyses.errors import DataError

F64 = torch.float64
LN2 = math.log(2.0)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def correlated_pair(rho: float, *batch_n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard bivariate Gaussian samples with correlation rho, each ``[..., n, 1]``."""
    z = randn(*batch_n, 2, seed=seed)
    x = z[..., :1]
    return x, rho * x + math.sqrt(1 - rho**2) * z[..., 1:]


def gaussian_mixture_entropy_bits(mu: float) -> float:
    """Entropy of 0.5 N(-mu, 1) + 0.5 N(mu, 1) by the trapezoid rule on [-14, 14] (bits)."""
    grid = torch.linspace(-14.0, 14.0, 200_001, dtype=F64)
    f = (torch.exp(-0.5 * (grid - mu) ** 2) + torch.exp(-0.5 * (grid + mu) ** 2)) / (
        2 * math.sqrt(2 * math.pi)
    )
    return float(-torch.trapezoid(f * torch.log2(f), grid))


def binary_mixture_mi_bits(mu: float) -> float:
    """I(X;Y) for uniform binary Y and X|Y ~ N(+-mu, 1), by numerical integration."""
    return gaussian_mixture_entropy_bits(mu) - 0.5 * math.log2(2 * math.pi * math.e)


# ----------------------------------------------------------------------------------------------
# closed forms (methods.md 5, cases 1-2)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rho", "published"), [(0.5, 0.2075), (0.9, 1.1980)])
def test_gaussian_mi_recovers_bivariate_closed_form(rho: float, published: float) -> None:
    truth = -0.5 * math.log2(1 - rho**2)
    assert truth == pytest.approx(published, abs=5e-5)  # the 4-digit values of methods.md 5.1
    n = 10_000
    x, y = correlated_pair(rho, n, seed=11)
    # Delta method: sd(I) = rho / (ln2 sqrt(n)), i.e. 0.0072 bits at rho=0.5 and 0.013 at
    # rho=0.9 for n = 1e4; three standard errors.
    tol = 3 * rho / (LN2 * math.sqrt(n))
    assert info.mi_gg(x, y).item() == pytest.approx(truth, abs=tol)
    assert info.gcmi_cc(x, y).item() == pytest.approx(truth, abs=tol)


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_mi_gg_replicate_mean_is_unbiased_for_bivariate_gaussian(rho: float) -> None:
    truth = -0.5 * math.log2(1 - rho**2)
    x, y = correlated_pair(rho, 2000, 100, seed=12)
    mi = info.mi_gg(x, y)  # 2000 replicates of N = 100 in one batched call
    assert mi.shape == (2000,)
    # The psi correction makes each entropy exactly unbiased for Gaussian data, so the mean of
    # 2000 replicates must sit within 3 standard errors of the truth (methods.md 5.1).
    se = mi.std().item() / math.sqrt(mi.numel())
    assert abs(mi.mean().item() - truth) < 3 * se


def random_pd(d: int, seed: int) -> torch.Tensor:
    a = randn(d, d, seed=seed)
    return a @ a.T + 0.5 * torch.eye(d, dtype=F64)


def test_mi_gg_recovers_multivariate_closed_form() -> None:
    dx, dy, n, reps = 3, 2, 2000, 100
    sigma = random_pd(dx + dy, seed=21)
    truth = 0.5 * math.log2(
        torch.linalg.det(sigma[:dx, :dx])
        * torch.linalg.det(sigma[dx:, dx:])
        / torch.linalg.det(sigma)
    )
    xy = randn(reps, n, dx + dy, seed=22) @ torch.linalg.cholesky(sigma).T
    mi = info.mi_gg(xy[..., :dx], xy[..., dx:])
    # Bias-corrected Gaussian MI is unbiased, so the replicate mean is within 4 empirical
    # standard errors of the closed form.
    se = mi.std().item() / math.sqrt(reps)
    assert abs(mi.mean().item() - truth) < 4 * se
    # Same for the entropy: H = 0.5 log2 det(2 pi e Sigma).
    h_truth = 0.5 * math.log2(torch.linalg.det(2 * math.pi * math.e * sigma).item())
    h = info.ent_g(xy)
    assert abs(h.mean().item() - h_truth) < 4 * h.std().item() / math.sqrt(reps)


def test_ent_bias_matches_psi_formula_and_vanishes_asymptotically() -> None:
    from scipy.special import psi

    n, d = 57, 3
    expected = 0.5 * d * math.log(2 / (n - 1)) + 0.5 * sum(psi((n - i) / 2) for i in (1, 2, 3))
    assert info.ent_bias(n, d) == pytest.approx(expected, abs=1e-14)  # same formula, float64
    assert abs(info.ent_bias(10**7, 2)) < 1e-6  # B(N, d) = O(d^2 / N)
    with pytest.raises(ValueError, match="N > d"):
        info.ent_bias(3, 3)
    # A tensor of counts gives one bias per count, equal to the scalar form.
    counts = torch.tensor([57, 10, 400])
    torch.testing.assert_close(
        info.ent_bias(counts, 3),
        torch.tensor([info.ent_bias(int(c), 3) for c in counts], dtype=torch.float64),
        rtol=0,
        atol=1e-14,
    )
    with pytest.raises(ValueError, match="N > d"):
        info.ent_bias(torch.tensor([57, 3]), 3)


# ----------------------------------------------------------------------------------------------
# invariance and bias (cases 3-4)
# ----------------------------------------------------------------------------------------------


def test_gcmi_is_exactly_invariant_to_monotone_transforms() -> None:
    x, y = correlated_pair(0.6, 500, seed=31)
    z = randn(500, 2, seed=32)
    labels = torch.randint(0, 3, (500,), generator=gen(33))
    # Copula normalisation sees only ranks, so the results are bitwise identical.
    assert torch.equal(info.gcmi_cc(x, y), info.gcmi_cc(x.exp(), y**3))
    assert torch.equal(info.gccmi_ccc(x, y, z), info.gccmi_ccc(x.exp(), y**3, z.atan()))
    assert torch.equal(info.gcmi_model_cd(x, labels, 3), info.gcmi_model_cd(x.exp(), labels, 3))
    assert torch.equal(info.gcmi_sweep_cc(z, y), info.gcmi_sweep_cc(z**3, y.exp()))


def test_bias_correction_centres_null_mi_on_zero() -> None:
    n, reps = 100, 2000
    x, y = randn(reps, n, 1, seed=41), randn(reps, n, 1, seed=42)
    corrected = info.mi_gg(x, y).mean().item()
    plugin = info.mi_gg(x, y, biascorrect=False).mean().item()
    # The plug-in null MI is ~chi2(1) / (2 N ln2): mean 0.0072 bits, sd 0.0102 bits, so the
    # standard error of a 2000-replicate mean is 0.00023 bits. Bounds of 0.001 are ~4 se
    # (methods.md 5.4), and also cover the O(1/N^2) gap between 1/(2N ln2) and the exact mean.
    assert abs(corrected) < 1e-3
    assert abs(plugin - 1 / (2 * n * LN2)) < 1e-3
    assert plugin - corrected > 0.006  # the correction removes the bias, about 0.0073 bits


# ----------------------------------------------------------------------------------------------
# conditional MI and the chain rule (cases 5 and 7)
# ----------------------------------------------------------------------------------------------

N_CMI, R_CMI = 5000, 20
# sd of a bias-corrected 1-dof null (C)MI estimate: sqrt(2) / (2 N ln2) = 2.0e-4 bits at N=5000.
NULL_SD = math.sqrt(2) / (2 * N_CMI * LN2)


def test_cmi_vanishes_given_common_cause_while_mi_does_not() -> None:
    z = randn(R_CMI, N_CMI, 1, seed=51)
    x = z + randn(R_CMI, N_CMI, 1, seed=52)
    y = z + randn(R_CMI, N_CMI, 1, seed=53)
    # Truth: I(X;Y|Z) = 0 and I(X;Y) = -0.5 log2(1 - 0.25) = 0.2075 bits. Every replicate's
    # CMI within 6 null sd (a 6-sigma excursion in 20 draws has probability ~4e-8).
    assert info.cmi_ggg(x, y, z).abs().max().item() < 6 * NULL_SD
    assert info.gccmi_ccc(x, y, z).abs().max().item() < 6 * NULL_SD
    assert info.gcmi_cc(x, y).min().item() > 0.18


def test_cmi_equals_mi_when_conditioning_on_an_independent_variable() -> None:
    x, y = correlated_pair(0.5, R_CMI, N_CMI, seed=54)
    z = randn(R_CMI, N_CMI, 1, seed=55)
    # With Z independent the two estimates differ only by the sampling noise of the
    # (x, y)-z couplings, itself a 1-dof null effect: 6 null sd per replicate.
    assert (info.gccmi_ccc(x, y, z) - info.gcmi_cc(x, y)).abs().max().item() < 6 * NULL_SD
    assert (info.cmi_ggg(x, y, z) - info.mi_gg(x, y)).abs().max().item() < 6 * NULL_SD


def test_gccmi_ccd_vanishes_given_discrete_common_cause() -> None:
    z = torch.randint(0, 3, (R_CMI, N_CMI), generator=gen(56))
    zf = z.unsqueeze(-1).to(F64)
    x = zf + randn(R_CMI, N_CMI, 1, seed=57)
    y = zf**2 + randn(R_CMI, N_CMI, 1, seed=58)
    # Within each of the 3 classes X and Y are independent: the estimate is a p(z)-weighted
    # sum of three 1-dof nulls at N_z ~ N/3 (each with sd 3 * NULL_SD), weights 1/3, so its sd
    # is sqrt(3) * NULL_SD = 3.5e-4 bits; bound at 6 sd.
    assert info.gccmi_ccd(x, y, z, 3).abs().max().item() < 6 * math.sqrt(3) * NULL_SD
    assert info.gcmi_cc(x, y).min().item() > 0.15  # the unconditional dependence is strong


def test_chain_rule_holds_exactly_for_gaussian_estimates() -> None:
    f, h = correlated_pair(0.7, 3, 400, seed=61)
    d = 0.5 * f + randn(3, 400, 1, seed=62)
    # With shared N the psi corrections telescope, so I(F;H,D) = I(F;D) + I(F;H|D) holds to
    # float64 rounding for the corrected estimators, copula or not.
    hd = torch.cat([h, d], dim=-1)
    joint = info.mi_gg(f, hd)
    parts = info.mi_gg(f, d) + info.cmi_ggg(f, h, d)
    torch.testing.assert_close(joint, parts, rtol=0, atol=1e-12)
    joint_c = info.gcmi_cc(f, hd)
    parts_c = info.gcmi_cc(f, d) + info.gccmi_ccc(f, h, d)
    torch.testing.assert_close(joint_c, parts_c, rtol=0, atol=1e-12)


def test_mixed_chain_rule_recovers_planted_information() -> None:
    mu, rho, reps, n = 0.5, 0.6, 30, 5000
    d = torch.randint(0, 2, (reps, n), generator=gen(63))
    shift = (2 * d - 1).to(F64).unsqueeze(-1) * mu
    noise_f, noise_h = correlated_pair(rho, reps, n, seed=64)
    f = shift + noise_f  # F | D ~ N(+-mu, 1); H - E[H|D] correlates rho with F - E[F|D]
    h = noise_h
    # Truth: I(F;H,D) = I(F;D) + I(F;H|D), the first by numerical integration, the second
    # Gaussian within each class.
    truth = binary_mixture_mi_bits(mu) - 0.5 * math.log2(1 - rho**2)
    est = info.gcmi_model_cd(f, d, 2) + info.gccmi_ccd(f, h, d, 2)
    # Replicate sd ~0.012 bits, so 3 standard errors of the mean are ~0.007 bits; the copula
    # model form also sits slightly below the truth (a lower bound, ~0.001 bits here).
    assert abs(est.mean().item() - truth) < 0.01


# ----------------------------------------------------------------------------------------------
# continuous - discrete (case 6)
# ----------------------------------------------------------------------------------------------


def test_continuous_discrete_estimators_bracket_the_true_mi() -> None:
    reps, n = 40, 5000
    y = torch.randint(0, 2, (reps, n), generator=gen(71))
    x = (2 * y - 1).to(F64).unsqueeze(-1) + randn(reps, n, 1, seed=72)
    truth = binary_mixture_mi_bits(1.0)
    assert truth == pytest.approx(0.486, abs=5e-4)  # methods.md 5.6
    gauss_fit = info.mi_model_gd(x, y, 2).mean().item()
    copula = info.gcmi_model_cd(x, y, 2).mean().item()
    mixture = info.gcmi_mixture_cd(x, y, 2).mean().item()
    # Replicate sds are 0.009-0.019 bits, so 40-replicate means have se <= 0.003 bits; the
    # gaps asserted (truth - copula ~0.015, fit - truth ~0.015) are ~5 se.
    assert copula < truth < gauss_fit
    assert gauss_fit == pytest.approx(0.5, abs=0.01)  # 0.5 log2(1 + mu^2 / 1) = 0.5
    # Mixture form within 0.01 bits of the truth (methods.md 5.6).
    assert abs(mixture - truth) < 0.01


def test_mixture_with_one_class_has_zero_information_in_two_dimensions() -> None:
    # With a single class the unscented points of the correct Cholesky columns reproduce the
    # Gaussian's own entropy exactly; rows of L (a transposed factor) would not for d > 1.
    x = randn(300, 2, seed=73) @ torch.tensor([[2.0, 0.0], [1.5, 0.3]], dtype=F64)
    y = torch.zeros(300, dtype=torch.long)
    assert abs(info.mi_mixture_gd(x, y, 1).item()) < 1e-12


def reference_mixture_mi(x: np.ndarray, y: np.ndarray) -> float:
    """methods.md 2.6 written as loops with scipy densities (bits)."""
    n, d = x.shape
    classes = np.unique(y)
    w = np.array([(y == k).mean() for k in classes])
    mus = [x[y == k].mean(axis=0) for k in classes]
    covs = [np.atleast_2d(np.cov(x[y == k], rowvar=False, ddof=1)) for k in classes]
    h_cond = [0.5 * np.log(np.linalg.det(2 * np.pi * np.e * c)) for c in covs]

    def log_mix(p: np.ndarray) -> float:
        return float(
            logsumexp(
                [multivariate_normal(m, c).logpdf(p) for m, c in zip(mus, covs, strict=True)],
                b=w,
            )
        )

    h_mix = 0.0
    for wk, m, c in zip(w, mus, covs, strict=True):
        chol = np.linalg.cholesky(c)
        pts = [m + s * np.sqrt(d) * chol[:, j] for j in range(d) for s in (1, -1)]
        h_mix -= wk * np.mean([log_mix(p) for p in pts])
    return (h_mix - float(np.dot(w, h_cond))) / np.log(2)


def reference_gcmi_mixture(x: np.ndarray, y: np.ndarray) -> float:
    """Per-class copula step of methods.md 2.6 with numpy/scipy, then the mixture reference."""
    out = np.empty_like(x)
    for k in np.unique(y):
        xm = x[y == k]
        c = ndtri(rankdata(xm, axis=0) / (len(xm) + 1))
        med = np.median(xm, axis=0)
        mad = np.median(np.abs(xm - med), axis=0)
        out[y == k] = c * (1.482602218505602 * mad) + med
    return reference_mixture_mi(out, y)


def test_mixture_matches_loop_reference_of_the_formula() -> None:
    y = torch.randint(0, 3, (240,), generator=gen(74))
    means = torch.tensor([[0.0, 0.0], [2.0, -1.0], [0.5, 2.5]], dtype=F64)
    mix = torch.tensor([[1.0, 0.0], [0.8, 0.6]], dtype=F64)
    x = means[y] + randn(240, 2, seed=75) @ mix
    # Same formula evaluated in float64 by independent code: rounding-level agreement.
    ours = info.mi_mixture_gd(x, y, 3).item()
    assert ours == pytest.approx(reference_mixture_mi(x.numpy(), y.numpy()), abs=1e-10)
    ours_c = info.gcmi_mixture_cd(x.exp(), y, 3).item()
    assert ours_c == pytest.approx(reference_gcmi_mixture(x.exp().numpy(), y.numpy()), abs=1e-10)


# ----------------------------------------------------------------------------------------------
# building blocks used by analyses.stats
# ----------------------------------------------------------------------------------------------


def test_mi_from_corr_equals_three_entropy_psi_formula() -> None:
    x, y = correlated_pair(0.4, 6, 37, seed=81)
    n = 37
    xc, yc = x - x.mean(-2, keepdim=True), y - y.mean(-2, keepdim=True)
    r = (xc * yc).sum(-2) / (xc.norm(dim=-2) * yc.norm(dim=-2))
    r = r.squeeze(-1)
    # Full form: each of H(X), H(Y), H(X,Y) corrected by its own B(N, d) (methods.md 2.3).
    bias_bits = (2 * info.ent_bias(n, 1) - info.ent_bias(n, 2)) / LN2
    full = -0.5 * torch.log2(1 - r**2) - bias_bits
    torch.testing.assert_close(info.mi_from_corr(r, n), full, rtol=0, atol=1e-13)
    torch.testing.assert_close(info.mi_from_corr(r, n), info.mi_gg(x, y), rtol=0, atol=1e-12)
    plugin = info.mi_from_corr(r, n, biascorrect=False)
    torch.testing.assert_close(plugin, info.mi_gg(x, y, biascorrect=False), rtol=0, atol=1e-12)
    # |r| = 1 stays finite thanks to the eps clamp.
    assert torch.isfinite(info.mi_from_corr(torch.tensor([1.0, -1.0]), 10)).all()


def test_mi_from_class_var_equals_mi_model_gd() -> None:
    y = torch.randint(0, 4, (5, 300), generator=gen(82))
    x = y.to(F64).unsqueeze(-1) * 0.3 + randn(5, 300, 1, seed=83)
    oh = torch.nn.functional.one_hot(y, 4).to(F64)
    counts = oh.sum(-2)
    xs = x.squeeze(-1)
    means = (oh * xs.unsqueeze(-1)).sum(-2) / counts
    dev2 = (xs.unsqueeze(-1) - means.unsqueeze(-2)) ** 2
    class_var = (oh * dev2).sum(-2) / (counts - 1)
    var = xs.var(dim=-1)  # unbiased, about the pooled mean
    # Same estimator from sufficient statistics: float64 rounding only.
    for bc in (True, False):
        expected = info.mi_model_gd(x, y, 4, biascorrect=bc)
        got = info.mi_from_class_var(var, class_var, counts, biascorrect=bc)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # An extra empty class contributes nothing.
    padded = info.mi_from_class_var(
        var,
        torch.cat([class_var, torch.ones(5, 1, dtype=F64)], -1),
        torch.cat([counts, torch.zeros(5, 1, dtype=F64)], -1),
    )
    torch.testing.assert_close(padded, info.mi_model_gd(x, y, 4), rtol=0, atol=1e-12)


def test_sweeps_equal_the_per_pair_functions() -> None:
    a, b = randn(2, 150, 4, seed=91), randn(2, 150, 3, seed=92)
    b = b + 0.5 * a[..., :3]
    labels = torch.randint(0, 3, (2, 150, 2), generator=gen(93))
    a = a + 0.4 * labels[..., :1].to(F64)
    cc = info.gcmi_sweep_cc(a, b)
    cd = info.gcmi_sweep_cd(a, labels, 3)
    assert cc.shape == (2, 4, 3) and cd.shape == (2, 4, 2)
    for i in range(4):
        for j in range(3):  # matmul vs Cholesky route: float64 rounding
            torch.testing.assert_close(
                cc[:, i, j], info.gcmi_cc(a[..., i : i + 1], b[..., j : j + 1]), rtol=0, atol=1e-12
            )
        for k in range(2):
            expected = torch.stack(
                [info.gcmi_model_cd(a[s, :, i], labels[s, :, k], 3) for s in range(2)]
            )
            torch.testing.assert_close(cd[:, i, k], expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# batching, dtype, device, purity
# ----------------------------------------------------------------------------------------------


def _inputs(batch: tuple[int, ...], n: int, dtype: torch.dtype, seed: int) -> dict:
    x = randn(*batch, n, 2, seed=seed, dtype=dtype)
    y = (0.6 * x[..., :1] + randn(*batch, n, 1, seed=seed + 1, dtype=dtype)).contiguous()
    z = (0.3 * x[..., 1:] + randn(*batch, n, 1, seed=seed + 2, dtype=dtype)).contiguous()
    lab = torch.randint(0, 3, (*batch, n), generator=gen(seed + 3))
    lab2 = torch.randint(0, 2, (*batch, n), generator=gen(seed + 4))
    x = x + 0.5 * lab.unsqueeze(-1).to(dtype)
    return {"x": x, "y": y, "z": z, "lab": lab, "lab2": lab2, "labk": torch.stack([lab, lab2], -1)}


CALLS = {
    "copnorm": lambda v: info.copnorm(v["x"]),
    "ent_g": lambda v: info.ent_g(v["x"]),
    "mi_gg": lambda v: info.mi_gg(v["x"], v["y"]),
    "gcmi_cc": lambda v: info.gcmi_cc(v["x"], v["y"]),
    "cmi_ggg": lambda v: info.cmi_ggg(v["x"], v["y"], v["z"]),
    "gccmi_ccc": lambda v: info.gccmi_ccc(v["x"], v["y"], v["z"]),
    "gccmi_ccd": lambda v: info.gccmi_ccd(v["x"], v["y"], v["lab"], 3),
    "mi_model_gd": lambda v: info.mi_model_gd(v["x"], v["lab"], 3),
    "gcmi_model_cd": lambda v: info.gcmi_model_cd(v["x"], v["lab"], 3),
    "mi_mixture_gd": lambda v: info.mi_mixture_gd(v["x"], v["lab"], 3),
    "gcmi_mixture_cd": lambda v: info.gcmi_mixture_cd(v["x"], v["lab"], 3),
    "gcmi_sweep_cc": lambda v: info.gcmi_sweep_cc(v["x"], v["y"]),
    "gcmi_sweep_cd": lambda v: info.gcmi_sweep_cd(v["x"], v["labk"], 3),
    "mi_dd": lambda v: info.mi_dd(v["lab"], v["lab2"], 3, 2, biascorrect=True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize(("dtype", "tol"), [(F64, 1e-12), (torch.float32, 1e-6)])
def test_batched_call_equals_loop_of_single_calls(
    name: str, dtype: torch.dtype, tol: float
) -> None:
    batch = _inputs((2, 3), 60, dtype, seed=100)
    out = CALLS[name](batch)
    for i in range(2):
        for j in range(3):
            single = CALLS[name]({k: v[i, j] for k, v in batch.items()})
            # float64: rounding of batched vs single LAPACK calls; float32: results are
            # computed in float64 and rounded once, so they agree to float32 resolution.
            torch.testing.assert_close(out[i, j], single, rtol=0, atol=tol)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_dtype_and_device_follow_inputs_and_inputs_are_untouched(name: str) -> None:
    v = _inputs((), 80, torch.float32, seed=110)
    before = {k: t.clone() for k, t in v.items()}
    out = CALLS[name](v)
    if name == "mi_dd":  # discrete inputs carry no float dtype; the result dtype is chosen
        assert out.dtype == F64
    else:
        assert out.dtype == torch.float32
    assert out.device == v["x"].device
    for k, t in v.items():
        assert torch.equal(t, before[k]), f"{name} modified its input {k}"


def test_one_dimensional_tensors_are_univariate_samples() -> None:
    x, y = correlated_pair(0.5, 200, seed=120)
    assert info.copnorm(x[:, 0]).shape == (200,)
    assert torch.equal(info.gcmi_cc(x[:, 0], y[:, 0]), info.gcmi_cc(x, y))
    assert torch.equal(info.mi_gg(x[:, 0], y), info.mi_gg(x, y))


# ----------------------------------------------------------------------------------------------
# copula normalisation and ties (methods.md 2.1, 4.1)
# ----------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=2, max_size=40), st.integers(0, 2**31))
def test_copnorm_keeps_order_and_yields_normal_quantiles(values: list[int], seed: int) -> None:
    x = torch.tensor(values, dtype=F64)
    c = info.copnorm(x, seed=seed)
    n = len(values)
    grid = torch.from_numpy(ndtri(np.arange(1, n + 1) / (n + 1)))
    # Every rank is used once, ties included (torch vs scipy ndtri: 1 ulp).
    torch.testing.assert_close(c.sort().values, grid, rtol=0, atol=1e-15)
    strictly_less = x.unsqueeze(0) < x.unsqueeze(1)
    assert bool((c.unsqueeze(0) < c.unsqueeze(1))[strictly_less].all())


def test_copnorm_matches_frites_without_ties() -> None:
    from frites.core.copnorm import copnorm_nd

    x = randn(3, 200, 4, seed=130)
    ref = np.swapaxes(copnorm_nd(np.swapaxes(x.numpy(), -1, -2).copy(), axis=-1), -1, -2)
    # Same ranks, same ndtri: rounding only.
    np.testing.assert_allclose(info.copnorm(x).numpy(), ref, rtol=0, atol=1e-14)


def test_copnorm_breaks_ties_deterministically_and_per_column() -> None:
    x = randn(2, 300, 3, seed=131)
    x[..., 0], x[..., 2] = torch.relu(x[..., 0]), torch.relu(x[..., 2])  # half exact zeros
    first, second = info.copnorm(x), info.copnorm(x)
    assert torch.equal(first, second)
    # A column (tied or not) is normalised the same alone or inside a larger tensor.
    for b in range(2):
        for j in range(3):
            assert torch.equal(info.copnorm(x[b, :, j]), first[b, :, j])
    # The seed changes only the order among tied values.
    other = info.copnorm(x, seed=7)
    assert not torch.equal(other, first)
    nonzero = x != 0
    assert torch.equal(other[nonzero], first[nonzero])
    assert torch.equal(other[..., 1], first[..., 1])
    frac = info.tie_fraction(x)
    torch.testing.assert_close(frac, (x == 0).to(F64).mean(-2), rtol=0, atol=0)


def test_ties_in_data_sorted_by_condition_create_no_spurious_information() -> None:
    n = 2000
    cond = torch.arange(n) * 2 // n  # sorted: first half class 0, second half class 1
    x = torch.relu(randn(n, 1, seed=140) - 0.8)  # ~79% exact zeros, independent of cond
    # A stable argsort would rank the zeros by storage order, i.e. by condition:
    naive = torch.sort(torch.sort(x, dim=0, stable=True).indices, dim=0).indices.to(F64)
    naive_mi = info.mi_model_gd(torch.from_numpy(ndtri((naive.numpy() + 1) / (n + 1))), cond, 2)
    assert naive_mi.item() > 0.1  # the pitfall this test guards against
    # Ours: a 1-dof null, sd ~ sqrt(2) / (2 n ln2) = 5e-4 bits; 6 sd.
    assert abs(info.gcmi_model_cd(x, cond, 2).item()) < 6 * math.sqrt(2) / (2 * n * LN2)


def test_tied_independent_variables_do_not_share_tie_order() -> None:
    n = 4000
    # Two independent balanced factors coded as numbers (identical value multisets) and two
    # independent ReLU-like variables: if both variables of a pair broke ties with the same
    # keys, their tied blocks would be ranked alike and look dependent.
    f1 = (torch.arange(n) % 4).to(F64)
    f2 = f1[torch.randperm(n, generator=gen(141))]
    r1 = torch.relu(randn(n, seed=142) - 1.0)
    r2 = torch.relu(randn(n, seed=143) - 1.0)
    null_sd = math.sqrt(2) / (2 * n * LN2)  # 1-dof null, 2.6e-4 bits
    assert abs(info.gcmi_cc(f1, f2).item()) < 6 * null_sd
    assert abs(info.gcmi_cc(r1, r2).item()) < 6 * null_sd


def test_splitmix_hash_matches_integer_reference() -> None:
    # The tie keys rely on wrapping int64 arithmetic; compare with exact uint64 Python ints.
    def ref(z: int) -> int:
        m = (1 << 64) - 1
        z = (z + 0x9E3779B97F4A7C15) & m
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    inputs = [0, 1, 12345, -1, 2**62, -(2**63)]
    got = info._splitmix64(torch.tensor(inputs, dtype=torch.int64)).tolist()
    assert [g & ((1 << 64) - 1) for g in got] == [ref(z & ((1 << 64) - 1)) for z in inputs]


# ----------------------------------------------------------------------------------------------
# agreement with frites (independent implementation; trials on its last axis)
# ----------------------------------------------------------------------------------------------


def _np(t: torch.Tensor) -> np.ndarray:
    return np.swapaxes(t.numpy(), -1, -2).copy()  # frites: (..., mvaxis, trials)


def test_estimators_agree_with_frites() -> None:
    from frites.core import gcmi_nd as fr

    v = _inputs((3,), 400, F64, seed=150)
    x, y, z = v["x"], v["y"], v["z"]
    lab = v["lab"][0]  # frites takes one 1-D label vector for all batch entries
    kw = {"mvaxis": -2, "traxis": -1}
    pairs = [
        (info.ent_g(x), fr.ent_nd_g(_np(x), **kw)),
        (info.mi_gg(x, y), fr.mi_nd_gg(_np(x), _np(y), **kw)),
        (info.gcmi_cc(x, y), fr.gcmi_nd_cc(_np(x), _np(y), **kw)),
        (info.cmi_ggg(x, y, z), fr.cmi_nd_ggg(_np(x), _np(y), _np(z), **kw)),
        (info.gccmi_ccc(x, y, z), fr.gccmi_nd_ccc(_np(x), _np(y), _np(z), **kw)),
        (info.mi_model_gd(x, lab, 3), fr.mi_model_nd_gd(_np(x), lab.numpy(), **kw)),
        (info.gcmi_model_cd(x, lab, 3), fr.gcmi_model_nd_cd(_np(x), lab.numpy(), **kw)),
        (info.gccmi_ccd(x, y, lab, 3), fr.gccmi_nd_ccnd(_np(x), _np(y), lab.numpy(), **kw)),
    ]
    # Same formulas in float64 with different LAPACK call orders: far below 1e-6 bits.
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# discrete - discrete
# ----------------------------------------------------------------------------------------------


def test_mi_dd_matches_hand_computed_tables() -> None:
    copy = torch.tensor([0, 0, 1, 1])
    assert info.mi_dd(copy, copy, 2, 2).item() == pytest.approx(1.0, abs=1e-15)
    assert info.mi_dd(copy, torch.tensor([0, 1, 0, 1]), 2, 2).item() == pytest.approx(0, abs=1e-15)
    # Joint counts [[3, 1], [1, 3]] over N = 8: p = 3/8 on the diagonal, 1/8 off it,
    # marginals 1/2: I = 2 (3/8) log2(3/2) + 2 (1/8) log2(1/2) = 0.75 log2 3 - 1.
    x = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0])
    expected = 0.75 * math.log2(3) - 1
    assert info.mi_dd(x, y, 2, 2).item() == pytest.approx(expected, abs=1e-15)
    # First-order correction with R_x = R_y = 2 occupied values: (1)(1) / (2 * 8 * ln2).
    corrected = info.mi_dd(x, y, 2, 2, biascorrect=True).item()
    assert corrected == pytest.approx(expected - 1 / (16 * LN2), abs=1e-15)
    # Unused label values do not count as occupied.
    assert info.mi_dd(x, y, 5, 4, biascorrect=True).item() == pytest.approx(corrected, abs=1e-15)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=60),
)
def test_mi_dd_agrees_with_dit(pairs: list[tuple[int, int]]) -> None:
    import dit

    x = torch.tensor([p[0] for p in pairs])
    y = torch.tensor([p[1] for p in pairs])
    outcomes, counts = np.unique(np.array(pairs), axis=0, return_counts=True)
    dist = dit.Distribution([f"{a}{b}" for a, b in outcomes], counts / counts.sum())
    expected = dit.shannon.mutual_information(dist, [0], [1])
    # Both are exact plug-in sums in float64.
    assert info.mi_dd(x, y, 3, 4).item() == pytest.approx(expected, abs=1e-12)
    assert info.mi_dd(y, x, 4, 3).item() == pytest.approx(expected, abs=1e-12)  # symmetric


# ----------------------------------------------------------------------------------------------
# clear errors
# ----------------------------------------------------------------------------------------------


def test_too_few_samples_per_class_raise_clear_errors() -> None:
    x = randn(40, 3, seed=160)
    y = torch.zeros(40, dtype=torch.long)
    y[:3] = 1  # class 1 has N_y = 3 = d: its covariance is singular
    with pytest.raises(ValueError, match="more than 3"):
        info.mi_model_gd(x, y, 2)
    with pytest.raises(ValueError, match="more than 3"):
        info.gcmi_model_cd(x, y, 2)
    with pytest.raises(ValueError, match="more than 3"):
        info.gcmi_mixture_cd(x, y, 2)
    with pytest.raises(ValueError, match="more than 3"):
        info.gccmi_ccd(x[:, :2], x[:, 2:], y, 2)  # needs N_z > dx + dy = 3
    y1 = torch.zeros(40, 1, dtype=torch.long)
    y1[0] = 1
    with pytest.raises(ValueError, match="only 1 sample"):
        info.gcmi_sweep_cd(x, y1, 2)
    with pytest.raises(ValueError, match="only 1 sample"):
        info.mi_from_class_var(torch.ones(()), torch.ones(2), torch.tensor([1.0, 5.0]))


def test_degenerate_data_raise_clear_errors() -> None:
    x = randn(50, 2, seed=170)
    collinear = torch.cat([x, x[:, :1] * 2], dim=-1)
    with pytest.raises(ValueError, match="collinear"):
        info.mi_gg(collinear, randn(50, 1, seed=171))
    constant = torch.cat([x, torch.ones(50, 1, dtype=F64)], dim=-1)
    with pytest.raises(ValueError, match="constant"):
        info.ent_g(constant)
    with pytest.raises(ValueError, match="NaN"):
        info.copnorm(torch.tensor([0.0, float("nan"), 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        info.mi_model_gd(x, torch.tensor([0, 2] * 25), 2)
    with pytest.raises(ValueError, match="integer"):
        info.mi_model_gd(x, torch.zeros(50), 2)
    with pytest.raises(ValueError, match="samples"):
        info.mi_gg(x[:2], x[:2, :1])  # N = 2 <= dx + dy = 3


def test_mixture_form_handles_a_factor_tied_at_its_bound_in_most_of_a_class() -> None:
    # A factor clipped at 0 in 70% of every class has MAD 0 there; the estimator must fall
    # back to the class standard deviation and still give a finite, bounded value.
    g = torch.Generator().manual_seed(5)
    y = torch.arange(4).repeat(100)
    x = torch.randn(400, 2, generator=g, dtype=torch.float64) + y.unsqueeze(1)
    x[:, 1] = torch.where(torch.rand(400, generator=g) < 0.7, 0.0, x[:, 1].abs())
    mi = float(info.gcmi_mixture_cd(x, y, 4))
    assert math.isfinite(mi)
    assert 0.0 < mi <= 2.0 + 1e-9  # log2(4) bits at most


def test_class_mad_by_bisection_equals_the_sorted_reference() -> None:
    # _segment_kth_distance finds the k-th smallest |v - centre| of a sorted segment without
    # sorting the distances; numpy's median of |v - median| is the independent reference, on
    # segments of odd and even length, with ties at the median, and with an empty class.
    g = gen(91)
    for trial in range(40):
        counts = torch.randint(0, 9, (5,), generator=g)
        counts[trial % 5] = 0 if trial % 3 == 0 else counts[trial % 5]
        if int(counts.sum()) == 0:
            continue
        values = torch.randint(-3, 4, (int(counts.sum()),), generator=g).to(F64)
        values += 0.5 * torch.rand(values.shape, generator=g, dtype=F64) * (trial % 2)
        y = torch.repeat_interleave(torch.arange(5), counts)
        vs = torch.cat([values[y == k].sort().values for k in range(5)])
        starts = counts.cumsum(0) - counts
        med = torch.tensor(
            [float(np.median(vs[y == k].numpy())) if counts[k] else 0.0 for k in range(5)],
            dtype=F64,
        )
        half = 0.5 * (
            info._segment_kth_distance(vs, starts, counts, med, (counts - 1).clamp(min=0) // 2)
            + info._segment_kth_distance(vs, starts, counts, med, counts // 2)
        )
        for k in range(5):
            ref = float(np.median(np.abs(vs[y == k].numpy() - med[k].item()))) if counts[k] else 0
            assert half[k].item() == pytest.approx(ref, abs=1e-15), (trial, k)


def test_mixture_form_of_a_null_batch_is_the_same_in_chunks_as_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A permutation null is computed a few relabellings at a time to bound memory; the
    # chunking (here forced to 3 relabellings per step) must not change any value, ties
    # included (the second column takes 7 values only).
    g = gen(92)
    y = torch.randint(0, 3, (150,), generator=g)
    x = randn(150, 2, seed=93) + y.unsqueeze(1).to(F64)
    x[:, 1] = x[:, 1].round()
    labels = torch.stack([y[torch.randperm(150, generator=g)] for _ in range(10)])
    one_by_one = torch.stack([info.gcmi_mixture_cd(x, lab, 3) for lab in labels])
    monkeypatch.setattr(info, "_MIXTURE_CHUNK_ELEMENTS", 3 * 150 * 2 * 2)
    chunked = info.gcmi_mixture_cd(x, labels, 3)
    assert torch.allclose(chunked, one_by_one, rtol=0, atol=1e-13)


def test_mixture_form_of_subsamples_equals_each_subsample_estimated_on_its_own() -> None:
    # Without ties a subsample's order is unique, so filtering the full sample's order must
    # give exactly what estimating every subsample from scratch gives.
    g = gen(94)
    y = torch.randint(0, 3, (200,), generator=g)
    x = randn(200, 3, seed=95) + y.unsqueeze(1).to(F64)
    keep = torch.rand(12, 200, generator=g).argsort(dim=1) < 110
    own = torch.stack([info.gcmi_mixture_cd(x[k], y[k], 3) for k in keep])
    assert torch.allclose(info.gcmi_mixture_cd_subsamples(x, y, 3, keep), own, atol=1e-13)

    # With ties (a column on a grid of 0.5, no value in half of a class) the tied values keep
    # the full sample's tie order: the same as breaking them by a vanishing offset in that
    # order (under 1e-9 of a step, which moves medians and MADs by under 1e-9).
    x[:, 1] = (2 * x[:, 1]).round() / 2
    rank = torch.empty(200, 3, dtype=F64)
    order = info._rank_order(x.mT.contiguous(), None)
    rank.mT.scatter_(-1, order, torch.arange(200, dtype=F64).expand(3, 200))
    jitter = x + 1e-9 * rank / 200
    own = torch.stack([info.gcmi_mixture_cd(jitter[k], y[k], 3) for k in keep])
    ours = info.gcmi_mixture_cd_subsamples(x, y, 3, keep)
    assert torch.allclose(ours, own, atol=1e-6)

    # A class whose values are mostly one number has MAD 0 and falls back to its standard
    # deviation; alone in x, the order of its ties cannot matter, so the match is exact again.
    z = x[:, :1].clone()
    z[y == 0, 0] = torch.where(torch.rand(int((y == 0).sum()), generator=g) < 0.7, 0.0, 1.0).to(F64)
    own = torch.stack([info.gcmi_mixture_cd(z[k], y[k], 3) for k in keep])
    assert torch.allclose(info.gcmi_mixture_cd_subsamples(z, y, 3, keep), own, atol=1e-13)
    with pytest.raises(ValueError, match="same number"):
        info.gcmi_mixture_cd_subsamples(x, y, 3, keep & (torch.arange(200) > 5))


def test_tie_broken_ranks_carry_copnorms_tie_order_into_every_subset() -> None:
    # Ranks have no ties, so copnorm of them is copnorm of the values; a subset of the ranks
    # normalises that subset of the values with the full sample's tie order, which differs
    # from ranking the subset afresh (its own tie keys) when ties exist.
    x = (2 * randn(300, 2, seed=96)).round()  # about 13 values per column: many ties
    ranks = info.tie_broken_ranks(x, seed=3)
    assert torch.equal(ranks.sort(dim=0).values[:, 0], torch.arange(300, dtype=F64))
    assert torch.equal(info.copnorm(ranks), info.copnorm(x, seed=3))
    sub = torch.arange(0, 300, 2)
    inherited = info.copnorm(ranks[sub])
    assert torch.equal(inherited.argsort(0), ranks[sub].argsort(0))
    assert not torch.equal(inherited, info.copnorm(x[sub], seed=3))


def test_the_masked_model_form_equals_mi_model_gd_and_masks_only_the_entries_at_fault() -> None:
    g = torch.Generator().manual_seed(5)
    x = info.copnorm(torch.randn(3, 80, 2, generator=g, dtype=torch.float64))
    y = torch.randint(0, 3, (3, 80), generator=g)
    y[1, :2] = 3  # entry 1: a fourth class of two trials (N_y <= d)
    x[2, :, 1] = x[2, :, 0]  # entry 2: collinear columns
    bits, ok = info.mi_model_gd_masked(x, y, 4)
    assert ok.tolist() == [True, False, False]
    assert float(bits[0]) == pytest.approx(
        float(info.mi_model_gd(x[0], y[0], 4, demeaned=True)), abs=1e-12
    )
    for bad in (1, 2):  # the unmasked estimator refuses each entry on its own
        with pytest.raises(DataError):
            info.mi_model_gd(x[bad], y[bad], 4, demeaned=True)
