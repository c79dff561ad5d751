"""The analysis stage: StudyData in, Findings out, by calling `analyses` only.

Every number the report states is computed here (through `analyses`) and stored in a
Finding; nothing downstream computes statistics.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
import torch
from torch import Tensor

from analyses import agreement, behaviour, drivers, info, stats
from analyses.errors import DataError
from reportgen import __version__
from reportgen.config import Config, config_hash
from reportgen.errors import ReportgenError
from reportgen.findings import (
    Accuracy,
    Caveat,
    DecisionAgreement,
    Driver,
    ErrorConsistency,
    Example,
    Findings,
    LayerInfo,
    MorphPoint,
    RunInfo,
    ShapeBias,
    SharedInformation,
    Study,
)
from reportgen.findings.evidence import accuracy_alarm, chance_level
from reportgen.inputs.stimuli import StimulusSet
from reportgen.inputs.study_data import ProgressFn, StudyData, has_image, image_unreadable

POOLED_HUMANS = "humans"
STANDARD = "standard"  # the condition on which a working model answers the true class
HUMAN_HUMAN = "human-human"


def analyse(data: StudyData, config: Config, *, progress: ProgressFn | None = None) -> Findings:
    """Run every analysis the study supports and collect the Findings.

    `config` is the resolved config of the run (`Config.with_overrides`): its seed drives every
    permutation and resample, and `data` must already lie on its device.
    """
    if not config.resolved:
        config = config.with_overrides()
    a = config.analysis
    seed = a.seed
    if str(torch.device(a.device)) != data.device:
        raise RuntimeError(f"study data on {data.device}, but the run is configured for {a.device}")
    timings = dict(data.timings_s)
    caveats = list(data.warnings)
    if data.humans_simulated:
        caveats.append(Caveat("simulated_panel", {"n": len(data.humans)}))

    subset = _information_subset(data, a.conditions)
    caveats += tie_caveats(data.stimuli, subset)
    caveats += imbalance_caveats(data.labels[subset], len(data.classes))
    t = time.perf_counter()
    driver_list, infos = _drivers(
        data, subset, a.permutations, seed, a.bootstrap, a.alpha, progress
    )
    timings["drivers"] = time.perf_counter() - t

    t = time.perf_counter()
    shape_bias = _shape_bias(data, seed)
    accuracy = _accuracy(data, seed)
    caveats += _accuracy_alarms(data, accuracy)
    morph = _morph_curves(data)
    timings["behaviour"] = time.perf_counter() - t

    t = time.perf_counter()
    kappas, agreements = _agreement(data, seed, a.bootstrap)
    shared = _shared_information(data, subset, a.permutations, seed, a.alpha)
    timings["agreement"] = time.perf_counter() - t
    for i, observer in enumerate(data.observers):
        missing = int((data.decisions[i] < 0).sum())
        if missing:
            caveats.append(Caveat("missing_responses", {"observer": observer, "n": missing}))

    layers: list[LayerInfo] = []
    if data.activations:
        t = time.perf_counter()
        layers, skipped = _layers(
            data, subset, infos, a.permutations, seed, a.layer_pcs, a.alpha, progress
        )
        # Say which groups the layer analysis could not take, rather than let "for each
        # factor group" speak for them.
        if skipped:
            caveats.append(Caveat("layers_categorical", {"groups": ", ".join(skipped)}))
        timings["layers"] = time.perf_counter() - t

    conditions = {c: int((data.condition_codes == i).sum()) for i, c in enumerate(data.conditions)}
    examples, picture_caveats = _examples(data)
    study = Study(
        name=config.report.study,
        title=config.report.title,
        period=config.report.period,
        language=config.report.language,
        classes=data.classes,
        groups=data.groups,
        conditions=conditions,
        models=data.models,
        humans=data.humans,
        humans_simulated=data.humans_simulated,
        decision_only=config.decision_only,
        attribution=data.attribution,
        generator=config.stimuli.generator.name if config.stimuli.generator else "",
        roles={g: config.roles.get(g, "diagnostic") for g in data.groups},
        roles_assumed=tuple(g for g in data.groups if g in config.roles_assumed),
        labels=config.labels,
        decision=dataclasses.asdict(config.report.decision),
        model_card=dict(config.report.model_card),
    )
    run = RunInfo(
        config_hash=config_hash(config),
        seed=seed,
        permutations=a.permutations,
        alpha=a.alpha,
        n_stimuli=len(data.stimuli),
        n_trials=int((data.decisions >= 0).sum()),
        device=data.device,
        versions=_versions(),
        timings_s={k: round(v, 3) for k, v in timings.items()},
        model_fingerprint=data.model_fingerprint,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return Findings(
        study=study,
        run=run,
        drivers=driver_list,
        shape_bias=shape_bias,
        accuracy=accuracy,
        morph_curves=morph,
        error_consistency=kappas,
        decision_agreement=agreements,
        shared_information=shared,
        layers=layers,
        warnings=caveats + picture_caveats,
        examples=examples,
    )


@contextmanager
def data_problems(what: str) -> Iterator[None]:
    """Turn an estimator's refusal of the data (`analyses.errors.DataError`: constant
    decisions, too few trials per class, collinear factors) into a user-facing error that
    names the input at fault. Any other exception from `analyses` is a bug and passes."""
    try:
        yield
    except DataError as err:
        raise ReportgenError(f"{what} cannot be analysed: {err}") from None


# ------------------------------------------------------------------------------------------
# what drives the decisions
# ------------------------------------------------------------------------------------------


def _information_subset(data: StudyData, conditions: tuple[str, ...] | None) -> Tensor:
    """Stimuli (indices) the information analyses use: those of the configured conditions."""
    device = data.labels.device
    if conditions is None:
        return torch.arange(len(data.stimuli), device=device)
    unknown = [c for c in conditions if c not in data.conditions]
    if unknown:
        raise ReportgenError(
            f"analysis.conditions: {', '.join(map(repr, unknown))} not in the stimulus table "
            f"(conditions there: {', '.join(data.conditions)})"
        )
    codes = [data.conditions.index(c) for c in conditions]
    wanted = torch.tensor(codes, dtype=torch.int64, device=device)
    return torch.isin(data.condition_codes, wanted).nonzero().squeeze(1)


# methods.md 4.1: warn when more than 10% of a continuous variable's values are tied.
TIE_WARN_FRACTION = 0.10


def tie_caveats(stimset: StimulusSet, subset: Tensor) -> list[Caveat]:
    """One caveat per continuous factor for which more than `TIE_WARN_FRACTION` of the
    analysed stimuli (`subset`, indices on the study's device) share their value with another
    stimulus (`analyses.info.tie_fraction`): ties are broken in a seeded random order
    (methods.md 4.1), which tends to understate that factor's information."""
    out = []
    for column, kind in stimset.kinds.items():
        if kind != "continuous" or len(subset) == 0:
            continue
        values = stimset.factor_tensor(column).to(subset.device)
        tied = float(info.tie_fraction(values[subset]))
        if tied > TIE_WARN_FRACTION:
            out.append(Caveat("ties", {"factor": column, "fraction": round(tied, 4)}))
    return out


# methods.md 4.4: p(y) weights are the observed class frequencies, so a class with fewer
# than half the stimuli of the largest one weighs visibly less; say so.
IMBALANCE_RATIO = 2.0


def imbalance_caveats(labels: Tensor, n_classes: int) -> list[Caveat]:
    """A caveat when the largest class of the analysed stimuli (`labels`, class indices)
    has more than `IMBALANCE_RATIO` times the stimuli of the smallest."""
    counts = torch.bincount(labels, minlength=n_classes)
    smallest, largest = int(counts.min()), int(counts.max())
    if largest > IMBALANCE_RATIO * smallest:
        return [Caveat("class_imbalance", {"smallest": smallest, "largest": largest})]
    return []


def _decision_sets(data: StudyData, subset: Tensor) -> list[tuple[str, Tensor, int]]:
    """(observer, decisions, copies of the stimulus set) per model, per person, and the panel."""
    dec = data.decisions[:, subset]
    sets = [(o, dec[i], 1) for i, o in enumerate(data.observers)]
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]
    if len(humans) > 1:
        # All people saw the same stimuli, so pooling their trials keeps the factor values
        # exchangeable under the null (no stimulus dependence).
        sets.append((POOLED_HUMANS, dec[humans].reshape(-1), len(humans)))
    return sets


