"""Inside the network: what each analysed layer carries about factor groups, and what it shares
with the decision about them. Every information value is in bits.

For one layer's pooled activations ``h [n, u]``, a factor group ``f [n, g]`` (continuous factor
columns) and the model's discrete decisions ``d [n]`` (methods.md 1.5-1.7, 2.8-2.12, 4.3):

1. **Per unit**: bias-corrected GCMI of every unit with every factor of the group, from
   :func:`analyses.stats.perm_sweep_cc` (factor trials shuffled, one permutation shared by all
   tests); family-wise error control by the maximum statistic over units x factors of the
   (layer, group). A unit's information is its maximum over the group's factors.
2. **Multivariate**: the layer's leading ``k`` principal components (:func:`layer_pcs`), each
   copula-normalised, and I(F; H_pcs) as :func:`analyses.info.gcmi_cc`; null by shuffling F's
   trials (cross-covariances by one matrix product per chunk of permutations, log-determinants
   of the ``[k + g]`` joint covariances by batched Cholesky).
3. **Redundancy with the decision** (methods.md 2.12): I(F; D) in the model form of
   :func:`analyses.info.gcmi_model_cd` (F multivariate), I(F; H | D) as
   :func:`analyses.info.gccmi_ccd` (F and H copula-normalised within each decision class), the
   joint I(F; H, D) = I(F; D) + I(F; H | D) by the chain rule (methods.md 2.8), and the
   co-information coI = I(F; H) + I(F; D) - I(F; H, D) = I(F; H) - I(F; H | D), **positive =
   net redundancy**, each with the null that shuffles D (keeps I(F; H), destroys everything
   involving D). The redundancy R is I_ccs (:func:`analyses.pid.ccs_with_decision`: zero when
   H and D inform about independent parts of F), tested against surrogates in which H and D inform
   about independent copies of F (:func:`analyses.pid.independent_copies`); MMI = min(I(F; H),
   I(F; D)) is kept as its upper bracket only.
4. **Invariance**: nuisance groups (pose, lighting) are just more groups; nothing here assumes a
   group is diagnostic. :func:`conditional_on_discrete` gives I(F; H | Z) for a binned nuisance Z
   with a null that shuffles F within the levels of Z (methods.md 1.7, 2.9).

Families for the maximum statistic (methods.md 2.9): per-unit information, one family per
(layer, group); multivariate information, redundancy and co-information, each one family over all
(layer, group) pairs of the call. Every test in every family uses the same permutations (one
seed), so the dependence between tests is kept. The multivariate tests of groups with different
sizes have somewhat different null spreads; the maximum statistic still controls the FWER, it is
only less sensitive for the smaller groups. Co-information is tested one-sided (large positive
values, i.e. redundancy), each pair centred on the mean of its own null (see
``LayerGroupResult.coinfo_null_mean_bits``).

Units that are constant, or exactly zero on more than half of the stimuli (post-ReLU ties,
methods.md 4.1), are dropped from every analysis of their layer and counted in the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from analyses import info, stats
from analyses.errors import DataError
from analyses.pid import ccs_with_decision, independent_copies, redundancy_mmi

__all__ = [
    "ConditionalInformation",
    "LayerGroupResult",
    "categorical_layer_information",
    "conditional_on_discrete",
    "layer_information",
    "layer_pcs",
    "reaches_decision",
    "usable_units",
]

_LN2 = math.log(2.0)
_F64 = torch.float64
# A unit that is exactly zero on more than this fraction of stimuli is dropped (methods.md 4.1).
_MAX_ZERO_FRACTION = 0.5
# Principal components with variance below this fraction of the largest are numerical noise of a
# rank-deficient activation matrix, not directions of the data; they are not analysed.
_PC_REL_TOL = 1e-10
# Working-memory budget of one chunk of permutations in the batched kernels.
_CHUNK_BYTES = 128 * 2**20
# A category group's redundancy needs its independent-copy pairs (levels**2 codes) to average
# at least this many trials each, and its null costs levels**2 x classes cells per trial and
# surrogate (8 levels x 8 classes: ~60 s per layer at 1000 permutations on 2 cores); groups
# past either limit get the MMI bracket only.
_MIN_PAIR_TRIALS = 5
_MAX_PAIR_CELLS = 256
# stats draws permutations in blocks of 64; chunks of whole blocks never draw a block twice.
_PERM_BLOCK = 64
MEASURE = "ccs"


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerGroupResult:
    """What one layer carries about one factor group, and shares with the decision, in bits.

    Attributes
    ----------
    layer, group : names of the layer and of the factor group.
    n_units : units analysed (after dropping constant and zero-heavy units).
    n_dropped_units : units dropped (constant or exactly zero on > half of the stimuli).
    unit_index : Tensor (n_units,), int64; column of each analysed unit in the layer's matrix.
    unit_mi : Tensor (n_units,); per-unit GCMI, maximum over the group's factors, bits.
    unit_factor : Tensor (n_units,), int64; the factor (column of the group) giving ``unit_mi``.
    unit_p : Tensor (n_units,); FWER-corrected p-value (max statistic over units x factors).
    n_significant_units : units with ``unit_p <= alpha``.
    max_unit_bits, median_unit_bits : maximum and median of ``unit_mi`` (NaN without units).
    n_pcs : principal components summarising the layer (k).
    pc_variance_fraction : share of the layer's variance in those k components.
    mi_bits : I(F; H_pcs), multivariate GCMI, bits.
    mi_p : FWER-corrected over all (layer, group) pairs, F shuffled.
    decision_mi_bits : I(F; D), model-form GCMI, bits (the same for every layer).
    cmi_given_decision_bits : I(F; H_pcs | D), bits: what the layer holds about F that the
        decision does not carry.
    joint_bits : I(F; H_pcs, D) = I(F; D) + I(F; H_pcs | D), bits.
    red_bits : I_ccs redundancy of the layer's components and the decision about F
        (:func:`analyses.pid.ccs_with_decision`) minus the mean of its surrogate null, bits; zero in
        expectation when the two inform about independent parts of F. NaN where not
        measured (``measure == "none"``: categorical groups).
    red_p : FWER-corrected over all (layer, group) pairs, independent-copy surrogates
        (:func:`analyses.pid.independent_copies`).
    red_mmi_bits : min(I(F; H), I(F; D)) of ``mi_bits`` and ``decision_mi_bits``, bits: the
        MMI upper bracket of the redundancy.
    red_source_bits : I(F; H) under the class-mixture model that gives ``red_bits``, bits.
        That model sees class-mediated structure the linear GCMI of ``mi_bits`` misses, so
        the two differ; ``red_bits / red_source_bits`` is the share of what the layer holds
        that the decision shares (NaN where not measured).
    measure : redundancy function of ``red_bits``: ``"ccs"`` (pointwise common change in
        surprisal, Ince 2017, methods.md 2.10) or ``"none"``.
    """

    layer: str
    group: str
    n_units: int
    n_dropped_units: int
    unit_index: Tensor
    unit_mi: Tensor
    unit_factor: Tensor
    unit_p: Tensor
    n_significant_units: int
    max_unit_bits: float
    median_unit_bits: float
    n_pcs: int
    pc_variance_fraction: float
    mi_bits: float
    mi_p: float
    decision_mi_bits: float
    cmi_given_decision_bits: float
    joint_bits: float
    red_bits: float
    red_p: float
    coinfo_bits: float
    coinfo_p: float
    coinfo_null_mean_bits: float
    n_perm: int
    alpha: float
    red_mmi_bits: float = math.nan
    red_source_bits: float = math.nan
    measure: str = MEASURE


@dataclass(frozen=True, slots=True)
class ConditionalInformation:
    """I(F; H | Z) for a discrete nuisance Z, with its permutation test.

    Attributes
    ----------
    cmi_bits : I(F; H | Z), bits.
    p_value : ``(1 + #{null >= cmi}) / (K + 1)`` with F shuffled within the levels of Z
        (NaN when ``n_perm`` is 0).
    null_mean_bits : mean of the null, bits (NaN when ``n_perm`` is 0).
    n_perm : permutations K.
    level_counts : Tensor (n_levels,); trials per level of Z.
    """

    cmi_bits: float
    p_value: float
    null_mean_bits: float
    n_perm: int
    level_counts: Tensor


# ----------------------------------------------------------------------------------------------
# units and principal components
# ----------------------------------------------------------------------------------------------


def usable_units(h: Tensor) -> Tensor:
    """Which units of a layer can be analysed: not constant, not zero on most stimuli.

    Parameters
    ----------
    h : Tensor, shape (n, u); activations, stimuli on dim 0.

    Returns
    -------
    keep : Tensor, shape (u,), bool; False for a unit that is constant or exactly zero on more
        than half of the stimuli (ties that copula normalisation would have to break at
        random, methods.md 4.1).
    """
    if h.dim() != 2:
        raise ValueError(f"activations must be 2-D [n, units], got shape {tuple(h.shape)}")
    constant = h.amax(dim=0) == h.amin(dim=0)
    zero_heavy = (h == 0).to(_F64).mean(dim=0) > _MAX_ZERO_FRACTION
    return ~(constant | zero_heavy)


def layer_pcs(h: Tensor, n_pcs: int) -> tuple[Tensor, Tensor]:
    """Scores of a layer's leading principal components (methods.md 4.3), float64.

    PCA of the centred activation matrix ``X = h - mean`` without whitening: eigenvectors of the
    smaller of the two Gram matrices ``X^T X`` (u <= n) or ``X X^T`` (u > n) by
    ``torch.linalg.eigh`` in float64; the scores are ``X v`` (equivalently ``U S`` of the SVD).
    Components whose variance is below 1e-10 of the largest are not returned, so k can be
    smaller than ``n_pcs`` for a rank-deficient layer. Each component's sign is fixed so that its
    largest-magnitude score is positive (information does not depend on the sign; this only
    makes the output reproducible).

    Parameters
    ----------
    h : Tensor, shape (n, u); activations.
    n_pcs : number of components wanted (k <= n_pcs).

    Returns
    -------
    scores : Tensor, shape (n, k), float64, on ``h``'s device.
    variance_fraction : Tensor, shape (k,), float64; share of the total variance of each.
    """
    if isinstance(n_pcs, bool) or not isinstance(n_pcs, int) or n_pcs < 1:
        raise ValueError(f"n_pcs must be a positive integer, got {n_pcs!r}")
    x = h.to(_F64)
    x = x - x.mean(dim=0, keepdim=True)
    n, u = x.shape
    if u <= n:
        evals, evecs = torch.linalg.eigh(x.T @ x)
        evals, evecs = evals.flip(0), evecs.flip(1)
        scores_all = None
    else:
        evals, evecs = torch.linalg.eigh(x @ x.T)
        evals, evecs = evals.flip(0), evecs.flip(1)
        scores_all = evecs * evals.clamp(min=0).sqrt()
    total = evals.clamp(min=0).sum()
    if not bool(total > 0):
        return x.new_zeros(n, 0), x.new_zeros(0)
    k = min(n_pcs, int((evals > _PC_REL_TOL * evals[0]).sum()))
    scores = x @ evecs[:, :k] if scores_all is None else scores_all[:, :k]
    peak = scores.abs().argmax(dim=0)
    sign = torch.sign(scores.gather(0, peak.unsqueeze(0)))
    return scores * torch.where(sign == 0, 1.0, sign), evals[:k] / total


# ----------------------------------------------------------------------------------------------
# Gaussian building blocks (float64, nats until the end)
# ----------------------------------------------------------------------------------------------


def _bias(n: Tensor | int, d: int) -> Tensor:
    """B(N, d) of methods.md 2.3 in nats, for a float64 tensor (or int) of sample counts."""
    n = torch.as_tensor(n, dtype=_F64)
    i = torch.arange(1, d + 1, dtype=_F64, device=n.device)
    psi = torch.special.digamma((n.unsqueeze(-1) - i) / 2).sum(-1)
    return 0.5 * d * torch.log(2 / (n - 1)) + 0.5 * psi


def _half_logdet(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Log-diagonal ``[..., m]`` of the Cholesky factors and a ``[...]`` success mask."""
    chol, status = torch.linalg.cholesky_ex(cov)
    logdiag = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1))
    ok = (status == 0) & torch.isfinite(logdiag).all(-1)
    return logdiag, ok


