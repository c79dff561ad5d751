"""Permutation nulls, max-statistic FWER p-values and resampling confidence intervals.

Everything here is batched torch: a permutation null for every unit-factor pair of a
layer is a handful of large matrix products, not a loop over pairs or permutations.
Information is in bits; samples (trials) lie along dim -2 (``[n, d]``); results come
back on the device and with the dtype of the activations ``a``.

Reproducibility: permutation ``k`` is a pure function of ``(seed, k, n)``. The same seed
therefore gives bit-identical permutations whatever the chunk size and whatever the device
(they are drawn by the CPU's generator and then moved), and different seeds give different
permutations. A CPU run and a CUDA run of the same study test against the same null.

References: Nichols & Holmes 2002 (max statistic); Phipson & Smyth 2010 (p-values never
zero); Politis, Romano & Wolf 1999, *Subsampling* (m-out-of-n intervals); methods.md
sections 2.4, 2.5, 2.9 and 4.1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from analyses.info import copnorm, mi_from_class_var, mi_from_corr

__all__ = [
    "BootstrapCI",
    "bootstrap_ci",
    "max_stat_pvalues",
    "max_stat_threshold",
    "perm_pvalues",
    "perm_sweep_cc",
    "perm_sweep_cd",
    "permutation_chunks",
    "permutation_indices",
    "standardized_max_pvalues",
]

# Permutations are drawn in fixed blocks, each from its own generator seeded by
# (seed, block index); this is what makes the null independent of the chunk size.
_PERM_BLOCK = 64
# Default working-memory budgets of one permutation chunk (buffers and temporaries, not
# the output). Smaller chunks mean fewer fresh pages to fault in, larger ones fewer
# operations (each costs a thread synchronisation, dear on a busy machine). Measured on
# 2 CPU threads at the sizes of bench/perm_sweep.py: the cc sweep is best near 500
# permutations per chunk (~45 MiB), the cd sweep near 32 to 64 (~30 to 55 MiB).
_CC_CHUNK_BYTES = 48 * 2**20
_CD_CHUNK_BYTES = 48 * 2**20
# Column width of the tiles of the bag-sum weight on CPU: n rows of 64 float32 columns
# (512 KiB at n = 2000) stay in L2 while every bag of a chunk reads them. Whole cd sweep at
# the benchmark sizes, 2 threads, median of 6: 476 ms at 64 columns, 516 at 32, 506 at
# 128, 610 at 256; whole rows (1024 columns) take about twice as long per bag.
_BAG_TILE_CPU = 64
_MIX_A = 0x9E3779B97F4A7C15  # odd 64-bit constants (golden ratio, splitmix64) to
_MIX_B = 0xBF58476D1CE4E5B9  # spread (seed, block) pairs over the generator's seed space


def _block_seed(seed: int, block: int) -> int:
    return (seed * _MIX_A + (block + 1) * _MIX_B) % (2**63)


def _perm_block(n: int, seed: int, block: int, device: torch.device) -> Tensor:
    """``[_PERM_BLOCK, n]`` int64 on `device`; row p is a uniform random permutation of
    ``range(n)``, drawn on the CPU (Fisher-Yates) so that every device sees the same rows."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(_block_seed(seed, block))
    out = torch.empty(_PERM_BLOCK, n, dtype=torch.int64)
    for row in out:
        torch.randperm(n, generator=gen, out=row)
    # 64 x n int64 per block: a few MiB at most to copy, against the sweeps' GEMMs.
    return out.to(device)