def _what_to_do_about_few_decisions(
    data: StudyData, dec: Tensor, subset: Tensor, min_class: int, widest: int
) -> str:
    """The remedy for decisions `analyses.drivers` cannot analyse, in the user's terms."""
    given = dec[dec >= 0]
    if int(torch.unique(given).numel()) < 2:
        return (
            "A model that gives one answer to everything was given inputs it does not expect: "
            "check [model.preprocess] (the resizing and normalisation it was trained with), "
            "that stimuli.classes follows its output order, and its weights."
        )
    codes = torch.unique(data.condition_codes[subset]).tolist()
    where = (
        f"the {len(subset)} stimuli of analysis.conditions "
        f"({', '.join(data.conditions[c] for c in codes)})"
        if len(subset) < len(data.stimuli)
        else f"all {len(subset)} stimuli"
    )
    return (
        f"The information analyses use {where}, and need about {min_class} decisions in each "
        f"of at least two classes ({min_class} as the widest factor group has {widest} "
        f"columns): add stimuli there (for a study written by `reportgen stimuli "
        f"from-images`, a larger --per-image or more pictures), or name more conditions in "
        f"analysis.conditions."
    )


def _drivers(
    data: StudyData,
    subset: Tensor,
    n_perm: int,
    seed: int,
    n_boot: int,
    alpha: float,
    progress: ProgressFn | None,
) -> tuple[list[Driver], dict[str, drivers.DecisionInformation]]:
    sets = _decision_sets(data, subset)
    widest = max((v.values.shape[1] for v in data.variables if v.kind == "continuous"), default=1)
    min_class = drivers.min_class_trials(widest)
    resamples = max(n_boot, 2)  # at least 2 to run; the intervals are dropped at 0
    work = (n_perm + resamples) * len(sets)  # decision_information's progress units
    advance = progress("Information about the decisions", work) if progress else None
    out: list[Driver] = []
    infos: dict[str, drivers.DecisionInformation] = {}
    for observer, dec, copies in sets:
        if (why := drivers.decisions_too_few(dec, len(data.classes), min_class)) is not None:
            raise ReportgenError(
                f"the decisions of {observer!r} cannot be analysed: {why}. "
                + _what_to_do_about_few_decisions(data, dec, subset, min_class, widest)
            )
        cont = {
            v.name: v.values[subset].repeat(copies, 1)
            for v in data.variables
            if v.kind == "continuous"
        }
        cat = {
            v.name: (v.values[subset].repeat(copies), v.levels)
            for v in data.variables
            if v.kind == "categorical"
        }
        with data_problems(f"the decisions of {observer!r}"):
            res = drivers.decision_information(
                dec,
                len(data.classes),
                cont,
                cat,
                n_perm=n_perm,
                seed=seed,
                n_boot=resamples,
                min_class_trials=min_class,
                on_progress=advance,
            )
        infos[observer] = res
        by_name = {v.name: v for v in data.variables}
        group_mi = {
            name: max(float(res.mi[i]), 0.0)
            for i, name in enumerate(res.names)
            if by_name[name].name == by_name[name].group
        }
        total = sum(group_mi.values())
        for i, name in enumerate(res.names):
            mi = float(res.mi[i])
            out.append(
                Driver(
                    name=name,
                    group=by_name[name].group,
                    mi_bits=mi,
                    share=max(mi, 0.0) / total if total > 0 else 0.0,
                    p_value=float(res.p_value[i]),
                    significant=bool(res.p_value[i] <= alpha),
                    ci_low=float(res.ci_low[i]) if n_boot else math.nan,
                    ci_high=float(res.ci_high[i]) if n_boot else math.nan,
                    observer=observer,
                    estimator=res.estimator[i],
                )
            )
    out.sort(key=lambda d: (d.observer or "", d.name != d.group, -d.mi_bits))
    return out, infos