def _ranks(c: Tensor) -> Tensor:
    """Ranks 0..n-1 ``[n, m]`` (int64) of the columns of tie-free copula scores ``c [n, m]``."""
    return c.argsort(dim=0).argsort(dim=0)


class _Classes:
    """Fixed class structure of labels ``y [n]`` for within-class copula normalisation.

    Trials are handled in a *class frame*: position ``i`` of the frame belongs to class
    ``seg[i]`` and the classes occupy contiguous segments (``starts``, ``counts``). Sorting a
    column of pooled ranks by the key ``seg * n + rank`` puts each segment's trials in value
    order, so the frame position of every sorted entry is its within-class rank plus the
    segment start, and its within-class copula score is the fixed ``grid`` value of that
    position: ``ndtri((rank_within + 1) / (N_class + 1))`` (methods.md 2.1, 2.8).
    """

    def __init__(self, y: Tensor, n_classes: int) -> None:
        n = y.shape[0]
        self.n = n
        counts = torch.bincount(y, minlength=n_classes)
        self.order = y.argsort(stable=True)  # frame position -> trial for the unpermuted labels
        seg = y[self.order]
        starts = counts.cumsum(0) - counts
        pos = torch.arange(n, device=y.device)
        within = (pos - starts[seg]).to(_F64)
        self.grid = torch.special.ndtri((within + 1) / (counts[seg].to(_F64) + 1))
        self.key_base = seg * n
        occupied = (counts > 0).nonzero().squeeze(1).tolist()
        self.segments = [(int(starts[c]), int(counts[c])) for c in occupied]
        self.seg_counts = counts[occupied].to(_F64)
        self.p = self.seg_counts / n

    def copnorm(self, ranks_t: Tensor, frame: Tensor) -> Tensor:
        """Within-class copula scores ``[m, c, n]`` in the class frame.

        ``ranks_t [m, n]`` are pooled ranks (one row per column); ``frame [c, n]`` gives, for
        each of c relabellings, the trial at every frame position.
        """
        m = ranks_t.shape[0]
        c = frame.shape[0]
        key = ranks_t.index_select(1, frame.reshape(-1)).view(m, c, self.n) + self.key_base
        order = key.argsort(dim=-1)
        out = torch.empty(key.shape, dtype=_F64, device=key.device)
        return out.scatter_(-1, order, self.grid.expand(m, c, self.n))

    def covariances(self, z: Tensor) -> Tensor:
        """Unbiased within-class covariances ``[c, S, m, m]`` of frame data ``z [m, c, n]``."""
        covs = []
        for start, count in self.segments:
            zs = z[..., start : start + count].permute(1, 0, 2)  # [c, m, N_s]
            zs = zs - zs.mean(dim=-1, keepdim=True)
            covs.append(zs @ zs.mT / (count - 1))
        return torch.stack(covs, dim=1)

    def cmi_bits(self, cov: Tensor, dx: int, ld_y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """I(X; Y | class) in bits ``[c]`` from within-class covariances of ``[X, Y]``.

        ``cov [c, S, dx + dy, dx + dy]``; ``ld_y [c, S]`` (optional) is half the log-determinant
        of the Y block when it is shared by several calls. Also returns a success mask ``[c]``.
        """
        dy = cov.shape[-1] - dx
        ld_xy, ok = _half_logdet(cov)
        if ld_y is None:
            ld, ok_y = _half_logdet(cov[..., dx:, dx:])
            ld_y, ok = ld.sum(-1), ok & ok_y
        i_s = ld_xy[..., :dx].sum(-1) + ld_y - ld_xy.sum(-1)
        bias = (
            _bias(self.seg_counts, dx)
            + _bias(self.seg_counts, dy)
            - _bias(self.seg_counts, dx + dy)
        )
        i = ((i_s - bias) * self.p).sum(-1) / _LN2
        return i, ok.all(-1)


def _chunk_size(n_perm: int, per_perm_bytes: int) -> int:
    chunk = max(1, _CHUNK_BYTES // max(per_perm_bytes, 1))
    if chunk >= _PERM_BLOCK:
        chunk -= chunk % _PERM_BLOCK
    return max(1, min(chunk, max(n_perm, 1)))


def _identity(n: int, device: torch.device) -> Tensor:
    return torch.arange(n, device=device).unsqueeze(0)


# ----------------------------------------------------------------------------------------------
# the study-wide kernel: multivariate MI (F shuffled) and decision terms (D shuffled)
# ----------------------------------------------------------------------------------------------


class _StudyKernel:
    """Batched I(F; H_pcs), I(F; D) and I(F; H_pcs | D) for every (layer, group) pair.

    All layers' copula-normalised PCs are the columns of ``ch [n, K]`` and all groups' factors
    the columns of ``cf [n, G]``; ``layer_cols`` and ``group_cols`` hold each one's slice.
    """

    def __init__(
        self,
        ch: Tensor,
        cf: Tensor,
        layer_cols: list[slice],
        group_cols: list[slice],
        d: Tensor,
        n_classes: int,
    ) -> None:
        n = ch.shape[0]
        self.n, self.ch, self.cf = n, ch, cf
        self.layer_cols, self.group_cols = layer_cols, group_cols
        n_h = ch.shape[1]
        # Copula scores have zero mean, so the uncentred products are the covariances
        # (as in info.gcmi_cc, which treats them as demeaned).
        self.c_hh = ch.T @ ch / (n - 1)
        self.c_ff = cf.T @ cf / (n - 1)
        self.ld_h = [_half_logdet(self.c_hh[s, s])[0].sum() for s in layer_cols]
        self.ld_f = [_half_logdet(self.c_ff[s, s])[0].sum() for s in group_cols]
        self.classes = _Classes(d, n_classes)
        # Pooled ranks of every column, PCs first: [K + G, n].
        self.ranks_t = _ranks(torch.cat([ch, cf], dim=1)).T.contiguous()
        self.f_rows = [slice(n_h + s.start, n_h + s.stop) for s in group_cols]

    def per_perm_bytes(self) -> int:
        m = self.ranks_t.shape[0]
        g = self.cf.shape[1]
        return 8 * self.n * (4 * m + 2 * g + 3) + 8 * self.ch.shape[1] * g

    def shuffled_f(self, perms: Tensor) -> Tensor:
        """I(F; H_pcs) bits ``[c, L, G]`` with F's trials taken in the order of ``perms [c, n]``."""
        c, n = perms.shape
        g_all = self.cf.shape[1]
        # Row t of the gathered block holds cf[perm_p[t]] for every permutation p of the chunk.
        cf_p = self.cf.index_select(0, perms.T.reshape(-1)).view(n, c * g_all)
        cross = (self.ch.T @ cf_p / (n - 1)).view(-1, c, g_all).permute(1, 0, 2)  # [c, K, G]
        out = torch.empty(c, len(self.layer_cols), len(self.group_cols), dtype=_F64)
        out = out.to(self.ch.device)
        for i, hs in enumerate(self.layer_cols):
            k = hs.stop - hs.start
            for j, fs in enumerate(self.group_cols):
                g = fs.stop - fs.start
                top = torch.cat([self.c_hh[hs, hs].expand(c, k, k), cross[:, hs, fs]], dim=2)
                bottom = torch.cat([cross[:, hs, fs].mT, self.c_ff[fs, fs].expand(c, g, g)], dim=2)
                ld, ok = _half_logdet(torch.cat([top, bottom], dim=1))
                bias = _bias(self.n, k) + _bias(self.n, g) - _bias(self.n, k + g)
                mi = (self.ld_h[i] + self.ld_f[j] - ld.sum(-1) - bias) / _LN2
                out[:, i, j] = torch.where(ok, mi, torch.nan)
        return out

    def shuffled_d(self, perms: Tensor) -> tuple[Tensor, Tensor]:
        """I(F; D) bits ``[c, G]`` and I(F; H_pcs | D) bits ``[c, L, G]`` with the decisions
        relabelled as ``d[perms[p]]``."""
        c, n = perms.shape
        cls = self.classes
        # Trials of class s under d[perm] are perm^-1 of the trials of class s under d, so
        # perm^-1 composed with the class order of d is the class frame of the relabelling.
        inverse = torch.empty_like(perms).scatter_(
            1, perms, _identity(n, perms.device).expand(c, n)
        )
        frame = inverse.index_select(1, cls.order)
        cov_w = cls.covariances(cls.copnorm(self.ranks_t, frame))  # [c, S, K + G, K + G]
        pooled = self.cf.index_select(0, frame.reshape(-1)).view(c, n, -1).permute(2, 0, 1)
        cov_p = cls.covariances(pooled)  # [c, S, G, G]: pooled copula scores within classes
        i_fd = torch.empty(c, len(self.group_cols), dtype=_F64, device=perms.device)
        for j, fs in enumerate(self.group_cols):
            g = fs.stop - fs.start
            ld, ok = _half_logdet(cov_p[..., fs, fs])
            h_cond = ((ld.sum(-1) - _bias(cls.seg_counts, g)) * cls.p).sum(-1)
            mi = (self.ld_f[j] - _bias(n, g) - h_cond) / _LN2
            i_fd[:, j] = torch.where(ok.all(-1), mi, torch.nan)
        i_cond = torch.empty(c, len(self.layer_cols), len(self.group_cols), dtype=_F64)
        i_cond = i_cond.to(perms.device)
        for i, hs in enumerate(self.layer_cols):
            ld_h, ok_h = _half_logdet(cov_w[..., hs, hs])
            for j, fr in enumerate(self.f_rows):
                idx = torch.cat([torch.arange(fr.start, fr.stop), torch.arange(hs.start, hs.stop)])
                idx = idx.to(perms.device)
                sub = cov_w.index_select(-2, idx).index_select(-1, idx)
                mi, ok = cls.cmi_bits(sub, fr.stop - fr.start, ld_h.sum(-1))
                i_cond[:, i, j] = torch.where(ok & ok_h.all(-1), mi, torch.nan)
        return i_fd, i_cond


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------


def _as_factors(name: str, f: Tensor, n: int, device: torch.device) -> Tensor:
    f = f.unsqueeze(-1) if f.dim() == 1 else f
    if f.dim() != 2 or f.shape[0] != n or f.shape[1] < 1:
        raise ValueError(f"factor group '{name}' must be [n={n}, g>=1], got {tuple(f.shape)}")
    f = f.to(device=device, dtype=_F64)
    if not bool(torch.isfinite(f).all()):
        raise DataError(f"factor group '{name}' contains NaN or infinite values")
    constant = (f.amax(0) == f.amin(0)).nonzero().squeeze(1).tolist()
    if constant:
        raise ValueError(
            f"factor group '{name}': column(s) {constant} are constant in this study and carry "
            "no information; leave them out of the group"
        )
    return f


def _check_decisions(d: Tensor, n: int, n_classes: int, device: torch.device) -> Tensor:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if d.dim() != 1 or d.shape[0] != n:
        raise ValueError(f"decisions must be 1-D with {n} trials, got shape {tuple(d.shape)}")
    if d.dtype.is_floating_point or d.dtype.is_complex or d.dtype == torch.bool:
        raise ValueError(f"decisions must hold integer class labels, got dtype {d.dtype}")
    d = d.to(device=device, dtype=torch.int64)
    if bool((d < 0).any()) or bool((d >= n_classes).any()):
        raise ValueError(f"decisions must lie in [0, {n_classes}); drop missing answers first")
    return d


def _float_activations(name: str, h: Tensor, n: int) -> Tensor:
    if h.dim() != 2 or h.shape[0] != n:
        raise ValueError(f"layer '{name}' must be [n={n}, units], got {tuple(h.shape)}")
    if h.dtype not in (torch.float32, torch.float64):
        h = h.to(torch.float32)
    if not bool(torch.isfinite(h).all()):
        raise DataError(f"layer '{name}' contains NaN or infinite activations")
    return h


def reaches_decision(
    mi_p: float | Tensor, red_p: float | Tensor, decision_p: float | Tensor, alpha: float
) -> bool | Tensor:
    """Whether a layer carries a factor *for the decision* (methods.md 2.12): I(F;H), I(F;D)
    and their redundancy must all be significant at the family-wise level `alpha`."""
    return (mi_p <= alpha) & (red_p <= alpha) & (decision_p <= alpha)


def layer_information(
    activations: Mapping[str, Tensor],
    groups: Mapping[str, Tensor],
    decisions: Tensor,
    n_classes: int,
    *,
    n_perm: int,
    seed: int,
    n_pcs: int = 4,
    alpha: float = 0.05,
    on_progress: Callable[[int], None] | None = None,
) -> list[LayerGroupResult]:
    """Information every layer carries about every factor group, and shares with the decision.

    Parameters
    ----------
    activations : layer name -> Tensor (n, u); pooled channels of one layer, float32 or float64.
    groups : group name -> Tensor (n, g) (or (n,)); continuous factor columns of one group
        (diagnostic and nuisance groups alike).
    decisions : Tensor (n,), integer decisions in ``[0, n_classes)``, rare classes already
        merged: every occupied class needs more than ``n_pcs + g`` trials (methods.md 4.4).
    n_classes : size of the decision label space.
    n_perm : permutations K of every null (>= 1000 for reporting at alpha = 0.05).
    seed : seed of the permutations, shared by every test (``stats.permutation_indices``).
    n_pcs : principal components per layer for the multivariate and decision analyses.
    alpha : family-wise error rate for counting significant units.
    on_progress : called with a number of permutations finished after each batched step; the
        calls add up to ``n_perm * (n_layers * n_groups + 1)``.

    Returns
    -------
    list of LayerGroupResult, layers in the order of ``activations``, groups in the order of
    ``groups`` within each layer; scalars are Python floats (bits), per-unit tensors on the
    activations' device. A layer without usable units gets NaN statistics.
    """
    _check_run(n_perm, alpha)
    layer_names, group_names = list(activations), list(groups)
    if not layer_names or not group_names:
        return []
    first = activations[layer_names[0]]
    n, device = first.shape[0], first.device
    hs = {name: _float_activations(name, activations[name], n) for name in layer_names}
    fs = {name: _as_factors(name, groups[name], n, device) for name in group_names}
    d = _check_decisions(decisions, n, n_classes, device)

    keep, pcs, var_frac = _summaries(hs, n_pcs)
    counts = torch.bincount(d, minlength=n_classes)
    worst = max(s.shape[1] for s in pcs.values()) + max(f.shape[1] for f in fs.values())
    small = ((counts > 0) & (counts <= worst)).nonzero().squeeze(1).tolist()
    if small:
        raise DataError(
            f"decision classes {small} hold too few trials ({counts[small].tolist()}); every "
            f"occupied class needs more than n_pcs + group size = {worst}: merge rare classes "
            "or lower n_pcs"
        )
    if n <= worst + 1:
        raise DataError(f"{n} trials are too few for {worst} dimensions; aim for >= 10 per dim")

    # Study kernel over the layers that have components.
    live = [name for name in layer_names if pcs[name].shape[1] > 0]
    ch = info.copnorm(torch.cat([pcs[name] for name in live], dim=1)) if live else None
    cf = info.copnorm(torch.cat([fs[name] for name in group_names], dim=1))
    layer_cols, start = [], 0
    for name in live:
        layer_cols.append(slice(start, start + pcs[name].shape[1]))
        start += pcs[name].shape[1]
    group_cols, start = [], 0
    for name in group_names:
        group_cols.append(slice(start, start + fs[name].shape[1]))
        start += fs[name].shape[1]
    n_l, n_g = len(layer_names), len(group_names)
    nan = torch.full((n_l, n_g), torch.nan, dtype=_F64, device=device)
    mi_obs, fd_obs, cond_obs = nan.clone(), nan.clone(), nan.clone()
    mi_null = torch.full((n_perm, n_l, n_g), torch.nan, dtype=_F64, device=device)
    fd_null, cond_null = mi_null.clone(), mi_null.clone()
    rows = [layer_names.index(name) for name in live]
    if live:
        kernel = _StudyKernel(ch, cf, layer_cols, group_cols, d, n_classes)
        ident = _identity(n, device)
        mi_obs[rows] = kernel.shuffled_f(ident)[0]
        fd, cond = kernel.shuffled_d(ident)
        fd_obs[:], cond_obs[rows] = fd[0], cond[0]
        if not (bool(torch.isfinite(mi_obs[rows]).all()) and bool(torch.isfinite(cond).all())):
            raise DataError(
                "a covariance of the principal components and factors is singular: a factor "
                "column duplicates another, or a decision class has too few distinct trials"
            )
        chunk = _chunk_size(n_perm, kernel.per_perm_bytes())
        for s, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=device):
            c = perms.shape[0]
            mi_null[s : s + c, rows] = kernel.shuffled_f(perms)
            fd_c, cond_c = kernel.shuffled_d(perms)
            fd_null[s : s + c] = fd_c.unsqueeze(1)
            cond_null[s : s + c, rows] = cond_c
            if on_progress is not None:
                on_progress(c)
    elif on_progress is not None:
        on_progress(n_perm)
    if not live:  # I(F; D) is still defined without any layer
        fd_obs[:] = torch.stack([info.gcmi_model_cd(fs[g], d, n_classes) for g in group_names])

    red_obs, red_null, red_source = nan.clone(), mi_null.clone(), nan.clone()
    if live:
        red_obs[rows], red_null[:, rows], red_source[rows] = _shared_with_decision(
            ch, cf, layer_cols, group_cols, d, n_classes, n_perm, seed
        )
    tests = _pair_tests(
        mi_obs, mi_null, fd_obs, fd_null, cond_obs, cond_null, red_obs, red_null, n_perm
    )
    mi_p, red_bits, red_p, co_obs, co_p, co_mean = tests

    results = []
    for i, lname in enumerate(layer_names):
        h_kept = hs[lname][:, keep[lname]]
        index = keep[lname].nonzero().squeeze(1)
        for j, gname in enumerate(group_names):
            unit = _unit_family(h_kept, fs[gname], n_perm, seed, on_progress)
            unit_mi, unit_factor, unit_p = unit
            if unit_mi.numel():
                max_bits = float(unit_mi.max())
                median_bits = float(torch.quantile(unit_mi.to(_F64), 0.5))
            else:
                max_bits = median_bits = math.nan
            results.append(
                LayerGroupResult(
                    layer=lname,
                    group=gname,
                    n_units=int(index.numel()),
                    n_dropped_units=int((~keep[lname]).sum()),
                    unit_index=index,
                    unit_mi=unit_mi,
                    unit_factor=unit_factor,
                    unit_p=unit_p,
                    n_significant_units=int((unit_p <= alpha).sum()),
                    max_unit_bits=max_bits,
                    median_unit_bits=median_bits,
                    n_pcs=int(pcs[lname].shape[1]),
                    pc_variance_fraction=float(var_frac[lname].sum()),
                    mi_bits=float(mi_obs[i, j]),
                    mi_p=float(mi_p[i, j]),
                    decision_mi_bits=float(fd_obs[i, j]),
                    cmi_given_decision_bits=float(cond_obs[i, j]),
                    joint_bits=float(fd_obs[i, j] + cond_obs[i, j]),
                    red_bits=float(red_bits[i, j]),
                    red_p=float(red_p[i, j]),
                    red_mmi_bits=float(redundancy_mmi(mi_obs[i, j], fd_obs[i, j])),
                    red_source_bits=float(red_source[i, j]),
                    coinfo_bits=float(co_obs[i, j]),
                    coinfo_p=float(co_p[i, j]),
                    coinfo_null_mean_bits=float(co_mean[i, j]),
                    n_perm=n_perm,
                    alpha=alpha,
                )
            )
    return results


def _check_run(n_perm: int, alpha: float) -> None:
    if isinstance(n_perm, bool) or not isinstance(n_perm, int) or n_perm < 0:
        raise ValueError(f"n_perm must be a non-negative integer, got {n_perm!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def _summaries(
    hs: Mapping[str, Tensor], n_pcs: int
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """Per layer: the usable units, the scores of their leading principal components (none
    for a layer without usable units) and each component's share of the variance."""
    keep = {name: usable_units(h) for name, h in hs.items()}
    pcs, var_frac = {}, {}
    for name, h in hs.items():
        if bool(keep[name].any()):
            pcs[name], var_frac[name] = layer_pcs(h[:, keep[name]], n_pcs)
        else:
            n = h.shape[0]
            pcs[name], var_frac[name] = h.new_zeros(n, 0, dtype=_F64), h.new_zeros(0, dtype=_F64)
    return keep, pcs, var_frac


def _pair_tests(
    mi_obs: Tensor,
    mi_null: Tensor,
    fd_obs: Tensor,
    fd_null: Tensor,
    cond_obs: Tensor,
    cond_null: Tensor,
    red_obs: Tensor,
    red_null: Tensor,
    n_perm: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The (layer, group) tests from I(F; H), I(F; D), I(F; H | D) and the I_ccs redundancy
    ``[L, G]`` and their nulls ``[K, L, G]`` (I(F; H) with F shuffled, the decision terms with
    D shuffled, the redundancy from independent-copy surrogates): (mi_p, red_bits, red_p,
    co_obs, co_p, co_mean), one max-statistic family each over all pairs; NaN tests (layers
    without units, groups without a redundancy estimate) drop out."""
    co_obs, co_null = mi_obs - cond_obs, mi_obs.unsqueeze(0) - cond_null
    mi_p = stats.max_stat_pvalues(mi_obs, mi_null)
    # The redundancy is reported and tested against its surrogate mean, the offset the sign
    # filter gives sources that inform about independent copies of F (pid.independent_copies);
    # the per-pair shift keeps the max-statistic FWER valid, as for the co-information.
    red_mean = red_null.nanmean(dim=0) if n_perm else torch.zeros_like(red_obs)
    red_bits = red_obs - red_mean
    red_p = stats.max_stat_pvalues(red_bits, red_null - red_mean)
    # The D-shuffle null of coI is not centred on 0 where I(F; H) is large (the copula
    # approximation error of I(F; H | D) grows with the information and shrinks with the class
    # sizes), and its offset differs between pairs. Centring every pair on its own null mean
    # (a fixed, permutation-invariant shift) keeps the max-statistic FWER valid and stops the
    # pairs with the largest offsets from masking the others.
    co_mean = co_null.nanmean(dim=0) if n_perm else torch.zeros_like(co_obs)
    co_p = stats.max_stat_pvalues(co_obs - co_mean, co_null - co_mean)
    return mi_p, red_bits, red_p, co_obs, co_p, co_mean


def _shared_with_decision(
    ch: Tensor,
    cf: Tensor,
    layer_cols: list[slice],
    group_cols: list[slice],
    d: Tensor,
    n_classes: int,
    n_perm: int,
    seed: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """I_ccs redundancy of each layer's components and the decision about each group, bits
    ``[L, G]``, its independent-copy surrogate null ``[K, L, G]`` (methods.md 2.12) and
    I(F; H) of the same model ``[L, G]``."""
    n = ch.shape[0]
    # float32 throughout, observed and surrogates alike (pid._work_dtype).
    ch, cf = ch.to(torch.float32), cf.to(torch.float32)
    obs = torch.empty(len(layer_cols), len(group_cols), dtype=_F64, device=ch.device)
    null = torch.empty(n_perm, *obs.shape, dtype=_F64, device=ch.device)
    i_h = torch.empty_like(obs)
    widest = max(s.stop - s.start for s in group_cols)
    deepest = max(s.stop - s.start for s in layer_cols)
    # Layers of one width go through ccs_with_decision together (a batch dimension), so the
    # target's part of the model is computed once for all of them.
    batches: dict[int, list[int]] = {}
    for i, hs in enumerate(layer_cols):
        batches.setdefault(hs.stop - hs.start, []).append(i)
    hb = {w: torch.stack([ch[:, layer_cols[i]] for i in idx]) for w, idx in batches.items()}
    most = max(len(idx) for idx in batches.values())
    per_perm = 4 * n * (12 * widest + most * (6 * deepest + 4 * n_classes) + 4)
    chunk = _chunk_size(n_perm, per_perm)
    for j, fs in enumerate(group_cols):
        for w, idx in batches.items():
            res = ccs_with_decision(cf[:, fs], hb[w], d, n_classes)
            obs[idx, j], i_h[idx, j] = res.red.to(_F64), (res.red + res.unq1).to(_F64)
    for start, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=ch.device):
        c = perms.shape[0]
        for j, fs in enumerate(group_cols):
            target, moved = independent_copies(cf[:, fs], d, perms)
            for w, idx in batches.items():
                red = ccs_with_decision(target, hb[w][:, None], moved, n_classes).red
                null[start : start + c, idx, j] = red.mT.to(null.dtype)
    return obs, null, i_h


def _shared_category(
    pcs: Mapping[str, Tensor],
    fs: Mapping[str, Tensor],
    levels: Mapping[str, int],
    d: Tensor,
    n_classes: int,
    n_perm: int,
    seed: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """I_ccs of each layer's components and the decision about each category group, bits
    ``[L, G]``, its independent-copy null ``[K, L, G]`` and the layer's information under the
    same model ``[L, G]`` (:func:`analyses.pid.ccs_category_target`).

    The surrogate target is the pair (F_t, F_pi(t)), one code of ``levels**2`` values, with
    the decision of trial pi(t). A group whose pairs would average fewer than
    ``_MIN_PAIR_TRIALS`` trials per code, or need more than ``_MAX_PAIR_CELLS`` cells with the
    decision classes, is not measured (NaN)."""
    from analyses.pid import ccs_category_target

    n = d.shape[0]
    names, groups = list(pcs), list(fs)
    dev = d.device
    obs = torch.full((len(names), len(groups)), torch.nan, dtype=_F64, device=dev)
    null = torch.full((n_perm, *obs.shape), torch.nan, dtype=_F64, device=dev)
    source = obs.clone()
    if not names:
        return obs, null, source
    ch = {name: info.copnorm(x).to(torch.float32) for name, x in pcs.items()}
    measured = [
        g
        for g in groups
        if levels[g] ** 2 * _MIN_PAIR_TRIALS <= n and levels[g] ** 2 * n_classes <= _MAX_PAIR_CELLS
    ]
    for i, name in enumerate(names):
        for g in measured:
            j = groups.index(g)
            res = ccs_category_target(ch[name], d, fs[g], n_classes, levels[g])
            obs[i, j], source[i, j] = res.red, res.red + res.unq1
    if not measured:
        return obs, null, source
    most = max(levels[g] for g in measured) ** 2
    widest = max(x.shape[1] for x in ch.values())
    chunk = _chunk_size(n_perm, 4 * n * (6 * most * n_classes + 4 * widest + 8))
    for start, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=dev):
        c = perms.shape[0]
        moved = d[perms]
        for g in measured:
            j = groups.index(g)
            pair = fs[g] + levels[g] * fs[g][perms]
            for i, name in enumerate(names):
                null[start : start + c, i, j] = ccs_category_target(
                    ch[name], moved, pair, n_classes, levels[g] ** 2
                ).red
    return obs, null, source


def _unit_family(
    h: Tensor, f: Tensor, n_perm: int, seed: int, on_progress: Callable[[int], None] | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-unit MI (max over factors), its factor and FWER p-value over units x factors."""
    u = h.shape[1]
    if u == 0:
        if on_progress is not None:
            on_progress(n_perm)
        empty = h.new_zeros(0)
        return empty, torch.zeros(0, dtype=torch.int64, device=h.device), empty
    mi, null = stats.perm_sweep_cc(h, f, n_perm, seed, on_progress=on_progress)
    p = stats.max_stat_pvalues(mi, null)
    # p is monotone decreasing in the statistic within one family, so the smallest p of a
    # unit belongs to its largest MI.
    unit_mi, unit_factor = mi.max(dim=1)
    return unit_mi, unit_factor, p.min(dim=1).values


# ----------------------------------------------------------------------------------------------
# invariance: I(F; H | Z) for a discrete nuisance Z
# ----------------------------------------------------------------------------------------------


def conditional_on_discrete(
    h_pcs: Tensor,
    f: Tensor,
    z: Tensor,
    n_levels: int,
    *,
    n_perm: int = 0,
    seed: int = 0,
) -> ConditionalInformation:
    """I(F; H | Z) for a discrete nuisance Z such as a binned pose (methods.md 1.7, 2.8), bits.

    H and F are copula-normalised within each level of Z (ties broken by the pooled copula
    order of :func:`analyses.info.copnorm`), the bias-corrected Gaussian MI of every level is
    averaged with weights p(z); equal to :func:`analyses.info.gccmi_ccd` ``(f, h_pcs, z)`` for
    tie-free data. The null shuffles F's trials *within* the levels of Z (methods.md 2.9: the
    trials are exchangeable only within a level), all K permutations in batched chunks; since
    the levels do not change, only the within-level cross-covariances are recomputed.

    Parameters
    ----------
    h_pcs : Tensor (n, k); the layer summary (e.g. the scores of :func:`layer_pcs`).
    f : Tensor (n, g) or (n,); the factor group.
    z : Tensor (n,), integer levels in ``[0, n_levels)``; every occupied level needs more than
        ``k + g`` trials.
    n_levels : number of levels.
    n_perm : permutations K (0: no test).
    seed : seed of the permutations.

    Returns
    -------
    ConditionalInformation with ``cmi_bits`` in bits and its permutation p-value.
    """
    n = h_pcs.shape[0]
    h2 = h_pcs.unsqueeze(-1) if h_pcs.dim() == 1 else h_pcs
    device = h2.device
    f2 = _as_factors("f", f, n, device)
    if h2.dim() != 2 or h2.shape[0] != n:
        raise ValueError(f"h_pcs must be [n, k], got {tuple(h_pcs.shape)}")
    zl = _check_decisions(z, n, n_levels, device)
    k, g = h2.shape[1], f2.shape[1]
    counts = torch.bincount(zl, minlength=n_levels)
    if bool(((counts > 0) & (counts <= k + g)).any()):
        raise DataError(f"every occupied level of z needs more than k + g = {k + g} trials")
    if isinstance(n_perm, bool) or not isinstance(n_perm, int) or n_perm < 0:
        raise ValueError(f"n_perm must be a non-negative integer, got {n_perm!r}")
    cls = _Classes(zl, n_levels)
    ranks_t = _ranks(info.copnorm(torch.cat([f2, h2.to(_F64)], dim=1))).T.contiguous()
    z_frame = cls.copnorm(ranks_t, cls.order.unsqueeze(0))[:, 0]  # [g + k, n], fixed frame

    def cmi(f_frame: Tensor) -> Tensor:  # f_frame [g, c, n] -> [c] bits
        c = f_frame.shape[1]
        joint = torch.cat([f_frame, z_frame[g:].unsqueeze(1).expand(k, c, n)], dim=0)
        value, ok = cls.cmi_bits(cls.covariances(joint), g)
        return torch.where(ok, value, torch.nan)

    observed = cmi(z_frame[:g].unsqueeze(1))[0]
    if not bool(torch.isfinite(observed)):
        raise ValueError("a within-level covariance of (f, h_pcs) is singular")
    if n_perm == 0:
        return ConditionalInformation(float(observed), math.nan, math.nan, 0, counts)
    null = torch.empty(n_perm, dtype=_F64, device=device)
    seg = cls.key_base // n
    chunk = _chunk_size(n_perm, 8 * n * (3 * (g + k) + 4))
    for s, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=device):
        c = perms.shape[0]
        # Sorting frame positions by (level, random key) gives, inside every level's segment,
        # a uniformly random arrangement of that segment's positions: a within-level shuffle.
        shuffle = (seg * n + perms).argsort(dim=-1)  # [c, n]
        f_frame = z_frame[:g].index_select(1, shuffle.reshape(-1)).view(g, c, n)
        null[s : s + c] = cmi(f_frame)
    p = (1 + (null >= observed).sum()) / (n_perm + 1)
    return ConditionalInformation(float(observed), float(p), float(null.nanmean()), n_perm, counts)


# ----------------------------------------------------------------------------------------------
# categorical factor groups
# ----------------------------------------------------------------------------------------------


def categorical_layer_information(
    activations: Mapping[str, Tensor],
    groups: Mapping[str, tuple[Tensor, int]],
    decisions: Tensor,
    n_classes: int,
    *,
    n_perm: int,
    seed: int,
    n_pcs: int = 4,
    alpha: float = 0.05,
    on_progress: Callable[[int], None] | None = None,
) -> list[LayerGroupResult]:
    """`layer_information` for categorical factor groups (a part type, a finish), in bits.

    A categorical group is one discrete variable F (a joint code of its columns), so every
    quantity takes its continuous-discrete or discrete form (methods.md 2.5, 2.7):

    - per unit: model-form GCMI of each unit with F (:func:`analyses.stats.perm_sweep_cd`,
      F shuffled), FWER by the maximum statistic over the units of the (layer, group);
    - I(F; H_pcs): mixture-form GCMI (:func:`analyses.info.mi_mixture_gd_masked` on the
      copula scores) of the layer's principal components with F, so it never exceeds H(F)
      as the model form does when the levels are well separated; null by shuffling F;
    - I(F; D): plug-in discrete MI with the first-order bias correction
      (:func:`analyses.info.mi_dd`), as the drivers analysis measures categorical factors;
    - I(F; H_pcs | D) = sum_d p(d) I(F; H_pcs | D = d), each term mixture-form GCMI within
      one decision class (NaN where a level of F has too few trials in a class to fit it);
      the joint, MMI redundancy and co-information follow as in `layer_information`, with
      the decisions shuffled for their nulls.

    Parameters
    ----------
    activations : layer name -> Tensor (n, u); pooled channels of one layer.
    groups : group name -> (codes (n,), levels); integer codes in ``[0, levels)``. Every
        occupied level needs more than ``n_pcs`` trials.
    decisions, n_classes, n_perm, seed, n_pcs, alpha, on_progress : as `layer_information`
        (the calls of ``on_progress`` add up to ``n_perm * (n_layers * n_groups + 1)``).

    Returns
    -------
    list of LayerGroupResult, layers in the order of ``activations``, groups in the order of
    ``groups`` within each layer; the families of the maximum statistic are over the pairs of
    this call.
    """
    _check_run(n_perm, alpha)
    layer_names, group_names = list(activations), list(groups)
    if not layer_names or not group_names:
        return []
    first = activations[layer_names[0]]
    n, device = first.shape[0], first.device
    hs = {name: _float_activations(name, activations[name], n) for name in layer_names}
    d = _check_decisions(decisions, n, n_classes, device)
    fs = {g: _check_decisions(codes, n, levels, device) for g, (codes, levels) in groups.items()}
    levels = {g: int(groups[g][1]) for g in group_names}
    keep, pcs, var_frac = _summaries(hs, n_pcs)
    widest = max(p.shape[1] for p in pcs.values())
    for g, f in fs.items():
        counts = torch.bincount(f, minlength=levels[g])
        if bool(((counts > 0) & (counts <= widest)).any()):
            raise DataError(
                f"factor group '{g}': a category holds {int(counts[counts > 0].min())} trials; "
                f"every occupied category needs more than n_pcs = {widest}"
            )

    n_l, n_g = len(layer_names), len(group_names)
    nan = torch.full((n_l, n_g), torch.nan, dtype=_F64, device=device)
    mi_obs, cond_obs = nan.clone(), nan.clone()
    mi_null = torch.full((n_perm, n_l, n_g), torch.nan, dtype=_F64, device=device)
    cond_null = mi_null.clone()
    fd_obs = torch.stack(
        [info.mi_dd(fs[g], d, levels[g], n_classes, biascorrect=True) for g in group_names]
    ).to(_F64)
    fd_null = torch.empty(n_perm, n_g, dtype=_F64, device=device)
    live = [i for i, name in enumerate(layer_names) if pcs[name].shape[1] > 0]
    classes = _Classes(d, n_classes)
    unpermuted = _identity(n, device)  # [1, n]: the decisions as observed
    scores = {i: info.copnorm(pcs[layer_names[i]]) for i in live}
    for i in live:
        x = pcs[layer_names[i]]
        for j, g in enumerate(group_names):
            mi_obs[i, j] = _mixture_bits(scores[i], fs[g], levels[g])
            cond_obs[i, j] = _cmi_given_decisions(x, fs[g], levels[g], classes, unpermuted)[0]
    chunk = _chunk_size(n_perm, 8 * n * (widest + 4) * max(n_g, 1))
    for s, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=device):
        c = perms.shape[0]
        d_perm = d[perms]  # [c, n]
        for j, g in enumerate(group_names):
            f_perm = fs[g][perms]
            fd_null[s : s + c, j] = info.mi_dd(
                fs[g].expand(c, n), d_perm, levels[g], n_classes, biascorrect=True
            ).to(_F64)
            for i in live:
                x = pcs[layer_names[i]]
                z = scores[i]
                mi_null[s : s + c, i, j] = _mixture_bits(z.expand(c, *z.shape), f_perm, levels[g])
                cond_null[s : s + c, i, j] = _cmi_given_decisions(
                    x, fs[g], levels[g], classes, perms
                )
        if on_progress is not None:
            on_progress(c)

    fd_pairs, fd_null_pairs = fd_obs.expand(n_l, n_g), fd_null.unsqueeze(1).expand(-1, n_l, -1)
    red_obs, red_null, red_source = _shared_category(
        {layer_names[i]: pcs[layer_names[i]] for i in live}, fs, levels, d, n_classes, n_perm, seed
    )
    red_o, red_n, red_s = nan.clone(), torch.full_like(mi_null, torch.nan), nan.clone()
    if live:
        red_o[live], red_n[:, live], red_s[live] = red_obs, red_null, red_source
    tests = _pair_tests(
        mi_obs, mi_null, fd_pairs, fd_null_pairs, cond_obs, cond_null, red_o, red_n, n_perm
    )
    mi_p, red_bits, red_p, co_obs, co_p, co_mean = tests

    results = []
    for i, lname in enumerate(layer_names):
        h_kept = hs[lname][:, keep[lname]]
        index = keep[lname].nonzero().squeeze(1)
        for j, gname in enumerate(group_names):
            if h_kept.shape[1]:
                mi_u, null_u = stats.perm_sweep_cd(
                    h_kept,
                    fs[gname].unsqueeze(1),
                    levels[gname],
                    n_perm,
                    seed,
                    on_progress=on_progress,
                )
                unit_mi = mi_u[:, 0]
                unit_p = stats.max_stat_pvalues(mi_u, null_u)[:, 0]
                max_bits = float(unit_mi.max())
                median_bits = float(torch.quantile(unit_mi.to(_F64), 0.5))
            else:
                if on_progress is not None:
                    on_progress(n_perm)
                unit_mi = unit_p = h_kept.new_zeros(0)
                max_bits = median_bits = math.nan
            results.append(
                LayerGroupResult(
                    layer=lname,
                    group=gname,
                    n_units=int(index.numel()),
                    n_dropped_units=int((~keep[lname]).sum()),
                    unit_index=index,
                    unit_mi=unit_mi,
                    unit_factor=torch.zeros(unit_mi.shape[0], dtype=torch.int64, device=device),
                    unit_p=unit_p,
                    n_significant_units=int((unit_p <= alpha).sum()),
                    max_unit_bits=max_bits,
                    median_unit_bits=median_bits,
                    n_pcs=int(pcs[lname].shape[1]),
                    pc_variance_fraction=float(var_frac[lname].sum()),
                    mi_bits=float(mi_obs[i, j]),
                    mi_p=float(mi_p[i, j]),
                    decision_mi_bits=float(fd_obs[j]),
                    cmi_given_decision_bits=float(cond_obs[i, j]),
                    joint_bits=float(fd_obs[j] + cond_obs[i, j]),
                    red_bits=float(red_bits[i, j]),
                    red_p=float(red_p[i, j]),
                    red_mmi_bits=float(redundancy_mmi(mi_obs[i, j], fd_pairs[i, j])),
                    red_source_bits=float(red_s[i, j]),
                    measure="ccs" if math.isfinite(float(red_s[i, j])) else "none",
                    coinfo_bits=float(co_obs[i, j]),
                    coinfo_p=float(co_p[i, j]),
                    coinfo_null_mean_bits=float(co_mean[i, j]),
                    n_perm=n_perm,
                    alpha=alpha,
                )
            )
    return results


def _mixture_bits(scores: Tensor, f: Tensor, levels: int) -> Tensor:
    """I(F; X) in bits from copula scores ``[..., n, k]`` and codes ``[..., n]``: the mixture
    form (`info.mi_mixture_gd_masked`), which cannot exceed the plug-in H(F); NaN where a
    level has too few trials to fit. The model form can: with well-separated levels its
    single pooled Gaussian claimed 5 to 9 bits for an 8-level group (at most 3 bits)."""
    bits, ok = info.mi_mixture_gd_masked(scores, f, levels)
    return torch.where(ok, bits, torch.nan)


def _cmi_given_decisions(
    x: Tensor, f: Tensor, levels: int, classes: _Classes, perms: Tensor
) -> Tensor:
    """I(F; X | D) = sum_d p(d) I(F; X | D = d) for the decisions relabelled by each row of
    ``perms [c, n]`` (``d[perms[p]]``), bits ``[c]``: mixture-form GCMI within each decision
    class, X copula-normalised within the class (as `_mixture_bits` on the class's trials).
    NaN for a relabelling in which a level of F occurs in a class with too few trials there
    to fit its covariance. All relabellings at once, in the class frame of `_Classes`."""
    n, k = x.shape
    c = perms.shape[0]
    inverse = torch.empty_like(perms).scatter_(1, perms, _identity(n, perms.device).expand(c, n))
    frame = inverse.index_select(1, classes.order)  # [c, n]: the trial at each frame position
    z = classes.copnorm(_ranks(info.copnorm(x)).T.contiguous(), frame)  # [k, c, n]
    f_frame = f[frame]  # [c, n]
    total = torch.zeros(c, dtype=_F64, device=x.device)
    for start, count in classes.segments:
        if count <= k + 1:  # too few trials in the class for any fit
            return torch.full((c,), torch.nan, dtype=_F64, device=x.device)
        xs = z[:, :, start : start + count].permute(1, 2, 0)  # [c, N_s, k]
        ys = f_frame[:, start : start + count]
        part, ok = info.mi_mixture_gd_masked(xs, ys, levels)
        total = total + (count / n) * torch.where(ok, part, torch.nan)
    return total
