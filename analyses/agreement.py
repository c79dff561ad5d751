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

from analyses import stats
from analyses.behaviour import MISSING  # decision code of a trial without a response
from analyses.drivers import merge_rare_classes
from analyses.info import copnorm
from analyses.pid import ccs_discrete_counts, ccs_two_decisions, independent_copies

# Working memory of one chunk of surrogates in shared_information.
_CHUNK_BYTES = 128 * 2**20

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
    """Information about factor groups that a model's and people's decisions share, in bits.

    Attributes
    ----------
    redundancy : Tensor (M, G); I_ccs redundancy of model m's and the people's decisions
        about group g (:func:`analyses.pid.ccs_two_decisions`; category groups
        :func:`analyses.pid.ccs_discrete_counts`; person-trials pooled) minus the mean of its
        null; ~0 when they use different information about the group.
    mmi : Tensor (M, G); min(I(F; D_model), I(F; D_person)) of the same model: the upper
        bracket, which cannot tell the same information from different information.
    coinformation : Tensor (M, G); I(F;D_m) + I(F;D_p) - I(F;D_m,D_p) of the same model
        (positive = net redundancy), the lower bracket when synergy >= 0.
    null : Tensor (K, M, G); surrogate redundancies, centred on their mean (the statistic's
        null).
    p_value : Tensor (M, G); FWER-corrected over all M x G tests (standardized maximum).
    n_rows : Tensor (M,), int64; person-trials each model's estimate pools.
    """

    redundancy: Tensor
    mmi: Tensor
    coinformation: Tensor
    null: Tensor
    p_value: Tensor
    n_rows: Tensor


