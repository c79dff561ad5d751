"""The body sections' sentences (drivers, model versus people, inside the network, risks) and
the data-quality caveats, each sentence filled from one Finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reportgen.findings import Caveat, Driver, ErrorConsistency, Findings, SharedInformation
from reportgen.findings.evidence import (
    CLEAR,
    LITTLE_REACHES,
    NONE,
    SOME,
    TOO_FEW,
    driver_evidence,
    intervals_overlap,
    shape_bias_evidence,
)
from reportgen.findings.queries import (
    drivers_of,
    factor_entries,
    group_entries,
    is_finite,
    is_nuisance,
    kappa_of,
    models_of,
    no_people_key,
    pooled_humans_bias,
    shape_bias_of,
)
from reportgen.report.format import (
    Bits,
    Dec,
    Factor,
    Formatter,
    Group,
    Model,
    Names,
    Num,
    Pct,
    PStat,
    Range,
)
from reportgen.report.key_points import agreement_sentence, key_point_drivers


def _driver_sentence(d: Driver, f: Findings, fmt: Formatter, prefix: str) -> str:
    ev = driver_evidence(d, f)
    params = dict(
        name=Group(d.name) if d.name == d.group else Factor(d.name),
        share=Pct(d.share),
        bits=Bits(d.mi_bits),
        p=PStat(d.p_value),
        n=Num(ev.n_more or 0),
    )
    if ev.level == TOO_FEW:
        return fmt.t_more(f"{prefix}_{ev.level}", ev.n_more, **params)
    return fmt.t(f"{prefix}_{ev.level}", **params)


def drivers_section(f: Findings, fmt: Formatter) -> list[str]:
    out = [fmt.t("drivers.intro")]
    models = models_of(f)
    if len(models) > 1:
        # Several models: one summary sentence; the table below lists every model.
        out.append(key_point_drivers(f, fmt).sentence)
    else:
        ds = drivers_of(f, models[0])
        groups = group_entries(ds)
        if groups:
            out.append(_driver_sentence(groups[0], f, fmt, "drivers.lead"))
        for g in groups:
            # Only factors with evidence of their own: "the strongest" of a group none of whose
            # factors is significant would be noise (the risks section lists those).
            top = [d for d in factor_entries(ds, g.group) if d.significant][:2]
            if top:
                items = tuple(
                    fmt.t("drivers.factor_item", name=Factor(d.name), share=Pct(d.share))
                    for d in top
                )
                out.append(fmt.t("drivers.within", group=Group(g.group), items=Names(items)))
    out.append(fmt.t("drivers.varied", groups=Names(tuple(fmt.group(g) for g in f.study.groups))))
    return out


def people_section(f: Findings, fmt: Formatter) -> list[str]:
    if not f.study.humans:
        return [fmt.t(no_people_key(f, "people.none"))]
    out = []
    if f.study.humans_simulated:
        out.append(fmt.t("notices.simulated_panel"))
    models = models_of(f)
    if len(models) > 1:
        out += _people_several(f, fmt, models)
    else:
        out += _people_one(f, fmt, models[0])
    hd = group_entries(drivers_of(f, "humans"))
    md = group_entries(drivers_of(f, models[0]))
    if hd and md and len(models) == 1:
        out.append(
            fmt.t(
                "people.factors",
                people_group=Group(hd[0].group),
                people_share=Pct(hd[0].share),
                model_group=Group(md[0].group),
                model_share=Pct(md[0].share),
            )
        )
    return out


def _people_one(f: Findings, fmt: Formatter, m: str) -> list[str]:
    out = []
    humans = pooled_humans_bias(f)
    ceiling = kappa_of(f, "human-human")
    sb = shape_bias_of(f, m)
    if humans and sb:
        ev = shape_bias_evidence(sb)
        differ = not intervals_overlap((sb.ci_low, sb.ci_high), (humans.ci_low, humans.ci_high))
        params = dict(
            model_sb=Pct(sb.shape_bias),
            model_ci=fmt.interval(sb.ci_low, sb.ci_high),
            people_sb=Pct(humans.shape_bias),
            people_ci=fmt.interval(humans.ci_low, humans.ci_high),
            n=Num(sb.n_shape + sb.n_texture),
            more=Num(ev.n_more or 0),
        )
        if ev.level == TOO_FEW:
            out.append(fmt.t_more("people.shape_too_few", ev.n_more, **params))
        else:
            out.append(fmt.t("people.shape_differ" if differ else "people.shape_same", **params))
    k = kappa_of(f, m)
    if k and ceiling and is_finite(k.kappa):
        out.append(
            fmt.t(
                "people.kappa_below" if _kappa_below(k, ceiling) else "people.kappa_near",
                kappa=Dec(k.kappa),
                kappa_ci=fmt.interval(k.ci_low, k.ci_high, "dec"),
                ceiling=Dec(ceiling.kappa),
                ceiling_ci=fmt.interval(ceiling.ci_low, ceiling.ci_high, "dec"),
            )
        )
    for a in f.decision_agreement:
        if a.observer == m:
            out.append(agreement_sentence(f, a, fmt, "people."))
    for s in f.shared_information:
        if s.observer == m:
            out.append(
                fmt.t(
                    _shared_key(f, s),
                    group=Group(s.group),
                    bits=Bits(s.redundancy_bits),
                    bound=Bits(s.redundancy_mmi_bits),
                    p=PStat(s.p_value),
                )
            )
    return out


def _both_informed(f: Findings, s: SharedInformation) -> bool:
    """The model's and the people's decisions each carry significant information about the
    group: the case where MMI would have called them redundant."""
    return all(
        any(d.name == s.group and d.significant for d in drivers_of(f, o))
        for o in (s.observer, "humans")
    )


def _shared_key(f: Findings, s: SharedInformation) -> str:
    """Wording follows the redundancy test: the same information only when I_ccs is
    significant; informed about the group but not the same information when both carry it
    and the redundancy is not significant; no claim where the redundancy is not measured."""
    if s.measure == "none":
        return "people.shared_unmeasured"
    if s.significant:
        return "people.shared_sig"
    return "people.shared_different" if _both_informed(f, s) else "people.shared_none"


def _kappa_below(k: ErrorConsistency, ceiling: ErrorConsistency) -> bool:
    """The model's interval lies wholly below the people's own (human–human) interval."""
    return is_finite(ceiling.ci_low) and is_finite(k.ci_high) and k.ci_high < ceiling.ci_low


def _people_several(f: Findings, fmt: Formatter, models: list[str]) -> list[str]:
    """Several models: ranges over models and counts, not one sentence per model."""
    out = []
    humans = pooled_humans_bias(f)
    sbs = [s for x in models if (s := shape_bias_of(f, x))]
    if humans and sbs:
        differ = sum(
            not intervals_overlap((s.ci_low, s.ci_high), (humans.ci_low, humans.ci_high))
            for s in sbs
        )
        out.append(
            fmt.t(
                "people.m_shape_all" if differ == len(sbs) else "people.m_shape",
                people_sb=Pct(humans.shape_bias),
                people_ci=fmt.interval(humans.ci_low, humans.ci_high),
                low=Pct(min(s.shape_bias for s in sbs)),
                high=Pct(max(s.shape_bias for s in sbs)),
                k=Num(differ),
                m=Num(len(sbs)),
            )
        )
    ceiling = kappa_of(f, "human-human")
    ks = [k for x in models if (k := kappa_of(f, x)) and is_finite(k.kappa)]
    if ks and ceiling:
        out.append(
            fmt.t(
                "people.m_kappa_all"
                if all(_kappa_below(k, ceiling) for k in ks)
                else "people.m_kappa",
                low=Dec(min(k.kappa for k in ks)),
                high=Dec(max(k.kappa for k in ks)),
                ceiling=Dec(ceiling.kappa),
                ceiling_ci=fmt.interval(ceiling.ci_low, ceiling.ci_high, "dec"),
                k=Num(sum(_kappa_below(k, ceiling) for k in ks)),
                m=Num(len(ks)),
            )
        )
    agree = [a for a in f.decision_agreement if a.observer in models]
    if agree:
        out.append(
            fmt.t(
                "people.m_agree",
                low=Pct(min(a.agreement for a in agree)),
                high=Pct(max(a.agreement for a in agree)),
                chance=Pct(max(a.chance for a in agree)),
            )
        )
    for group in dict.fromkeys(s.group for s in f.shared_information):
        rows = [s for s in f.shared_information if s.group == group and s.observer in models]
        sig = [s for s in rows if s.significant]
        if not rows:
            continue
        if all(s.measure == "none" for s in rows):
            out.append(fmt.t("people.m_shared_unmeasured", group=Group(group)))
            continue
        if not sig:  # nothing to quote a range of: say there is no reliable evidence
            out.append(fmt.t("people.m_shared_none", group=Group(group), m=Num(len(rows))))
            continue
        # The range covers only the models the sentence counts (the significant ones).
        bits = [s.redundancy_bits for s in sig]
        out.append(
            fmt.t(
                "people.m_shared_all" if len(sig) == len(rows) else "people.m_shared",
                group=Group(group),
                k=Num(len(sig)),
                m=Num(len(rows)),
                bits=Range(min(bits), max(bits), "bits"),
                others=Names(tuple(s.observer for s in rows if not s.significant)),
            )
        )
    return out


def layers_caption(f: Findings, fmt: Formatter) -> str:
    """The network figure's caption; where a significant redundancy exceeds the stage's
    (linear) information, it says what a dashed line above a solid one means."""
    above = any(x.redundancy_significant and x.redundancy_bits > x.mi_bits for x in f.layers)
    text = fmt.t("figures.layers_caption")
    # The separating space (none in Japanese) is part of the added sentence's string.
    return text + fmt.t("figures.layers_caption_above") if above else text


def _decision_informed(f: Findings, group: str) -> bool:
    """The model's decisions carry significant information about the group."""
    return any(d.name == group and d.significant for d in drivers_of(f, models_of(f)[0]))


