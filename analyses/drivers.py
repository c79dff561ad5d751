"""What drives the decisions: information each factor (and factor group) carries about them.

For one decision maker's discrete decisions D and a family of stimulus variables F (single
factors and whole factor groups, continuous or categorical), computes I(F; D) in bits with
its permutation null (decisions shuffled across trials, one permutation shared by every
variable), p-values with family-wise error control over the whole family, and resampling
confidence intervals. Estimators (methods.md): continuous F, univariate or multivariate,
Gaussian-copula MI in the class-conditional "model" form with the analytic bias correction
(2.5); categorical F, plug-in discrete MI minus the first-order bias (2.7).

Continuous and categorical tests have differently scaled nulls, so the family-wise control
uses the maximum of statistics standardized by their own nulls (methods.md 2.9).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from analyses import info, stats
from analyses.errors import DataError

__all__ = ["DecisionInformation", "decision_information", "merge_rare_classes"]

_LN2 = math.log(2.0)
_F64 = torch.float64


@dataclass(frozen=True, slots=True)
class DecisionInformation:
    """Information between each tested variable and the decisions, in bits.

    Attributes
    ----------
    names : names of the tested variables, in the order of every tensor below.
    mi : Tensor (T,); bias-corrected information, bits (may be slightly negative). Single
        factors: model-form GCMI (a lower bound in 1-D). Multivariate groups: the mixture
        form (methods.md 2.6) minus its permutation-null mean, because the model form's
        single Gaussian for the pooled data overstates the information of clustered
        multivariate factors many times over (it can exceed the decision entropy). The
        null-mean correction removes the bias near independence and is conservative when
        the information approaches the decision entropy.
    statistic : Tensor (T,); the permutation test statistic (model form for every
        continuous variable, discrete MI otherwise); `null` and the p-values refer to it.
    p_value : Tensor (T,); FWER-corrected over the family (standardized maximum statistic).
    p_uncorrected : Tensor (T,); each variable's own permutation p-value.
    ci_low, ci_high : Tensor (T,); resampling interval for ``mi``, bits.
    null : Tensor (n_perm, T); ``statistic`` with the decisions shuffled (permutation k of
        ``stats.permutation_indices(n_trials, n_perm, seed)``), bits.
    estimator : per variable, ``"gcmi-model-cd"`` or ``"discrete-plugin-mm"``.
    n_trials : trials used (missing decisions dropped).
    n_perm : permutations in the null.
    class_counts : Tensor (C',); decisions per (merged) class.
    merged_classes : original decision classes pooled into one "rare" class.
    ci_method : resampling method of the single-factor and categorical intervals (groups use
        stratified half-subsamples of the mixture estimate).
    """

    names: tuple[str, ...]
    mi: Tensor
    statistic: Tensor
    p_value: Tensor
    p_uncorrected: Tensor
    ci_low: Tensor
    ci_high: Tensor
    null: Tensor
    estimator: tuple[str, ...]
    n_trials: int
    n_perm: int
    class_counts: Tensor
    merged_classes: tuple[int, ...]
    ci_method: str


#: Decision classes answered fewer times than this are pooled before class-conditional
#: estimation (methods.md 4.4).
MIN_CLASS_TRIALS = 20


def min_class_trials(dims: int) -> int:
    """Fewest trials a decision class needs when the widest continuous variable has `dims`
    dimensions: its class covariance needs more than `dims` trials, also in the half-size
    subsamples of the intervals, and never fewer than `MIN_CLASS_TRIALS`."""
    return max(MIN_CLASS_TRIALS, 2 * (dims + 1) + 2)


def decisions_too_few(decisions: Tensor, n_classes: int, min_count: int) -> str | None:
    """Why one observer's decisions (class codes, -1 for no answer) cannot be analysed, or
    None when they can: after `merge_rare_classes` at least two classes must remain."""
    given = decisions[decisions >= 0].long()
    if given.numel() == 0:
        return "no usable decisions (every answer is missing)"
    counts = torch.bincount(given, minlength=n_classes)
    if int((counts > 0).sum()) < 2:
        return f"the decisions are constant (the same class in all {given.numel()} answers)"
    if merge_rare_classes(given, n_classes, min_count)[1] < 2:
        return (
            f"too few decisions per class: {given.numel()} answers, and fewer than two classes "
            f"(the rare ones pooled) reach the {min_count} each that class-conditional "
            f"estimation needs (the most common class has {int(counts.max())})"
        )
    return None


def merge_rare_classes(y: Tensor, n_classes: int, min_count: int) -> tuple[Tensor, int, list[int]]:
    """Relabel decisions so every class holds at least `min_count` trials.

    Classes with fewer trials are pooled into one extra class (methods.md 4.4: tiny classes
    make class covariances singular); empty classes are removed. If the pooled class is itself
    still too small, it joins the smallest remaining class.

    Parameters
    ----------
    y : Tensor (n,), integer decisions in ``[0, n_classes)``.
    n_classes : size of the label space.
    min_count : smallest acceptable class size.

    Returns
    -------
    codes : Tensor (n,), int64 labels in ``[0, C')``.
    n_used : C', the number of classes after merging.
    merged : original classes that were pooled.
    """
    counts = torch.bincount(y, minlength=n_classes)
    big = [c for c in range(n_classes) if counts[c] >= min_count]
    rare = [c for c in range(n_classes) if 0 < counts[c] < min_count]
    mapping = torch.full((n_classes,), -1, dtype=torch.int64, device=y.device)
    for new, c in enumerate(big):
        mapping[c] = new
    n_used = len(big)
    if rare:
        pooled = int(counts[rare].sum())
        if pooled >= min_count or not big:
            mapping[rare] = n_used
            n_used += 1
        else:
            smallest = min(big, key=lambda c: int(counts[c]))
            mapping[rare] = int(mapping[smallest])
    return mapping[y], n_used, rare


def _model_cd_bits(half_logdet_pooled: Tensor, counts: Tensor, s1: Tensor, s2: Tensor) -> Tensor:
    """Model-form MI (methods.md 2.5, bias-corrected) from class sums, in bits.

    ``counts [..., C]`` trials per class, ``s1 [..., C, d]`` class sums and ``s2 [..., C, d, d]``
    class sums of outer products of copula-normalised data; ``half_logdet_pooled [...]`` is
    half the log-determinant of the pooled covariance. Classes with at most d trials (which can
    happen inside a resample) are left out of the conditional term.
    """
    d = s1.shape[-1]
    n = counts.sum(-1)
    nc = counts.unsqueeze(-1).unsqueeze(-1)
    cov = (s2 - s1.unsqueeze(-1) * s1.unsqueeze(-2) / nc.clamp(min=1)) / (nc - 1).clamp(min=1)
    usable = counts > d
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    cov = torch.where(usable[..., None, None], cov, eye)
    chol, _ = torch.linalg.cholesky_ex(cov)
    h_c = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    h_c = h_c - info.ent_bias(torch.where(usable, counts, float(d + 1)), d)
    h = half_logdet_pooled - info.ent_bias(n, d)
    p = counts / n.unsqueeze(-1)
    return (h - torch.where(usable, p * h_c, 0.0).sum(-1)) / _LN2


def _label_free(cx: Tensor) -> tuple[Tensor, Tensor | None]:
    """The parts of `_continuous_mi` that do not depend on the labels, which a null computes
    once: the pooled half log-determinant, and the per-trial outer products ``[..., n, d*d]``
    when they fit in one block of `_OUTER_BLOCK_ELEMENTS` (else None: summed block by block)."""
    centred = cx - cx.mean(-2, keepdim=True)
    pooled = centred.mT @ centred / (cx.shape[-2] - 1)
    chol, _ = torch.linalg.cholesky_ex(pooled)
    n, d = cx.shape[-2:]
    outer = None
    if n * d * d <= _OUTER_BLOCK_ELEMENTS:
        outer = (cx.unsqueeze(-1) * cx.unsqueeze(-2)).flatten(-2)
    return torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1), outer


def _class_outer_sums(cx: Tensor, y_oh: Tensor, block: int | None = None) -> Tensor:
    """Per class, the sum of the trials' outer products: ``[..., C, d, d]`` from ``cx
    [..., n, d]`` and one-hot ``y_oh [..., n, C]``. Trials are taken `block` at a time, so
    the per-trial products (n x d² values) never exist all at once: memory is bounded by the
    block, not by n."""
    n, d = cx.shape[-2:]
    block = block or max(1, _OUTER_BLOCK_ELEMENTS // (d * d))
    total = None
    for start in range(0, n, block):
        xb = cx[..., start : start + block, :]
        outer = (xb.unsqueeze(-1) * xb.unsqueeze(-2)).flatten(-2)
        part = y_oh[..., start : start + block, :].mT @ outer
        total = part if total is None else total + part
    return total.unflatten(-1, (d, d))


def _continuous_mi(
    cx: Tensor, y_oh: Tensor, fixed: tuple[Tensor, Tensor | None] | None = None
) -> Tensor:
    """Model-form MI of copula-normalised ``cx [..., n, d]`` with one-hot ``y_oh [..., n, C]``;
    `fixed` is `_label_free` of ``cx`` when the caller has it."""
    hld, outer = _label_free(cx) if fixed is None else fixed
    counts = y_oh.sum(-2)
    s1 = y_oh.mT @ cx
    if outer is None:
        s2 = _class_outer_sums(cx, y_oh)
    else:
        s2 = (y_oh.mT @ outer).unflatten(-1, (cx.shape[-1], cx.shape[-1]))
    return _model_cd_bits(hld, counts, s1, s2)


def _discrete_mi(x_oh: Tensor, y_oh: Tensor) -> Tensor:
    """Plug-in discrete MI minus the first-order bias, bits; one-hot inputs ``[..., n, L|C]``."""
    n = x_oh.shape[-2]
    pxy = (x_oh.mT @ y_oh) / n
    px, py = pxy.sum(-1, keepdim=True), pxy.sum(-2, keepdim=True)
    ratio = torch.where(pxy > 0, pxy / (px * py), 1.0)
    plug_in = (pxy * torch.log2(ratio)).sum((-2, -1))
    r_x = (px > 0).sum((-2, -1)).to(_F64)
    r_y = (py > 0).sum((-2, -1)).to(_F64)
    return plug_in - (r_x - 1) * (r_y - 1) / (2 * n * _LN2)


def _univariate_label_free(cx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The label-free parts of `_univariate_mi`: values, squares, pooled half log-variances."""
    centred = cx - cx.mean(-2, keepdim=True)
    return cx, cx.square(), 0.5 * torch.log(centred.square().sum(-2) / (cx.shape[-2] - 1))


def _univariate_mi(
    cx: Tensor, y_oh: Tensor, fixed: tuple[Tensor, Tensor, Tensor] | None = None
) -> Tensor:
    """Model-form MI of every column of copula-normalised ``cx [..., n, F]``, each on its own,
    with one-hot ``y_oh [..., n, C]`` -> ``[..., F]`` bits; `_continuous_mi` with d = 1 for F
    variables at once (the columns ride along as a batch dimension)."""
    cx, square, half_logvar = _univariate_label_free(cx) if fixed is None else fixed
    counts = y_oh.sum(-2).unsqueeze(-2)  # [..., 1, C]
    s1 = (y_oh.mT @ cx).mT.unsqueeze(-1)  # [..., F, C, 1]
    s2 = (y_oh.mT @ square).mT[..., None, None]  # [..., F, C, 1, 1]
    return _model_cd_bits(half_logvar, counts, s1, s2)


def _all_mi(
    cont: list[Tensor],
    cat: list[Tensor],
    y_oh: Tensor,
    copula: bool,
    fixed: dict[int | str, tuple[Tensor, ...]] | None = None,
) -> Tensor:
    """MI of every variable with labels ``y_oh [B, n, C]`` -> ``[B, T]`` bits.

    `cont` holds ``[B or 1, n, d]`` values (copula-normalised here when `copula`), `cat` holds
    one-hot ``[B or 1, n, L]`` codes. Univariate variables are computed together. `fixed`
    (from `_all_label_free`, for already normalised `cont`) holds the label-free terms, which
    a permutation null would otherwise recompute for every chunk of permutations.
    """
    fixed = fixed or {}
    out: list[Tensor | None] = [None] * (len(cont) + len(cat))
    single = [j for j, x in enumerate(cont) if x.shape[-1] == 1]
    if single:
        if "single" in fixed:
            mi = _univariate_mi(fixed["single"][0], y_oh, fixed["single"])
        else:
            xs = torch.cat(torch.broadcast_tensors(*[cont[j] for j in single]), dim=-1)
            mi = _univariate_mi(info.copnorm(xs) if copula else xs, y_oh)
        for col, j in enumerate(single):
            out[j] = mi[..., col]
    for j, x in enumerate(cont):
        if x.shape[-1] > 1:
            out[j] = _continuous_mi(info.copnorm(x) if copula else x, y_oh, fixed.get(j))
    for i, x_oh in enumerate(cat):
        out[len(cont) + i] = _discrete_mi(x_oh, y_oh)
    return torch.stack(torch.broadcast_tensors(*out), dim=-1)


def _all_label_free(cont: list[Tensor]) -> dict[int | str, tuple[Tensor, ...]]:
    """`_all_mi`'s label-free terms of copula-normalised `cont`."""
    fixed: dict[int | str, tuple[Tensor, ...]] = {}
    single = [x for x in cont if x.shape[-1] == 1]
    if single:
        fixed["single"] = _univariate_label_free(torch.cat(torch.broadcast_tensors(*single), -1))
    for j, x in enumerate(cont):
        if x.shape[-1] > 1:
            fixed[j] = _label_free(x)
    return fixed


def decision_information(
    decisions: Tensor,
    n_classes: int,
    continuous: Mapping[str, Tensor],
    categorical: Mapping[str, tuple[Tensor, int]],
    *,
    n_perm: int,
    seed: int,
    n_boot: int = 200,
    level: float = 0.95,
    min_class_trials: int = 20,
    chunk: int = 32,
    on_progress: Callable[[int], None] | None = None,
) -> DecisionInformation:
    """Information each variable carries about the decisions, with FWER p-values and CIs.

    Parameters
    ----------
    decisions : Tensor (n,), integer decisions in ``[0, n_classes)``; -1 marks a missing answer
        (those trials are dropped).
    n_classes : size of the decision label space.
    continuous : name -> Tensor (n, d) (or (n,)); a single factor (d = 1) or a factor group.
    categorical : name -> (codes (n,) in ``[0, levels)``, levels); a categorical factor.
    n_perm : permutations of the decisions (shared by every variable).
    seed : seed of the permutations and of the resampling.
    n_boot : resamples for the confidence interval (m-out-of-n subsampling, methods.md 4.1).
    level : coverage of the interval.
    min_class_trials : decision classes with fewer trials are pooled (`merge_rare_classes`).
    chunk : permutations per batched step (bounds memory).
    on_progress : called with the work finished, in units of one permutation or one resample:
        ``n_perm + n_boot`` units in all (the intervals come after the null).

    Returns
    -------
    DecisionInformation, tensors on the device of `decisions`, float64.
    """
    names = tuple(continuous) + tuple(categorical)
    if not names:
        raise ValueError("decision_information needs at least one variable to test")
    if set(continuous) & set(categorical):
        raise ValueError("a variable is listed as both continuous and categorical")
    device = decisions.device
    keep = decisions >= 0
    if (why := decisions_too_few(decisions, n_classes, min_class_trials)) is not None:
        raise DataError(why)
    y, n_used, merged = merge_rare_classes(decisions[keep].long(), n_classes, min_class_trials)
    n = int(y.shape[0])
    cont = []
    for name, x in continuous.items():
        x = x.unsqueeze(-1) if x.dim() == 1 else x
        if x.shape[0] != decisions.shape[0]:
            raise ValueError(f"{name}: {x.shape[0]} trials, decisions have {decisions.shape[0]}")
        cont.append(x[keep].to(_F64).unsqueeze(0))
    cat = []
    for name, (codes, levels) in categorical.items():
        if codes.shape[0] != decisions.shape[0]:
            raise ValueError(
                f"{name}: {codes.shape[0]} trials, decisions have {decisions.shape[0]}"
            )
        oh = torch.nn.functional.one_hot(codes[keep].long(), levels).to(_F64)
        cat.append(oh.unsqueeze(0))

    y_oh = torch.nn.functional.one_hot(y, n_used).to(_F64).unsqueeze(0)
    cont_norm = [info.copnorm(x) for x in cont]  # once; permuting y leaves these unchanged
    fixed = _all_label_free(cont_norm)
    mi = _all_mi(cont_norm, cat, y_oh, copula=False, fixed=fixed)[0]

    null = torch.empty(n_perm, len(names), dtype=_F64, device=device)
    chunk = max(1, min(chunk, _NULL_CHUNK_ELEMENTS // (n * n_used)))
    for start, perms in stats.permutation_chunks(n, n_perm, seed, chunk, device=device):
        c = perms.shape[0]
        null[start : start + c] = _all_mi(cont_norm, cat, y_oh[0][perms], False, fixed)
        if on_progress is not None:
            on_progress(c)

    p_unc = stats.perm_pvalues(mi, null)
    p_fwer = stats.standardized_max_pvalues(mi, null)
    reported = mi.clone()

    # Single factors: subsampling intervals of the reported (test) statistic. Groups report
    # the mixture form, with intervals of their own (`_mixture_estimate`).
    single = [j for j, x in enumerate(cont) if x.shape[-1] == 1]
    groups = [j for j, x in enumerate(cont) if x.shape[-1] > 1]
    n_single = len(single)
    # The n_boot progress units of the intervals, shared among the singles' interval (if any)
    # and each group's.
    parts = int(bool(n_single or cat)) + len(groups)
    done = 0

    def part_done() -> None:
        nonlocal done
        if on_progress is not None:
            step = (n_boot * (done + 1)) // parts - (n_boot * done) // parts
            on_progress(step)
        done += 1

    def stat_fn(y_b: Tensor, *xs: Tensor) -> Tensor:
        return _all_mi(list(xs[:n_single]), list(xs[n_single:]), y_b, copula=True)

    low = torch.full_like(mi, torch.nan)
    high = torch.full_like(mi, torch.nan)
    ci_method = "none"
    if n_single or cat:
        ci = stats.bootstrap_ci(
            stat_fn,
            y_oh[0],
            # Subsamples keep the full sample's tie order (one sort per subsample, not three).
            *[info.tie_broken_ranks(cont[j][0]) for j in single],
            *[x[0] for x in cat],
            n_boot=n_boot,
            seed=seed,
            level=level,
            method="subsample",
            chunk=max(1, chunk),
        )
        rest = single + list(range(len(cont), len(names)))
        low[rest], high[rest] = ci.low, ci.high
        ci_method = f"{ci.method} (m={ci.resample_size} of {n}, {ci.n_boot} resamples)"
        part_done()
    estimator = ["gcmi-model-cd"] * len(cont) + ["discrete-plugin-mm"] * len(cat)
    for j in groups:
        reported[j], low[j], high[j] = _mixture_estimate(
            cont[j][0], y, n_used, n_boot, level, seed, n_perm
        )
        estimator[j] = "gcmi-mixture-cd"
        part_done()
    if parts == 0 and on_progress is not None:
        on_progress(n_boot)
    return DecisionInformation(
        names=names,
        mi=reported,
        statistic=mi,
        p_value=p_fwer,
        p_uncorrected=p_unc,
        ci_low=low,
        ci_high=high,
        null=null,
        estimator=tuple(estimator),
        n_trials=n,
        n_perm=n_perm,
        class_counts=y_oh[0].sum(0),
        merged_classes=tuple(merged),
        ci_method=ci_method,
    )


# The mixture estimator's bias is its permutation-null mean (no analytic correction exists),
# estimated in rounds of relabellings until its Monte Carlo standard error is at most
# _BIAS_SE_BITS (half the last digit a report shows), with at most _MIXTURE_BIAS_PERMS
# relabellings. Small studies use all of them; the null's spread shrinks like 1/n, so large
# ones stop after the first round.
_MIXTURE_BIAS_PERMS = 64
_MIXTURE_BIAS_ROUND = 16
_BIAS_SE_BITS = 5e-4
# Elements of the one-hot permuted decisions of one chunk of the null (float64, 128 MiB).
_NULL_CHUNK_ELEMENTS = 2**24
# Elements of one block of per-trial outer products (float64, 32 MiB).
_OUTER_BLOCK_ELEMENTS = 2**22


def _mixture_estimate(
    x: Tensor, y: Tensor, n_classes: int, n_boot: int, level: float, seed: int, n_perm: int
) -> tuple[float, float, float]:
    """Mixture-form GCMI of a multivariate factor group with the decisions, in bits.

    Returns the estimate minus its permutation-null mean, and a stratified m-out-of-n
    subsampling interval (m = n/2 within every decision class, so no class becomes too small
    for its covariance) around it, from the spread of the subsample estimates.
    """
    n = x.shape[0]
    g = torch.Generator(device="cpu").manual_seed(seed + 7919)
    raw = info.gcmi_mixture_cd(x, y, n_classes)
    estimate = raw - _mixture_bias(x, y, n_classes, seed, n_perm)
    n_boot = max(n_boot, 2)
    idx = _stratified_halves(y, n_classes, n_boot, g).to(x.device)  # [B, m]
    m = idx.shape[1]
    keep = torch.zeros(n_boot, n, dtype=torch.bool, device=x.device).scatter_(1, idx, True)
    t_b = info.gcmi_mixture_cd_subsamples(x, y, n_classes, keep)
    # Deviations from the subsamples' own mean: the estimator's bias differs between sizes m
    # and n, so only the spread of the subsample estimates is carried over.
    dev = (m / (n - m)) ** 0.5 * (t_b - t_b.mean())
    a = 1 - level
    q_lo, q_hi = torch.quantile(dev, torch.tensor([a / 2, 1 - a / 2], dtype=dev.dtype))
    return float(estimate), float(estimate - q_hi), float(estimate - q_lo)


def _mixture_bias(x: Tensor, y: Tensor, n_classes: int, seed: int, n_perm: int) -> Tensor:
    """Permutation-null mean of the mixture estimate, bits (see `_BIAS_SE_BITS`)."""
    n = x.shape[0]
    n_bias = max(2, min(n_perm, _MIXTURE_BIAS_PERMS))
    null: list[Tensor] = []
    for _, perms in stats.permutation_chunks(n, n_bias, seed, _MIXTURE_BIAS_ROUND, device=x.device):
        null.append(info.gcmi_mixture_cd(x, y[perms], n_classes))  # x broadcast over perms
        done = torch.cat(null)
        if float(done.std() / math.sqrt(len(done))) <= _BIAS_SE_BITS:
            break
    return done.mean()


def _stratified_halves(y: Tensor, n_classes: int, n_boot: int, g: torch.Generator) -> Tensor:
    """``[n_boot, m]`` trial indices: half of every class's trials, drawn without replacement."""
    parts = []
    for c in range(n_classes):
        members = (y == c).nonzero().squeeze(1).cpu()
        k = len(members) // 2
        if k == 0:
            continue
        order = torch.rand(n_boot, len(members), generator=g).argsort(dim=1)[:, :k]
        parts.append(members[order])
    return torch.cat(parts, dim=1)