# ------------------------------------------------------------------------------------------
# behaviour
# ------------------------------------------------------------------------------------------


def _shape_bias(data: StudyData, seed: int) -> list[ShapeBias]:
    if data.shape_cue is None or data.texture_cue is None:
        return []
    known = (data.shape_cue >= 0) & (data.texture_cue >= 0)
    if not bool(((data.shape_cue != data.texture_cue) & known).any()):
        return []
    shape = torch.where(known, data.shape_cue, -2)
    texture = torch.where(known, data.texture_cue, -2)
    res = behaviour.shape_bias(data.decisions, shape, texture, dtype=torch.float64)
    out = []
    for i, obs in enumerate(data.observers):
        out.append(_shape_bias_entry(obs, data.kinds[i], res, i))
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]
    if len(humans) > 1:
        pooled = behaviour.shape_bias(
            data.decisions[humans].reshape(-1),
            shape.repeat(len(humans)),
            texture.repeat(len(humans)),
            dtype=torch.float64,
        )
        entry = _shape_bias_entry(POOLED_HUMANS, "humans", pooled, None)
        # the panel's interval resamples people, not their pooled answers
        n_shape = res.n_shape[humans]
        low, high = behaviour.observer_bootstrap_interval(
            n_shape, n_shape + res.n_texture[humans], seed=seed
        )
        out.append(dataclasses.replace(entry, ci_low=float(low), ci_high=float(high)))
    return out