def shared_information(
    groups: list[Tensor | tuple[Tensor, int]],
    model_decisions: Tensor,
    human_decisions: Tensor,
    n_classes: int,
    *,
    n_perm: int,
    seed: int,
    min_class_trials: int = 1,
) -> SharedInformation:
    """I_ccs redundancy about each factor group between each model's and people's decisions.

    Target F: a group's copula-normalised factors; sources: the model's decision on the
    stimulus and one person's decision on it (methods.md 2.12). The person-trials of all
    people are pooled into one sample (every trial that both the model and that person
    answered): the people as one source, a denser joint than one person at a time gives.
    Null: surrogates in which the model's decision and a copy of F come from stimulus pi(t)
    while the person's answer stays with stimulus t (:func:`analyses.pid.independent_copies`), so
    both keep their information about F but share none; one set of stimulus permutations
    serves every group, and the standardized maximum corrects over models x groups.

    Parameters
    ----------
    groups : list of G groups per stimulus: a Tensor (n, g) of continuous factors, or
        ``(codes (n,), levels)`` for a category group (plug-in discrete I_ccs,
        :func:`analyses.pid.ccs_discrete_counts`, with the model's decisions shuffled over
        stimuli for the null).
    model_decisions : Tensor (M, n); decisions, ``MISSING`` (-1) where not answered.
    human_decisions : Tensor (H, n); the same for each person.
    n_classes : size of the label space.
    n_perm, seed : surrogates and the seed of ``stats.permutation_indices``.
    min_class_trials : pooled decision classes with fewer person-trials are merged
        (``analyses.drivers.merge_rare_classes``), as the drivers analysis does.

    Returns
    -------
    SharedInformation, float64 on the decisions' device.
    """
    m_count, n = model_decisions.shape
    if human_decisions.dim() != 2 or human_decisions.shape[1] != n:
        raise ValueError(f"human_decisions must be [H, n={n}], got {tuple(human_decisions.shape)}")
    dev = model_decisions.device
    shape = (m_count, len(groups))
    out = {k: torch.full(shape, torch.nan, dtype=torch.float64, device=dev) for k in "rmc"}
    null = torch.full((n_perm, *shape), torch.nan, dtype=torch.float64, device=dev)
    n_rows = torch.zeros(m_count, dtype=torch.int64, device=dev)
    answered_h = human_decisions != MISSING
    for m in range(m_count):
        # Stimuli the model answered and at least one person did; rows = (stimulus, person).
        stim = ((model_decisions[m] != MISSING) & answered_h.any(0)).nonzero().squeeze(1)
        if stim.numel() < 3:
            continue
        rows_h, rows_s = answered_h[:, stim].nonzero(as_tuple=True)  # person, stimulus position
        n_rows[m] = rows_s.numel()
        dm, n_m, _ = merge_rare_classes(model_decisions[m, stim], n_classes, min_class_trials)
        dp, n_p, _ = merge_rare_classes(
            human_decisions[:, stim][rows_h, rows_s], n_classes, min_class_trials
        )
        dm_stim, dm = dm, dm[rows_s]
        numeric = [j for j, g in enumerate(groups) if isinstance(g, Tensor)]
        # float32 throughout, observed and surrogates alike (pid._work_dtype).
        # One row per stimulus; the person-trials index it with rows_s (pid's row_of).
        cfs = {j: copnorm(groups[j][stim].to(torch.float64)).to(torch.float32) for j in numeric}
        codes = {
            j: (g[0][stim][rows_s], int(g[1]))
            for j, g in enumerate(groups)
            if not isinstance(g, Tensor)
        }
        sur = torch.empty(n_perm, len(groups), dtype=torch.float64, device=dev)
        # Chunks of surrogates bound the working memory (rows x cells per surrogate).
        widest = max((c.shape[1] for c in cfs.values()), default=1)
        most = max((levels for _, levels in codes.values()), default=1)
        per = 4 * (2 * rows_s.numel() + 12 * n_m * n_p * most)  # a category group's tables
        if cfs:  # the continuous groups (a target and its copy: 2 x widest columns): values,
            # residuals and cell indices per person-trial; whitened values and the A- and
            # B-wide density tables per stimulus (pid._additive_mixture)
            dy = 2 * widest
            per_trial, per_stim = 3 * dy + 8, 3 * dy + 8 * (n_m + n_p)
            per = max(per, 4 * (rows_s.numel() * per_trial + stim.numel() * per_stim))
        chunk = max(1, _CHUNK_BYTES // per)
        for start, perms in stats.permutation_chunks(stim.numel(), n_perm, seed, chunk, device=dev):
            c = perms.shape[0]
            for j, cf in cfs.items():
                # Stimulus s gets the model's decision and a copy of F from stimulus pi(s).
                target, moved = independent_copies(cf, dm_stim, perms)
                sur[start : start + c, j] = ccs_two_decisions(
                    target, dp, moved[:, rows_s], n_p, n_m, row_of=rows_s
                ).red
            # A category group is a discrete target: plug-in discrete I_ccs, with the model's
            # decisions shuffled over stimuli for the null (methods.md 2.9; calibrated where
            # the two know different halves of a category, unlike the mixed case).
            shuffled = dm_stim[perms][:, rows_s]
            for j, (f, levels) in codes.items():
                sur[start : start + c, j] = ccs_discrete_counts(
                    dp, shuffled, f, n_p, n_m, levels
                ).red
        for j in range(len(groups)):
            if j in cfs:
                res = ccs_two_decisions(cfs[j], dp, dm, n_p, n_m, row_of=rows_s)
            else:
                f, levels = codes[j]
                res = ccs_discrete_counts(dp, dm, f, n_p, n_m, levels)
            mean = sur[:, j].mean() if n_perm else 0.0
            out["r"][m, j] = res.red - mean
            out["m"][m, j], out["c"][m, j] = res.mmi, res.coinformation
            null[:, m, j] = sur[:, j] - mean
    if n_perm:
        p = stats.standardized_max_pvalues(out["r"].reshape(-1), null.reshape(n_perm, -1))
    else:
        p = torch.full((out["r"].numel(),), torch.nan, dtype=torch.float64, device=dev)
    return SharedInformation(out["r"], out["m"], out["c"], null, p.reshape(shape), n_rows)


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