def network_section(f: Findings, fmt: Formatter) -> list[str]:
    """Where the decisive information appears (report-guide.md, "Inside the network"): for each
    factor group, the first stage holding significant information about it, whether and from
    where it reaches the decision (significant redundancy), and its part of what the last stage
    passes on to the decision. Groups are taken in the order of the model's driver shares, so the
    one the decisions depend on most comes first."""
    if f.study.decision_only or not f.layers:
        return []
    depths = sorted({x.depth for x in f.layers})
    names = {x.depth: x.layer for x in f.layers}
    last = depths[-1]
    at_last = {x.group: x for x in f.layers if x.depth == last}
    # What the last stage passes on to the decision, split by group (descriptive, like shares).
    passed = {
        g: max(x.redundancy_bits, 0.0) if x.redundancy_significant else 0.0
        for g, x in at_last.items()
    }
    total = sum(passed.values())
    rank = {d.group: i for i, d in enumerate(group_entries(drivers_of(f, models_of(f)[0])))}
    groups = sorted(dict.fromkeys(x.group for x in f.layers), key=lambda g: rank.get(g, len(rank)))
    out = [fmt.t("network.intro", n=Num(len(depths)))]
    for group in groups:
        rows = sorted((x for x in f.layers if x.group == group), key=lambda x: x.depth)
        present = [x for x in rows if x.mi_significant]
        reaches = [x for x in rows if x.redundancy_significant]
        if not present:
            out.append(fmt.t("network.group_absent", group=Group(group)))
            continue
        first = present[0].depth
        where = fmt.t(
            "network.where_first" if first == depths[0] else "network.where_late",
            layer=names[first],
            stage=Num(depths.index(first) + 1),
            stages=Num(len(depths)),
        )
        if not reaches:
            if any(x.measure == "none" for x in present):
                key = "network.group_unmeasured"
            elif any(x.redundancy_mmi_bits > 0 for x in present) and _decision_informed(f, group):
                key = "network.group_different"
            else:
                key = "network.group_none"
            out.append(fmt.t(key, group=Group(group), where=where))
            continue
        part = passed.get(group, 0.0) / total if total > 0 else 0.0
        out.append(
            fmt.t(
                "network.group_little" if part < LITTLE_REACHES else "network.group_much",
                group=Group(group),
                where=where,
                reach=names[reaches[0].depth],
                part=Pct(part),
            )
        )
        if all(x.depth == last for x in reaches):
            out.append(fmt.t("network.only_last", group=Group(group), layer=names[last]))
    return out


