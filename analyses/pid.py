"""Partial information decomposition (PID) of two sources about one target, in bits.

Two sources A1, A2 and a target S. For any redundancy function R the decomposition is fixed by
(methods.md 2.10)::

    I(S; A1, A2) = R + U1 + U2 + Syn,   I(S; A1) = R + U1,   I(S; A2) = R + U2

Redundancy measures offered here:

- ``"mmi"``: minimum mutual information, R = min(I(S;A1), I(S;A2)). For jointly Gaussian
  variables with a univariate target it is the value of every PID whose unique information
  depends only on the source-target marginals (Barrett 2015, Phys Rev E 91:052802).
- ``"imin"``: specific-information minimum of Williams & Beer (2010, arXiv:1004.2515).
  Discrete only. Scores two independent bits copied into the target as 1 bit redundant.
- ``"ccs"``: pointwise common change in surprisal of Ince (2017, Entropy 19:318): the local
  co-information, kept only where its sign agrees with the three local source-target
  informations, averaged under the maximum-entropy distribution with the observed pairwise
  marginals. Can be negative (shared misinformation); never clipped here.

Co-information ``coI = I(S;A1) + I(S;A2) - I(S;A1,A2) = R - Syn`` is reported with the sign
convention **positive = net redundancy, negative = net synergy** everywhere in this module
(McGill's interaction information has the opposite sign).

Conventions: continuous samples are ``[..., n, d]`` (samples on dim -2, leading dims batched; a
1-D tensor is ``n`` samples of one variable); discrete joint distributions are
``[..., |A1|, |A2|, |S|]``. Internal arithmetic is float64 (methods.md 4.6); results come back on
the input's device with the input's floating dtype.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "PIDResult",
    "ccs_category_target",
    "ccs_discrete_counts",
    "ccs_two_decisions",
    "ccs_with_decision",
    "independent_copies",
    "coinformation",
    "coinformation_discrete",
    "gcmi_pid",
    "pid_discrete",
    "pid_discrete_from_samples",
    "pid_gaussian",
    "red_ccs_gaussian",
    "redundancy_mmi",
]

_LN2 = math.log(2.0)
DISCRETE_MEASURES = ("imin", "ccs", "mmi")
GAUSSIAN_MEASURES = ("mmi", "ccs")

# Tolerance on the total probability mass of a user-supplied joint distribution.
_P_SUM_ATOL = 1e-6
# IPF stops when every constrained pairwise marginal of q is within this (absolute
# probability) of the target marginal. At 1e-12 the induced error in a local log-ratio is
# about 1e-12 / q(cell) / ln 2, i.e. below 1e-8 bits for any cell with q >= 1e-4, and the
# error in R, sum_cells |dq| |c| + q |dc|, stays below 1e-9 bits on the tables tested.
_IPF_TOL = 1e-12
# IPF converges fast unless the maximum-entropy q has cells at or near zero; typical
# full-support tables need 10-30 sweeps, so a table still off after _IPF_FAST_ITER sweeps is
# re-solved by Newton's method on its exact support (see _maxent_pairwise).
_IPF_FAST_ITER = 300
_NEWTON_MAX_ITER = 200
# Local information values within this many bits of zero count as exactly zero for the sign
# filter of I_ccs: it absorbs float64 round-off in log-ratios of cells that are exactly
# uninformative (e.g. log2(1/9) - log2(1/3) - log2(1/3) is not 0.0 in floating point), which
# would otherwise flip signs at random and keep or drop whole cells; any local term this
# small contributes at most q * 1e-9 bits to R.
_SIGN_ZERO_TOL = 1e-9
# Elements per Monte Carlo chunk in red_ccs_gaussian (batch x draws x 3 local terms), which
# bounds memory at a few hundred MiB whatever the batch size.
_MC_CHUNK_ELEMENTS = 1 << 22


class PIDResult(NamedTuple):
    """Two-source PID atoms, each a tensor of the batch shape, in bits.

    Attributes
    ----------
    red : Tensor
        Redundant information R.
    unq1, unq2 : Tensor
        Unique information of source 1 and of source 2.
    syn : Tensor
        Synergistic information.
    """

    red: Tensor
    unq1: Tensor
    unq2: Tensor
    syn: Tensor

    @property
    def coinformation(self) -> Tensor:
        """Co-information R - Syn, bits; positive = net redundancy, negative = net synergy."""
        return self.red - self.syn

    @property
    def total(self) -> Tensor:
        """Joint mutual information I(S; A1, A2) = R + U1 + U2 + Syn, bits."""
        return self.red + self.unq1 + self.unq2 + self.syn

    @property
    def mmi(self) -> Tensor:
        """min(I(S; A1), I(S; A2)) of the same estimates, bits: the MMI upper bracket."""
        return self.red + torch.minimum(self.unq1, self.unq2)


def redundancy_mmi(i1: Tensor, i2: Tensor) -> Tensor:
    """Minimum-mutual-information redundancy, ``min(I(S; A1), I(S; A2))``, in bits.

    Barrett (2015). It bounds from above every redundancy that never exceeds either source's
    own information, and it cannot tell the same information about the target from
    different information about it (methods.md 2.12).

    Parameters
    ----------
    i1, i2 : Tensor, broadcastable shapes; the information each source carries, bits.

    Returns
    -------
    red : Tensor, the broadcast shape, bits.
    """
    return torch.minimum(i1, i2)


def _lattice(i1: Tensor, i2: Tensor, i12: Tensor, red: Tensor) -> PIDResult:
    """Atoms from the three mutual informations and a redundancy (methods.md 2.10)."""
    return PIDResult(red=red, unq1=i1 - red, unq2=i2 - red, syn=i12 - i1 - i2 + red)


def _cast(res: PIDResult, dtype: torch.dtype) -> PIDResult:
    return PIDResult(*(t.to(dtype) for t in res))


def _out_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.float64


# --------------------------------------------------------------------------------------------
# Discrete
# --------------------------------------------------------------------------------------------


def _pmi(p_as: Tensor, p_a: Tensor, p_s: Tensor) -> Tensor:
    """Local information log2[p(a,s) / (p(a) p(s))] in bits; 0 where p(a,s) = 0 (0 log 0 = 0).

    Shapes broadcast; ``p_a`` and ``p_s`` are positive wherever ``p_as`` is.
    """
    pos = p_as > 0
    one = torch.ones((), dtype=p_as.dtype, device=p_as.device)
    lr = (
        torch.log2(torch.where(pos, p_as, one))
        - torch.log2(torch.where(pos, p_a, one))
        - torch.log2(torch.where(pos, p_s, one))
    )
    return torch.where(pos, lr, torch.zeros_like(lr))


def _check_joint(p: Tensor) -> Tensor:
    """Validate a joint distribution ``[..., |A1|, |A2|, |S|]`` and return it in float64."""
    if not isinstance(p, Tensor):
        raise ValueError(f"p must be a torch.Tensor, got {type(p).__name__}")
    if p.dim() < 3:
        raise ValueError(f"p must have shape [..., |A1|, |A2|, |S|], got {tuple(p.shape)}")
    if p.numel() == 0:
        raise ValueError(f"p is empty, shape {tuple(p.shape)}")
    p64 = p.to(torch.float64)
    if not bool(torch.isfinite(p64).all()):
        raise ValueError("p contains NaN or infinite probabilities")
    if bool((p64 < 0).any()):
        raise ValueError(f"p contains negative probabilities (min {p64.min().item():.3g})")
    total = p64.sum(dim=(-3, -2, -1))
    worst = (total - 1).abs().max().item()
    if worst > _P_SUM_ATOL:
        raise ValueError(f"p must sum to 1 over its last three dims (off by up to {worst:.3g})")
    # Renormalise the accepted round-off so that every marginal is exactly consistent.
    return p64 / total[..., None, None, None]


class _Marginals(NamedTuple):
    p1s: Tensor  # [..., |A1|, |S|]
    p2s: Tensor  # [..., |A2|, |S|]
    p12: Tensor  # [..., |A1|, |A2|]
    p1: Tensor  # [..., |A1|]
    p2: Tensor  # [..., |A2|]
    ps: Tensor  # [..., |S|]


def _marginals(p: Tensor) -> _Marginals:
    p1s, p2s, p12 = p.sum(-2), p.sum(-3), p.sum(-1)
    return _Marginals(p1s, p2s, p12, p12.sum(-1), p12.sum(-2), p1s.sum(-2))


def _mis(p: Tensor, m: _Marginals) -> tuple[Tensor, Tensor, Tensor]:
    """I(S;A1), I(S;A2), I(S;A1,A2) of a joint ``p`` in bits, shapes = batch."""
    i1 = (m.p1s * _pmi(m.p1s, m.p1[..., :, None], m.ps[..., None, :])).sum((-2, -1))
    i2 = (m.p2s * _pmi(m.p2s, m.p2[..., :, None], m.ps[..., None, :])).sum((-2, -1))
    pmi12 = _pmi(p, m.p12[..., None], m.ps[..., None, None, :])
    return i1, i2, (p * pmi12).sum((-3, -2, -1))


def _red_imin(m: _Marginals) -> Tensor:
    """Williams & Beer I_min: sum_s p(s) min_i I_spec(S=s; A_i), in bits.

    ``p(s) I_spec(s; A) = sum_a p(a,s) log2[p(s|a)/p(s)]``, so the minimum is taken over
    these products (p(s) >= 0 factors out of the min), which avoids dividing by p(s) = 0.
    """
    spec1 = (m.p1s * _pmi(m.p1s, m.p1[..., :, None], m.ps[..., None, :])).sum(-2)
    spec2 = (m.p2s * _pmi(m.p2s, m.p2[..., :, None], m.ps[..., None, :])).sum(-2)
    return torch.minimum(spec1, spec2).sum(-1)


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den, with 0 where den = 0 (then num = 0 too for consistent marginals)."""
    pos = den > 0
    return torch.where(pos, num / torch.where(pos, den, torch.ones_like(den)), 0.0)