def _shape_bias_entry(observer: str, kind: str, res, i: int | None) -> ShapeBias:
    pick = (lambda t: t) if i is None else (lambda t: t[i])
    n_shape, n_texture = int(pick(res.n_shape)), int(pick(res.n_texture))
    lo, hi = behaviour.wilson_interval(n_shape, n_shape + n_texture)
    return ShapeBias(
        observer=observer,
        shape_bias=float(pick(res.shape_bias)),
        n_shape=n_shape,
        n_texture=n_texture,
        n_other=int(pick(res.n_other)) + int(pick(res.n_missing)),
        ci_low=lo,
        ci_high=hi,
        kind=kind,
    )


def _accuracy_alarms(data: StudyData, accuracy: list[Accuracy]) -> list[Caveat]:
    """A `low_accuracy` caveat for each model whose accuracy on the standard stimuli does not
    clearly clear chance. Only standard stimuli count: on cue-conflict or morph images a
    working model may well disagree with the label."""
    if STANDARD not in data.conditions:
        return []
    out = []
    for a in accuracy:
        if a.condition != STANDARD or a.observer not in data.models:
            continue
        alarm = accuracy_alarm(round(a.accuracy * a.n), a.n, a.chance)
        if alarm is not None:
            detail = {"observer": a.observer, "accuracy": a.accuracy, "n": a.n, "chance": a.chance}
            out.append(Caveat("low_accuracy", detail | {"ci_low": alarm[0], "ci_high": alarm[1]}))
    return out