class _PermStream:
    """Permutations ``start .. start + count - 1`` of the sequence for one seed.

    The last generated block is kept, so chunks that are not multiples of the block
    size do not draw any block twice.
    """

    def __init__(self, n: int, seed: int, device: torch.device) -> None:
        self.n, self.seed, self.device = n, seed, device
        self._cached: tuple[int, Tensor] | None = None

    def _block(self, b: int) -> Tensor:
        if self._cached is None or self._cached[0] != b:
            self._cached = (b, _perm_block(self.n, self.seed, b, self.device))
        return self._cached[1]

    def _pieces(self, start: int, count: int) -> list[Tensor]:
        stop = start + count
        pieces = []
        for b in range(start // _PERM_BLOCK, (stop - 1) // _PERM_BLOCK + 1):
            lo = max(start, b * _PERM_BLOCK) - b * _PERM_BLOCK
            hi = min(stop, (b + 1) * _PERM_BLOCK) - b * _PERM_BLOCK
            pieces.append(self._block(b)[lo:hi])
        return pieces

    def rows(self, start: int, count: int) -> Tensor:
        """``[count, n]``: one permutation per row."""
        if count <= 0:
            return torch.empty(0, self.n, dtype=torch.int64, device=self.device)
        return torch.cat(self._pieces(start, count), dim=0)

    def columns(self, start: int, count: int, out: Tensor) -> Tensor:
        """Into contiguous ``out [n, count]``: one permutation per column, the layout the
        sweeps gather with (trial t of permutation p at flat index ``t * count + p``)."""
        return torch.cat([p.T for p in self._pieces(start, count)], dim=1, out=out)


def permutation_indices(
    n: int,
    n_perm: int,
    seed: int,
    *,
    device: torch.device | str | None = None,
    start: int = 0,
) -> Tensor:
    """The trial permutations used by the permutation sweeps.

    Row ``k`` is permutation number ``start + k``; ``perm_sweep_cc(a, b, ...)`` computes
    its null slice ``k`` on ``b[perm[k]]`` (and ``perm_sweep_cd`` on ``y[perm[k]]``).

    Parameters
    ----------
    n : number of trials.
    n_perm : number of permutations returned.
    seed : integer seed; the same seed gives identical rows on every device.
    device : where the permutations are generated (default CPU).
    start : index of the first permutation returned.

    Returns
    -------
    perm : Tensor, shape (n_perm, n), int64; every row is a permutation of ``range(n)``.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    return _PermStream(n, seed, device).rows(start, n_perm)


def permutation_chunks(
    n: int,
    n_perm: int,
    seed: int,
    chunk: int,
    *,
    device: torch.device | str | None = None,
) -> Iterator[tuple[int, Tensor]]:
    """``(start, perms)`` for consecutive chunks of the rows of
    ``permutation_indices(n, n_perm, seed)``, each ``[<= chunk, n]``: one stream, so a
    block of the sequence is drawn once however small the chunks are."""
    device = torch.device("cpu") if device is None else torch.device(device)
    stream = _PermStream(n, seed, device)
    step = max(1, int(chunk))
    for start in range(0, n_perm, step):
        yield start, stream.rows(start, min(step, n_perm - start))


def _check_trials(a: Tensor, other: Tensor, other_name: str) -> int:
    if a.dim() != 2 or other.dim() != 2:
        raise ValueError(
            f"a and {other_name} must be 2-D [n, columns]; got shapes "
            f"{tuple(a.shape)} and {tuple(other.shape)}"
        )
    n = a.shape[0]
    if other.shape[0] != n:
        raise ValueError(f"a has {n} trials but {other_name} has {other.shape[0]}")
    if n < 3:
        raise ValueError(f"need at least 3 trials for bias-corrected GCMI, got {n}")
    return n


def _check_n_perm(n_perm: int) -> None:
    if isinstance(n_perm, bool) or not isinstance(n_perm, int) or n_perm < 0:
        raise ValueError(f"n_perm must be a non-negative integer, got {n_perm!r}")


def _default_chunk(per_perm_bytes: int, n_perm: int, budget: int) -> int:
    chunk = max(1, budget // max(per_perm_bytes, 1))
    if chunk >= _PERM_BLOCK:
        chunk -= chunk % _PERM_BLOCK  # whole blocks: no block is generated twice
    return max(1, min(chunk, n_perm))


def _copnorm_rows(x: Tensor) -> Tensor:
    """Copula scores of ``x [n, m]`` laid out as ``[m, n]``: one contiguous row per column.

    Bit-identical to ``copnorm(x).T`` (same ranks, same float64 quantile grid cast to the
    output dtype), but sorts contiguous rows of integer keys: a float's bit pattern read as
    a signed integer, with the magnitude bits of negative numbers flipped, orders exactly as
    the float does (after ``+ 0.0`` has turned -0.0 into +0.0), and integers sort about 1.4x
    faster than floats on CPU. Columns with ties (or NaN) go through ``copnorm`` itself, so
    tie-breaking is defined in one place (methods.md 4.1); ``copnorm`` treats every column
    on its own, so handing it only those columns gives the same scores.
    """
    if not x.is_floating_point():
        return copnorm(x).T.contiguous()
    n = x.shape[0]
    rows = (x.T + 0.0).contiguous()
    itype = {2: torch.int16, 4: torch.int32, 8: torch.int64}[rows.element_size()]
    bits = rows.view(itype)
    keys = torch.where(bits < 0, bits ^ torch.iinfo(itype).max, bits)
    values, order = torch.sort(keys, dim=1)
    grid = torch.arange(1, n + 1, dtype=torch.float64, device=x.device) / (n + 1)
    grid = torch.special.ndtri(grid).to(x.dtype)
    out = torch.empty_like(rows).scatter_(1, order, grid.expand_as(order))
    # Float32 activations often hold a few exact repeats; NaN must reach copnorm's error.
    special = (values[:, 1:] == values[:, :-1]).any(dim=1) | torch.isnan(rows).any(dim=1)
    if bool(special.any()):
        cols = special.nonzero().squeeze(1)
        out[cols] = copnorm(x.index_select(1, cols)).T
    return out


def _unit_rows(x: Tensor) -> Tensor:
    """Scale every row to unit Euclidean norm (new tensor).

    Copula scores are zero-mean by the symmetry of the quantile grid, so after this the
    product of two such row blocks is the matrix of Pearson correlations.
    """
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def _chunks(n_perm: int, chunk: int | None, per_perm_bytes: int, budget: int) -> tuple[int, range]:
    if chunk is None:
        chunk = _default_chunk(per_perm_bytes, n_perm, budget)
    elif isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    return chunk, range(0, n_perm, chunk)


def _corr_bias(n: int, like: Tensor) -> float:
    """The bias term of `mi_from_corr` for n samples, in bits, taken from it directly."""
    return -float(mi_from_corr(like.new_zeros((), dtype=torch.float64), n))


def _mi_from_corr_into(r: Tensor, out: Tensor, bias: float) -> None:
    """``out = mi_from_corr(r, n)`` for a large null block, computed in `out`.

    Same clamp and bias as `analyses.info.mi_from_corr` (the tests check the two agree
    to 1e-6 bits), as ``-0.5 log2(max(1 - r^2, eps)) - bias`` in four passes over `out`
    and no temporaries: fresh allocations of this size cost more in page faults than
    the arithmetic. ``log(1 - r^2)`` instead of ``log1p(-r^2)`` loses at most ~1e-7
    bits in float32. `r` may be a strided view.
    """
    one = torch.ones((), dtype=out.dtype, device=out.device)
    torch.addcmul(one, r, r, value=-1, out=out)
    out.clamp_(min=torch.finfo(out.dtype).eps).log2_()
    torch.add(out.new_full((), -bias), out, alpha=-0.5, out=out)


def perm_sweep_cc(
    a: Tensor,
    b: Tensor,
    n_perm: int,
    seed: int,
    *,
    chunk: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """GCMI of every column of `a` with every column of `b`, with its permutation null.

    Each column pair is univariate: ``mi[i, j] = I(a[:, i]; b[:, j])`` in bits,
    bias-corrected (methods.md 2.4), as ``analyses.info.gcmi_sweep_cc(a, b)``. Both
    inputs are copula-normalised once; permutation ``k`` shuffles the trials of the
    normalised `b` with one permutation shared by all columns (methods.md 2.9, which
    keeps the dependence between tests that max-statistic correction relies on). Each
    chunk of permutations is one matrix product ``[u, n] @ [n, f * chunk]`` of unit-norm
    copula scores (Pearson r), turned into bits as ``mi_from_corr`` does.

    Accuracy: float64 matches ``gcmi_sweep_cc`` to ~1e-15 bits. float32 sums n products
    in float32, so r carries ~sqrt(n) * 6e-8 relative error: ~1e-7 bits near
    independence (the null), up to ~1e-4 bits for |r| close to 1.

    Parameters
    ----------
    a : Tensor, shape (n, u); activations, float32 or float64.
    b : Tensor, shape (n, f); continuous factors (cast to `a`'s dtype after copnorm).
    n_perm : number of permutations K (>= 1000 for reporting at alpha = 0.05).
    seed : integer seed of the permutations (see `permutation_indices`).
    chunk : permutations per matrix product; default from a ~48 MiB working budget
        (the 1000 permutations of the benchmark case in two products). The result does not
        depend on it (up to BLAS rounding of the product).
    on_progress : called with the number of permutations finished after each chunk.

    Returns
    -------
    mi : Tensor, shape (u, f); observed GCMI in bits.
    null : Tensor, shape (n_perm, u, f); ``null[k]`` is the GCMI of `a` with
        ``b[permutation_indices(n, n_perm, seed)[k]]``, in bits.
    """
    n = _check_trials(a, b, "b")
    _check_n_perm(n_perm)
    u, f = a.shape[1], b.shape[1]
    # za [u, n] is the fast left operand of one wide GEMM; zb [n, f] has the trials as
    # rows so that shuffling trials is a row gather.
    za = _unit_rows(_copnorm_rows(a))
    if b.is_floating_point():  # rank b at no less than its own precision
        b = b.to(torch.promote_types(a.dtype, b.dtype))
    zb = _unit_rows(_copnorm_rows(b.to(device=a.device))).to(a.dtype).T.contiguous()

    mi = mi_from_corr(za @ zb, n)
    null = a.new_empty((n_perm, u, f))
    # Per permutation: the gathered b block, the product and the indices.
    per_perm = a.element_size() * (n * f + u * f) + 8 * n
    chunk, starts = _chunks(n_perm, chunk, per_perm, _CC_CHUNK_BYTES)
    # Working buffers reused by every chunk: no fresh pages to fault in per chunk.
    width = min(chunk, n_perm)
    idx_buf = torch.empty(n * width, dtype=torch.int64, device=a.device)
    zb_buf, r_buf = a.new_empty(n * width * f), a.new_empty(u * width * f)
    bias = _corr_bias(n, a)
    perms = _PermStream(n, seed, a.device)
    for s in starts:
        c = min(s + chunk, n_perm) - s
        idx = idx_buf[: n * c]
        perms.columns(s, c, out=idx.view(n, c))
        # Row t of the gathered block holds, for every permutation p of the chunk and every
        # factor j, zb[perm_p[t], j]: the [n, c * f] right operand in one index_select.
        zb_perm = zb_buf[: n * c * f].view(n * c, f)
        torch.index_select(zb, 0, idx, out=zb_perm)
        r = r_buf[: u * c * f].view(u, c * f)
        torch.matmul(za, zb_perm.view(n, c * f), out=r)
        _mi_from_corr_into(r.view(u, c, f).transpose(0, 1), null[s : s + c], bias)
        if on_progress is not None:
            on_progress(c)
    return mi, null


def _class_counts(y: Tensor, n_classes: int) -> Tensor:
    """``[k, n_classes]`` trial counts of every class in every column of `y` (int64)."""
    k = y.shape[1]
    counts = torch.zeros(k, n_classes, dtype=torch.int64, device=y.device)
    counts.scatter_add_(1, y.T, torch.ones_like(y.T))
    return counts


class _ModelMIKernel:
    """Model-form GCMI of fixed copula scores against chunks of relabelled targets.

    For univariate X the model form (methods.md 2.5) is
    ``I = [0.5 ln var - B(N) - sum_c p_c (0.5 ln v_c - B(N_c))] / ln 2`` with
    ``v_c = (S2_c - S1_c^2 / N_c) / (N_c - 1)`` from the class sums S1, S2 of the scores
    and of their squares. Only ``S2_c - S1_c^2 / N_c`` changes under permutation (class
    counts, hence p_c and every bias term, do not), so everything else is one constant
    per (unit, target), taken from ``mi_from_class_var`` itself evaluated at unit class
    variances; the tests check the result against ``gcmi_sweep_cd``.

    The class sums are bag sums (``embedding_bag``, mode "sum") over the rows of
    ``W = [ca ; ca^2]^T`` (``[n, 2u]``): one bag per (permutation, target, class) that
    lists the trials the permutation puts in that class. That is n row additions per
    (permutation, target), C times less arithmetic than a product with a 0/1
    class-indicator matrix. Each target's largest class gets no bag: its sums are the
    column totals minus the other classes' sums. On CPU, W is read in tiles of a few
    columns so that the tile stays in cache while every bag of a chunk reads it.
    """

    def __init__(self, ca: Tensor, y: Tensor, counts: Tensor, max_chunk: int) -> None:
        u, n = ca.shape
        k, n_classes = counts.shape
        cm1 = n_classes - 1
        self.u, self.k, self.cm1 = u, k, cm1
        dev, dt = ca.device, ca.dtype
        # Relabel every target so that its largest class is the last one, the class
        # recovered from the totals (MI does not depend on the names of the classes).
        cols = torch.arange(k, device=dev)
        big = counts.argmax(dim=1)
        swap = torch.arange(n_classes, device=dev).repeat(k, 1)
        swap[cols, big], swap[cols, cm1] = cm1, big
        y = swap.gather(1, y.T).T  # swap is its own inverse: old label -> new label
        counts = counts.gather(1, swap)
        # Trials sorted by class within every target; the last (largest) class dropped.
        order = torch.sort(y, dim=0, stable=True).indices  # [n, k]
        kept = (n - counts[:, cm1]).tolist()
        self.keep = torch.cat([order[: kept[j], j] for j in range(k)])  # [L]
        seg = counts[:, :cm1]
        base = torch.tensor(kept, device=dev).cumsum(0) - torch.tensor(kept, device=dev)
        starts = (base.view(k, 1) + seg.cumsum(1) - seg).reshape(1, -1)  # [1, k * cm1]
        # Bag indices and offsets for up to max_chunk permutations at once, flat: entry
        # p * L + i lists the i-th kept trial of permutation p. int32 halves the index
        # traffic; int64 only where a chunk lists 2^31 trials or more.
        length = self.keep.numel()
        self.length = length
        itype = torch.int32 if max_chunk * max(length, n) < 2**31 else torch.int64
        rows = torch.arange(max_chunk, device=dev).view(-1, 1)
        self.flat_keep = (self.keep.view(1, -1) + rows * n).reshape(-1).to(itype)
        self.offsets = (starts + rows * length).reshape(-1).to(itype)
        self.trials = torch.arange(n, device=dev, dtype=itype)

        weight = torch.cat([ca, ca.square()], dim=0).T  # [n, 2u]
        width = _BAG_TILE_CPU if dev.type == "cpu" else 2 * u
        self.tiles = [weight[:, i : i + width].contiguous() for i in range(0, 2 * u, width)]
        self.totals = weight.sum(dim=0).view(2, u)  # [S1, S2] over all trials
        # Unbiased pooled variance of zero-mean copula scores, as in gcmi_sweep_cd.
        pooled_var = self.totals[1].view(u, 1) / (n - 1)
        n_c = counts.to(torch.float64)
        occupied = counts > 0
        unit = torch.ones(k, n_classes, dtype=dt, device=dev)
        base_mi = mi_from_class_var(pooled_var, unit, counts)  # [u, k], bits
        p = n_c / n
        log_nm1 = torch.where(occupied, (n_c - 1).clamp(min=1).log(), 0.0)
        # v_c = D_c / (N_c - 1) with D_c = S2_c - S1_c^2 / N_c: ln(N_c - 1) is constant.
        shift = (0.5 / math.log(2.0)) * (p * log_nm1).sum(-1)
        self.const = (base_mi + shift.to(dt)).T.contiguous()  # [k, u]
        self.p_main = p[:, :cm1].to(dt).view(k, cm1, 1)
        self.p_last = p[:, cm1].to(dt).view(k, 1)
        inv_sqrt = torch.where(occupied, n_c.clamp(min=1).rsqrt(), 0.0).to(dt)
        self.inv_sqrt_main = inv_sqrt[:, :cm1].reshape(k, cm1, 1)
        self.inv_n_last = (1.0 / n_c[:, cm1]).to(dt).view(k, 1)
        # Empty classes have D_c = 0 and weight 0; a placeholder of 1 keeps 0 * log(D_c)
        # from becoming NaN. The last class is the largest, never empty.
        empty = (~occupied[:, :cm1]).to(dt).view(k, cm1, 1)
        self.empty_main = empty if bool(empty.any()) else None

    def __call__(self, perm: Tensor | None, out: Tensor) -> None:
        """GCMI (bits) for the relabellings ``y[perm[p]]`` into ``out [c, u, k]``.

        `perm` is ``[c, n]``, one permutation per row (None: the observed labelling).
        """
        u, k, cm1 = self.u, self.k, self.cm1
        c = 1 if perm is None else perm.shape[0]
        if perm is None:
            idx = self.flat_keep[: self.length]
        else:
            # Under y[perm], trial t has the class of trial perm[t]: the bag of class c
            # holds inv[s] for every trial s of class c, where inv[perm[t]] = t.
            inv = torch.empty(perm.shape, dtype=self.trials.dtype, device=perm.device)
            inv.scatter_(1, perm, self.trials.expand_as(perm))
            idx = inv.view(-1).index_select(0, self.flat_keep[: c * self.length])
        offsets = self.offsets[: c * k * cm1]
        parts = [F.embedding_bag(idx, w, offsets, mode="sum") for w in self.tiles]
        sums = torch.cat(parts, dim=1).view(c, k, cm1, 2, u)
        last = self.totals - sums.sum(dim=2)  # [c, k, 2, u]: the largest class's sums
        s1, s2 = sums[:, :, :, 0], sums[:, :, :, 1]
        s2.addcmul_(s1.mul_(self.inv_sqrt_main), s1, value=-1)  # D_c, in place
        if self.empty_main is not None:
            s2.add_(self.empty_main)
        acc = s2.log_().mul_(self.p_main).sum(dim=2)  # sum_c p_c ln D_c, [c, k, u]
        l1, l2 = last[:, :, 0], last[:, :, 1]
        d_last = l2.addcmul_(l1, l1 * self.inv_n_last, value=-1)
        acc.add_(d_last.log_().mul_(self.p_last))
        torch.add(self.const, acc, alpha=-0.5 / math.log(2.0), out=acc)
        out.copy_(acc.transpose(1, 2))


def perm_sweep_cd(
    a: Tensor,
    y: Tensor,
    n_classes: int,
    n_perm: int,
    seed: int,
    *,
    chunk: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Model-form GCMI of every column of `a` with every discrete column of `y`, with null.

    ``mi[i, j] = I(a[:, i]; y[:, j])`` in bits, bias-corrected, class-conditional
    Gaussian ("model") form of methods.md 2.5, as ``analyses.info.gcmi_sweep_cd``. `a`
    is copula-normalised once, pooled over trials; permutation ``k`` shuffles the
    trials of `y` with one permutation shared by all columns. The pooled variance and
    the class counts do not change under permutation and are computed once; per
    permutation, the class sums of the values and of their squares are bag sums of
    rows, ``2 u n k (C - 1) / C`` additions (see `_ModelMIKernel`), about ``2 / C`` of
    the work of a product with a class-indicator matrix.

    Accuracy: float64 matches ``gcmi_sweep_cd`` to ~1e-15 bits; float32 to ~1e-6 bits
    near independence and ~1e-5 bits when class means lie far apart.

    Parameters
    ----------
    a : Tensor, shape (n, u); activations, float32 or float64.
    y : Tensor, shape (n, k); integer class labels in ``[0, n_classes)``. No class may
        hold exactly 1 trial in any column (merge or drop rare classes first, methods.md
        4.4); empty classes are allowed and carry zero weight, as in ``gcmi_sweep_cd``.
    n_classes : number of classes C.
    n_perm : number of permutations K.
    seed : integer seed of the permutations (see `permutation_indices`).
    chunk : permutations per batch of bag sums; default from a ~48 MiB working budget.
        The result does not depend on it: every bag is summed on its own.
    on_progress : called with the number of permutations finished after each chunk.

    Returns
    -------
    mi : Tensor, shape (u, k); observed GCMI in bits.
    null : Tensor, shape (n_perm, u, k); ``null[k']`` is the GCMI of `a` with
        ``y[permutation_indices(n, n_perm, seed)[k']]``, in bits.
    """
    n = _check_trials(a, y, "y")
    _check_n_perm(n_perm)
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    y = y.to(device=a.device, dtype=torch.int64)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y holds labels outside [0, {n_classes}): {int(y.min())}..{int(y.max())}")
    counts = _class_counts(y, n_classes)
    if bool((counts == 1).any()):
        bad = [f"column {j}, class {c}" for j, c in (counts == 1).nonzero().tolist()]
        raise ValueError(
            "a class holds only 1 trial but class variances need at least 2 ("
            + "; ".join(bad[:5])
            + "); merge or drop rare classes before the call"
        )
    u, k = a.shape[1], y.shape[1]
    if u == 0 or k == 0:  # nothing to test (and no bags to sum)
        return a.new_zeros((u, k)), a.new_zeros((n_perm, u, k))

    # Copula scores, pooled over trials, once, as [u, n] rows.
    ca = _copnorm_rows(a)
    # Per permutation: bag indices and offsets, bag sums (twice: tiles, then joined)
    # and the per-class temporaries.
    per_perm = 12 * n * k + a.element_size() * (4 * u * k * n_classes + 2 * u * k)
    chunk, starts = _chunks(n_perm, chunk, per_perm, _CD_CHUNK_BYTES)
    kernel = _ModelMIKernel(ca, y, counts, max(1, min(chunk, n_perm)))
    mi = a.new_empty((1, u, k))
    kernel(None, mi)
    mi = mi[0]
    null = a.new_empty((n_perm, u, k))
    perms = _PermStream(n, seed, a.device)
    for s in starts:
        c = min(s + chunk, n_perm) - s
        kernel(perms.rows(s, c), null[s : s + c])
        if on_progress is not None:
            on_progress(c)
    return mi, null


def _perm_maxima(null: Tensor) -> Tensor:
    """``[K]`` maximum of each permutation over all tests, NaN ignored (-inf if all NaN)."""
    flat = null.reshape(null.shape[0], -1)
    if flat.shape[1] == 0:
        return flat.new_full((flat.shape[0],), -math.inf)
    return torch.where(torch.isnan(flat), -math.inf, flat).amax(dim=1)


def max_stat_pvalues(mi: Tensor, null: Tensor) -> Tensor:
    """Family-wise-error-corrected p-values by the maximum statistic (methods.md 2.9).

    The family is every element of `mi`. For each permutation k,
    ``M_k = max over all tests of null[k]``; then
    ``p_j = (1 + #{k : M_k >= mi_j}) / (K + 1)``, never 0, at least ``1 / (K + 1)``.
    One-sided (large MI is evidence); for signed statistics pass absolute values.

    NaN handling: NaN entries of `null` are ignored when taking each maximum (a
    permutation whose entries are all NaN has ``M_k = -inf`` and never counts); a NaN
    in `mi` gives a NaN p-value. Tests that could only be NaN are thus dropped from the
    family rather than poisoning every maximum.

    Parameters
    ----------
    mi : Tensor, shape S; observed statistics (bits).
    null : Tensor, shape (K, *S); the statistics under K permutations, each computed
        with one permutation shared by all tests.

    Returns
    -------
    p : Tensor, shape S; corrected p-values in ``[1/(K+1), 1]``, dtype of `mi`.
    """
    if tuple(null.shape[1:]) != tuple(mi.shape):
        raise ValueError(
            f"null must be [K, *mi.shape]; got mi {tuple(mi.shape)} and null {tuple(null.shape)}"
        )
    n_perm = null.shape[0]
    maxima = _perm_maxima(null).to(mi.dtype).sort().values
    obs = mi.reshape(-1).contiguous()
    # With the maxima sorted ascending, #{M_k >= t} = K - (index of the first M_k >= t).
    below = torch.searchsorted(maxima, obs, side="left")
    p = (1 + (n_perm - below)).to(mi.dtype) / (n_perm + 1)
    p = torch.where(torch.isnan(obs), torch.nan, p)
    return p.view(mi.shape)


def perm_pvalues(mi: Tensor, null: Tensor) -> Tensor:
    """Uncorrected permutation p-values, each test against its own null.

    ``p_j = (1 + #{k : null[k, j] >= mi_j}) / (K + 1)`` (Phipson & Smyth 2010), one-sided.

    Parameters
    ----------
    mi : Tensor, shape S; observed statistics.
    null : Tensor, shape (K, *S).

    Returns
    -------
    p : Tensor, shape S; p-values in ``[1/(K+1), 1]``, dtype of `mi`.
    """
    if tuple(null.shape[1:]) != tuple(mi.shape):
        raise ValueError(
            f"null must be [K, *mi.shape]; got mi {tuple(mi.shape)} and null {tuple(null.shape)}"
        )
    n_perm = null.shape[0]
    exceed = (null >= mi.unsqueeze(0)).sum(0)
    return ((1 + exceed).to(mi.dtype) / (n_perm + 1)).where(~torch.isnan(mi), torch.nan)


def standardized_max_pvalues(mi: Tensor, null: Tensor) -> Tensor:
    """FWER-corrected p-values by the maximum of standardized statistics (methods.md 2.9).

    Tests whose nulls have different scales (different estimators or dimensions) cannot share
    a raw maximum: the widest null would dominate. Each statistic is therefore centred and
    scaled by its own permutation null, ``z = (t - mean(null)) / sd(null)``, for the observed
    data and for every permutation alike, and the maximum statistic is applied to z. The
    transform is the same for observed and permuted values and one permutation is shared by
    every test, so the family-wise control of the maximum statistic carries over. Unlike the
    minimum p-value, the result is not limited by the discreteness of per-test p-values
    (which caps its resolution at about T/(K+1) for T tests).

    Parameters
    ----------
    mi : Tensor, shape (T,); observed statistics.
    null : Tensor, shape (K, T).

    Returns
    -------
    p : Tensor, shape (T,); corrected p-values in ``[1/(K+1), 1]``, dtype of `mi`. A test
        whose null is constant (sd 0) is left out of the family and gets its own
        uncorrected p-value.
    """
    if null.dim() != 2 or tuple(null.shape[1:]) != tuple(mi.shape):
        raise ValueError(
            f"null must be [K, T] with mi [T]; got mi {tuple(mi.shape)}, null {tuple(null.shape)}"
        )
    mean = null.nanmean(dim=0)
    sd = (null - mean).square().nanmean(dim=0).sqrt()
    ok = sd > 0
    scale = torch.where(ok, sd, 1.0)
    z_obs = torch.where(ok, (mi - mean) / scale, torch.nan)
    z_null = torch.where(ok, (null - mean) / scale, torch.nan)
    p = max_stat_pvalues(z_obs, z_null)
    return torch.where(ok, p, perm_pvalues(mi, null))


def max_stat_threshold(null: Tensor, alpha: float = 0.05) -> Tensor:
    """FWER threshold tau on the statistic by the maximum statistic (methods.md 2.9).

    ``tau`` is the ``j``-th largest permutation maximum with ``j = floor(alpha (K+1))``,
    the (1 - alpha) quantile of the maxima chosen so that ``mi > tau`` holds exactly when
    ``max_stat_pvalues(mi, null) <= alpha``. If ``alpha (K+1) < 1`` no test can reach
    significance and tau is ``+inf``. NaN entries are ignored as in `max_stat_pvalues`.

    Parameters
    ----------
    null : Tensor, shape (K, ...); permutation statistics (bits).
    alpha : family-wise error rate, in (0, 1).

    Returns
    -------
    tau : Tensor, scalar, dtype and device of `null`; in bits.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    n_perm = null.shape[0]
    # The tiny slack keeps e.g. alpha (K+1) = 29 from flooring to 28 through rounding.
    j = math.floor(alpha * (n_perm + 1) + 1e-9)
    if j < 1:
        return null.new_tensor(math.inf)
    maxima = _perm_maxima(null).sort(descending=True).values
    return maxima[j - 1]


@dataclass(frozen=True, slots=True)
class BootstrapCI:
    """A resampling confidence interval for a batched statistic.

    Attributes
    ----------
    estimate : Tensor, shape S; the statistic on all n trials.
    low, high : Tensor, shape S; interval bounds (NaN where any resample gave NaN).
    level : nominal coverage, e.g. 0.95.
    method : ``"subsample"`` or ``"bootstrap"``.
    n_boot : number of resamples.
    resample_size : trials per resample (m).
    """

    estimate: Tensor
    low: Tensor
    high: Tensor
    level: float
    method: str
    n_boot: int
    resample_size: int


def _sample_axis(x: Tensor) -> int:
    return -1 if x.dim() == 1 else -2


def _take_trials(x: Tensor, idx: Tensor) -> Tensor:
    """Gather trials ``idx [B, m]`` of `x` -> ``[B, ..., m, d]`` (or ``[B, m]`` for 1-D)."""
    bsz, m = idx.shape
    if x.dim() == 1:
        return x[idx]
    picked = x.index_select(-2, idx.reshape(-1))  # [..., B * m, d]
    picked = picked.unflatten(-2, (bsz, m))  # [..., B, m, d]
    return picked.movedim(-3, 0)


def _quantiles(values: Tensor, probs: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Linear-interpolation quantiles along dim 0; NaN if any value in a column is NaN.

    Written with sort rather than torch.quantile, which refuses very large inputs.
    """
    count = values.shape[0]
    ordered = values.sort(dim=0).values
    has_nan = torch.isnan(values).any(dim=0)
    out = []
    for q in probs:
        pos = q * (count - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, count - 1)
        frac = pos - lo
        val = ordered[lo] * (1 - frac) + ordered[hi] * frac
        out.append(torch.where(has_nan, torch.nan, val))
    return out[0], out[1]


def bootstrap_ci(
    stat_fn: Callable[..., Tensor],
    *tensors: Tensor,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    method: str = "subsample",
    m: int | None = None,
    chunk: int | None = None,
) -> BootstrapCI:
    """Confidence interval of a statistic by resampling trials, all resamples batched.

    Notes
    -----
    ``"subsample"`` (default): m-out-of-n subsampling *without* replacement (Politis,
    Romano & Wolf 1999). No trial appears twice, so no ties are created, which matters
    for copula-normalised MI (methods.md 4.1). With the full-sample estimate T and
    subsample estimates T*_b with mean T*, the deviations
    ``D_b = sqrt(m / (n - m)) (T*_b - T*)`` stand in for ``T - theta`` and the interval is
    the basic one
    ``[T - q_{1-a/2}(D), T - q_{a/2}(D)]`` with ``a = 1 - level``. The factor
    ``sqrt(m / (n - m))`` is the usual ``sqrt(m / n)`` rescaling with the
    finite-population correction of sampling without replacement: for a mean it makes
    the spread of D match the standard error ``s / sqrt(n)`` exactly, and it tends to
    ``sqrt(m / n)`` when m << n. Default ``m = n // 2`` (half-sampling, where the factor
    is 1). Centring on T* rather than T carries over only the spread of the subsample
    estimates, not a bias that differs between sizes m and n (MI near zero has one), so
    the interval always surrounds T. Assumption: T is asymptotically normal at rate
    sqrt(n). Near MI = 0 the estimator is not root-n normal and the interval is
    approximate; use the permutation test for "is there any information".

    ``"bootstrap"``: ordinary bootstrap (n draws with replacement), percentile interval
    ``[q_{a/2}(T*), q_{1-a/2}(T*)]``. Duplicated trials become ties that inflate
    copula MI, so prefer ``"subsample"`` for GCMI; fine for means and proportions.

    Parameters
    ----------
    stat_fn : maps resampled tensors, each with a leading resample dimension,
        ``[B, ..., m, d]`` (or ``[B, m]`` for 1-D inputs), to statistics ``[B, *S]``.
    *tensors : Tensors sharing the same n trials along dim -2 (dim -1 if 1-D); the same
        trials are drawn from each.
    n_boot : number of resamples B.
    seed : integer seed; same seed gives identical intervals.
    level : nominal coverage in (0, 1).
    method : ``"subsample"`` or ``"bootstrap"``.
    m : subsample size for ``"subsample"`` (2 <= m < n); default ``n // 2``.
    chunk : resamples per `stat_fn` call (default: all at once) to bound memory.

    Returns
    -------
    BootstrapCI with ``estimate``, ``low``, ``high`` of shape S (units of `stat_fn`).
    """
    if not tensors:
        raise ValueError("bootstrap_ci needs at least one tensor")
    sizes = {t.shape[_sample_axis(t)] for t in tensors}
    if len(sizes) != 1:
        raise ValueError(f"tensors disagree on the number of trials: {sorted(sizes)}")
    n = sizes.pop()
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    device = tensors[0].device
    if method == "subsample":
        m = n // 2 if m is None else m
        if not 2 <= m < n:
            raise ValueError(f"subsample size m must satisfy 2 <= m < n = {n}, got {m}")
    elif method == "bootstrap":
        if m is not None and m != n:
            raise ValueError("method='bootstrap' resamples n trials; m is for 'subsample'")
        m = n
    else:
        raise ValueError(f"method must be 'subsample' or 'bootstrap', got {method!r}")
    chunk = n_boot if chunk is None else chunk
    if chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")

    estimate = stat_fn(*(t.unsqueeze(0) for t in tensors))[0]
    stats = []
    stream = _PermStream(n, seed, device)
    if method == "bootstrap":
        gen = torch.Generator(device=device)
        gen.manual_seed(_block_seed(seed, -1))
        all_idx = torch.randint(0, n, (n_boot, n), generator=gen, device=device)
    for s in range(0, n_boot, chunk):
        e = min(s + chunk, n_boot)
        if method == "bootstrap":
            idx = all_idx[s:e]
        else:
            # The first m entries of a uniform permutation: a uniform m-subset.
            idx = stream.rows(s, e - s)[:, :m]
        stats.append(stat_fn(*(_take_trials(t, idx) for t in tensors)))
    boot = torch.cat(stats)
    a = 1.0 - level
    if method == "bootstrap":
        low, high = _quantiles(boot, (a / 2, 1 - a / 2))
    else:
        # Centred on the resamples' own mean: a bias that differs between sizes m and n (as
        # for MI near zero) would otherwise shift the interval off the estimate.
        dev = math.sqrt(m / (n - m)) * (boot - boot.mean(dim=0))
        d_lo, d_hi = _quantiles(dev, (a / 2, 1 - a / 2))
        low, high = estimate - d_hi, estimate - d_lo
    return BootstrapCI(
        estimate=estimate,
        low=low,
        high=high,
        level=level,
        method=method,
        n_boot=n_boot,
        resample_size=m,
    )