def _ipf(m: _Marginals, q: Tensor, max_iter: int) -> tuple[Tensor, Tensor]:
    """Iterative proportional fitting of ``q`` to the three pairwise marginals of ``m``.

    Returns the fitted q and, per batch element, the largest absolute error left in a
    pairwise marginal (the last step makes the (A2,S) marginal exact, so two are checked).
    """
    err = torch.full(q.shape[:-3], math.inf, dtype=q.dtype, device=q.device)
    for _ in range(max_iter):
        q = q * _safe_ratio(m.p12, q.sum(-1))[..., None]
        q = q * _safe_ratio(m.p1s, q.sum(-2))[..., :, None, :]
        q = q * _safe_ratio(m.p2s, q.sum(-3))[..., None, :, :]
        err = torch.maximum(
            (q.sum(-1) - m.p12).abs().amax((-2, -1)), (q.sum(-2) - m.p1s).abs().amax((-2, -1))
        )
        if err.max().item() <= _IPF_TOL:
            break
    return q, err


def _maximal_support(p: Tensor) -> Tensor:
    """Cells that are positive in at least one distribution with the pairwise marginals of p.

    Solved as one linear programme on the cone {x >= 0 : M x = tau * b, tau >= 0} (M maps a
    table to its three pairwise marginals, b = M p): maximise sum_c y_c with 0 <= y_c <= 1 and
    y_c <= x_c. The cone is closed under addition, so every cell that can be positive at all
    reaches y_c = 1 at the optimum, and all others have y_c = 0.

    Parameters
    ----------
    p : Tensor, shape (n_a1, n_a2, n_s), float64
    Returns
    -------
    Tensor, bool, same shape as p
    """
    import numpy as np
    from scipy.optimize import linprog

    n = p.numel()
    m_mat = _pairwise_design(p.shape, torch.device("cpu")).numpy()
    rows = m_mat.shape[0]
    b = m_mat @ p.detach().cpu().numpy().reshape(n)
    eye = np.eye(n)
    a_eq = np.hstack([m_mat, np.zeros((rows, n)), -b[:, None]])
    a_ub = np.hstack([-eye, eye, np.zeros((n, 1))])
    cost = np.concatenate([np.zeros(n), -np.ones(n), [0.0]])
    bounds = [(0, None)] * n + [(0, 1)] * n + [(0, None)]
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=np.zeros(n),
        A_eq=a_eq,
        b_eq=np.zeros(rows),
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:  # pragma: no cover - the LP is feasible (p itself) and bounded
        raise RuntimeError(f"I_ccs support programme failed: {res.message}")
    y = torch.as_tensor(res.x[n : 2 * n] > 0.5, device=p.device)
    return y.reshape(p.shape) | (p > 0)


def _pairwise_design(shape: torch.Size, device: torch.device) -> Tensor:
    """0/1 matrix ``[K, n_cells]`` mapping a flattened table to its three pairwise marginals."""
    k1, k2, ks = shape
    a1, a2, s = torch.meshgrid(
        torch.arange(k1, device=device),
        torch.arange(k2, device=device),
        torch.arange(ks, device=device),
        indexing="ij",
    )
    rows = torch.stack(
        [
            (a1 * k2 + a2).flatten(),
            (k1 * k2 + a1 * ks + s).flatten(),
            (k1 * k2 + k1 * ks + a2 * ks + s).flatten(),
        ]
    )  # [3, n_cells]: the marginal entry each cell adds to
    n_rows = k1 * k2 + k1 * ks + k2 * ks
    design = torch.zeros(n_rows, k1 * k2 * ks, dtype=torch.float64, device=device)
    cols = torch.arange(k1 * k2 * ks, device=device).expand(3, -1)
    design[rows.flatten(), cols.flatten()] = 1.0
    return design


def _newton_maxent(p: Tensor, support: Tensor) -> tuple[Tensor, Tensor]:
    """Maximum-entropy fit by damped Newton on the convex dual, for tables IPF is slow on.

    On the maximal support F the maximum-entropy q is log-linear, q = exp(M' theta), with M
    the pairwise-marginal design. theta minimises the convex f(theta) = sum_F exp(M' theta) -
    theta . b (b = M p), whose gradient M q - b vanishes exactly when q has the marginals.
    Newton with backtracking converges quadratically even when q has cells near zero, where
    IPF converges only linearly with a rate close to 1. The ridge 1e-12 * max diag(H) only
    touches the directions in which the design is redundant; the gradient has no component
    there (b and M q both lie in the range of M restricted to F).

    Parameters
    ----------
    p : Tensor, shape (B, n_a1, n_a2, n_s), float64
    support : Tensor, bool, same shape: the maximal support F of each table
    Returns
    -------
    q : Tensor, shape (B, n_a1, n_a2, n_s); err : Tensor, shape (B,), max |M q - b|
    """
    n_b = p.shape[0]
    design = _pairwise_design(p.shape[1:], p.device)  # [K, N]
    target = p.reshape(n_b, -1) @ design.T  # [B, K]
    off = ~support.reshape(n_b, -1)
    theta = torch.zeros_like(target)

    def cells(th: Tensor) -> Tensor:
        return torch.exp(th @ design).masked_fill(off, 0.0)  # [B, N]

    def objective(th: Tensor) -> Tensor:
        return cells(th).sum(-1) - (th * target).sum(-1)

    eye = torch.eye(design.shape[0], dtype=p.dtype, device=p.device)
    q = cells(theta)
    f = objective(theta)
    err = torch.full((n_b,), math.inf, dtype=p.dtype, device=p.device)
    for _ in range(_NEWTON_MAX_ITER):
        grad = q @ design.T - target
        err = grad.abs().amax(-1)
        if err.max().item() <= _IPF_TOL:
            break
        hess = (design * q[:, None, :]) @ design.T  # [B, K, K]
        ridge = 1e-12 * hess.diagonal(dim1=-2, dim2=-1).amax(-1)[:, None, None] + 1e-300
        step = -torch.linalg.solve(hess + ridge * eye, grad[..., None])[..., 0]
        slope = (grad * step).sum(-1)  # < 0: a descent direction
        t = torch.ones(n_b, dtype=p.dtype, device=p.device)
        for _ in range(60):  # backtracking (Armijo) per table
            f_new = objective(theta + t[:, None] * step)
            ok = f_new <= f + 1e-4 * t * slope
            if bool(ok.all()):
                break
            t = torch.where(ok, t, 0.5 * t)
        theta = theta + t[:, None] * step
        q, f = cells(theta), objective(theta)
    return q.reshape(p.shape), err