def _accuracy(data: StudyData, seed: int) -> list[Accuracy]:
    res = behaviour.accuracy_by_condition(
        data.decisions, data.labels, data.condition_codes, len(data.conditions), dtype=torch.float64
    )
    chance = [
        chance_level(data.labels[data.condition_codes == c].tolist())
        for c in range(len(data.conditions))
    ]
    out = []
    for i, obs in enumerate(data.observers):
        for c, cond in enumerate(data.conditions):
            n = int(res.n_answered[i, c])
            if n:
                correct = int(res.n_correct[i, c])
                low, high = behaviour.wilson_interval(correct, n)
                rate = float(res.accuracy[i, c])
                out.append(Accuracy(obs, cond, rate, n, low, high, chance[c]))
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]
    if len(humans) > 1:
        correct = res.n_correct[humans].sum(0)
        answered = res.n_answered[humans].sum(0)
        low, high = behaviour.observer_bootstrap_interval(
            res.n_correct[humans], res.n_answered[humans], seed=seed
        )
        for c, cond in enumerate(data.conditions):
            if int(answered[c]):
                rate = float(correct[c] / answered[c])
                out.append(
                    Accuracy(
                        POOLED_HUMANS,
                        cond,
                        rate,
                        int(answered[c]),
                        float(low[c]),
                        float(high[c]),
                        chance[c],
                    )
                )
    return out


def _morph_curves(data: StudyData) -> list[MorphPoint]:
    if data.morph is None:
        return []
    out: list[MorphPoint] = []
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]

    def column(values: pd.Series) -> Tensor:
        return torch.as_tensor(values.to_numpy().copy(), device=data.decisions.device)

    for cond, rows in data.morph.groupby("condition", sort=True):
        levels = sorted(rows["level"].unique())
        level_codes = column(rows["level"].map(levels.index))
        idx, a, b = column(rows["index"]), column(rows["from"]), column(rows["to"])
        dec = data.decisions[:, idx]
        res = behaviour.morph_curves(dec, level_codes, a, b, len(levels))
        for i, obs in enumerate(data.observers):
            out += _morph_points(obs, cond, levels, res, i)
        if len(humans) > 1:
            pooled = behaviour.morph_curves(
                dec[humans].reshape(-1),
                level_codes.repeat(len(humans)),
                a.repeat(len(humans)),
                b.repeat(len(humans)),
                len(levels),
            )
            out += _morph_points(POOLED_HUMANS, cond, levels, pooled, None)
    return out


def _morph_points(observer, cond, levels, res, i) -> list[MorphPoint]:
    pick = (lambda t: t) if i is None else (lambda t: t[i])
    return [
        MorphPoint(
            observer,
            cond,
            float(level),
            float(pick(res.p_a)[j]),
            float(pick(res.p_b)[j]),
            int(pick(res.n_answered)[j]),
        )
        for j, level in enumerate(levels)
    ]


# ------------------------------------------------------------------------------------------
# model versus people
# ------------------------------------------------------------------------------------------


def _agreement(
    data: StudyData, seed: int, n_boot: int
) -> tuple[list[ErrorConsistency], list[DecisionAgreement]]:
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]
    models = [i for i, k in enumerate(data.kinds) if k == "model"]
    if not humans or not models and len(humans) < 2:
        return [], []
    answered = data.decisions >= 0
    correct = (data.decisions == data.labels) & answered
    kappas: list[ErrorConsistency] = []
    agreements: list[DecisionAgreement] = []
    ch, ah = correct[humans], answered[humans]

    # Resampled trials arrive as [B, m] (one observer) or [B, m, H] (people, trials first).
    def model_kappa(cm: Tensor, am: Tensor, chb: Tensor, ahb: Tensor) -> Tensor:
        return agreement.model_vs_humans(
            cm > 0.5, chb.mT > 0.5, am > 0.5, ahb.mT > 0.5, dtype=torch.float64
        )

    def ceiling(chb: Tensor, ahb: Tensor) -> Tensor:
        return agreement.human_ceiling(chb.mT > 0.5, ahb.mT > 0.5, dtype=torch.float64)

    def interval(statistic, *samples: Tensor) -> tuple[float, float]:
        if n_boot == 0:  # [analysis] bootstrap = 0 turns intervals off
            return math.nan, math.nan
        ci = stats.bootstrap_ci(
            statistic,
            *(x.to(torch.float64) for x in samples),
            n_boot=n_boot,
            seed=seed,
            method="bootstrap",
        )
        return float(ci.low), float(ci.high)

    for m in models:
        est = agreement.model_vs_humans(correct[m], ch, answered[m], ah, dtype=torch.float64)
        low, high = interval(model_kappa, correct[m], answered[m], ch.T, ah.T)
        kappas.append(ErrorConsistency(data.observers[m], float(est), low, high, len(humans)))
        agreements.append(_mean_agreement(data, data.observers[m], [m] * len(humans), humans))
    if len(humans) > 1:
        est = agreement.human_ceiling(ch, ah, dtype=torch.float64)
        low, high = interval(ceiling, ch.T, ah.T)
        n_pairs = len(humans) * (len(humans) - 1) // 2
        kappas.append(ErrorConsistency(HUMAN_HUMAN, float(est), low, high, n_pairs))
        pairs = [(i, j) for k, i in enumerate(humans) for j in humans[k + 1 :]]
        agreements.append(
            _mean_agreement(data, HUMAN_HUMAN, [i for i, _ in pairs], [j for _, j in pairs])
        )
    return kappas, agreements


