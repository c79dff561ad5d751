"""Decision-level behavioural measures: shape bias, accuracy per condition, morph curves.

Decisions are integer class codes in a tensor ``[..., n]`` (one row of ``n`` trials per
observer; leading dimensions are a batch of observers). A missing response (a person who did
not answer in time) is coded ``-1`` and never counts as any class: every measure here leaves
such trials out of its denominators and reports how many it left out. Definitions follow
methods.md section 3 (shape bias: Geirhos et al., ICLR 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ConditionAccuracy",
    "MorphCurves",
    "ShapeBias",
    "accuracy_by_condition",
    "morph_curves",
    "observer_bootstrap_interval",
    "shape_bias",
    "shape_bias_by_group",
    "wilson_interval",
]

MISSING = -1  # decision code of a trial without a response


@dataclass(frozen=True, slots=True)
class ShapeBias:
    """Shape bias on cue-conflict trials and the counts it comes from (all shapes ``[...]``).

    Attributes
    ----------
    shape_bias : Tensor, float
        ``n_shape / (n_shape + n_texture)``; NaN where no answer matched either cue.
    n_shape, n_texture : Tensor, int64
        Conflict trials answered with the shape class / with the texture class.
    n_other : Tensor, int64
        Conflict trials answered with a class that matches neither cue (ignored).
    n_missing : Tensor, int64
        Conflict trials without a response (ignored).
    n_conflict : Tensor, int64
        All cue-conflict trials (shape class != texture class).
    fraction_ignored : Tensor, float
        ``(n_other + n_missing) / n_conflict``: the share of conflict trials the bias ignores.
    """

    shape_bias: Tensor
    n_shape: Tensor
    n_texture: Tensor
    n_other: Tensor
    n_missing: Tensor
    n_conflict: Tensor
    fraction_ignored: Tensor

    @property
    def texture_bias(self) -> Tensor:
        """``1 - shape_bias`` (NaN where the shape bias is undefined)."""
        return 1 - self.shape_bias

    def pooled(self, dim: int = 0) -> ShapeBias:
        """Pool observers along ``dim`` by summing their counts (e.g. all people together).

        The pooled bias weighs each counted trial equally, so it is not the mean of the
        observers' biases.
        """
        dtype = self.shape_bias.dtype
        return _from_counts(
            *(c.sum(dim) for c in (self.n_shape, self.n_texture, self.n_other, self.n_missing)),
            self.n_conflict.sum(dim),
            dtype,
        )


@dataclass(frozen=True, slots=True)
class ConditionAccuracy:
    """Accuracy per condition (all shapes ``[..., n_conditions]``).

    Attributes
    ----------
    accuracy : Tensor, float
        ``n_correct / n_answered``; NaN for a condition without answered trials.
    n_correct, n_answered, n_missing : Tensor, int64
        Correct trials, trials with a response, trials without one.
    """

    accuracy: Tensor
    n_correct: Tensor
    n_answered: Tensor
    n_missing: Tensor


@dataclass(frozen=True, slots=True)
class MorphCurves:
    """Generalisation curves along a morph continuum (all shapes ``[..., n_levels]``).

    Attributes
    ----------
    p_a, p_b : Tensor, float
        P(decision = endpoint a's class | level) and P(decision = endpoint b's class | level),
        among answered trials; NaN for a level without answered trials.
    n_answered, n_missing : Tensor, int64
        Trials with and without a response at each level.
    """

    p_a: Tensor
    p_b: Tensor
    n_answered: Tensor
    n_missing: Tensor


def shape_bias(
    decisions: Tensor,
    shape_cls: Tensor,
    texture_cls: Tensor,
    *,
    dtype: torch.dtype | None = None,
) -> ShapeBias:
    """Shape bias (Geirhos et al. 2019; methods.md 3.2), batched over observers.

    Trials whose shape and texture class coincide (no cue conflict) are dropped; among the
    rest only answers equal to the shape or the texture class are counted; other answers and
    missing responses (``-1``) are ignored and reported.

    Parameters
    ----------
    decisions : Tensor, int, shape (..., n)
        Class code chosen on each trial; ``-1`` = no response.
    shape_cls, texture_cls : Tensor, int, shape (n,) or broadcastable to (..., n)
        Shape (content) class and texture (style) class of each trial's image.
    dtype : torch.dtype, optional
        Floating dtype of the ratios; default ``torch.get_default_dtype()`` (the inputs are
        integers, so they cannot set it).

    Returns
    -------
    ShapeBias
        Fields of shape ``(...)`` on the device of ``decisions``.
    """
    shape_cls, texture_cls = _broadcast_codes(decisions, shape_cls, texture_cls)
    one_group = torch.zeros_like(decisions)
    counts = _cue_counts(decisions, shape_cls, texture_cls, one_group, 1)
    return _from_counts(*(c[..., 0] for c in counts), dtype or torch.get_default_dtype())


def shape_bias_by_group(
    decisions: Tensor,
    shape_cls: Tensor,
    texture_cls: Tensor,
    group_codes: Tensor,
    n_groups: int,
    *,
    dtype: torch.dtype | None = None,
) -> ShapeBias:
    """Shape bias within groups of trials, e.g. per shape class (the benchmark's spread plot).

    Parameters
    ----------
    decisions, shape_cls, texture_cls, dtype
        As in :func:`shape_bias`.
    group_codes : Tensor, int, shape (n,) or broadcastable to (..., n)
        Group of each trial, ``0 .. n_groups - 1``.
    n_groups : int
        Number of groups.

    Returns
    -------
    ShapeBias
        Fields of shape ``(..., n_groups)``.
    """
    shape_cls, texture_cls, group_codes = _broadcast_codes(
        decisions, shape_cls, texture_cls, group_codes
    )
    counts = _cue_counts(decisions, shape_cls, texture_cls, group_codes, n_groups)
    return _from_counts(*counts, dtype or torch.get_default_dtype())


def accuracy_by_condition(
    decisions: Tensor,
    labels: Tensor,
    condition_codes: Tensor,
    n_conditions: int,
    *,
    dtype: torch.dtype | None = None,
) -> ConditionAccuracy:
    """Fraction of answered trials whose decision equals the true label, per condition.

    Missing responses (``-1``) are left out of the denominator and counted in ``n_missing``
    (methods.md 3.3 defines accuracy over decisions; a trial without one has no decision).

    Parameters
    ----------
    decisions : Tensor, int, shape (..., n)
        Class code chosen on each trial; ``-1`` = no response.
    labels : Tensor, int, shape (n,) or broadcastable to (..., n)
        True class of each trial (the shape class on cue-conflict images).
    condition_codes : Tensor, int, shape (n,) or broadcastable to (..., n)
        Condition of each trial, ``0 .. n_conditions - 1``.
    n_conditions : int
        Number of conditions.
    dtype : torch.dtype, optional
        Floating dtype of the accuracies; default ``torch.get_default_dtype()``.

    Returns
    -------
    ConditionAccuracy
        Fields of shape ``(..., n_conditions)``.
    """
    labels, condition_codes = _broadcast_codes(decisions, labels, condition_codes)
    answered = decisions != MISSING
    n_correct = _count_by_group(answered & (decisions == labels), condition_codes, n_conditions)
    n_answered = _count_by_group(answered, condition_codes, n_conditions)
    n_missing = _count_by_group(~answered, condition_codes, n_conditions)
    dtype = dtype or torch.get_default_dtype()
    return ConditionAccuracy(
        accuracy=_ratio(n_correct, n_answered, dtype),
        n_correct=n_correct,
        n_answered=n_answered,
        n_missing=n_missing,
    )


def morph_curves(
    decisions: Tensor,
    level_codes: Tensor,
    endpoint_a: Tensor | int,
    endpoint_b: Tensor | int,
    n_levels: int,
    *,
    dtype: torch.dtype | None = None,
) -> MorphCurves:
    """Probability of each endpoint's class per morph level (methods.md 3.5).

    Along a ``shape-morph`` or ``texture-morph`` continuum from class a (level 0) to class b
    (last level), the curves are P(decision = a | level) and P(decision = b | level) among
    answered trials.

    Parameters
    ----------
    decisions : Tensor, int, shape (..., n)
        Class code chosen on each trial; ``-1`` = no response.
    level_codes : Tensor, int, shape (n,) or broadcastable to (..., n)
        Morph level of each trial, ``0 .. n_levels - 1``.
    endpoint_a, endpoint_b : int or Tensor, int, broadcastable to (..., n)
        Class code of each trial's two endpoints (one int when all trials share them).
    n_levels : int
        Number of morph levels.
    dtype : torch.dtype, optional
        Floating dtype of the probabilities; default ``torch.get_default_dtype()``.

    Returns
    -------
    MorphCurves
        Fields of shape ``(..., n_levels)``.
    """
    endpoint_a = torch.as_tensor(endpoint_a, device=decisions.device)
    endpoint_b = torch.as_tensor(endpoint_b, device=decisions.device)
    level_codes, endpoint_a, endpoint_b = _broadcast_codes(
        decisions, level_codes, endpoint_a, endpoint_b
    )
    answered = decisions != MISSING
    n_answered = _count_by_group(answered, level_codes, n_levels)
    n_missing = _count_by_group(~answered, level_codes, n_levels)
    dtype = dtype or torch.get_default_dtype()
    return MorphCurves(
        p_a=_ratio(
            _count_by_group(decisions == endpoint_a, level_codes, n_levels), n_answered, dtype
        ),
        p_b=_ratio(
            _count_by_group(decisions == endpoint_b, level_codes, n_levels), n_answered, dtype
        ),
        n_answered=n_answered,
        n_missing=n_missing,
    )


def _broadcast_codes(decisions: Tensor, *codes: Tensor) -> tuple[Tensor, ...]:
    """Expand per-trial code tensors to the decisions' shape (views, no copies)."""
    if decisions.dim() == 0:
        raise ValueError("decisions must have a trials dimension (shape (..., n))")
    return tuple(c.to(decisions.device).expand_as(decisions) for c in codes)


def _count_by_group(mask: Tensor, group_codes: Tensor, n_groups: int) -> Tensor:
    """Count true entries of ``mask [..., n]`` per group -> int64 ``[..., n_groups]``."""
    out = torch.zeros(*mask.shape[:-1], n_groups, dtype=torch.int64, device=mask.device)
    return out.scatter_add(-1, group_codes.long(), mask.long())


def _cue_counts(
    decisions: Tensor, shape_cls: Tensor, texture_cls: Tensor, groups: Tensor, n_groups: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Per group: shape answers, texture answers, other answers, missing, conflict trials."""
    conflict = shape_cls != texture_cls
    answered = decisions != MISSING
    is_shape = conflict & (decisions == shape_cls)
    is_texture = conflict & (decisions == texture_cls)
    is_other = conflict & answered & ~is_shape & ~is_texture
    is_missing = conflict & ~answered
    return tuple(
        _count_by_group(m, groups, n_groups)
        for m in (is_shape, is_texture, is_other, is_missing, conflict)
    )


def _from_counts(
    n_shape: Tensor,
    n_texture: Tensor,
    n_other: Tensor,
    n_missing: Tensor,
    n_conflict: Tensor,
    dtype: torch.dtype,
) -> ShapeBias:
    return ShapeBias(
        shape_bias=_ratio(n_shape, n_shape + n_texture, dtype),
        n_shape=n_shape,
        n_texture=n_texture,
        n_other=n_other,
        n_missing=n_missing,
        n_conflict=n_conflict,
        fraction_ignored=_ratio(n_other + n_missing, n_conflict, dtype),
    )


def _ratio(num: Tensor, den: Tensor, dtype: torch.dtype) -> Tensor:
    """``num / den`` as floats, NaN where ``den == 0`` (an undefined rate, not zero)."""
    num, den = num.to(dtype), den.to(dtype)
    return torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, float("nan")))


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k / n (e.g. a shape bias); (nan, nan) if n = 0.

    Wilson (1927), J. Am. Stat. Assoc. 22:209; unlike the normal approximation it stays
    inside [0, 1] and keeps close to nominal coverage for proportions near 0 or 1.
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    z = float(torch.special.ndtri(torch.tensor(0.5 + level / 2, dtype=torch.float64)))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def observer_bootstrap_interval(
    k: Tensor, n: Tensor, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Percentile interval of a pooled rate ``sum(k) / sum(n)`` that resamples observers.

    A panel's trials are not independent: each person has their own rate, so an interval
    over pooled trials (Wilson) is too narrow by the spread between people. Here a two-stage
    bootstrap (Davison & Hinkley 1997, section 3.8) draws whole observers with replacement,
    then each drawn observer's count from a binomial at their own rate, ``n_boot`` times,
    batched; the pooled rate of each resample gives the percentiles. The first stage carries
    the spread between people, the second the trial noise within each.

    Parameters
    ----------
    k, n : Tensor, int or float, ``[obs, ...]``
        Per observer, the counts of "successes" and of counted trials; trailing dimensions
        (conditions, say) are batched.

    Returns
    -------
    (low, high) : Tensor, float64, ``[...]``
        NaN where no observer has a counted trial, or with fewer than 2 observers (the
        spread between people cannot be told from one).
    """
    if k.shape != n.shape or k.dim() < 1:
        raise ValueError(f"k and n need the same [obs, ...] shape, got {k.shape} and {n.shape}")
    k, n = k.to(torch.float64), n.to(torch.float64)
    n_obs, rest = k.shape[0], k.shape[1:]
    if n_obs < 2:
        nan = torch.full(rest, float("nan"), dtype=torch.float64, device=k.device)
        return nan, nan.clone()
    flat_k, flat_n = k.reshape(n_obs, -1).cpu(), n.reshape(n_obs, -1).cpu()
    rate = _ratio(flat_k, flat_n, torch.float64).nan_to_num(0.0)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    draws = torch.randint(n_obs, (n_boot, n_obs), generator=gen)  # [n_boot, obs]
    trials = flat_n[draws]  # [n_boot, obs, rest]
    # drawn on the CPU so that every device gives the same interval for a seed
    hits = torch.binomial(trials, rate[draws].expand_as(trials), generator=gen)
    pooled = _ratio(hits.sum(1), trials.sum(1), torch.float64)  # [n_boot, rest]
    alpha = (1.0 - level) / 2
    q = torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)
    bounds = torch.nanquantile(pooled, q, dim=0).to(k.device)  # all-NaN columns stay NaN
    return bounds[0].reshape(rest), bounds[1].reshape(rest)