def risks_section(f: Findings, fmt: Formatter) -> list[str]:
    out = []
    nuisance_seen = False
    several = len(models_of(f)) > 1
    for m in models_of(f):
        ds = drivers_of(f, m)
        for g in group_entries(ds):
            if not is_nuisance(f, g.group):
                continue
            nuisance_seen = True
            for s in _nuisance_sentences(f, fmt, g, factor_entries(ds, g.group)):
                out.append(fmt.t("risks.with_model", model=Model(m), text=s) if several else s)
    if not nuisance_seen:
        out.append(fmt.t("risks.no_nuisance"))
    out += caveat_sentences(f.warnings, fmt)
    for m in models_of(f):
        for g in group_entries(drivers_of(f, m))[:1]:
            ev = driver_evidence(g, f)
            if ev.level == TOO_FEW and ev.n_more:
                out.append(fmt.t("risks.small_sample", n=Num(ev.n_more)))
            elif ev.level == TOO_FEW:  # no interval to size the sample from ("about 0 more")
                out.append(fmt.t("risks.no_interval"))
    simulated_caveat = any(c.code == "simulated_panel" for c in f.warnings)
    if f.study.humans and f.study.humans_simulated and not simulated_caveat:
        out.append(fmt.t("notices.simulated_panel"))
    return out