def _maxent_pairwise(p: Tensor, m: _Marginals) -> Tensor:
    """Maximum-entropy q(a1,a2,s) with the pairwise marginals of p (float64).

    Iterative proportional fitting from the uniform distribution converges to the
    I-projection of the uniform distribution on the set with those marginals, i.e. the
    maximum-entropy member (Csiszar 1975); it is fast when that member is well inside the
    simplex. It converges only linearly, slowly, when q has cells at or near zero: the
    marginals may force zeros no single pairwise marginal shows (e.g. AND: q(1,1,0) = 0 while
    every pairwise marginal there is positive), or leave cells of order 1e-8. Tables still off
    after ``_IPF_FAST_ITER`` sweeps get their maximal support (a cell is in it if any
    distribution with these marginals puts mass there) and are solved by Newton's method on
    that support. Converged means every pairwise marginal within ``_IPF_TOL`` of its target.
    """
    n_cells = p.shape[-3] * p.shape[-2] * p.shape[-1]
    q0 = torch.full(p.shape, 1.0 / n_cells, dtype=p.dtype, device=p.device)
    q, err = _ipf(m, q0, _IPF_FAST_ITER)
    stalled = torch.nonzero((err > _IPF_TOL).reshape(-1)).flatten()
    if stalled.numel() == 0:
        return q
    flat_p = p.reshape(-1, *p.shape[-3:])[stalled]
    # Cells with every pairwise marginal positive; the support is exactly these unless p has
    # zeros among them, in which case the linear programme decides which can be positive.
    fm = _marginals(flat_p)
    candidate = (fm.p12[..., None] > 0) & (fm.p1s[..., :, None, :] > 0)
    candidate = candidate & (fm.p2s[..., None, :, :] > 0)
    support = candidate.clone()
    for i in range(flat_p.shape[0]):
        if bool(((flat_p[i] > 0) != candidate[i]).any()):
            support[i] = _maximal_support(flat_p[i])
    q_fix, err_fix = _newton_maxent(flat_p, support)
    if err_fix.max().item() > _IPF_TOL:
        warnings.warn(
            f"I_ccs: maximum-entropy fit stopped with marginal error {err_fix.max().item():.2g}"
            f" > {_IPF_TOL:g}; R is approximate",
            RuntimeWarning,
            stacklevel=4,
        )
    q = q.reshape(-1, *p.shape[-3:]).clone()
    q[stalled] = q_fix
    return q.reshape(p.shape)


def _snap(x: Tensor) -> Tensor:
    return torch.where(x.abs() <= _SIGN_ZERO_TOL, torch.zeros_like(x), x)


def _red_ccs(p: Tensor, m: _Marginals, q: Tensor | None = None) -> Tensor:
    """Ince (2017) I_ccs for discrete variables, in bits (methods.md 2.10); `q` is the
    maximum-entropy fit when the caller has one."""
    q = _maxent_pairwise(p, m) if q is None else q
    # Single-source local terms are identical under q and p (q keeps those marginals), so they
    # come from p exactly; only the joint term needs q.
    i1 = _pmi(m.p1s, m.p1[..., :, None], m.ps[..., None, :])[..., :, None, :]
    i2 = _pmi(m.p2s, m.p2[..., :, None], m.ps[..., None, :])[..., None, :, :]
    i12 = _pmi(q, m.p12[..., None], m.ps[..., None, None, :])
    c = _snap(i1 + i2 - i12)
    sc = torch.sign(c)
    keep = (sc == torch.sign(_snap(i1))) & (sc == torch.sign(_snap(i2)))
    keep = keep & (sc == torch.sign(_snap(i12))) & (q > 0)
    return (q * torch.where(keep, c, torch.zeros_like(c))).sum((-3, -2, -1))


def ccs_discrete_counts(
    a: Tensor,
    b: Tensor,
    f: Tensor,
    n_a: int,
    n_b: int,
    n_f: int,
    *,
    sweeps: int = 50,
    dtype: torch.dtype = torch.float32,
) -> PIDResult:
    """Plug-in I_ccs of two discrete sources about a discrete target from samples, in bits,
    fast enough for a permutation null over sparse tables.

    As :func:`pid_discrete` with ``"ccs"``, except that the maximum-entropy q is a fixed number
    of iterative-proportional-fitting sweeps from the uniform table, with no exact fallback
    for tables whose q has zeros (those converge slowly; the exact fit took ~1.4 s per
    16 x 16 x 16 table of real decisions). On those tables 50 sweeps leave a pairwise-marginal
    error of ~4e-5 and move R by < 1e-4 bits; observed and permuted tables get the same
    treatment, so a permutation null stays valid. Biased upward when cells are sparse:
    compare with the null's mean.

    Parameters
    ----------
    a, b, f : Tensor (..., n); integer codes of the sources and the target.
    n_a, n_b, n_f : numbers of levels.
    sweeps : IPF sweeps.
    dtype : working dtype (float32: 3x faster; R differs from float64 by ~1e-7 bits).

    Returns
    -------
    PIDResult
        Atoms of shape (...), bits, in `dtype`.
    """
    p = _joint_counts(a, b, f, n_a, n_b, n_f).to(dtype)
    m = _marginals(p)
    i1, i2, i12 = _mis(p, m)
    q0 = torch.full(p.shape, 1.0 / (n_a * n_b * n_f), dtype=dtype, device=p.device)
    q, _ = _ipf(m, q0, sweeps)
    return _lattice(i1, i2, i12, _red_ccs(p, m, q))


def pid_discrete(p: Tensor, measure: str) -> PIDResult:
    """PID of a discrete joint distribution of two sources and a target, in bits.

    Parameters
    ----------
    p : Tensor, shape (..., n_a1, n_a2, n_s)
        Joint probabilities p(a1, a2, s); leading dims are a batch. Must be finite,
        non-negative and sum to 1 (within 1e-6) over the last three dims; the accepted
        round-off is renormalised away. Zero cells are allowed (0 log 0 = 0).
    measure : {"imin", "ccs", "mmi"}
        Redundancy function: Williams & Beer I_min, Ince I_ccs (maximum-entropy q by
        iterative proportional fitting to 1e-12 in every pairwise marginal, with the support
        of q found by a small scipy linear programme when the marginals force zeros; then
        the sign-filtered local co-information averaged under q), or minimum MI.

    Returns
    -------
    PIDResult
        ``red, unq1, unq2, syn``, each of shape ``p.shape[:-3]``, bits, on ``p``'s device and
        dtype. ``.coinformation`` = red - syn (positive = net redundancy).

    Raises
    ------
    ValueError
        If ``p`` is not a valid joint distribution or ``measure`` is unknown.
    """
    if measure not in DISCRETE_MEASURES:
        raise ValueError(f"measure must be one of {DISCRETE_MEASURES}, got {measure!r}")
    p64 = _check_joint(p)
    m = _marginals(p64)
    i1, i2, i12 = _mis(p64, m)
    if measure == "mmi":
        red = redundancy_mmi(i1, i2)
    elif measure == "imin":
        red = _red_imin(m)
    else:
        red = _red_ccs(p64, m)
    return _cast(_lattice(i1, i2, i12, red), _out_dtype(p))


def coinformation_discrete(p: Tensor) -> Tensor:
    """Co-information I(S;A1) + I(S;A2) - I(S;A1,A2) of a discrete joint, in bits.

    Parameters
    ----------
    p : Tensor, shape (..., n_a1, n_a2, n_s)
        Joint probabilities, validated as in :func:`pid_discrete`.

    Returns
    -------
    Tensor, shape ``p.shape[:-3]``
        Bits; positive = net redundancy, negative = net synergy.
    """
    p64 = _check_joint(p)
    i1, i2, i12 = _mis(p64, _marginals(p64))
    return (i1 + i2 - i12).to(_out_dtype(p))