def _mean_agreement(data: StudyData, observer: str, first: list[int], second: list[int]):
    """Decision agreement and its chance level, averaged over the observer pairs given."""
    a, b = data.decisions[first], data.decisions[second]
    res = agreement.decision_agreement(a, b, len(data.classes), dtype=torch.float64)
    by_condition = {}
    if len(data.conditions) > 1:
        for c, cond in enumerate(data.conditions):
            cols = data.condition_codes == c
            compared = int(((a[:, cols] >= 0) & (b[:, cols] >= 0)).sum())
            if compared:
                r = agreement.decision_agreement(
                    a[:, cols], b[:, cols], len(data.classes), dtype=torch.float64
                )
                by_condition[cond] = [
                    float(r.agreement.nanmean()),
                    float(r.chance.nanmean()),
                    float(compared),
                ]
    return DecisionAgreement(
        observer, float(res.agreement.mean()), float(res.chance.mean()), by_condition
    )


def _shared_information(
    data: StudyData, subset: Tensor, n_perm: int, seed: int, alpha: float
) -> list[SharedInformation]:
    """I_ccs redundancy about each factor group between each model's and the people's
    decisions (`analyses.agreement.shared_information`), FWER-corrected over models x groups."""
    from analyses.drivers import MIN_CLASS_TRIALS

    models, humans = data.models, data.humans
    if not models or not humans:
        return []
    groups = {
        v.name: (v.values[subset] if v.kind == "continuous" else (v.values[subset], v.levels))
        for v in data.variables
        if v.name == v.group
    }
    rows = {o: data.observers.index(o) for o in (*models, *humans)}
    with data_problems("the shared information of the model and people"):
        res = agreement.shared_information(
            list(groups.values()),
            data.decisions[[rows[o] for o in models]][:, subset],
            data.decisions[[rows[o] for o in humans]][:, subset],
            len(data.classes),
            n_perm=n_perm,
            seed=seed,
            min_class_trials=MIN_CLASS_TRIALS,
        )
    return [
        SharedInformation(
            model,
            g,
            float(res.redundancy[i, j]),
            float(res.p_value[i, j]),
            bool(res.p_value[i, j] <= alpha),
            "ccs",
            redundancy_mmi_bits=float(res.mmi[i, j]),
            coinformation_bits=float(res.coinformation[i, j]),
        )
        for i, model in enumerate(models)
        for j, g in enumerate(groups)
    ]


# ------------------------------------------------------------------------------------------
# inside the network
# ------------------------------------------------------------------------------------------