def _nuisance_sentences(
    f: Findings, fmt: Formatter, group: Driver, factors: list[Driver]
) -> list[str]:
    """Reliance on one nuisance group: a sentence for each factor with evidence of an effect
    (and for the group as a whole when it has some), then ONE sentence listing the factors
    without reliable evidence, and one for those with too few data."""
    if not factors:
        return [_driver_sentence(group, f, fmt, "risks.nuisance")]
    out = []
    levels = {d.name: driver_evidence(d, f) for d in factors}
    shown = [d for d in factors if levels[d.name].level in (CLEAR, SOME)]
    if driver_evidence(group, f).level in (CLEAR, SOME) and len(factors) > 1:
        out.append(_driver_sentence(group, f, fmt, "risks.nuisance"))
    out += [_driver_sentence(d, f, fmt, "risks.nuisance") for d in shown]
    quiet = [d for d in factors if levels[d.name].level == NONE]
    if len(quiet) == 1:
        out.append(_driver_sentence(quiet[0], f, fmt, "risks.nuisance"))
    elif quiet:
        out.append(
            fmt.t(
                "risks.nuisance_none_many",
                group=Group(group.group),
                names=Names(tuple(Factor(d.name) for d in quiet)),
                share=Pct(max(d.share for d in quiet)),
            )
        )
    few = [d for d in factors if levels[d.name].level == TOO_FEW]
    if few:
        more = max(levels[d.name].n_more or 0 for d in few)
        out.append(
            fmt.t_more(
                "risks.nuisance_too_few_many" if len(few) > 1 else "risks.nuisance_too_few",
                more,
                names=Names(tuple(Factor(d.name) for d in few)),
                name=Factor(few[0].name),
                n=Num(more),
            )
        )
    return out


def caveat_sentences(caveats: Iterable[Caveat], fmt: Formatter) -> list[str]:
    """One sentence per caveat, except that several missing-answer caveats (one per person)
    become one sentence listing the people and the counts, and tied factors one sentence
    listing the factors with their share of repeated values."""
    caveats = list(caveats)
    missing = [
        c for c in caveats if c.code == "missing_responses" and {"observer", "n"} <= c.detail.keys()
    ]
    ties = [c for c in caveats if c.code == "ties" and {"factor", "fraction"} <= c.detail.keys()]
    out: list[str] = []
    for c in caveats:
        if len(missing) > 1 and c in missing:
            if c is missing[0]:
                items = tuple(
                    fmt.t(
                        "caveats_many.missing_item", observer=x.detail["observer"], n=x.detail["n"]
                    )
                    for x in missing
                )
                total = sum(int(x.detail["n"]) for x in missing)
                out.append(
                    fmt.t("caveats_many.missing_responses", items=Names(items), total=Num(total))
                )
            continue
        if c in ties:
            if c is ties[0]:
                out.append(_ties_sentence(ties, fmt))
            continue
        out.append(caveat_sentence(c.code, c.detail, fmt))
    return out


def _ties_sentence(ties: list[Caveat], fmt: Formatter) -> str:
    if len(ties) == 1:
        d = ties[0].detail
        return fmt.t("caveats.ties", factor=Factor(d["factor"]), fraction=Pct(float(d["fraction"])))
    items = tuple(
        fmt.t(
            "caveats_many.ties_item",
            factor=Factor(c.detail["factor"]),
            fraction=Pct(float(c.detail["fraction"])),
        )
        for c in ties
    )
    return fmt.t("caveats_many.ties", items=Names(items))


def caveat_sentence(code: str, detail: Mapping[str, Any], fmt: Formatter) -> str:
    """The locale sentence for a caveat code; a code the locale does not know is still shown,
    with its details, rather than dropped."""
    table = fmt.s["caveats"]
    # "1 answer is missing", not "1 answers are missing": a count of one has its own sentence.
    key = f"{code}_one" if detail.get("n") == 1 and f"{code}_one" in table else code
    if code == "validation" and isinstance(detail.get("message"), str):
        # Validation messages are written as clauses; the locale sentence adds its own stop.
        detail = {**detail, "message": detail["message"].strip().rstrip(".")}
    if key in table:
        try:
            return table[key].format(**{k: _detail_value(v, fmt, k) for k, v in detail.items()})
        except (KeyError, IndexError):
            pass  # the detail lacks a field the sentence names: fall through to the plain form
    items = Names(tuple(f"{k} = {_detail_value(v, fmt)}" for k, v in detail.items()))
    return fmt.t("caveats_generic.text", code=code, detail=items)


#: Caveat details that are fractions and read as percentages.
PERCENT_DETAILS = frozenset({"accuracy", "chance", "ci_low", "ci_high"})


def _detail_value(v: Any, fmt: Formatter, key: str = "") -> str:
    if isinstance(v, bool):
        return str(v)
    if key in PERCENT_DETAILS and isinstance(v, int | float):
        return fmt.pct(v)
    if isinstance(v, int):
        return fmt.num(v)
    if isinstance(v, float):
        return fmt.dec(v)
    if isinstance(v, list | tuple):
        return fmt.join(str(x) for x in v)
    return str(v)