def _joint_counts(x1: Tensor, x2: Tensor, y: Tensor, n1: int, n2: int, ny: int) -> Tensor:
    """Empirical joint ``[..., n1, n2, ny]`` (float64) of integer labels ``[..., n]``."""
    for name, lab, k in (("x1", x1, n1), ("x2", x2, n2), ("y", y, ny)):
        if lab.is_floating_point() or lab.is_complex() or lab.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer labels, got dtype {lab.dtype}")
        if k < 1:
            raise ValueError(f"the number of levels of {name} must be >= 1, got {k}")
        if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= k):
            lo, hi = int(lab.min()), int(lab.max())
            raise ValueError(f"{name} labels must lie in [0, {k - 1}], found [{lo}, {hi}]")
    x1, x2, y = torch.broadcast_tensors(x1, x2, y)
    if x1.dim() == 0 or x1.shape[-1] == 0:
        raise ValueError("need at least one sample along the last dim of x1, x2, y")
    idx = (x1.long() * n2 + x2.long()) * ny + y.long()
    counts = torch.zeros(
        (*idx.shape[:-1], n1 * n2 * ny), dtype=torch.float64, device=idx.device
    ).scatter_add_(-1, idx, torch.ones(idx.shape, dtype=torch.float64, device=idx.device))
    return (counts / idx.shape[-1]).reshape(*idx.shape[:-1], n1, n2, ny)


def pid_discrete_from_samples(
    x1: Tensor, x2: Tensor, y: Tensor, n1: int, n2: int, ny: int, measure: str
) -> PIDResult:
    """Plug-in PID of integer-labelled samples, in bits.

    The joint is estimated by counting (no bias correction: discrete PID is biased upward
    when joint cells are sparse, methods.md 4.2; compare against a permutation null).

    Parameters
    ----------
    x1, x2, y : Tensor, integer, shapes broadcastable to (..., n)
        Labels of source 1 in ``[0, n1)``, source 2 in ``[0, n2)`` and the target in
        ``[0, ny)``; samples on the last dim, leading dims a batch.
    n1, n2, ny : int
        Number of levels of each variable.
    measure : {"imin", "ccs", "mmi"}

    Returns
    -------
    PIDResult
        Atoms of shape (...), bits, float64, on the labels' device.
    """
    return pid_discrete(_joint_counts(x1, x2, y, n1, n2, ny), measure)


# --------------------------------------------------------------------------------------------
# Gaussian
# --------------------------------------------------------------------------------------------


def _check_cov(cov: Tensor, dims: tuple[int, int, int]) -> tuple[Tensor, tuple[int, int, int]]:
    if len(dims) != 3 or any(int(d) < 1 for d in dims):
        raise ValueError(f"dims must be three positive block sizes (d1, d2, ds), got {dims}")
    d1, d2, ds = (int(d) for d in dims)
    if cov.dim() < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"cov must have shape [..., D, D], got {tuple(cov.shape)}")
    if cov.shape[-1] != d1 + d2 + ds:
        raise ValueError(f"dims {dims} sum to {d1 + d2 + ds} but cov is {cov.shape[-1]} wide")
    c64 = cov.to(torch.float64)
    if not bool(torch.isfinite(c64).all()):
        raise ValueError("cov contains NaN or infinite entries")
    asym = (c64 - c64.transpose(-1, -2)).abs().amax().item()
    scale = c64.diagonal(dim1=-2, dim2=-1).abs().amax().item()
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"cov is not symmetric (max asymmetry {asym:.3g})")
    return 0.5 * (c64 + c64.transpose(-1, -2)), (d1, d2, ds)


def _blocks(dims: tuple[int, int, int]) -> dict[str, list[int]]:
    d1, d2, ds = dims
    a1 = list(range(d1))
    a2 = list(range(d1, d1 + d2))
    s = list(range(d1 + d2, d1 + d2 + ds))
    return {"a1": a1, "a2": a2, "s": s, "a12": a1 + a2, "a1s": a1 + s, "a2s": a2 + s}


def _sub(cov: Tensor, idx: list[int]) -> Tensor:
    i = torch.tensor(idx, device=cov.device)
    return cov.index_select(-2, i).index_select(-1, i)


def _chol(cov: Tensor, what: str) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info > 0).any()):
        raise ValueError(f"the covariance of {what} is not positive definite")
    return chol


def _logdet(chol: Tensor) -> Tensor:
    """ln det from a Cholesky factor (never det itself: methods.md 2.2)."""
    return 2.0 * torch.log(chol.diagonal(dim1=-2, dim2=-1)).sum(-1)