def _layers(
    data: StudyData,
    subset: Tensor,
    infos: dict[str, drivers.DecisionInformation],
    n_perm: int,
    seed: int,
    n_pcs: int,
    alpha: float,
    progress: ProgressFn | None,
) -> tuple[list[LayerInfo], list[str]]:
    """Layer × factor-group information, and the categorical groups it had to leave out."""
    from analyses import layers as layer_analysis
    from analyses.drivers import MIN_CLASS_TRIALS, merge_rare_classes

    model = data.kinds.index("model")
    dec = data.decisions[model, subset]
    keep = subset[dec >= 0]
    codes, n_used, _ = merge_rare_classes(dec[dec >= 0], len(data.classes), MIN_CLASS_TRIALS)
    groups = {
        v.name: v.values[keep]
        for v in data.variables
        if v.kind == "continuous" and v.name == v.group
    }
    categorical = {
        v.name: (v.values[keep], v.levels)
        for v in data.variables
        if v.kind == "categorical" and v.name == v.group
    }
    # A category needs more trials than the layer summary has dimensions to be fitted.
    skipped = []
    for g, (c, levels) in categorical.items():
        counts = torch.bincount(c, minlength=levels)
        if bool(((counts > 0) & (counts <= n_pcs)).any()):
            skipped.append(g)
    categorical = {g: v for g, v in categorical.items() if g not in skipped}
    if not (groups or categorical) or n_used < 2:
        return [], skipped
    acts = {name: a[keep] for name, a in data.activations.items()}
    decision_info = infos[data.observers[model]]
    total = sum(n_perm * (len(acts) * len(g) + 1) for g in (groups, categorical) if g)
    advance = progress("Information inside the network", total) if progress else None
    results = []
    with data_problems("the model's layers"):
        for analyse_groups, chosen in (
            (layer_analysis.layer_information, groups),
            (layer_analysis.categorical_layer_information, categorical),
        ):
            if chosen:
                results += analyse_groups(
                    acts,
                    chosen,
                    codes,
                    n_used,
                    n_perm=n_perm,
                    seed=seed,
                    n_pcs=n_pcs,
                    alpha=alpha,
                    on_progress=advance,
                )
    # Numeric and categorical groups are two families of the maximum statistic: Bonferroni
    # over the two keeps the family-wise error rate at alpha for the whole network section.
    families = int(bool(groups)) + int(bool(categorical))
    order = list(acts)
    rows = [
        LayerInfo(
            layer=r.layer,
            depth=order.index(r.layer),
            group=r.group,
            mi_bits=float(r.mi_bits),
            mi_p_value=min(1.0, families * float(r.mi_p)),
            mi_significant=bool(families * r.mi_p <= alpha),
            n_units=int(r.n_units),
            n_significant_units=int(r.n_significant_units),
            max_unit_bits=float(r.max_unit_bits),
            median_unit_bits=float(r.median_unit_bits),
            redundancy_bits=float(r.red_bits),
            redundancy_p_value=min(1.0, families * float(r.red_p)),
            redundancy_significant=bool(
                layer_analysis.reaches_decision(
                    min(1.0, families * r.mi_p),
                    min(1.0, families * r.red_p),
                    decision_info.p_value[decision_info.names.index(r.group)],
                    alpha,
                )
            ),
            measure=r.measure,
            # The bracket: MMI of the layer's information under the redundancy's own model
            # and I(F; D) as the drivers report it (bounded mixture form for groups); the
            # co-information less its decisions-shuffled mean.
            redundancy_mmi_bits=_mmi_bracket(r, decision_info),
            coinformation_bits=float(r.coinfo_bits - r.coinfo_null_mean_bits),
        )
        for r in results
    ]
    return rows, skipped


def _mmi_bracket(r, decision_info: drivers.DecisionInformation) -> float:
    """min(I(F; H), I(F; D)) in bits for the redundancy of layer result `r`."""
    i_fd = float(decision_info.mi[decision_info.names.index(r.group)])
    i_fh = r.red_source_bits if math.isfinite(r.red_source_bits) else r.mi_bits
    return min(float(i_fh), i_fd)


# ------------------------------------------------------------------------------------------
# example pictures
# ------------------------------------------------------------------------------------------

EXAMPLES_PER_ROLE = 8


