"""Gaussian-copula information estimators (GCMI), batched in torch; every result is in bits.

The estimators follow Ince et al. (2017), "A statistical framework for neuroimaging data analysis
based on mutual information estimated via a Gaussian copula", Human Brain Mapping 38:1541-1573,
doi:10.1002/hbm.23471, and keep the names of that paper's toolbox: the letters say how each
argument is modelled (``g`` Gaussian, ``c`` continuous, copula-normalised here, ``d`` discrete).
Formulas and pitfalls: methods.md sections 2.1-2.8 and 4.

Conventions
-----------
- Continuous variables are ``[..., n, d]``: samples on dim -2, the variable's dimensions on
  dim -1. A 1-D tensor is ``n`` samples of one univariate variable.
- Discrete variables are integer class labels ``[..., n]`` with values in ``[0, n_classes)``
  (for the sweeps, ``[..., n, k]``: ``k`` discrete variables side by side).
- Leading dimensions of all arguments broadcast against each other and are computed in one
  batched call.
- Covariances, log-determinants and copula values are computed in float64 internally; results
  come back on the input's device with the floating dtype of the (first continuous) input.
- Inputs are never modified.
- Entropies use the Cholesky diagonal (never ``det``); the analytic bias correction subtracts
  B(N, d) (methods.md 2.3) from every entropy with its own dimension and sample count.
- Errors in the data (too few samples per class, constant or collinear columns, NaN, labels
  out of range) raise ``ValueError`` with a message saying what to fix.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from analyses.errors import DataError

__all__ = [
    "cmi_ggg",
    "copnorm",
    "ent_bias",
    "ent_g",
    "gccmi_ccc",
    "gccmi_ccd",
    "gcmi_cc",
    "gcmi_mixture_cd",
    "gcmi_model_cd",
    "gcmi_sweep_cc",
    "gcmi_sweep_cd",
    "mi_dd",
    "mi_from_class_var",
    "mi_from_corr",
    "mi_gg",
    "mi_mixture_gd",
    "mi_model_gd",
    "mi_mixture_gd_masked",
    "mi_model_gd_masked",
    "tie_broken_ranks",
    "tie_fraction",
]

_LN2 = math.log(2.0)
_F64 = torch.float64
# 1 / Phi^{-1}(3/4): turns a median absolute deviation into a standard deviation for Gaussians.
_MAD_TO_SD = 1.482602218505602
# Elements of the largest float64 temporary of a chunk of `gcmi_mixture_cd` (256 MiB).
_MIXTURE_CHUNK_ELEMENTS = 2**25
# Seed used for tie-breaking keys when the caller gives none, so results are reproducible.
_DEFAULT_SEED = 20170301
# Smallest accepted 1 - R^2 of a covariance column on the ones before it (see _chol_half_logdet).
_MIN_PIVOT_SHARE = 1e-10


# ----------------------------------------------------------------------------------------------
# argument handling
# ----------------------------------------------------------------------------------------------


def _samples(x: Tensor, name: str) -> Tensor:
    """Return ``x`` as ``[..., n, d]`` (a 1-D tensor becomes ``[n, 1]``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{name} must have a samples dimension, got a 0-d tensor")
    if x.is_complex():
        raise ValueError(f"{name} must be real-valued")
    return x.unsqueeze(-1) if x.dim() == 1 else x


def _out_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _labels(y: Tensor, n_classes: int, name: str) -> Tensor:
    """Check integer class labels in ``[0, n_classes)`` and return them as int64."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer labels, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex():
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if y.dim() == 0:
        raise ValueError(f"{name} must have a samples dimension, got a 0-d tensor")
    y = y.long()
    if y.numel() and (bool(y.min() < 0) or bool(y.max() >= n_classes)):
        raise ValueError(
            f"{name} must hold labels in [0, {n_classes}), got values from {int(y.min())} "
            f"to {int(y.max())}; recode the classes or raise n_classes"
        )
    return y


def _check_n(*tensors: Tensor, names: str) -> int:
    """All continuous arguments must share the sample count on dim -2."""
    ns = {t.shape[-2] for t in tensors}
    if len(ns) != 1:
        raise ValueError(f"{names} must have the same number of samples (dim -2), got {sorted(ns)}")
    return ns.pop()


def _batch(*shapes: torch.Size) -> torch.Size:
    """The broadcast of leading (batch) shapes. Plain Python: the first call of
    ``torch.broadcast_shapes`` imports torch's symbolic-shape machinery (about 0.6 s)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(sizes) > 1:
            raise ValueError(
                f"leading (batch) dimensions do not broadcast: {[tuple(s) for s in shapes]}"
            )
        out.append(sizes.pop() if sizes else 1)
    return torch.Size(out)


def _expand(x: Tensor, batch: torch.Size, ndim_tail: int) -> Tensor:
    return x.expand(*batch, *x.shape[x.dim() - ndim_tail :])


def _check_finite(x: Tensor, name: str) -> None:
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise DataError(f"{name} contains NaN or infinite values; remove or impute them first")


# ----------------------------------------------------------------------------------------------
# entropy building blocks (nats)
# ----------------------------------------------------------------------------------------------


def _ent_bias_t(n: Tensor, d: int) -> Tensor:
    """B(N, d) of methods.md 2.3 for a float64 tensor of sample counts ``n`` (nats)."""
    i = torch.arange(1, d + 1, dtype=_F64, device=n.device)
    psi = torch.special.digamma((n.unsqueeze(-1) - i) / 2).sum(-1)
    return 0.5 * d * torch.log(2 / (n - 1)) + 0.5 * psi


def ent_bias(n: int | Tensor, d: int) -> float | Tensor:
    """Downward bias of the plug-in Gaussian entropy, B(N, d) of methods.md 2.3, in nats.

    Parameters
    ----------
    n : int or Tensor
        Number of samples N (a tensor of sample counts gives one bias per count); must
        exceed ``d``.
    d : int
        Dimension of the Gaussian variable.

    Returns
    -------
    float, or float64 Tensor of ``n``'s shape
        ``(d/2) ln(2/(N-1)) + 0.5 sum_{i=1..d} psi((N-i)/2)`` in nats; subtract it from the
        plug-in entropy to obtain the unbiased estimate.
    """
    if isinstance(n, Tensor):
        if d < 1 or not bool((n > d).all()):
            raise DataError(f"the bias correction needs N > d >= 1 samples, d={d}")
        return _ent_bias_t(n.to(_F64), d)
    if d < 1 or n <= d:
        raise DataError(f"the bias correction needs N > d >= 1 samples, got N={n}, d={d}")
    return float(_ent_bias_t(torch.tensor(float(n), dtype=_F64), d))


def _corr_bias_bits(n: int) -> float:
    """B(N,1) + B(N,1) - B(N,2) in bits: the bias of univariate Gaussian MI (methods.md 2.4)."""
    if n <= 2:
        raise DataError(f"bias-corrected univariate MI needs more than 2 samples, got {n}")
    a = torch.tensor([(n - 1) / 2, (n - 2) / 2], dtype=_F64)
    psi = torch.special.digamma(a)
    return float(psi[0] - psi[1]) / (2 * _LN2)


def _chol_half_logdet(cov: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """Cholesky factor and its log-diagonal of a batch of covariances (float64)."""
    if not bool(torch.isfinite(cov).all()):
        raise DataError(f"the covariance of {what} is not finite; check the data for NaN or inf")
    chol, info = torch.linalg.cholesky_ex(cov)
    # L_ii^2 / C_ii is the share of column i's variance not explained by the columns before it
    # (1 - R^2). Exactly collinear data can pass the factorisation with a rounding-sized pivot
    # and would report absurd information, so shares below 1e-10 count as failures too.
    share = torch.diagonal(chol, dim1=-2, dim2=-1).square() / torch.diagonal(cov, dim1=-2, dim2=-1)
    if bool((info != 0).any()) or not bool((share > _MIN_PIVOT_SHARE).all()):
        raise DataError(
            f"the covariance of {what} is not positive definite: a column is constant or "
            "columns are collinear (or a class has too few distinct samples); drop constant "
            "and duplicated columns or merge classes"
        )
    return chol, torch.log(torch.diagonal(chol, dim1=-2, dim2=-1))


def _chol_masked(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Lower Cholesky factors of a batch of covariances with the pivot rule of
    `_chol_half_logdet` as a mask instead of an error: (factors, ok)."""
    chol, status = torch.linalg.cholesky_ex(cov)
    share = torch.diagonal(chol, dim1=-2, dim2=-1).square() / torch.diagonal(cov, dim1=-2, dim2=-1)
    return chol, (status == 0) & (share > _MIN_PIVOT_SHARE).all(-1)


def _cov(x: Tensor, demeaned: bool) -> Tensor:
    """Unbiased covariance ``[..., d, d]`` of float64 samples ``[..., n, d]``."""
    if not demeaned:
        x = x - x.mean(dim=-2, keepdim=True)
    return x.mT @ x / (x.shape[-2] - 1)


def _need_samples(n: int, d: int, what: str) -> None:
    if n <= d:
        raise DataError(
            f"{what} needs more samples than dimensions (N > {d}), got N={n}; "
            "aim for at least 10 samples per dimension"
        )


def _one_hot(y: Tensor, n_classes: int) -> Tensor:
    return torch.nn.functional.one_hot(y, n_classes).to(_F64)


def _check_class_counts(counts: Tensor, need: int, what: str) -> None:
    """Occupied classes must hold more than ``need`` samples (methods.md 4.4)."""
    bad = (counts > 0) & (counts <= need)
    if bool(bad.any()):
        smallest = int(counts[bad].min())
        raise DataError(
            f"{what}: a class holds only {smallest} sample(s) but every occupied class needs "
            f"more than {need} (N_y > d); merge or drop rare classes before the call"
        )


def _class_moments(x: Tensor, y: Tensor, n_classes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Class counts ``[..., K]``, means ``[..., K, d]`` and unbiased covariances ``[..., K, d, d]``.

    Two passes (class means first, then centred outer products) keep float64 accuracy even when
    class means are large compared with the spread. Empty classes get an identity covariance so
    that a Cholesky factorisation succeeds; callers give them zero weight.
    """
    oh = _one_hot(y, n_classes)  # [..., n, K]
    counts = oh.sum(dim=-2)
    means = (oh.mT @ x) / counts.clamp(min=1).unsqueeze(-1)
    xc = x - oh @ means
    d = x.shape[-1]
    outer = (xc.unsqueeze(-1) * xc.unsqueeze(-2)).flatten(-2)  # [..., n, d*d]
    scatter = (oh.mT @ outer).unflatten(-1, (d, d))
    cov = scatter / (counts - 1).clamp(min=1)[..., None, None]
    eye = torch.eye(d, dtype=_F64, device=x.device)
    cov = torch.where((counts > 0)[..., None, None], cov, eye)
    return counts, means, cov


def _contiguous_class_moments(x: Tensor, sizes: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """`_class_moments` of ``x [..., n, d]`` whose rows list class 0's samples first, then
    class 1's, ..., with class sizes `sizes` in every batch entry: one matrix product per
    class instead of per-sample outer products (the same two-pass accuracy)."""
    batch, d = x.shape[:-2], x.shape[-1]
    eye = torch.eye(d, dtype=_F64, device=x.device)
    means, covs = [], []
    for part, m in zip(x.split(sizes, dim=-2), sizes, strict=True):
        if m == 0:
            means.append(torch.zeros(*batch, d, dtype=_F64, device=x.device))
            covs.append(eye.expand(*batch, d, d))
            continue
        mean = part.sum(-2) / m
        centred = part - mean.unsqueeze(-2)
        means.append(mean)
        covs.append(centred.mT @ centred / max(m - 1, 1))
    counts = torch.tensor(sizes, dtype=_F64, device=x.device).expand(*batch, len(sizes))
    return counts, torch.stack(means, dim=-2), torch.stack(covs, dim=-3)


# ----------------------------------------------------------------------------------------------
# copula normalisation
# ----------------------------------------------------------------------------------------------


def _u64(c: int) -> int:
    """A uint64 constant as the int64 with the same bits (torch has no uint64 arithmetic)."""
    return c - (1 << 64) if c >= (1 << 63) else c


_SM_GAMMA = _u64(0x9E3779B97F4A7C15)
_SM_MUL1 = _u64(0xBF58476D1CE4E5B9)
_SM_MUL2 = _u64(0x94D049BB133111EB)


def _shr(z: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 bit patterns."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _splitmix64(z: Tensor) -> Tensor:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014) on int64 tensors; arithmetic wraps."""
    z = z + _SM_GAMMA
    z = (z ^ _shr(z, 30)) * _SM_MUL1
    z = (z ^ _shr(z, 27)) * _SM_MUL2
    return z ^ _shr(z, 31)


def _tie_keys(xt: Tensor, seed: int) -> Tensor:
    """Pseudo-random int64 keys ``[..., d, n]`` that order tied values of ``xt [..., d, n]``.

    A key depends on the seed, the sample position and a hash of the column's (position, value)
    pairs, computed with wrapping integer arithmetic so it is identical on every device. Two
    different variables therefore get unrelated keys even when they have the same shape (shared
    keys would break their ties in the same order and create dependence), while the same column
    always gets the same keys, alone or inside a larger tensor.
    """
    bits = (xt.to(_F64) + 0.0).contiguous().view(torch.int64)  # + 0.0 maps -0.0 onto +0.0
    n = xt.shape[-1]
    pos = torch.arange(n, dtype=torch.int64, device=xt.device)
    pos = _splitmix64(pos + int(_splitmix64(torch.tensor(seed, dtype=torch.int64))))
    col = _splitmix64(bits ^ pos).sum(dim=-1, keepdim=True)  # wraps mod 2**64
    return _splitmix64(col + pos)


def _rank_order(xt: Tensor, seed: int | None) -> Tensor:
    """Indices ``[..., d, n]`` sorting each row of ``xt [..., d, n]`` by (value, tie key)."""
    values, order = torch.sort(xt, dim=-1)
    tied = (values[..., 1:] == values[..., :-1]).any(dim=-1).reshape(-1)
    if not bool(tied.any()):
        return order  # fast path: without ties the order is unique and needs no keys
    # Only rows with ties are re-sorted by (value, key); keys depend on the row alone.
    n = xt.shape[-1]
    rows = tied.nonzero().squeeze(-1)
    sub = xt.reshape(-1, n).index_select(0, rows)
    keys = _tie_keys(sub, _DEFAULT_SEED if seed is None else int(seed))
    by_key = keys.argsort(dim=-1, stable=True)
    by_value = sub.gather(-1, by_key).argsort(dim=-1, stable=True)
    order = order.reshape(-1, n)  # a fresh tensor from sort, so writing into it is safe
    order[rows] = by_key.gather(-1, by_value)
    return order.reshape(xt.shape)


def _samples_last(x: Tensor, name: str) -> Tensor:
    """``x [..., n, d]`` as a contiguous ``[..., d, n]`` (sorting and scattering along the
    contiguous axis is several times faster than along dim -2); NaN is rejected."""
    xt = x.mT.contiguous()
    if xt.dtype == torch.bool:
        xt = xt.to(torch.uint8)
    if xt.is_floating_point() and bool(torch.isnan(xt).any()):
        raise DataError(
            f"{name} contains NaN; ranking would place NaN like an ordinary value and corrupt "
            "the estimate, so remove or impute NaN first"
        )
    return xt


def _copnorm64(x: Tensor, seed: int | None, name: str = "x") -> Tensor:
    """Copula-normalised float64 copy of ``x [..., n, d]`` (a transposed view of a contiguous
    ``[..., d, n]`` tensor). Ranks come from the input dtype: float32 to float64 is exact."""
    xt = _samples_last(x, name)
    n = xt.shape[-1]
    order = _rank_order(xt, seed)
    grid = torch.arange(1, n + 1, dtype=_F64, device=xt.device) / (n + 1)
    grid = torch.special.ndtri(grid).expand_as(order)
    # Sample order[i] receives the i-th quantile.
    return torch.empty(order.shape, dtype=_F64, device=xt.device).scatter_(-1, order, grid).mT


def _sort_within_classes(vt: Tensor, yt: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
    """Order ``[..., d, n]`` sorting each row of ``vt`` by (class, value), and the class labels
    in that order; ``yt`` is ``[..., 1, n]`` or ``[..., d, n]``. `order` (from `_rank_order`,
    broadcastable to ``vt``) sorts each row by value, ties by key."""
    order = order.expand_as(vt)
    y_by_value = yt.expand_as(vt).gather(-1, order)
    by_class = y_by_value.argsort(dim=-1, stable=True)
    return order.gather(-1, by_class), y_by_value.gather(-1, by_class)


def _copnorm_within64(x: Tensor, y: Tensor, n_classes: int, seed: int | None) -> Tensor:
    """Copula-normalise ``x [..., n, d]`` separately within each class of ``y [..., n]``.

    Sorting by value (ties by key) and then stably by class gives every sample its rank inside
    its class; all columns, classes and batch entries are handled in one pass. Float64 result.
    """
    xt = _samples_last(x, "x")
    n = xt.shape[-1]
    order, cls = _sort_within_classes(xt, y.unsqueeze(-2), _rank_order(xt, seed))
    counts = _class_counts(y, n_classes).unsqueeze(-2)  # [..., 1, K]
    starts = counts.cumsum(-1) - counts
    counts, starts = counts.expand(*cls.shape[:-1], -1), starts.expand(*cls.shape[:-1], -1)
    pos = torch.arange(n, dtype=_F64, device=xt.device)
    u = (pos - starts.gather(-1, cls) + 1) / (counts.gather(-1, cls) + 1)
    return (
        torch.empty(order.shape, dtype=_F64, device=xt.device)
        .scatter_(-1, order, torch.special.ndtri(u))
        .mT
    )


def copnorm(x: Tensor, *, seed: int | None = None) -> Tensor:
    """Copula-normalise each column along the samples axis (methods.md 2.1).

    Each value becomes ``ndtri(rank / (n + 1))`` with ranks 1..n along dim -2, so every column
    has exactly standard-normal quantile marginals and keeps the order of the data.

    Ties (methods.md 4.1): tied values receive distinct consecutive ranks ordered by a
    pseudo-random key, never by storage order, so data sorted by condition cannot inject
    dependence. The key comes from a SplitMix64 hash of ``seed``, the sample position and the
    column's contents, so the result is deterministic (same input and seed, same output, on any
    device), a column is normalised identically alone or within a larger tensor, and two
    different variables break their ties independently. ``seed=None`` uses a fixed default.
    Without ties the key is never computed (one sort and one scatter).

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
        Continuous samples on dim -2; NaN is rejected.
    seed : int or None
        Seed of the tie-breaking keys.

    Returns
    -------
    Tensor, same shape as ``x``
        Standard-normal scores, on ``x``'s device, in ``x``'s floating dtype.
    """
    x2 = _samples(x, "x")
    c = _copnorm64(x2, seed).to(_out_dtype(x))
    return c.contiguous().reshape(x.shape)


def tie_broken_ranks(x: Tensor, *, seed: int | None = None) -> Tensor:
    """Ranks 0 .. n-1 of each column along dim -2 (float64), ties ordered as :func:`copnorm`
    orders them.

    The ranks have no ties, so ``copnorm`` of the ranks equals ``copnorm`` of ``x`` with the
    same seed, and ``copnorm`` of any subset of them normalises that subset of ``x`` with the
    ties kept in the full sample's order, at the cost of one sort instead of three. Subsampling
    intervals use this: a random tie order restricted to a subsample is one of its own.
    """
    xt = _samples_last(_samples(x, "x"), "x")
    order = _rank_order(xt, seed)
    grid = torch.arange(xt.shape[-1], dtype=_F64, device=xt.device).expand_as(order)
    ranks = torch.empty(order.shape, dtype=_F64, device=xt.device).scatter_(-1, order, grid)
    return ranks.mT.contiguous().reshape(x.shape)


def tie_fraction(x: Tensor) -> Tensor:
    """Fraction of each column's samples whose value occurs more than once (methods.md 4.1).

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)

    Returns
    -------
    Tensor, shape (..., d) (a 0-d tensor for 1-D input), in ``x``'s floating dtype
        Values above 0.1 call for a warning or a discrete treatment of the variable.
    """
    x2 = _samples(x, "x")
    s = torch.sort(x2.to(_F64), dim=-2).values
    eq = s[..., 1:, :] == s[..., :-1, :]
    pad = torch.zeros_like(eq[..., :1, :])
    repeated = torch.cat([eq, pad], dim=-2) | torch.cat([pad, eq], dim=-2)
    frac = repeated.to(_F64).mean(dim=-2).to(_out_dtype(x))
    return frac.squeeze(-1) if x.dim() == 1 else frac


# ----------------------------------------------------------------------------------------------
# Gaussian entropy and mutual information
# ----------------------------------------------------------------------------------------------


def ent_g(x: Tensor, biascorrect: bool = True) -> Tensor:
    """Entropy of a Gaussian variable from samples, in bits (methods.md 2.2-2.3).

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
        Samples on dim -2 (demeaned internally; the input is untouched).
    biascorrect : bool
        Subtract B(n, d) so the estimate is unbiased for Gaussian data.

    Returns
    -------
    Tensor, shape (...)
        Differential entropy in bits, on ``x``'s device and floating dtype.
    """
    x2 = _samples(x, "x")
    n, d = x2.shape[-2:]
    _need_samples(n, d, "ent_g")
    _, logdiag = _chol_half_logdet(_cov(x2.to(_F64), demeaned=False), "x")
    h = logdiag.sum(-1) + 0.5 * d * (math.log(2 * math.pi) + 1)
    if biascorrect:
        h = h - ent_bias(n, d)
    return (h / _LN2).to(_out_dtype(x))


def mi_gg(x: Tensor, y: Tensor, biascorrect: bool = True, demeaned: bool = False) -> Tensor:
    """Mutual information between two Gaussian variables, in bits (methods.md 2.4).

    Parameters
    ----------
    x, y : Tensor, shapes (..., n, dx) and (..., n, dy), or (n,)
        Samples on dim -2; leading dims broadcast.
    biascorrect : bool
        Correct each of H(X), H(Y), H(X,Y) with its own B(n, d).
    demeaned : bool
        The data already have zero mean (true after copula normalisation); skips centring.

    Returns
    -------
    Tensor, shape (...)
        I(X;Y) in bits, on ``x``'s device and floating dtype.
    """
    x2, y2 = _samples(x, "x"), _samples(y, "y")
    n = _check_n(x2, y2, names="x and y")
    batch = _batch(x2.shape[:-2], y2.shape[:-2])
    dx, dy = x2.shape[-1], y2.shape[-1]
    _need_samples(n, dx + dy, "mi_gg")
    xy = torch.cat([_expand(x2, batch, 2).to(_F64), _expand(y2, batch, 2).to(_F64)], dim=-1)
    cxy = _cov(xy, demeaned)
    # The leading block of chol(C_xy) is chol(C_x): one factorisation gives H(X) and H(X,Y).
    _, ld_xy = _chol_half_logdet(cxy, "(x, y)")
    _, ld_y = _chol_half_logdet(cxy[..., dx:, dx:], "y")
    i = ld_xy[..., :dx].sum(-1) + ld_y.sum(-1) - ld_xy.sum(-1)
    if biascorrect:
        i = i - (ent_bias(n, dx) + ent_bias(n, dy) - ent_bias(n, dx + dy))
    return (i / _LN2).to(_out_dtype(x))


def gcmi_cc(x: Tensor, y: Tensor) -> Tensor:
    """Gaussian-copula MI between two continuous variables, bias-corrected, in bits.

    Each dimension of ``x`` and ``y`` is copula-normalised (:func:`copnorm`), then
    :func:`mi_gg` is applied. A lower bound on the true MI (methods.md 2.1, 2.4).

    Parameters
    ----------
    x, y : Tensor, shapes (..., n, dx) and (..., n, dy), or (n,)

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x2, y2 = _samples(x, "x"), _samples(y, "y")
    _check_n(x2, y2, names="x and y")
    cx, cy = _copnorm64(x2, None, "x"), _copnorm64(y2, None, "y")
    return mi_gg(cx, cy, biascorrect=True, demeaned=True).to(_out_dtype(x))


def cmi_ggg(
    x: Tensor, y: Tensor, z: Tensor, biascorrect: bool = True, demeaned: bool = False
) -> Tensor:
    """Conditional MI I(X;Y|Z) between Gaussian variables, in bits (methods.md 2.8).

    ``I = [H(X,Z) + H(Y,Z) - H(X,Y,Z) - H(Z)] / ln 2``, each entropy bias-corrected with its own
    dimension.

    Parameters
    ----------
    x, y, z : Tensor, shapes (..., n, dx), (..., n, dy), (..., n, dz), or (n,)
    biascorrect, demeaned : bool
        As in :func:`mi_gg`.

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x2, y2, z2 = _samples(x, "x"), _samples(y, "y"), _samples(z, "z")
    n = _check_n(x2, y2, z2, names="x, y and z")
    batch = _batch(x2.shape[:-2], y2.shape[:-2], z2.shape[:-2])
    dx, dy, dz = x2.shape[-1], y2.shape[-1], z2.shape[-1]
    _need_samples(n, dx + dy + dz, "cmi_ggg")
    parts = [_expand(t, batch, 2).to(_F64) for t in (z2, x2, y2)]
    c = _cov(torch.cat(parts, dim=-1), demeaned)  # order (z, x, y)
    # Leading blocks of chol(C_zxy) give H(Z) and H(Z,X) for free; (Z,Y) needs its own factor.
    _, ld = _chol_half_logdet(c, "(x, y, z)")
    keep = torch.cat([torch.arange(dz), torch.arange(dz + dx, dz + dx + dy)]).to(c.device)
    c_zy = c.index_select(-2, keep).index_select(-1, keep)
    _, ld_zy = _chol_half_logdet(c_zy, "(y, z)")
    h_z, h_zx, h_zxy = ld[..., :dz].sum(-1), ld[..., : dz + dx].sum(-1), ld.sum(-1)
    i = h_zx + ld_zy.sum(-1) - h_zxy - h_z
    if biascorrect:
        i = i - (
            ent_bias(n, dz + dx)
            + ent_bias(n, dz + dy)
            - ent_bias(n, dx + dy + dz)
            - ent_bias(n, dz)
        )
    return (i / _LN2).to(_out_dtype(x))


def gccmi_ccc(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """Gaussian-copula conditional MI I(X;Y|Z) for continuous X, Y, Z, bias-corrected, in bits.

    Each variable is copula-normalised marginally, then :func:`cmi_ggg` is applied.

    Parameters
    ----------
    x, y, z : Tensor, shapes (..., n, dx), (..., n, dy), (..., n, dz), or (n,)

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x2, y2, z2 = _samples(x, "x"), _samples(y, "y"), _samples(z, "z")
    _check_n(x2, y2, z2, names="x, y and z")
    c = [_copnorm64(t, None, name) for t, name in ((x2, "x"), (y2, "y"), (z2, "z"))]
    return cmi_ggg(*c, biascorrect=True, demeaned=True).to(_out_dtype(x))


def gccmi_ccd(x: Tensor, y: Tensor, z: Tensor, n_classes: int) -> Tensor:
    """Gaussian-copula I(X;Y|Z) for continuous X, Y and discrete Z, in bits (methods.md 2.8).

    ``x`` and ``y`` are copula-normalised within each class of ``z``; the bias-corrected
    Gaussian MI of each class (sample count N_z) is averaged with weights p(z) = N_z / N.
    Empty classes carry zero weight.

    Parameters
    ----------
    x, y : Tensor, shapes (..., n, dx) and (..., n, dy), or (n,)
    z : Tensor of integers, shape (..., n), values in [0, n_classes)
    n_classes : int

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.

    Raises
    ------
    ValueError
        If an occupied class has N_z <= dx + dy samples.
    """
    x2, y2 = _samples(x, "x"), _samples(y, "y")
    n = _check_n(x2, y2, names="x and y")
    z = _labels(z, n_classes, "z")
    if z.shape[-1] != n:
        raise ValueError(f"z must have {n} samples on its last dim, got {z.shape[-1]}")
    batch = _batch(x2.shape[:-2], y2.shape[:-2], z.shape[:-1])
    dx, dy = x2.shape[-1], y2.shape[-1]
    zb = _expand(z, batch, 1)
    counts = _one_hot(zb, n_classes).sum(dim=-2)
    _check_class_counts(counts, dx + dy, "gccmi_ccd")
    cx = _copnorm_within64(_expand(x2, batch, 2), zb, n_classes, None)
    cy = _copnorm_within64(_expand(y2, batch, 2), zb, n_classes, None)
    counts, _, cov = _class_moments(torch.cat([cx, cy], dim=-1), zb, n_classes)
    _, ld_xy = _chol_half_logdet(cov, "(x, y) within a class of z")
    _, ld_y = _chol_half_logdet(cov[..., dx:, dx:], "y within a class of z")
    i_z = ld_xy[..., :dx].sum(-1) + ld_y.sum(-1) - ld_xy.sum(-1)  # [..., K]
    occupied = counts > 0
    safe = torch.where(occupied, counts, float(dx + dy + 1))
    i_z = i_z - (_ent_bias_t(safe, dx) + _ent_bias_t(safe, dy) - _ent_bias_t(safe, dx + dy))
    p = counts / counts.sum(-1, keepdim=True)
    i = torch.where(occupied, p * i_z, 0.0).sum(-1)
    return (i / _LN2).to(_out_dtype(x))


# ----------------------------------------------------------------------------------------------
# continuous - discrete
# ----------------------------------------------------------------------------------------------


def _prepare_cd(x: Tensor, y: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """Broadcast ``x [..., n, d]`` and labels ``y [..., n]``; returns float64 x and int64 y."""
    x2 = _samples(x, "x")
    y = _labels(y, n_classes, "y")
    n = x2.shape[-2]
    if y.shape[-1] != n:
        raise ValueError(f"y must have {n} samples on its last dim (as x on dim -2), got {y.shape}")
    batch = _batch(x2.shape[:-2], y.shape[:-1])
    return _expand(x2, batch, 2).to(_F64), _expand(y, batch, 1)


def mi_model_gd(
    x: Tensor, y: Tensor, n_classes: int, biascorrect: bool = True, demeaned: bool = False
) -> Tensor:
    """MI between a Gaussian and a discrete variable, class-conditional "model" form, in bits.

    ``I = [H(X) - sum_y p(y) H(X | Y=y)] / ln 2`` with Gaussian fits to the pooled data and to
    each class (class mean removed); each entropy is corrected with its own B(N, d) when
    ``biascorrect`` (methods.md 2.5). Empty classes carry zero weight.

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
    y : Tensor of integers, shape (..., n), values in [0, n_classes)
    n_classes : int
    biascorrect : bool
    demeaned : bool
        ``x`` already has zero mean over all samples (true after copula normalisation).

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.

    Raises
    ------
    ValueError
        If an occupied class has N_y <= d samples (methods.md 4.4).
    """
    x64, yb = _prepare_cd(x, y, n_classes)
    n, d = x64.shape[-2:]
    _need_samples(n, d, "mi_model_gd")
    counts, _, cov_y = _class_moments(x64, yb, n_classes)
    _check_class_counts(counts, d, "mi_model_gd")
    _, ld = _chol_half_logdet(_cov(x64, demeaned), "x")
    _, ld_y = _chol_half_logdet(cov_y, "x within a class")
    h, h_y = ld.sum(-1), ld_y.sum(-1)  # [...], [..., K]
    occupied = counts > 0
    if biascorrect:
        h = h - ent_bias(n, d)
        h_y = h_y - _ent_bias_t(torch.where(occupied, counts, float(d + 1)), d)
    p = counts / n
    i = h - torch.where(occupied, p * h_y, 0.0).sum(-1)
    return (i / _LN2).to(_out_dtype(x))


def mi_model_gd_masked(x: Tensor, y: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """`mi_model_gd` (bias-corrected, ``x`` demeaned) for a batch of which some entries
    cannot be fitted, in bits, with a success mask.

    Where `mi_model_gd` raises for the whole batch (a covariance that is not positive
    definite, an occupied class with N_y <= d), this masks only the entries at fault, so a
    batch of permutations keeps the ones that can be estimated.

    Parameters
    ----------
    x : Tensor, shape (..., n, d); demeaned samples (e.g. copula scores).
    y : Tensor of integers, shape (..., n), values in [0, n_classes)

    Returns
    -------
    bits : Tensor (...), float64; meaningless where ``ok`` is False.
    ok : Tensor (...), bool.
    """
    x64 = x.to(_F64)
    n, d = x64.shape[-2:]
    counts, _, cov_y = _class_moments(x64, y, n_classes)
    cov = _cov(x64, demeaned=True)

    def half_logdet(c: Tensor) -> tuple[Tensor, Tensor]:
        chol, ok = _chol_masked(c)
        return torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1), ok

    h, ok = half_logdet(cov)
    h_y, ok_y = half_logdet(cov_y)
    occupied = counts > 0
    fitted = (ok_y & (counts > d)) | ~occupied
    h = h - ent_bias(n, d)
    h_y = h_y - _ent_bias_t(torch.where(occupied, counts, float(d + 1)), d)
    bits = (h - torch.where(occupied, counts / n * h_y, 0.0).sum(-1)) / _LN2
    return bits, ok & fitted.all(-1) & torch.isfinite(bits)


def gcmi_model_cd(x: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Gaussian-copula MI between continuous ``x`` and discrete ``y``, model form, in bits.

    ``x`` is copula-normalised over all samples, then :func:`mi_model_gd` (bias-corrected) is
    applied. In 1-D a lower bound on the true MI (methods.md 2.5).

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
    y : Tensor of integers, shape (..., n), values in [0, n_classes)
    n_classes : int

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x2 = _samples(x, "x")
    cx = _copnorm64(x2, None, "x")
    return mi_model_gd(cx, y, n_classes, biascorrect=True, demeaned=True).to(_out_dtype(x))


def _mixture_mi(
    x64: Tensor, yb: Tensor | None, n_classes: int, sizes: Tensor | None = None
) -> Tensor:
    """Mixture-form MI in nats for float64 ``x [..., n, d]`` and labels ``y [..., n]``.

    Without labels, ``sizes [..., K]`` (int64) says that the rows of ``x`` list the classes one
    after the other with these sizes.
    """
    n, d = x64.shape[-2:]
    if yb is not None:
        counts, means, cov = _class_moments(x64, yb, n_classes)
    elif bool((sizes == sizes.reshape(-1, n_classes)[0]).all()):
        counts, means, cov = _contiguous_class_moments(
            x64, sizes.reshape(-1, n_classes)[0].tolist()
        )
    else:
        labels = _classes_of_positions(sizes.unsqueeze(-2), n).squeeze(-2)
        counts, means, cov = _class_moments(x64, labels, n_classes)
    _check_class_counts(counts, d, "the mixture form")
    chol, _ = _chol_half_logdet(cov, "x within a class")
    return _unscented_mi(means, chol, counts / n)


def _unscented_mi(means: Tensor, chol: Tensor, p: Tensor) -> Tensor:
    """Mixture-form MI in nats from per-class means ``[..., K, d]``, lower Cholesky factors
    ``[..., K, d, d]`` and class weights ``p [..., K]`` (empty classes have weight 0)."""
    d = means.shape[-1]
    n_classes = means.shape[-2]
    occupied = p > 0
    half_logdet = chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # [..., K]
    h_cond = half_logdet + 0.5 * d * (math.log(2 * math.pi) + 1)
    # Unscented transform: 2d sigma points per class at mean +- sqrt(d) * (column j of L).
    cols = chol.mT * math.sqrt(d)  # row j of L^T is column j of L: [..., K, d, d]
    pts = torch.cat([means.unsqueeze(-2) + cols, means.unsqueeze(-2) - cols], dim=-2)
    pts = pts.flatten(-3, -2)  # [..., K * 2d, d], points of class k first
    # log N(point; mean_l, cov_l) for every class l: solve L_l v = point - mean_l.
    diff = pts.unsqueeze(-3) - means.unsqueeze(-2)  # [..., K(l), P, d]
    v = torch.linalg.solve_triangular(chol, diff.mT, upper=False)  # [..., K(l), d, P]
    log_n = -0.5 * v.square().sum(-2) - half_logdet.unsqueeze(-1) - 0.5 * d * math.log(2 * math.pi)
    log_w = torch.where(occupied, p, 1.0).log().masked_fill(~occupied, -math.inf)
    log_mix = torch.logsumexp(log_n + log_w.unsqueeze(-1), dim=-2)  # [..., P]
    per_class = log_mix.unflatten(-1, (n_classes, 2 * d)).mean(-1)  # [..., K]
    h_mix = -torch.where(occupied, p * per_class, 0.0).sum(-1)
    return h_mix - torch.where(occupied, p * h_cond, 0.0).sum(-1)


def mi_mixture_gd(x: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """MI between continuous ``x`` and discrete ``y`` from a Gaussian mixture, in bits.

    ``I = [H_mix(X) - sum_y p(y) H_G(X | Y=y)] / ln 2`` (methods.md 2.6): one Gaussian per class
    (unbiased covariance), and the mixture entropy by the unscented transform with the 2d sigma
    points ``mean_y +- sqrt(d) * L_y[:, j]`` (columns of the lower Cholesky factor). No analytic
    bias correction exists for this form; use permutation nulls.

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
    y : Tensor of integers, shape (..., n), values in [0, n_classes)
    n_classes : int

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x64, yb = _prepare_cd(x, y, n_classes)
    return (_mixture_mi(x64, yb, n_classes) / _LN2).to(_out_dtype(x))


def mi_mixture_gd_masked(x: Tensor, y: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """`mi_mixture_gd` for a batch of which some entries cannot be fitted, in bits, with a
    success mask: where an occupied class has N_y <= d samples or a covariance that is not
    positive definite, only that entry is masked (a permutation batch keeps the rest).

    Bounded by the plug-in entropy of ``y``: every sigma point of class y has
    ``f_mix >= p(y) N_y``, and its Mahalanobis norm is exactly d, so
    ``H_mix <= H(p) + sum_y p(y) H_G(X | Y=y)`` (methods.md 2.6). The model form has no such
    bound: with well-separated classes its pooled Gaussian can claim several times log2 K.

    Parameters
    ----------
    x : Tensor, shape (..., n, d); e.g. copula scores.
    y : Tensor of integers, shape (..., n), values in [0, n_classes)

    Returns
    -------
    bits : Tensor (...), float64; meaningless where ``ok`` is False.
    ok : Tensor (...), bool.
    """
    x64 = x.to(_F64)
    n, d = x64.shape[-2:]
    counts, means, cov = _class_moments(x64, y, n_classes)
    occupied = counts > 0
    eye = torch.eye(d, dtype=_F64, device=x64.device)
    # unfit classes get a unit covariance so the batch computes; their entries are masked
    fitted = ~occupied | (counts > d)
    cov = torch.where(fitted[..., None, None] & torch.isfinite(cov), cov, eye)
    chol, good = _chol_masked(cov)
    ok = (fitted & (good | ~occupied)).all(-1)
    chol = torch.where(good[..., None, None], chol, eye)
    bits = _unscented_mi(means, chol, counts / n) / _LN2
    return bits, ok & torch.isfinite(bits)


def _class_counts(yb: Tensor, n_classes: int) -> Tensor:
    """Float64 samples per class ``[..., K]`` of labels ``yb [..., n]`` (no one-hot matrix)."""
    counts = torch.zeros(*yb.shape[:-1], n_classes, dtype=_F64, device=yb.device)
    return counts.scatter_add_(-1, yb, torch.ones(yb.shape, dtype=_F64, device=yb.device))


def _segment_lower_bound(vs: Tensor, lo: Tensor, hi: Tensor, target: Tensor) -> Tensor:
    """First index in ``[lo, hi)`` of each sorted segment of the rows of ``vs [..., n]`` whose
    value is >= ``target`` (``hi`` if none); ``lo``, ``hi``, ``target`` are ``[..., K]``."""
    n = vs.shape[-1]
    for _ in range(n.bit_length() + 1):
        mid = (lo + hi) // 2
        right = (mid < hi) & (vs.gather(-1, mid.clamp(max=n - 1)) < target)
        lo, hi = torch.where(right, mid + 1, lo), torch.where(right, hi, mid)
    return lo


def _segment_kth_distance(
    vs: Tensor, starts: Tensor, counts: Tensor, centre: Tensor, k: Tensor
) -> Tensor:
    """The k-th smallest (0-based) ``|v - centre|`` within each sorted segment, ``[..., K]``.

    Segment K of a row of ``vs [..., n]`` is ``[starts, starts + counts)``, sorted ascending.
    Its distances to ``centre`` form two sorted runs, ``centre - v`` leftwards of the split and
    ``v - centre`` rightwards; the k-th smallest of their merge is found by bisection on how
    many come from the left run, so no second sort is needed. Empty segments give 0.
    """
    n = vs.shape[-1]
    split = _segment_lower_bound(vs, starts, starts + counts, centre)
    n_left, n_right = split - starts, starts + counts - split

    def left(i: Tensor) -> Tensor:  # i-th smallest left distance, i in [0, n_left)
        return centre - vs.gather(-1, (split - 1 - i).clamp(0, n - 1))

    def right(j: Tensor) -> Tensor:  # j-th smallest right distance, j in [0, n_right)
        return vs.gather(-1, (split + j).clamp(0, n - 1)) - centre

    take = k + 1  # the k + 1 smallest distances: i from the left run, take - i from the right
    lo = (take - n_right).clamp(min=0)
    hi = torch.minimum(take, n_left)
    for _ in range(n.bit_length() + 1):
        i = (lo + hi) // 2
        j = take - i
        # Enough taken from the left once the right run's last taken value <= the next left one.
        enough = (j == 0) | (i == n_left) | (right(j - 1) <= left(i))
        enough |= lo >= hi
        lo, hi = torch.where(enough, lo, i + 1), torch.where(enough, i, hi)
    i, j = lo, take - lo
    from_left = torch.where(i > 0, left(i - 1), -math.inf)
    from_right = torch.where(j > 0, right(j - 1), -math.inf)
    return torch.where(counts > 0, torch.maximum(from_left, from_right), 0.0)


def _rescale_sorted(vs: Tensor, cls: Tensor, counts: Tensor) -> Tensor:
    """The per-class rescaled copula values of `gcmi_mixture_cd`, in the order of ``vs``.

    ``vs [..., d, n]`` holds each column sorted by (class, value); ``cls [..., 1, n]`` is the
    class of every position (the same in every column) and ``counts [..., 1, K]`` the class
    sizes (int64). Position p of class k has within-class rank ``p - start_k + 1``.
    """
    n = vs.shape[-1]
    starts = counts.cumsum(-1) - counts
    # The copula values ndtri(rank / (m + 1)) depend on the class sizes only: once per labelling.
    pos = torch.arange(n, dtype=torch.int64, device=vs.device)
    rank = (pos - starts.gather(-1, cls) + 1).to(_F64)
    copula = torch.special.ndtri(rank / (counts.gather(-1, cls) + 1).to(_F64))
    counts, starts = counts.expand(*vs.shape[:-1], -1), starts.expand(*vs.shape[:-1], -1)
    lo = (starts + (counts - 1).clamp(min=0) // 2).clamp(max=n - 1)
    hi = (starts + counts // 2).clamp(max=n - 1)
    med = 0.5 * (vs.gather(-1, lo) + vs.gather(-1, hi))  # [..., d, K]
    k_lo, k_hi = (counts - 1).clamp(min=0) // 2, counts // 2
    mad = 0.5 * (
        _segment_kth_distance(vs, starts, counts, med, k_lo)
        + _segment_kth_distance(vs, starts, counts, med, k_hi)
    )
    scale = _MAD_TO_SD * mad
    cls = cls.expand_as(vs)
    if bool(((mad == 0) & (counts > 0)).any()):
        # A column tied at one value in more than half of a class (e.g. a factor clipped at
        # its bound) has MAD 0; its class standard deviation keeps the scale instead.
        zeros = torch.zeros(scale.shape, dtype=_F64, device=vs.device)
        total = zeros.scatter_add(-1, cls, vs)
        square = zeros.scatter_add(-1, cls, vs.square())
        m = counts.clamp(min=2).to(_F64)
        mean = total / m
        var = (square - m * mean.square()) / (m - 1)
        scale = torch.where(mad > 0, scale, var.clamp(min=0).sqrt())
    return copula * scale.gather(-1, cls) + med.gather(-1, cls)


def _classes_of_positions(counts: Tensor, n: int) -> Tensor:
    """Class ``[..., 1, n]`` of every position of a (class, value) ordering of n samples, from
    the class sizes ``counts [..., 1, K]`` (int64)."""
    ends = counts.cumsum(-1)
    pos = torch.arange(n, dtype=torch.int64, device=counts.device).expand(*ends.shape[:-1], n)
    return torch.searchsorted(ends.contiguous(), pos.contiguous(), right=True)


def _class_rows(yb: Tensor, n_classes: int, keep: Tensor | None = None) -> Tensor:
    """Row ``[..., n]`` of every sample when the samples (those in `keep`) are listed class by
    class, in sample order within a class; samples not kept get the rows after the kept ones."""
    key = yb if keep is None else torch.where(keep, yb, n_classes)
    by_class = key.argsort(dim=-1, stable=True)
    rows = torch.arange(yb.shape[-1], dtype=torch.int64, device=yb.device).expand_as(by_class)
    return torch.empty_like(by_class).scatter_(-1, by_class, rows)


def _mixture_mi_sorted(
    xt: Tensor, sample: Tensor, rows: Tensor, counts: Tensor, n_classes: int
) -> Tensor:
    """`_mixture_mi` (nats) from ``xt [..., d, n]`` and ``sample [..., d, m]``, the m samples of
    every column in (class, value) order; ``rows [..., n]`` from `_class_rows`, ``counts
    [..., 1, K]`` the class sizes (int64). The rescaled values are written class by class."""
    m = sample.shape[-1]
    vs = xt.expand(*sample.shape[:-1], xt.shape[-1]).gather(-1, sample)
    scaled = _rescale_sorted(vs, _classes_of_positions(counts, m), counts)
    target = rows.unsqueeze(-2).expand(*sample.shape[:-1], rows.shape[-1]).gather(-1, sample)
    x_rows = torch.empty(scaled.shape, dtype=_F64, device=xt.device).scatter_(-1, target, scaled)
    return _mixture_mi(x_rows.mT, None, n_classes, counts.squeeze(-2))


def _scaled_mixture_mi(x64: Tensor, yb: Tensor, n_classes: int, order: Tensor) -> Tensor:
    """`gcmi_mixture_cd` in nats for ``x64 [..., n, d]`` and labels ``yb [..., n]``.

    One ordering of the samples by (class, value) serves the within-class ranks, the class
    medians and the class median absolute deviations. `order` sorts each row of ``x`` as
    ``[..., d, n]`` by value, ties by key (broadcastable).
    """
    xt = x64.mT
    counts = _class_counts(yb, n_classes).long().unsqueeze(-2)  # [..., 1, K]
    by_class = _sort_within_classes(xt, yb.unsqueeze(-2), order)[0]
    return _mixture_mi_sorted(xt, by_class, _class_rows(yb, n_classes), counts, n_classes)


def gcmi_mixture_cd(x: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Gaussian-copula MI between continuous ``x`` and discrete ``y``, mixture form, in bits.

    Per class (methods.md 2.6): copula-normalise the class's samples, rescale by
    1.4826 x the class median absolute deviation and shift by the class median of the raw
    values; then :func:`mi_mixture_gd`. Closer to the truth than the model form when classes
    are well separated; no bias correction. A batch of labellings of one ``x`` (a permutation
    null) is computed a few entries of the first batch dimension at a time, so memory stays
    bounded whatever the batch.

    Parameters
    ----------
    x : Tensor, shape (..., n, d) or (n,)
    y : Tensor of integers, shape (..., n), values in [0, n_classes)
    n_classes : int

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device and floating dtype.
    """
    x64, yb = _prepare_cd(x, y, n_classes)
    n, d = x64.shape[-2:]
    _check_class_counts(_class_counts(yb, n_classes), d, "gcmi_mixture_cd")
    # The value order of x does not depend on y: rank x once, before it is broadcast against
    # a batch of labellings (a permutation null relabels the same x many times).
    order = _rank_order(_samples_last(_samples(x, "x"), "x"), None)
    if yb.dim() == 1:
        return (_scaled_mixture_mi(x64, yb, n_classes, order) / _LN2).to(_out_dtype(x))
    order = order.expand(*yb.shape[:-1], d, n)
    # Largest temporaries per entry of dim 0: a few [d, n] index and value tensors (and the
    # per-sample outer products of _class_moments when class sizes differ between entries).
    step = max(1, _MIXTURE_CHUNK_ELEMENTS // max(1, yb[0].numel() * d * max(d, 4)))
    out = [
        _scaled_mixture_mi(x64[s : s + step], yb[s : s + step], n_classes, order[s : s + step])
        for s in range(0, yb.shape[0], step)
    ]
    return (torch.cat(out) / _LN2).to(_out_dtype(x))


def gcmi_mixture_cd_subsamples(x: Tensor, y: Tensor, n_classes: int, keep: Tensor) -> Tensor:
    """`gcmi_mixture_cd` of many subsamples of one sample, in bits, without sorting any of them.

    A subsample's (class, value) order is the full sample's with the dropped samples left out,
    so one ordering of ``x`` serves every subsample (subsampling intervals, methods.md 4.1).
    Values tied in ``x`` keep the order the full sample's tie keys give them: a random
    tie-breaking of the sample restricted to a subsample is a random tie-breaking of it.

    Parameters
    ----------
    x : Tensor, shape (n, d) or (n,)
    y : Tensor of integers, shape (n,), values in [0, n_classes)
    n_classes : int
    keep : bool Tensor, shape (B, n)
        The samples of each subsample; every row keeps the same number of samples.

    Returns
    -------
    Tensor, shape (B,)
        Bits, on ``x``'s device and floating dtype.
    """
    x64, yb = _prepare_cd(x, y, n_classes)
    n, d = x64.shape[-2:]
    if x64.dim() != 2 or keep.dim() != 2 or keep.shape[1] != n or keep.dtype != torch.bool:
        raise ValueError(f"need x (n, d), y (n,) and a bool keep (B, n), got keep {keep.shape}")
    sizes = keep.sum(-1)
    m = int(sizes[0]) if len(sizes) else 0
    if bool((sizes != m).any()):
        raise ValueError("every subsample must keep the same number of samples")
    xt = x64.mT.contiguous()
    order = _rank_order(_samples_last(_samples(x, "x"), "x"), None)
    by_class = _sort_within_classes(xt, yb.unsqueeze(-2), order)[0]
    # Largest temporaries per subsample: a few [d, n] masks, indices and values (and the
    # per-sample outer products of _class_moments when class sizes differ between subsamples).
    step = max(1, _MIXTURE_CHUNK_ELEMENTS // max(1, 4 * d * n, m * d * d))
    out = []
    for s in range(0, keep.shape[0], step):
        k = keep[s : s + step]
        b = k.shape[0]
        sel = k[:, by_class]  # [b, d, n]: is the sample at each sorted position kept?
        sample = by_class.expand(b, d, n)[sel].view(b, d, m)  # kept samples, sorted
        y_b = yb.expand(b, n)
        counts = _class_counts(torch.where(k, y_b, n_classes), n_classes + 1)[:, :n_classes]
        rows = _class_rows(y_b, n_classes, keep=k)
        out.append(_mixture_mi_sorted(xt, sample, rows, counts.long().unsqueeze(-2), n_classes))
    if not out:
        return torch.empty(0, dtype=_out_dtype(x), device=x.device)
    return (torch.cat(out) / _LN2).to(_out_dtype(x))


# ----------------------------------------------------------------------------------------------
# discrete - discrete
# ----------------------------------------------------------------------------------------------


def mi_dd(
    x: Tensor,
    y: Tensor,
    n_x: int,
    n_y: int,
    biascorrect: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Plug-in MI between two discrete variables, in bits (methods.md 2.7).

    ``I = sum p(x,y) log2[p(x,y) / (p(x) p(y))]`` from the observed frequencies (joint counts by
    one scatter-add, batched). With ``biascorrect`` the first-order (Miller-Madow /
    Panzeri-Treves) bias expected under independence, ``(R_x - 1)(R_y - 1) / (2 N ln 2)``
    with R the number of occupied values of each variable, is subtracted; the result may then
    be negative.

    Parameters
    ----------
    x, y : Tensor of integers, shape (..., n), values in [0, n_x) and [0, n_y)
    n_x, n_y : int
        Sizes of the label spaces.
    biascorrect : bool
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    Tensor, shape (...)
        Bits, on ``x``'s device.
    """
    xl, yl = _labels(x, n_x, "x"), _labels(y, n_y, "y")
    if xl.shape[-1] != yl.shape[-1]:
        raise ValueError(f"x and y must have the same number of samples, got {x.shape}, {y.shape}")
    batch = _batch(xl.shape[:-1], yl.shape[:-1])
    n = xl.shape[-1]
    joint = _expand(xl, batch, 1) * n_y + _expand(yl, batch, 1)
    counts = torch.zeros(*batch, n_x * n_y, dtype=_F64, device=xl.device)
    counts = counts.scatter_add(-1, joint, torch.ones_like(joint, dtype=_F64))
    pxy = counts.unflatten(-1, (n_x, n_y)) / n
    px, py = pxy.sum(-1, keepdim=True), pxy.sum(-2, keepdim=True)
    ratio = torch.where(pxy > 0, pxy / (px * py), 1.0)
    i = (pxy * torch.log2(ratio)).sum((-2, -1))
    if biascorrect:
        r_x = (px > 0).sum((-2, -1)).to(_F64)
        r_y = (py > 0).sum((-2, -1)).to(_F64)
        i = i - (r_x - 1) * (r_y - 1) / (2 * n * _LN2)
    return i.to(dtype)


# ----------------------------------------------------------------------------------------------
# sweeps and their building blocks (also used by analyses.stats)
# ----------------------------------------------------------------------------------------------


def mi_from_corr(r: Tensor, n: int, biascorrect: bool = True) -> Tensor:
    """Univariate Gaussian MI from the Pearson correlation of copula-normalised data, in bits.

    ``I = -0.5 log2(1 - r^2)`` minus, when ``biascorrect``, the bias
    ``[psi((n-1)/2) - psi((n-2)/2)] / (2 ln 2)`` (= B(n,1) + B(n,1) - B(n,2), methods.md 2.4).
    ``r^2`` is clamped below 1 by the dtype's machine epsilon so |r| = 1 stays finite.

    Parameters
    ----------
    r : Tensor, any shape
        Correlations.
    n : int
        Number of samples the correlations were computed from.
    biascorrect : bool

    Returns
    -------
    Tensor, shape of ``r``
        Bits, on ``r``'s device and in ``r``'s floating dtype.
    """
    dtype = _out_dtype(r)
    r2 = r.to(dtype).square().clamp(max=1 - torch.finfo(dtype).eps)
    mi = -0.5 / _LN2 * torch.log1p(-r2)
    if biascorrect:
        mi = mi - _corr_bias_bits(n)
    return mi


def mi_from_class_var(
    var: Tensor, class_var: Tensor, class_counts: Tensor, biascorrect: bool = True
) -> Tensor:
    """Univariate model-form MI (continuous - discrete) from variances, in bits (methods.md 2.5).

    ``I = [0.5 ln var - sum_y p(y) 0.5 ln var_y] / ln 2``, with ``p(y) = N_y / N`` and
    ``N = sum_y N_y``; with ``biascorrect`` each entropy is corrected by its own B(N, 1) or
    B(N_y, 1). Classes with count 0 contribute nothing.

    Parameters
    ----------
    var : Tensor, broadcastable to ``class_var.shape[:-1]``
        Pooled unbiased variance of the (copula-normalised) variable.
    class_var : Tensor, shape (..., k)
        Unbiased variance within each of the k classes (class mean removed).
    class_counts : Tensor, broadcastable to (..., k)
        Samples per class.
    biascorrect : bool

    Returns
    -------
    Tensor, shape (...)
        Bits, in the promoted floating dtype of ``var`` and ``class_var``.

    Raises
    ------
    ValueError
        If a class holds exactly one sample (its variance is undefined).
    """
    dtype = torch.promote_types(_out_dtype(var), _out_dtype(class_var))
    counts = class_counts.to(_F64)
    if bool((counts == 1).any()):
        raise DataError(
            "a class holds only 1 sample but univariate class variances need N_y > 1; "
            "merge or drop rare classes before the call"
        )
    occupied = counts > 0
    n = counts.sum(-1)
    h = 0.5 * torch.log(var.to(dtype))
    h_y = 0.5 * torch.log(class_var.to(dtype))
    if biascorrect:
        h = h - _ent_bias_t(n, 1).to(dtype)
        h_y = h_y - _ent_bias_t(torch.where(occupied, counts, 2.0), 1).to(dtype)
    p = (counts / n.unsqueeze(-1)).to(dtype)
    cond = torch.where(occupied, p * h_y, torch.zeros((), dtype=dtype, device=h_y.device))
    return (h - cond.sum(-1)) / _LN2


def gcmi_sweep_cc(a: Tensor, b: Tensor) -> Tensor:
    """Bias-corrected GCMI between every column of ``a`` and every column of ``b``, in bits.

    All pairs come from one matrix product of the copula-normalised, unit-norm columns
    (correlations), turned into MI by :func:`mi_from_corr`; each column is univariate.
    Equals :func:`gcmi_cc` on each pair.

    Parameters
    ----------
    a, b : Tensor, shapes (..., n, u) and (..., n, f), samples on dim -2, leading dims batched

    Returns
    -------
    Tensor, shape (..., u, f)
        Bits, on ``a``'s device and floating dtype.
    """
    a2, b2 = _samples(a, "a"), _samples(b, "b")
    n = _check_n(a2, b2, names="a and b")
    ca, cb = _copnorm64(a2, None, "a"), _copnorm64(b2, None, "b")
    # Copula scores have zero mean, so the uncentred cosine is the Pearson correlation (as in
    # gcmi_cc, which treats them as demeaned).
    ca = ca / ca.norm(dim=-2, keepdim=True)
    cb = cb / cb.norm(dim=-2, keepdim=True)
    return mi_from_corr(ca.mT @ cb, n, biascorrect=True).to(_out_dtype(a))


def gcmi_sweep_cd(a: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Bias-corrected model-form GCMI between every column of ``a`` and every column of ``y``.

    Class counts, sums and sums of squares for all (column, discrete variable, class) triples
    come from two matrix products with the one-hot labels; :func:`mi_from_class_var` turns
    them into MI. Equals :func:`gcmi_model_cd` on each pair.

    Parameters
    ----------
    a : Tensor, shape (..., n, u)
        Continuous columns, each univariate.
    y : Tensor of integers, shape (..., n, k) (or (n,) for one discrete variable)
        Each column a discrete variable with labels in [0, n_classes).
    n_classes : int

    Returns
    -------
    Tensor, shape (..., u, k)
        Bits, on ``a``'s device and floating dtype.
    """
    a2 = _samples(a, "a")
    yl = _labels(y, n_classes, "y")
    yl = yl.unsqueeze(-1) if yl.dim() == 1 else yl
    n = _check_n(a2, yl, names="a and y")
    k = yl.shape[-1]
    ca = _copnorm64(a2, None, "a")  # [..., n, u]
    oh = _one_hot(yl, n_classes).flatten(-2)  # [..., n, k * K]
    counts = oh.sum(dim=-2)  # [..., k * K]
    _check_class_counts(counts, 1, "gcmi_sweep_cd")
    s1 = ca.mT @ oh  # [..., u, k * K]
    s2 = ca.square().mT @ oh
    c = counts.unsqueeze(-2)
    class_var = (s2 - s1.square() / c.clamp(min=1)) / (c - 1).clamp(min=1)
    class_var = torch.where(c > 0, class_var, 1.0).unflatten(-1, (k, n_classes))
    var = ca.square().sum(dim=-2) / (n - 1)  # pooled, zero-mean scores: [..., u]
    mi = mi_from_class_var(var.unsqueeze(-1), class_var, c.unflatten(-1, (k, n_classes)))
    return mi.to(_out_dtype(a))