def _gauss_mis(cov: Tensor, dims: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """I(S;A1), I(S;A2), I(S;A1,A2) of a Gaussian covariance (float64), bits."""
    b = _blocks(dims)
    ld = {k: _logdet(_chol(_sub(cov, v), k)) for k, v in b.items()}
    ld["all"] = _logdet(_chol(cov, "all variables"))

    def mi(a: str, a_s: str) -> Tensor:
        return 0.5 * (ld[a] + ld["s"] - ld[a_s]) / _LN2

    return mi("a1", "a1s"), mi("a2", "a2s"), mi("a12", "all")


def red_ccs_gaussian(
    cov: Tensor,
    dims: tuple[int, int, int],
    n_samples: int = 100_000,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Gaussian I_ccs redundancy by Monte Carlo, with its Monte Carlo standard error, in bits.

    For a Gaussian the maximum-entropy distribution with the pairwise marginals is the
    Gaussian itself (methods.md 2.10), so the local terms
    ``i(a;s) = [ln p(a,s) - ln p(a) - ln p(s)] / ln 2`` come from Gaussian log densities of the
    fitted covariance, and ``R = E[c * 1{sign c = sign i(a1;s) = sign i(a2;s) = sign i(a1a2;s)}]``
    with ``c = i(a1;s) + i(a2;s) - i(a1a2;s)`` (Ince 2017) is averaged over ``n_samples`` draws.

    The same standard-normal draws (one seeded ``torch.Generator`` on ``cov``'s device) are
    used for every batch element, so a batched call equals a loop of single calls and results
    are reproducible for a given seed and device. The Monte Carlo error is returned rather
    than assumed: it is ``std(c_kept) / sqrt(n_samples)``. At the default 1e5 draws it was
    6e-4 bits for methods.md case 14 (R = 0.042) and 3e-3 bits for two near-identical sources
    (R = 0.5); it grows with the spread of the kept local terms, i.e. with the information.

    Parameters
    ----------
    cov : Tensor, shape (..., D, D)
        Covariance of (A1, A2, S) in that block order; leading dims are a batch.
    dims : tuple (d1, d2, ds)
        Block sizes; d1 + d2 + ds = D.
    n_samples : int
        Monte Carlo draws.
    seed : int
        Seed of the generator.

    Returns
    -------
    red, se : Tensor, shape (...)
        Redundancy and its Monte Carlo standard error, bits, float64 on ``cov``'s device.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    c64, dims = _check_cov(cov, dims)
    b = _blocks(dims)
    d_all = c64.shape[-1]
    batch = c64.shape[:-2]
    dev = c64.device
    chol_all = _chol(c64, "all variables")

    # Draws x = L z with z standard normal. For a block X, x_X = L[X, :] z, so its Mahalanobis
    # term is |W_X z|^2 with W_X = chol(Sigma_X)^{-1} L[X, :]. Each local information is then
    # a quadratic form in z plus a constant:
    #   i(a;s) = [z' (G_a + G_s - G_as) z + ln|S_a| + ln|S_s| - ln|S_as|] / (2 ln 2),
    # G_X = W_X' W_X (the 2*pi terms cancel since d_a + d_s = d_as). Evaluating it as the
    # products z_i z_j (shared by the whole batch) times per-element coefficients makes the
    # Monte Carlo one small matmul per chunk.
    gram: dict[str, Tensor] = {}
    logdet: dict[str, Tensor] = {}
    for key, idx in b.items():
        chol = _chol(_sub(c64, idx), key)
        rows = chol_all.index_select(-2, torch.tensor(idx, device=dev))
        w = torch.linalg.solve_triangular(chol, rows, upper=False)  # [..., k, D]
        gram[key], logdet[key] = w.transpose(-1, -2) @ w, _logdet(chol)
    gram["all"] = torch.eye(d_all, dtype=torch.float64, device=dev).expand_as(c64)
    logdet["all"] = _logdet(chol_all)
    terms = (("a1", "a1s"), ("a2", "a2s"), ("a12", "all"))
    quad = torch.stack([gram[a] + gram["s"] - gram[a_s] for a, a_s in terms], dim=-1)
    const = torch.stack([logdet[a] + logdet["s"] - logdet[a_s] for a, a_s in terms], dim=-1)
    iu, ju = torch.triu_indices(d_all, d_all, device=dev)
    # Off-diagonal products appear twice in z' M z.
    weight = torch.where(iu == ju, 1.0, 2.0).to(torch.float64)[:, None]
    coef = quad[..., iu, ju, :] * weight / (2 * _LN2)  # [..., F, 3]
    const = const[..., None, :] / (2 * _LN2)  # [..., 1, 3]

    gen = torch.Generator(device=dev).manual_seed(int(seed))
    z = torch.randn(n_samples, d_all, generator=gen, dtype=torch.float64, device=dev)
    batch_numel = math.prod(batch) if batch else 1
    chunk = max(1, _MC_CHUNK_ELEMENTS // (batch_numel * 3))
    total = torch.zeros(batch, dtype=torch.float64, device=dev)
    total_sq = torch.zeros_like(total)
    for start in range(0, n_samples, chunk):
        zc = z[start : start + chunk]
        local = (zc[:, iu] * zc[:, ju]) @ coef + const  # [..., m, 3]: i(a1;s), i(a2;s), i(a12;s)
        i1, i2, i12 = local.unbind(-1)
        c = i1 + i2 - i12
        sc = torch.sign(c)
        keep = (sc == torch.sign(i1)) & (sc == torch.sign(i2)) & (sc == torch.sign(i12))
        ck = torch.where(keep, c, torch.zeros_like(c))
        total = total + ck.sum(-1)
        total_sq = total_sq + ck.square().sum(-1)
    mean = total / n_samples
    var = (total_sq / n_samples - mean.square()).clamp_min(0) * n_samples / (n_samples - 1)
    return mean, (var / n_samples).sqrt()


def pid_gaussian(
    cov: Tensor,
    dims: tuple[int, int, int],
    measure: str = "mmi",
    *,
    n_samples: int = 100_000,
    seed: int = 0,
) -> PIDResult:
    """PID of jointly Gaussian sources A1, A2 and target S from their covariance, in bits.

    Parameters
    ----------
    cov : Tensor, shape (..., D, D)
        Covariance of (A1, A2, S) in that block order, positive definite; leading dims are a
        batch (e.g. many unit-decision pairs).
    dims : tuple (d1, d2, ds)
        Block sizes of A1, A2 and S; d1 + d2 + ds = D.
    measure : {"mmi", "ccs"}
        ``"mmi"``: closed form from log-determinants (Barrett 2015; exact for a univariate
        target). ``"ccs"``: Gaussian I_ccs by Monte Carlo, see :func:`red_ccs_gaussian` for
        the error (up to about 3e-3 bits at the default ``n_samples``, returned there).
    n_samples, seed : int
        Monte Carlo draws and generator seed (``"ccs"`` only).

    Returns
    -------
    PIDResult
        Atoms of shape ``cov.shape[:-2]``, bits, on ``cov``'s device and dtype.
    """
    if measure not in GAUSSIAN_MEASURES:
        raise ValueError(f"measure must be one of {GAUSSIAN_MEASURES}, got {measure!r}")
    c64, dims = _check_cov(cov, dims)
    i1, i2, i12 = _gauss_mis(c64, dims)
    if measure == "mmi":
        red = redundancy_mmi(i1, i2)
    else:
        red, _ = red_ccs_gaussian(c64, dims, n_samples=n_samples, seed=seed)
    return _cast(_lattice(i1, i2, i12, red), _out_dtype(cov))


# --------------------------------------------------------------------------------------------
# From continuous samples (Gaussian copula)
# --------------------------------------------------------------------------------------------


def _prepare_samples(a1: Tensor, a2: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Make each input ``[..., n, d]`` and broadcast their leading (batch) dims."""
    xs = [x[:, None] if x.dim() == 1 else x for x in (a1, a2, s)]
    for name, x in zip(("a1", "a2", "s"), xs, strict=True):
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape [..., n, d] or [n], got {tuple(x.shape)}")
    n = {x.shape[-2] for x in xs}
    if len(n) != 1:
        raise ValueError(f"a1, a2 and s must have the same number of samples, got {sorted(n)}")
    batch = torch.broadcast_shapes(*(x.shape[:-2] for x in xs))
    a1e, a2e, se = (x.expand(*batch, *x.shape[-2:]) for x in xs)
    return a1e, a2e, se


def _gcmi_terms(
    a1: Tensor, a2: Tensor, s: Tensor, biascorrect: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    # Imported here so that the discrete and covariance-based PID stay usable on their own.
    from analyses.info import copnorm, mi_gg

    a1, a2, s = _prepare_samples(a1, a2, s)
    c1, c2, cs = copnorm(a1), copnorm(a2), copnorm(s)
    c12 = torch.cat((c1, c2), dim=-1)
    i1 = mi_gg(c1, cs, biascorrect=biascorrect)
    i2 = mi_gg(c2, cs, biascorrect=biascorrect)
    i12 = mi_gg(c12, cs, biascorrect=biascorrect)
    return i1, i2, i12, c1, c2, cs


def gcmi_pid(
    a1: Tensor,
    a2: Tensor,
    s: Tensor,
    measure: str = "mmi",
    biascorrect: bool = True,
    *,
    n_samples: int = 100_000,
    seed: int = 0,
) -> PIDResult:
    """Gaussian-copula PID of continuous samples, in bits (methods.md 2.10, 2.12).

    Each variable is copula-normalised along the samples axis. The mutual informations
    I(S;A1), I(S;A2), I(S;A1,A2) are GCMI estimates (analytic bias correction when
    ``biascorrect``, methods.md 2.3). ``"mmi"``: R = min of the first two. ``"ccs"``: R is the
    Gaussian I_ccs (Monte Carlo, :func:`red_ccs_gaussian`) of the sample covariance of the
    copula-normalised data; the atoms then follow from the lattice with the GCMI terms above.

    Parameters
    ----------
    a1, a2, s : Tensor, shapes (..., n, d1), (..., n, d2), (..., n, ds) or (n,)
        Samples of the two sources and the target; samples on dim -2; leading dims broadcast
        and are a batch.
    measure : {"mmi", "ccs"}
    biascorrect : bool
        Apply the analytic bias correction to the mutual informations.
    n_samples, seed : int
        Monte Carlo draws and seed (``"ccs"`` only).

    Returns
    -------
    PIDResult
        Atoms of the broadcast batch shape, bits.
    """
    if measure not in GAUSSIAN_MEASURES:
        raise ValueError(f"measure must be one of {GAUSSIAN_MEASURES}, got {measure!r}")
    i1, i2, i12, c1, c2, cs = _gcmi_terms(a1, a2, s, biascorrect)
    if measure == "mmi":
        red = redundancy_mmi(i1, i2)
    else:
        x = torch.cat((c1, c2, cs), dim=-1).to(torch.float64)
        x = x - x.mean(-2, keepdim=True)
        cov = x.transpose(-1, -2) @ x / (x.shape[-2] - 1)
        dims = (c1.shape[-1], c2.shape[-1], cs.shape[-1])
        red, _ = red_ccs_gaussian(cov, dims, n_samples=n_samples, seed=seed)
        red = red.to(i1.dtype)
    return _lattice(i1, i2, i12, red)


def coinformation(a1: Tensor, a2: Tensor, s: Tensor, biascorrect: bool = True) -> Tensor:
    """Gaussian-copula co-information I(S;A1) + I(S;A2) - I(S;A1,A2), in bits.

    Sign convention: positive = net redundancy, negative = net synergy (the opposite of
    McGill's interaction information). Equal to R - Syn for any two-source PID.

    Parameters
    ----------
    a1, a2, s : Tensor, shapes (..., n, d1), (..., n, d2), (..., n, ds) or (n,)
        Samples on dim -2; leading dims broadcast and are a batch.
    biascorrect : bool
        Apply the analytic bias correction to each GCMI term.

    Returns
    -------
    Tensor, shape (...)
        Bits.
    """
    i1, i2, i12, *_ = _gcmi_terms(a1, a2, s, biascorrect)
    return i1 + i2 - i12


# --------------------------------------------------------------------------------------------
# Mixed continuous / discrete (linear-Gaussian maximum-entropy model)
# --------------------------------------------------------------------------------------------
#
# I_ccs needs local informations i(a; s) = log q(a, s) / (q(a) q(s)) under the
# maximum-entropy distribution q that keeps the pairwise marginals (Ince 2017). With
# continuous variables constrained to first and second moments and discrete ones to their
# frequencies, q is Gaussian in the continuous block, with a covariance shared by all discrete
# cells and a mean that is *additive* in the discrete variables (the sufficient statistics
# 1{a} y, y y' and 1{a, b} contain no triple term). Without discrete sources q is the fitted
# Gaussian itself (gcmi_pid with "ccs"); with them its continuous marginals are class
# mixtures, so a discrete source's local information is bounded by its surprisal
# (ccs_with_decision, ccs_two_decisions, ccs_category_target). The sign-filtered local
# co-information is averaged over the observed trials (methods.md 2.10, "or over the
# copula-normalised observed trials").


def _ccs_from_local(i1: Tensor, i2: Tensor, i12: Tensor) -> PIDResult:
    """PID with I_ccs from per-trial local informations ``[..., n]`` in nats (means over n)."""
    c = i1 + i2 - i12
    sc = torch.sign(c)
    keep = (sc == torch.sign(i1)) & (sc == torch.sign(i2)) & (sc == torch.sign(i12))
    red = torch.where(keep, c, torch.zeros_like(c)).mean(-1) / _LN2
    return _lattice(i1.mean(-1) / _LN2, i2.mean(-1) / _LN2, i12.mean(-1) / _LN2, red)


def _check_design(name: str, x: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    if x.dim() < 2 or x.shape[-2] != n:
        raise ValueError(f"{name} must be [..., n={n}, p], got {tuple(x.shape)}")
    x = x.to(dtype)
    # A finite sum means every value is finite (a NaN or an infinity makes the sum one), and
    # costs no mask the size of x; only a sum that overflowed needs the value-by-value check.
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _work_dtype(*xs: Tensor) -> torch.dtype:
    # float32 only when every input is float32: the permutation sweeps ask for it (5x faster
    # than float64 at n = 960; the redundancies differ by < 1e-6 bits, against a null spread
    # of ~1e-2 bits), everything else gets float64.
    return torch.float32 if all(x.dtype == torch.float32 for x in xs) else torch.float64


def independent_copies(s: Tensor, moved: Tensor, partner: Tensor) -> tuple[Tensor, Tensor]:
    """Surrogates in which two sources inform about independent copies of the target.

    For each row of ``partner`` (trial t is paired with trial ``partner[k, t]``, e.g. a
    permutation), the surrogate target is ``[s_t, s_partner(t)]`` and the moved source is
    ``moved_partner(t)``; the other source stays with trial t. Each source keeps exactly the
    information it has about the target, but about its own copy, so the true redundancy is
    zero (the "two-bit copy" construction of Ince 2017 applied to the data) while an
    estimator still sees informative sources on both sides. This calibrates what a plain
    shuffle of one source cannot: the sign filter of I_ccs turns estimation noise in the local
    co-information into a small positive offset that grows with the sources' information
    (measured: 0.04 bits with I(F; D) = 1.1 bits at n = 960, 0.02 bits under a shuffle of D).

    Parameters
    ----------
    s : Tensor (n, ds); target samples.
    moved : Tensor (n, ...) ; the source that moves with the copy (values or integer codes).
    partner : Tensor (K, n), int64; partner trial of every trial, per surrogate.

    Returns
    -------
    target : Tensor (K, n, 2 ds); moved : Tensor (K, n, ...).
    """
    if s.dim() != 2 or moved.shape[0] != s.shape[0]:
        raise ValueError("s must be [n, ds] and moved [n, ...] over the same n trials")
    if partner.dim() != 2 or partner.shape[1] != s.shape[0]:
        raise ValueError(f"partner must be [K, n={s.shape[0]}], got {tuple(partner.shape)}")
    k = partner.shape[0]
    return torch.cat([s.expand(k, *s.shape), s[partner]], -1), moved[partner]


def _cells_logpdf(y: Tensor, mu: Tensor, cov: Tensor) -> tuple[Tensor, Tensor]:
    """``ln N(y_t; mu_c, cov)`` for every trial and cell, ``[..., n, C]`` nats, from
    ``y [..., n, d]``, ``mu [..., C, d]``, ``cov [..., d, d]``; and a success mask ``[...]``."""
    chol, info_ = torch.linalg.cholesky_ex(cov)
    white = _whitener(chol)
    z, m = y @ white, mu @ white
    maha = z.square().sum(-1)[..., :, None] - 2 * z @ m.mT + m.square().sum(-1)[..., None, :]
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    const = (logdet + y.shape[-1] * math.log(2 * math.pi))[..., None, None]
    return -0.5 * (maha.clamp_min(0) + const), info_ == 0


def ccs_with_decision(s: Tensor, h: Tensor, d: Tensor, n_d: int) -> PIDResult:
    """I_ccs redundancy of a continuous source H and a decision D about a continuous target S,
    in bits (source 1 = H, source 2 = D).

    The local informations are those of the maximum-entropy model of the first- and
    second-order pairwise marginals, ``q(s, h, d) = p(d) N([s, h]; mu_d, Sigma)`` with class
    means and one pooled covariance, evaluated at each trial: ``i(d; s) = ln q(s | d) -
    ln q(s)``, ``i(h; s) = ln q(s | h) - ln q(s)``, ``i(h, d; s) = ln q(s | h, d) - ln q(s)``,
    where ``q(s)`` and ``q(s | h)`` are the model's class mixtures. So ``i(d; s) <= -ln p(d)``:
    the decision's information never exceeds its entropy, as a single Gaussian for ``q(s)``
    would let it for clustered factors. ``R = mean_t c_t 1{sign c_t = sign i(h;s_t) = sign
    i(d;s_t) = sign i(h,d;s_t)}`` with ``c_t = i(h;s_t) + i(d;s_t) - i(h,d;s_t)`` (Ince 2017);
    zero in expectation when H and D inform about independent parts of S, which MMI is not.
    Plug-in estimates: compare with :func:`independent_copies` surrogates.

    Parameters
    ----------
    s : Tensor (..., n, ds); target samples (copula-normalised factors).
    h : Tensor (..., n, dh); continuous source (copula-normalised components).
    d : Tensor (..., n); integer decisions in ``[0, n_d)``.
    n_d : number of decision classes.

    Returns
    -------
    PIDResult
        Atoms of the broadcast batch shape, bits, in float32 when ``s`` and ``h`` are float32,
        else float64; ``.mmi`` and ``.coinformation`` give the bracket of the same model. NaN
        where a covariance is singular.
    """
    dtype = _work_dtype(s, h)
    n = s.shape[-2]
    s, h = _check_design("s", s, n, dtype), _check_design("h", h, n, dtype)
    d = _check_codes("d", d, n, n_d)
    batch = torch.broadcast_shapes(s.shape[:-2], h.shape[:-2], d.shape[:-1])
    # S's part depends on S and D only: with H batched (several layers at once) it is
    # computed once for all of them.
    onehot = torch.nn.functional.one_hot(d, n_d).to(dtype)  # [..., n, C]
    counts = onehot.sum(-2)
    mu_s = onehot.mT @ s / counts.clamp_min(1)[..., None]
    resid_s = s - onehot @ mu_s
    cov_ss = resid_s.mT @ resid_s / n
    ll_s, ok_s = _cells_logpdf(s, mu_s, cov_ss)
    mu_h = onehot.mT @ h / counts.clamp_min(1)[..., None]
    resid_h = h - onehot @ mu_h
    cov_hh = resid_h.mT @ resid_h / n
    ll_h, ok_h = _cells_logpdf(h, mu_h, cov_hh)
    # ln N([h, s]) = ln N(s) + ln N(h | s): H given S is Gaussian with means
    # mu_h + B (s - mu_s), B = cov_hs cov_ss^-1, and covariance cov_hh - B cov_sh, so the joint
    # density needs no whitening of the (dh + ds)-wide pairs.
    cov_hs = resid_h.mT @ resid_s / n
    chol_ss, _ = torch.linalg.cholesky_ex(cov_ss)
    b = torch.cholesky_solve(cov_hs.mT, chol_ss).mT  # [..., dh, ds]
    ll_h_s, ok_h_s = _cells_logpdf(h - s @ b.mT, mu_h - mu_s @ b.mT, cov_hh - b @ cov_hs.mT)
    ok = (ok_s & ok_h & ok_h_s).expand(batch)
    log_p = torch.log(counts / n)[..., None, :]  # [..., 1, C]

    def at_d(ll: Tensor) -> Tensor:
        return ll.gather(-1, d.expand(*ll.shape[:-1])[..., None])[..., 0]

    lq_s = torch.logsumexp(log_p + ll_s, -1)  # S's batch only
    # ln q(s | h) = ln sum_d p(d) N(h, s | d) - ln sum_d p(d) N(h | d)
    lq_s_h = torch.logsumexp(log_p + ll_s + ll_h_s, -1) - torch.logsumexp(log_p + ll_h, -1)
    i_h = lq_s_h - lq_s
    i_d = (at_d(ll_s) - lq_s).expand(*batch, n)
    i_hd = at_d(ll_s) + at_d(ll_h_s) - at_d(ll_h) - lq_s  # ln q(s | h, d) - ln q(s)
    res = _ccs_from_local(i_h.expand(*batch, n), i_d, i_hd.expand(*batch, n))
    return PIDResult(*(torch.where(ok, t, torch.nan) for t in res))


def ccs_two_decisions(
    s: Tensor, a: Tensor, b: Tensor, n_a: int, n_b: int, *, row_of: Tensor | None = None
) -> PIDResult:
    """I_ccs redundancy of two discrete sources A, B (e.g. a person's and a model's decisions)
    about a continuous target S, in bits (source 1 = A, source 2 = B).

    Maximum-entropy model of the pairwise marginals: ``q(s, a, b) = p(a, b) N(s; mu_ab,
    Sigma)`` with means *additive* in A and B (least squares on both indicator codes, no
    interaction: the model of ``P(s, a)``, ``P(s, b)``, ``P(a, b)`` alone) and one pooled
    covariance. Local informations ``i(a; s) = ln q(s | a) - ln q(s)`` (``q(s | a)`` a mixture
    over b given a), ``i(b; s)`` likewise, ``i(a, b; s) = ln q(s | a, b) - ln q(s)``; R as in
    :func:`ccs_with_decision`. Plug-in: compare with :func:`independent_copies` surrogates.

    Parameters
    ----------
    s : Tensor (..., n, ds); target samples (copula-normalised factors), or (..., u, ds) of
        u distinct values with ``row_of``.
    a, b : Tensor (..., n); integer codes in ``[0, n_a)`` and ``[0, n_b)``.
    n_a, n_b : numbers of levels.
    row_of : Tensor (n,), int64, optional; trial t's target is ``s[row_of[t]]`` (e.g. one row
        per stimulus and several people's answers to it: the densities are computed once
        per stimulus). The result equals that of the expanded ``s``.

    Returns
    -------
    PIDResult
        Atoms of the broadcast batch shape, bits (float32 for a float32 ``s``, else float64).
    """
    dtype = _work_dtype(s)
    n = a.shape[-1]
    if row_of is not None:
        _check_codes("row_of", row_of, n, s.shape[-2])
    s = _check_design("s", s, s.shape[-2] if row_of is not None else n, dtype)
    a, b = _check_codes("a", a, n, n_a), _check_codes("b", b, n, n_b)
    m = _additive_mixture(s, a, b, n_a, n_b, row_of)
    res = _ccs_from_local(m.lq_a - m.lq, m.lq_b - m.lq, m.ll_ab - m.lq)
    return PIDResult(*(torch.where(m.ok, t, torch.nan) for t in res))


def ccs_category_target(h: Tensor, d: Tensor, f: Tensor, n_d: int, n_f: int) -> PIDResult:
    """I_ccs redundancy of a continuous source H and a decision D about a *discrete* target F
    (a category group), in bits (source 1 = H, source 2 = D).

    The same maximum-entropy model as :func:`ccs_two_decisions`, with the continuous block
    being the source: ``q(h, d, f) = p(d, f) N(h; mu_d + nu_f, Sigma)``. Local informations are
    symmetric, so ``i(h; f) = ln q(h | f) - ln q(h)``, ``i(d; f) = ln p(d, f) / (p(d) p(f))``
    and ``i(h, d; f) = ln q(h, d | f) - ln q(h, d)``, with ``q(h | f)``, ``q(h)`` and
    ``q(h | d)`` the model's mixtures. Plug-in: compare with a permutation null.

    Parameters
    ----------
    h : Tensor (..., n, dh); continuous source (copula-normalised components).
    d, f : Tensor (..., n); integer codes of the decision and of the category.
    n_d, n_f : numbers of levels.

    Returns
    -------
    PIDResult
        Atoms of the broadcast batch shape, bits (float32 for a float32 ``h``, else float64).
    """
    dtype = _work_dtype(h)
    n = h.shape[-2]
    h = _check_design("h", h, n, dtype)
    f, d = _check_codes("f", f, n, n_f), _check_codes("d", d, n, n_d)
    m = _additive_mixture(h, f, d, n_f, n_d)  # a = F (the target), b = D
    i_hf = m.lq_a - m.lq
    i_df = m.log_ab_t - m.log_a_t - m.log_b_t
    i_hdf = (m.log_ab_t - m.log_a_t + m.ll_ab) - (m.log_b_t + m.lq_b)
    res = _ccs_from_local(i_hf, i_df, i_hdf)
    return PIDResult(*(torch.where(m.ok, t, torch.nan) for t in res))


class _Mixture(NamedTuple):
    """Per-trial log densities (nats, ``[..., n]``) of a continuous block Y under
    ``q(y, a, b) = p(a, b) N(y; additive mu_ab, Sigma)``."""

    lq: Tensor  # ln q(y)
    lq_a: Tensor  # ln q(y | a_t)
    lq_b: Tensor  # ln q(y | b_t)
    ll_ab: Tensor  # ln q(y | a_t, b_t)
    log_ab_t: Tensor  # ln p(a_t, b_t)
    log_a_t: Tensor  # ln p(a_t)
    log_b_t: Tensor  # ln p(b_t)
    ok: Tensor  # [...]: the fits are regular


def _additive_mixture(
    y: Tensor, a: Tensor, b: Tensor, n_a: int, n_b: int, row_of: Tensor | None = None
) -> _Mixture:
    """The mixture's per-trial terms; ``row_of`` (n,) maps each trial to its row of ``y``
    when trials share values (``y [..., u, dy]``), so the cell densities are computed once
    per distinct value."""
    n = a.shape[-1]
    if row_of is None:
        row_of = torch.arange(y.shape[-2], device=y.device)
    dtype = y.dtype
    batch = torch.broadcast_shapes(y.shape[:-2], a.shape[:-1], b.shape[:-1])
    y = y.expand(*batch, *y.shape[-2:])
    a, b = a.expand(*batch, n), b.expand(*batch, n)
    dy, u, n_cells = y.shape[-1], y.shape[-2], n_a * n_b
    # Flat row indices over the batch: index_select and index_add_ on [rows, dy] tables are
    # several times faster on CPU than gather and scatter along a middle dimension.
    offset = torch.arange(math.prod(batch), device=y.device).reshape(*batch, 1)
    rows = y.reshape(-1, dy).index_select(0, (row_of + u * offset).flatten())
    cell = ((a * n_b + b) + n_cells * offset).flatten()  # each trial's (a, b) cell
    counts = torch.bincount(cell, minlength=offset.numel() * n_cells).to(dtype)
    counts = counts.reshape(*batch, n_a, n_b)  # trials per cell
    sums = torch.zeros(offset.numel() * n_cells, dy, dtype=dtype, device=y.device)
    sums = sums.index_add_(0, cell, rows).reshape(*batch, n_a, n_b, dy)  # sum of y per cell
    count_a, count_b = counts.sum(-1), counts.sum(-2)
    # Additive least squares on the indicator codes, solved from its normal equations (the
    # cell counts and sums): the first level of each code is the intercept's, unused levels
    # get no column (their cells have p(a, b) = 0 and drop out of every sum below).
    used_a = count_a.reshape(-1, n_a).amax(0) > 0
    used_b = count_b.reshape(-1, n_b).amax(0) > 0
    used_a[0] = used_b[0] = False
    ia, ib = used_a.nonzero().squeeze(1), used_b.nonzero().squeeze(1)
    k = ia.numel()
    cross = counts.index_select(-2, ia).index_select(-1, ib)  # [..., ka, kb]
    xtx = torch.cat(
        [
            torch.cat([torch.diag_embed(count_a.index_select(-1, ia)), cross], -1),
            torch.cat([cross.mT, torch.diag_embed(count_b.index_select(-1, ib))], -1),
        ],
        -2,
    )
    xty = torch.cat([sums.sum(-2).index_select(-2, ia), sums.sum(-3).index_select(-2, ib)], -2)
    x_mean = torch.cat([count_a.index_select(-1, ia), count_b.index_select(-1, ib)], -1) / n
    y_mean = sums.sum((-3, -2)) / n
    chol, info_x = torch.linalg.cholesky_ex(xtx - n * x_mean[..., :, None] * x_mean[..., None, :])
    beta = torch.cholesky_solve(xty - n * x_mean[..., :, None] * y_mean[..., None, :], chol)
    intercept = y_mean - (x_mean[..., None, :] @ beta)[..., 0, :]  # [..., dy]
    eff_a = torch.zeros(*batch, n_a, dy, dtype=dtype, device=y.device)
    eff_b = torch.zeros(*batch, n_b, dy, dtype=dtype, device=y.device)
    eff_a[..., ia, :] = beta[..., :k, :]
    eff_b[..., ib, :] = beta[..., k:, :]
    mu = intercept[..., None, None, :] + eff_a[..., :, None, :] + eff_b[..., None, :, :]
    resid = (rows - mu.reshape(-1, dy).index_select(0, cell)).reshape(*batch, n, dy)
    cov = resid.mT @ resid / n
    # ln N(y; intercept + e_a + e_b, cov) = f(y) + g(y, a) + h(y, b) + c(a, b) in whitened
    # coordinates, so every sum over the A x B cells below is a matrix product of A- and
    # B-wide tables rather than A x B densities per value.
    chol, info_c = torch.linalg.cholesky_ex(cov)
    white = _whitener(chol)
    yz = (y - intercept[..., None, :]) @ white  # [..., u, dy]
    az, bz = eff_a @ white, eff_b @ white  # [..., A, dy], [..., B, dy]
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    f = -0.5 * (yz.square().sum(-1) + (logdet + y.shape[-1] * math.log(2 * math.pi))[..., None])
    g = yz @ az.mT - 0.5 * az.square().sum(-1)[..., None, :]  # [..., u, A]
    h = yz @ bz.mT - 0.5 * bz.square().sum(-1)[..., None, :]  # [..., u, B]
    c = -(az @ bz.mT)  # [..., A, B]
    # Per distinct value: ln q(y | a) = f + g_a + ln sum_b p(b | a) exp(h_b + c_ab) for every
    # a, ln q(y | b) likewise, and ln q(y) = ln sum_a p(a) q(y | a).
    cond_b = torch.log(counts / count_a.clamp_min(1)[..., None]) + c
    cond_a = torch.log(counts / count_b.clamp_min(1)[..., None, :]) + c
    lqa_u = f[..., None] + g + _log_matmul_exp(h, cond_b)  # [..., u, A]
    lqb_u = f[..., None] + h + _log_matmul_exp(g, cond_a.mT)  # [..., u, B]
    log_a, log_b = torch.log(count_a / n), torch.log(count_b / n)
    lq_u = torch.logsumexp(log_a[..., None, :] + lqa_u, -1)  # [..., u]

    def at(table: Tensor, index: Tensor) -> Tensor:
        return table.flatten(-2).gather(-1, index)

    r = row_of.expand(*batch, n)
    return _Mixture(
        lq=lq_u.gather(-1, r),
        lq_a=at(lqa_u, r * n_a + a),
        lq_b=at(lqb_u, r * n_b + b),
        ll_ab=f.gather(-1, r) + at(g, r * n_a + a) + at(h, r * n_b + b) + at(c, a * n_b + b),
        log_ab_t=at(torch.log(counts / n), a * n_b + b),
        log_a_t=log_a.gather(-1, a),
        log_b_t=log_b.gather(-1, b),
        ok=(info_x == 0) & (info_c == 0),
    )


def _whitener(chol: Tensor) -> Tensor:
    """``W [..., d, d]`` such that the rows of ``x @ W`` have identity covariance where those
    of ``x`` have ``chol chol^T``: the transposed inverse of the Cholesky factor. One matrix
    product whitens any number of rows, several times faster than a triangular solve with
    that many right-hand sides."""
    eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device)
    return torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False).mT


def _log_matmul_exp(x: Tensor, w: Tensor) -> Tensor:
    """``ln sum_j exp(x[..., u, j] + w[..., i, j])`` as ``[..., u, i]``: one matrix product of
    the exponentials, each shifted by its row's maximum."""
    x_max = x.amax(-1, keepdim=True)
    w_max = w.amax(-1, keepdim=True)
    live = torch.isfinite(w_max)  # a row of -inf (a level no trial has) stays -inf
    w_max = torch.where(live, w_max, torch.zeros_like(w_max))
    prod = torch.exp(x - x_max) @ torch.exp(w - w_max).mT
    out = (x_max + w_max.mT + torch.log(prod)).contiguous()
    # Where a value's largest x falls on cells its row barely weights, the shifted terms can
    # underflow and the product loses digits: those entries are summed directly.
    info = torch.finfo(prod.dtype)
    low = (prod < info.tiny / info.eps * x.shape[-1]) & live.mT
    if bool(low.any()):
        u, i, j = x.shape[-2], w.shape[-2], x.shape[-1]
        xs = x.expand(*out.shape[:-2], u, j).reshape(-1, u, j)
        ws = w.expand(*out.shape[:-2], i, j).reshape(-1, i, j)
        bi, ui, ii = low.reshape(-1, u, i).nonzero(as_tuple=True)
        out.view(-1, u, i)[bi, ui, ii] = torch.logsumexp(xs[bi, ui] + ws[bi, ii], -1)
    return out


def _check_codes(name: str, codes: Tensor, n: int, levels: int) -> Tensor:
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer codes, got dtype {codes.dtype}")
    if codes.dim() < 1 or codes.shape[-1] != n:
        raise ValueError(f"{name} must be [..., n={n}], got {tuple(codes.shape)}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= levels):
        raise ValueError(f"{name} codes must lie in [0, {levels})")
    return codes.long()
