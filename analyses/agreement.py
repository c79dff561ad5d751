"""Trial-by-trial agreement between decision makers: error consistency and decision agreement.

Error consistency is Cohen's kappa over correct/incorrect (Geirhos et al., NeurIPS 2020;
methods.md 3.4): with ``c_obs`` the fraction of trials on which two observers are both right or
both wrong and ``c_exp = p_i p_j + (1 - p_i)(1 - p_j)`` its value for independent observers of
the same accuracies, ``kappa = (c_obs - c_exp) / (1 - c_exp)``.

Missing responses are excluded pairwise: a pair of observers is compared on the trials that
*both* answered, and the accuracies inside ``c_exp`` are taken over those same trials (so
``c_obs`` and ``c_exp`` describe one sample). Correctness tensors are boolean ``[..., n]``;
which trials were answered comes in an optional boolean mask of the same shape (default: all).
Decision tensors code a missing response as ``-1``.

Undefined kappa: ``c_exp = 1`` happens only when, on the shared trials, both observers are
always right or both always wrong; then they also agree on every trial (``c_obs = 1``) and
kappa is defined as 1 (methods.md 3.4). A pair without any shared answered trial gets NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from analyses.behaviour import MISSING  # decision code of a trial without a response
from analyses.pid import redundancy_mmi
from analyses.stats import standardized_max_pvalues

__all__ = [
    "DecisionAgreement",
    "ErrorConsistency",
    "decision_agreement",
    "error_consistency",
    "human_ceiling",
    "model_vs_humans",
    "pairwise_error_consistency",
    "shared_information",
    "SharedInformation",
]


@dataclass(frozen=True, slots=True)
class ErrorConsistency:
    """Cohen's kappa over correctness and the quantities it is built from (shapes ``[...]``).

    Attributes
    ----------
    kappa : Tensor, float
        Error consistency in [-1, 1]; 1 where ``c_exp = 1``; NaN without shared trials.
    c_obs : Tensor, float
        Observed fraction of shared trials with equal correctness.
    c_exp : Tensor, float
        Expected fraction for independent observers with the same accuracies.
    kappa_max : Tensor, float
        Largest kappa the two accuracies allow (``c_obs <= 1 - |p_i - p_j|``); 1 where
        ``c_exp = 1``; compare kappa with it when the accuracies differ.
    n_trials : Tensor, int64
        Number of trials both observers answered.
    """

    kappa: Tensor
    c_obs: Tensor
    c_exp: Tensor
    kappa_max: Tensor
    n_trials: Tensor


@dataclass(frozen=True, slots=True)
class DecisionAgreement:
    """Fraction of identical responses and its chance level (shapes ``[...]``).

    Attributes
    ----------
    agreement : Tensor, float
        Fraction of shared answered trials on which both chose the same class.
    chance : Tensor, float
        Agreement expected from the two marginal response distributions alone,
        ``sum_k P_i(k) P_j(k)`` (marginals over the same shared trials).
    kappa : Tensor, float
        Cohen's kappa on the decisions, ``(agreement - chance) / (1 - chance)``; 1 where
        ``chance = 1`` (both always gave the one same class); NaN without shared trials.
    n_trials : Tensor, int64
        Number of trials both answered.
    """

    agreement: Tensor
    chance: Tensor
    kappa: Tensor
    n_trials: Tensor


@dataclass(frozen=True, slots=True)
class SharedInformation:
    """Information about each factor group that each model's and people's decisions share.

    Attributes
    ----------
    redundancy : Tensor (M, G); MMI redundancy of model m and each person about group g,
        averaged over the people, from the reported (bias-corrected) estimates, bits.
    statistic : Tensor (M, G); the same from the test statistics, bits.
    null : Tensor (K, M, G); `statistic` with the model's decisions permuted, bits.
    p_value : Tensor (M, G); FWER-corrected over all M x G tests (standardized maximum).
    """

    redundancy: Tensor
    statistic: Tensor
    null: Tensor
    p_value: Tensor


def shared_information(
    model_mi: Tensor,
    model_stat: Tensor,
    model_null: Tensor,
    human_mi: Tensor,
    human_stat: Tensor,
) -> SharedInformation:
    """MMI redundancy about each factor group between models' and people's decisions.

    ``R(F; D_model, D_person) = min(I(F; D_model), I(F; D_person))``, averaged over people
    (methods.md 2.12). Null: the model's decisions permuted, which keeps every person's
    information and destroys the model's; one set of permutations serves every group and
    model, so the family-wise correction runs over all of them at once.

    Parameters
    ----------
    model_mi, model_stat : Tensor (M, G); each model's reported information about each group
        and its permutation-test statistic, bits.
    model_null : Tensor (M, K, G); the statistic under K permutations of the model's
        decisions, bits.
    human_mi, human_stat : Tensor (H, G); the same for each person, bits.

    Returns
    -------
    SharedInformation, on the device and with the dtype of `model_stat`.
    """
    if model_null.dim() != 3 or model_null.shape[::2] != model_stat.shape:
        raise ValueError(
            f"model_null must be [M, K, G] with model_stat [M, G]; got "
            f"{tuple(model_null.shape)} and {tuple(model_stat.shape)}"
        )
    reported = redundancy_mmi(human_mi.unsqueeze(0), model_mi.unsqueeze(1)).mean(1)  # [M, G]
    observed = redundancy_mmi(human_stat.unsqueeze(0), model_stat.unsqueeze(1)).mean(1)
    # [M, K, H, G] -> mean over people -> [K, M, G]
    null = redundancy_mmi(human_stat[None, None], model_null.unsqueeze(2)).mean(2).transpose(0, 1)
    p = standardized_max_pvalues(observed.reshape(-1), null.reshape(null.shape[0], -1))
    return SharedInformation(reported, observed, null, p.reshape(observed.shape))


def error_consistency(
    correct_i: Tensor,
    correct_j: Tensor,
    answered_i: Tensor | None = None,
    answered_j: Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> ErrorConsistency:
    """Error consistency (Cohen's kappa over correctness) of observers i and j, batched.

    Parameters
    ----------
    correct_i, correct_j : Tensor, bool, shapes broadcastable to (..., n)
        Whether each observer was right on each trial (a batch of pairs in the leading dims,
        e.g. ``[n_models, 1, n]`` against ``[n_humans, n]``).
    answered_i, answered_j : Tensor, bool, broadcastable to (..., n), optional
        Trials each observer answered; the others are excluded pairwise. Default: all.
    dtype : torch.dtype, optional
        Floating dtype of the results; default ``torch.get_default_dtype()``.

    Returns
    -------
    ErrorConsistency
        Fields of the broadcast batch shape ``(...)``, on the inputs' device.
    """
    valid = _valid(correct_i, answered_i) & _valid(correct_j, answered_j)
    ci, cj = correct_i & valid, correct_j & valid
    n = valid.sum(-1)
    both_right = (ci & cj).sum(-1)
    both_wrong = (valid & ~correct_i & ~correct_j).sum(-1)
    return _kappa_from_counts(
        n, both_right, both_wrong, ci.sum(-1), cj.sum(-1), dtype or torch.get_default_dtype()
    )


def pairwise_error_consistency(
    correct: Tensor,
    answered: Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> ErrorConsistency:
    """Error consistency of every pair of observers at once, as ``[..., n_obs, n_obs]``.

    All counts come from matrix products over trials (one batched op, no loop over pairs).

    Parameters
    ----------
    correct : Tensor, bool, shape (..., n_obs, n)
        Correctness of each observer on each trial.
    answered : Tensor, bool, shape (..., n_obs, n), optional
        Trials each observer answered (excluded pairwise otherwise). Default: all.
    dtype : torch.dtype, optional
        Floating dtype of the results and of the counting products; default
        ``torch.get_default_dtype()``. Counts are exact up to 2**24 trials in float32.

    Returns
    -------
    ErrorConsistency
        Fields of shape ``(..., n_obs, n_obs)``; symmetric; the diagonal is each observer
        with itself (kappa 1).
    """
    dtype = dtype or torch.get_default_dtype()
    valid = _valid(correct, answered)
    v = valid.to(dtype)
    right = (correct & valid).to(dtype)
    wrong = (~correct & valid).to(dtype)
    vt = v.transpose(-1, -2)
    n = (v @ vt).round().long()
    both_right = (right @ right.transpose(-1, -2)).round().long()
    both_wrong = (wrong @ wrong.transpose(-1, -2)).round().long()
    k_i = (right @ vt).round().long()  # i right, on trials j answered too
    k_j = (v @ right.transpose(-1, -2)).round().long()
    return _kappa_from_counts(n, both_right, both_wrong, k_i, k_j, dtype)


def human_ceiling(
    correct_humans: Tensor,
    answered_humans: Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Mean error consistency over all distinct pairs of people (the human–human ceiling).

    Parameters
    ----------
    correct_humans : Tensor, bool, shape (..., n_humans, n)
        Correctness of each person; at least two people.
    answered_humans : Tensor, bool, shape (..., n_humans, n), optional
        Trials each person answered.
    dtype : torch.dtype, optional
        Floating dtype; default ``torch.get_default_dtype()``.

    Returns
    -------
    Tensor, float, shape (...)
        Mean kappa over the ``n_humans (n_humans - 1) / 2`` pairs; pairs without a shared
        answered trial (NaN) are left out of the mean.
    """
    n_humans = correct_humans.shape[-2]
    if n_humans < 2:
        raise ValueError("the human-human ceiling needs at least two people")
    kappa = pairwise_error_consistency(correct_humans, answered_humans, dtype=dtype).kappa
    rows, cols = torch.triu_indices(n_humans, n_humans, offset=1, device=kappa.device)
    return kappa[..., rows, cols].nanmean(-1)


def model_vs_humans(
    correct_model: Tensor,
    correct_humans: Tensor,
    answered_model: Tensor | None = None,
    answered_humans: Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Mean error consistency of each model against each person (methods.md 3.4).

    Parameters
    ----------
    correct_model : Tensor, bool, shape (..., n)
        Correctness of one model (or a batch of models in the leading dims).
    correct_humans : Tensor, bool, shape (n_humans, n)
        Correctness of each person on the same trials.
    answered_model, answered_humans : Tensor, bool, optional
        Answered trials, same shapes as the correctness tensors.
    dtype : torch.dtype, optional
        Floating dtype; default ``torch.get_default_dtype()``.

    Returns
    -------
    Tensor, float, shape (...)
        Mean kappa over people (people without a shared answered trial left out).
    """
    am = None if answered_model is None else answered_model.unsqueeze(-2)
    kappa = error_consistency(
        correct_model.unsqueeze(-2), correct_humans, am, answered_humans, dtype=dtype
    ).kappa
    return kappa.nanmean(-1)


def decision_agreement(
    dec_i: Tensor,
    dec_j: Tensor,
    n_classes: int | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> DecisionAgreement:
    """Fraction of trials on which two observers chose the same class, with its chance level.

    Two errors count as agreement only when both chose the same wrong class. Trials where
    either observer gave no response (``-1``) are excluded pairwise.

    Parameters
    ----------
    dec_i, dec_j : Tensor, int, shapes broadcastable to (..., n)
        Class codes ``0 .. n_classes - 1``, or ``-1`` for no response.
    n_classes : int, optional
        Number of classes; default one more than the largest code in either input.
    dtype : torch.dtype, optional
        Floating dtype; default ``torch.get_default_dtype()``.

    Returns
    -------
    DecisionAgreement
        Fields of the broadcast batch shape ``(...)``.
    """
    dtype = dtype or torch.get_default_dtype()
    dec_i, dec_j = torch.broadcast_tensors(dec_i, dec_j)
    if n_classes is None:
        n_classes = max(int(torch.maximum(dec_i.max(), dec_j.max()).item()), 0) + 1
    valid = (dec_i != MISSING) & (dec_j != MISSING)
    n = valid.sum(-1)
    same = (valid & (dec_i == dec_j)).sum(-1)
    # Marginal response counts over the shared trials; clamp keeps one_hot's index valid for
    # the excluded -1 entries, whose rows the mask then zeroes.
    vmask = valid.unsqueeze(-1).to(dtype)
    hist_i = (torch.nn.functional.one_hot(dec_i.clamp(min=0).long(), n_classes) * vmask).sum(-2)
    hist_j = (torch.nn.functional.one_hot(dec_j.clamp(min=0).long(), n_classes) * vmask).sum(-2)
    nf = n.to(dtype)
    has = nf > 0
    nan = torch.full_like(nf, float("nan"))
    agreement = torch.where(has, same.to(dtype) / nf.clamp(min=1), nan)
    chance = torch.where(has, (hist_i * hist_j).sum(-1) / nf.clamp(min=1).square(), nan)
    # chance == 1 means both always gave the same single class: then agreement is 1 too.
    certain = has & (hist_i * hist_j).sum(-1).eq(nf.square())
    kappa = torch.where(
        certain,
        torch.ones_like(nf),
        (agreement - chance) / torch.where(certain, torch.ones_like(nf), 1 - chance),
    )
    return DecisionAgreement(agreement=agreement, chance=chance, kappa=kappa, n_trials=n)


def _valid(correct: Tensor, answered: Tensor | None) -> Tensor:
    """Boolean mask of answered trials, shaped like ``correct`` (all true by default)."""
    if correct.dtype != torch.bool:
        raise TypeError(f"correctness must be a bool tensor, got {correct.dtype}")
    if answered is None:
        return torch.ones_like(correct)
    answered = answered.to(device=correct.device, dtype=torch.bool)
    return torch.broadcast_tensors(correct, answered)[1]


def _kappa_from_counts(
    n: Tensor,
    both_right: Tensor,
    both_wrong: Tensor,
    k_i: Tensor,
    k_j: Tensor,
    dtype: torch.dtype,
) -> ErrorConsistency:
    """Kappa from integer counts over the shared trials (exact degenerate-case tests)."""
    nf = n.to(dtype)
    has = n > 0
    denom = nf.clamp(min=1)
    p_i, p_j = k_i.to(dtype) / denom, k_j.to(dtype) / denom
    c_obs = (both_right + both_wrong).to(dtype) / denom
    c_exp = p_i * p_j + (1 - p_i) * (1 - p_j)
    # c_exp == 1 exactly when both are always right or both always wrong (decided on the
    # integer counts, so float rounding cannot make a near-degenerate pair look degenerate).
    degenerate = has & (((k_i == 0) & (k_j == 0)) | ((k_i == n) & (k_j == n)))
    safe = torch.where(degenerate, torch.ones_like(c_exp), 1 - c_exp)
    one = torch.ones_like(c_exp)
    nan = torch.full_like(c_exp, float("nan"))
    kappa = torch.where(degenerate, one, (c_obs - c_exp) / safe)
    c_max = 1 - (p_i - p_j).abs()
    kappa_max = torch.where(degenerate, one, (c_max - c_exp) / safe)
    return ErrorConsistency(
        kappa=torch.where(has, kappa, nan),
        c_obs=torch.where(has, c_obs, nan),
        c_exp=torch.where(has, c_exp, nan),
        kappa_max=torch.where(has, kappa_max, nan),
        n_trials=n,
    )