def example_image_name(index: int) -> str:
    """Where the picture of stimulus `index` is written, relative to the output folder."""
    return f"figures/stimuli/stimulus-{index:05d}.png"


def _examples(data: StudyData) -> tuple[list[Example], list[Caveat]]:
    """Pictures for the montages: standard stimuli (one per class), cue-conflict stimuli
    (distinct shape classes), and the images where the model and most people disagree while
    the people are right (the clearest disagreements first). Only stimuli with a picture that
    decodes; a chosen picture that does not is passed over for the next and named in a caveat."""
    available = [i for i, ok in enumerate(has_image(data)) if ok]
    if not available:
        return [], []
    unreadable: dict[int, str] = {}
    checked: set[int] = set()

    def readable(i: int) -> bool:  # decodes only the pictures a montage would show
        if i not in checked:
            checked.add(i)
            if (why := image_unreadable(data, i)) is not None:
                unreadable[i] = why
        return i not in unreadable

    classes = data.classes
    models = [i for i, k in enumerate(data.kinds) if k == "model"]
    humans = [i for i, k in enumerate(data.kinds) if k == "human"]
    majority = agree = None
    if humans:
        answers = data.decisions[humans]  # [H, n]
        counts = torch.stack([(answers == c).sum(0) for c in range(len(classes))])  # [C, n]
        majority = counts.argmax(0)
        agree = counts.max(0).values.double() / (answers >= 0).sum(0).clamp(min=1)

    def name(code: int | None) -> str:
        return classes[code] if code is not None and 0 <= code < len(classes) else ""

    def example(role: str, i: int) -> Example:
        return Example(
            role=role,
            stimulus_id=str(data.stimuli.table["id"].iloc[i]),
            image=example_image_name(i),
            label=name(int(data.labels[i])),
            shape=name(int(data.shape_cue[i])) if data.shape_cue is not None else "",
            texture=name(int(data.texture_cue[i])) if data.texture_cue is not None else "",
            model_answer=name(int(data.decisions[models[0], i])) if models else "",
            people_answer=name(int(majority[i])) if majority is not None else "",
            people_agree=float(agree[i]) if agree is not None else math.nan,
        )

    out: list[Example] = []
    condition = [data.conditions[int(c)] for c in data.condition_codes]
    seen: set[int] = set()
    for i in available:
        if condition[i] == "standard" and int(data.labels[i]) not in seen and readable(i):
            seen.add(int(data.labels[i]))
            out.append(example("standard", i))
    conflict = [
        i
        for i in available
        if data.shape_cue is not None
        and data.texture_cue is not None
        and int(data.shape_cue[i]) >= 0
        and int(data.texture_cue[i]) >= 0
        and int(data.shape_cue[i]) != int(data.texture_cue[i])
    ]
    seen = set()
    for i in conflict:
        if int(data.shape_cue[i]) not in seen and len(seen) < EXAMPLES_PER_ROLE and readable(i):
            seen.add(int(data.shape_cue[i]))
            out.append(example("cue-conflict", i))
    if models and majority is not None:
        dec = data.decisions[models[0]]
        candidates = [
            i
            for i in available
            if int(dec[i]) >= 0
            and int(dec[i]) != int(majority[i])
            and int(majority[i]) == int(data.labels[i])
        ]
        candidates.sort(key=lambda i: -float(agree[i]))
        shown = itertools.islice(filter(readable, candidates), EXAMPLES_PER_ROLE)
        out += [example("disagreement", i) for i in shown]
    caveats = []
    if unreadable:
        ids = [str(data.stimuli.table["id"].iloc[i]) for i in sorted(unreadable)]
        # the first ten name the problem; `validate` lists every unreadable picture
        caveats.append(Caveat("pictures_unreadable", {"n": len(ids), "stimuli": ids[:10]}))
    return out, caveats


# ------------------------------------------------------------------------------------------
# run record
# ------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    import pandas
    import torchvision

    return {
        "reportgen": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pandas": pandas.__version__,
    }
