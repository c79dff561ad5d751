"""The report's figures, drawn from Findings (and past runs) only, labelled from the locale.

One palette for the whole report, chosen so that its colours differ in lightness as well as
hue; every series also differs by marker or hatch, so a greyscale print stays readable.
Figures are JPEG at print resolution (`figure_plan.figure_path`), drawn with the Agg backend
(no display needed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from reportgen.findings import Findings  # noqa: E402
from reportgen.findings.headline import HistoryRow
from reportgen.findings.queries import (
    drivers_of,
    factor_entries,
    group_entries,
    group_total,
    is_finite,
    kappa_of,
    model_kappas,
    models_of,
    people_panels,
    pooled_humans_bias,
    share_interval,
)
from reportgen.report.figure_plan import figure_path, font_path, trend_rows
from reportgen.report.format import Formatter

DPI = 300  # print resolution
_JPEG = {"quality": 95, "subsampling": 0}  # the reason: figure_plan.FIGURE_SUFFIX
#: Dark blue, orange, sky blue, bluish green, reddish purple, vermilion, yellow: luminances
#: spread from dark to light so neighbouring series stay apart in grey.
PALETTE = ("#1f3b73", "#e69f00", "#7cc0e8", "#009e73", "#a2457e", "#d55e00", "#f0e442")
#: Models: wine shades, a hue no factor group uses, so "the model" is one colour in every
#: chart and never reads as a factor group (markers tell several models apart).
MODEL_PALETTE = ("#882255", "#c4577f", "#4f0f2f", "#e39ab6", "#a83466", "#6b1a42", "#d27596")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
PEOPLE_LIGHT, PEOPLE_DARK = "#9a9a9a", "#333333"
TEXT_WIDTH_IN = 6.7  # A4 text block
#: Points from the bottom of a panel to a legend placed under it: tick labels and the axis
#: label (7 pt and 8 pt text with their pads) take about 26 pt.
LEGEND_GAP_PT = 30


_FONT_ADDED: set[Path] = set()
#: The charts' look: white ground, a light grid behind the data, grey frame, no tick marks,
#: near-black text.
_HOUSE_STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": "0.8",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "0.8",
    "grid.linestyle": "-",
    "axes.labelcolor": "0.15",
    "text.color": "0.15",
    "xtick.color": "0.15",
    "ytick.color": "0.15",
    "xtick.bottom": False,
    "ytick.left": False,
    "patch.edgecolor": "white",
    "patch.force_edgecolor": True,
    "lines.solid_capstyle": "round",
}


@contextmanager
def _style(lang: str) -> Iterator[None]:
    path = font_path()
    if path not in _FONT_ADDED:
        font_manager.fontManager.addfont(str(path))
        _FONT_ADDED.add(path)
    jp = font_manager.FontProperties(fname=str(path)).get_name()
    families = [jp, "DejaVu Sans"] if lang == "ja" else ["DejaVu Sans", jp]
    rc = {
        "font.family": families,
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.labelsize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "axes.unicode_minus": False,  # IPAexGothic lacks U+2212
        "savefig.dpi": DPI,
        "figure.dpi": 100,
        # Names come from the user's data: "$x$" is text, never mathtext (a broken
        # "$\\frac{1}{$" would stop the run, and "$...$" would silently change the name).
        "text.parse_math": False,
    }
    with plt.rc_context({**_HOUSE_STYLE, **rc}):
        yield


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white", pil_kwargs=_JPEG)
    plt.close(fig)
    return path


def _colour(i: int) -> str:
    """The colour of factor group `i` (in the study's group order), in every chart."""
    return PALETTE[i % len(PALETTE)]


def _model_colour(i: int) -> str:
    """The colour of model `i` (in the study's model order), in every chart."""
    return MODEL_PALETTE[i % len(MODEL_PALETTE)]


def _err(value: float, low: float, high: float) -> list[list[float]]:
    if not (is_finite(low) and is_finite(high)):
        return [[0.0], [0.0]]
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def _bar(ax: Any, y: float, value: float, low: float, high: float, k: int, **style: Any) -> None:
    """One horizontal bar in the house style (palette colour and hatch k, interval whiskers)."""
    style.setdefault("color", _colour(k))
    ax.barh(
        y,
        value,
        hatch=HATCHES[k % 7],
        edgecolor="#222222",
        linewidth=0.5,
        xerr=_err(value, low, high),
        error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#111111"},
        **style,
    )


def _legend_below(fig: plt.Figure, ax: Any, **legend: Any) -> None:
    """A legend under the panel's x-axis label. The gap is in points, not a fraction of the
    axes: in a short figure (two factor groups) a fractional gap lands on the axis label."""
    below = offset_copy(ax.transAxes, fig=fig, y=-LEGEND_GAP_PT, units="points")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, frameon=False, **legend
    )


def _label(f: Findings, fmt: Formatter, observer: str) -> str:
    """How a figure names a model: its id when there are several to tell apart, else simply
    "Model" (an id such as "model" or a long checkpoint name adds nothing to a lone series)."""
    return fmt.t("figures.model_label") if len(f.study.models) == 1 else fmt.model(observer)


def _group_index(f: Findings) -> dict[str, int]:
    return {g: i for i, g in enumerate(f.study.groups)}


def _share_bars(ax: Any, f: Findings, fmt: Formatter, series: list[tuple[str, str]]) -> None:
    """Share per factor group with interval whiskers: bars for one or two series, dots (one
    marker per series) for more, where bars would crowd."""
    gi = _group_index(f)
    groups = list(f.study.groups)
    dots = len(series) > 2
    height = 0.8 / max(len(series), 1)
    for si, (observer, label) in enumerate(series):
        observed = drivers_of(f, observer)
        entries = {d.group: d for d in group_entries(observed)}
        total = group_total(observed)
        people = observer == "humans"
        first = True
        for g in groups:
            d = entries.get(g)
            if d is None:
                continue
            y = gi[g] + (si - (len(series) - 1) / 2) * height
            low, high = share_interval(d, total)
            if dots:
                ax.errorbar(
                    d.share,
                    y,
                    xerr=_err(d.share, low, high),
                    capsize=1.5,
                    elinewidth=0.8,
                    fmt="D" if people else MARKERS[si % 7],
                    markersize=4.5,
                    color=PEOPLE_DARK if people else _model_colour(si),
                    markerfacecolor=PEOPLE_LIGHT if people else _model_colour(si),
                    markeredgecolor="#111111",
                    markeredgewidth=0.5,
                    label=label if first else None,
                )
            else:
                # one series: a colour per group; several: a colour per observer
                k = si if len(series) > 1 else gi[g]
                colour = _model_colour(si) if len(series) > 1 else _colour(k)
                _bar(
                    ax,
                    y,
                    d.share,
                    low,
                    high,
                    k,
                    height=height * 0.9,
                    color=PEOPLE_LIGHT if people else colour,
                    label=label if first else None,
                )
            first = False
    ax.set_yticks(range(len(groups)), [fmt.group(g) for g in groups])
    ax.set_ylim(len(groups) - 0.5, -0.5)
    # A little room beyond 0% and 100%, so markers and whiskers at the ends are not cut off.
    ax.set_xlim(-0.02 if dots else 0.0, 1.02)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    if dots:
        ax.grid(False, axis="y")  # the tick gridline would run through the group's symbols
    ax.xaxis.set_major_formatter(lambda x, _pos: fmt.pct(x))
    ax.set_xlabel(fmt.t("figures.share_axis"))
    if dots:
        for k in range(len(groups) - 1):
            ax.axhline(k + 0.5, color="#cccccc", linewidth=0.6)
    if len(series) > 1:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=7,  # the print minimum, however many series
        )


def _series(f: Findings, fmt: Formatter, with_people: bool) -> list[tuple[str, str]]:
    series = [(m, _label(f, fmt, m)) for m in models_of(f)]
    if with_people and group_entries(drivers_of(f, "humans")):
        series.append(
            (
                "humans",
                fmt.t("people.panel_simulated" if f.study.humans_simulated else "people.panel"),
            )
        )
    return series


#: Page 1's small figure is printed this wide (40 % of the text block, beside key point 1) and
#: drawn at that size, so its 7 pt text prints at 7 pt.
SUMMARY_WIDTH_IN = 0.4 * TEXT_WIDTH_IN


def drivers_summary(f: Findings, fmt: Formatter, path: Path) -> Path:
    """Page 1's small figure: one model's driver shares with interval whiskers."""
    series = _series(f, fmt, with_people=False)
    n_groups = len(f.study.groups)
    with plt.rc_context({"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7}):
        fig, ax = plt.subplots(figsize=(SUMMARY_WIDTH_IN, 0.6 + 0.25 * n_groups))
        _share_bars(ax, f, fmt, series)
        ax.set_title(fmt.t("figures.drivers_small_title"), loc="left")
        ax.set_xticks([0, 0.5, 1.0])
        return _save(fig, path)


def drivers_figure(f: Findings, fmt: Formatter, path: Path) -> Path:
    """Group shares (model(s) and people) and, for one model, its strongest factors in bits."""
    series = _series(f, fmt, with_people=True)
    single = len(models_of(f)) == 1
    factors = []
    if single:
        ds = drivers_of(f, models_of(f)[0])
        for g in f.study.groups:
            factors += factor_entries(ds, g)[:3]
    cols = 2 if factors else 1
    fig, axes = plt.subplots(
        1,
        cols,
        figsize=(TEXT_WIDTH_IN, 0.9 + 0.45 * len(f.study.groups) * max(1, len(series) / 2)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1.2][:cols]},
    )
    ax = axes[0, 0]
    _share_bars(ax, f, fmt, series)
    ax.set_title(fmt.t("figures.drivers_title"), loc="left")
    if factors and len(series) > 1:  # the right panel needs the room: legend below instead
        _legend_below(fig, ax, ncols=len(series))
    if factors:
        ax2 = axes[0, 1]
        gi = _group_index(f)
        factors = sorted(factors, key=lambda d: (gi.get(d.group, 0), -d.mi_bits))
        for i, d in enumerate(factors):
            k = gi.get(d.group, 0)
            _bar(ax2, i, d.mi_bits, d.ci_low, d.ci_high, k, alpha=1.0 if d.significant else 0.35)
        ax2.set_yticks(range(len(factors)), [fmt.factor(d.name) for d in factors])
        ax2.invert_yaxis()
        ax2.set_xlabel(fmt.t("figures.bits_axis"))
        ax2.set_title(fmt.t("figures.factors_title"), loc="left")
        handles = [
            plt.Rectangle(
                (0, 0),
                1,
                1,
                facecolor=_colour(gi[g]),
                hatch=HATCHES[gi[g] % 7],
                edgecolor="#222222",
                linewidth=0.5,
                label=fmt.group(g),
            )
            for g in f.study.groups
        ]
        # Below the panel: inside it, the legend would cover the longest bars.
        _legend_below(fig, ax2, handles=handles, ncols=min(len(handles), 3))
    fig.tight_layout()
    return _save(fig, path)


def layers_figure(f: Findings, fmt: Formatter, path: Path) -> Path:
    """Information per layer for each factor group (solid) and the part of it that reaches the
    decision (dashed); open markers where the value is not significant."""
    gi = _group_index(f)
    depths = sorted({x.depth for x in f.layers})
    names = {x.depth: x.layer for x in f.layers}
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN * 0.8, 2.8))
    groups = list(dict.fromkeys(x.group for x in f.layers))
    for g in groups:
        k = gi.get(g, len(gi) + groups.index(g))
        rows = sorted((x for x in f.layers if x.group == g), key=lambda x: x.depth)
        xs = [x.depth for x in rows]
        for attr, sig, style in (
            ("mi_bits", "mi_significant", "-"),
            ("redundancy_bits", "redundancy_significant", "--"),
        ):
            # Floored at 0 for display only (methods.md 4.5): a bias-corrected estimate just
            # below 0 means "none", and the axis starts at 0.
            ys = [max(getattr(x, attr), 0.0) for x in rows]
            ax.plot(xs, ys, style, color=_colour(k), linewidth=1.4)
            for x, y, row in zip(xs, ys, rows, strict=True):
                filled = getattr(row, sig)
                ax.plot(
                    x,
                    y,
                    MARKERS[k % 7],
                    markersize=5,
                    color=_colour(k),
                    markerfacecolor=_colour(k) if filled else "white",
                    markeredgewidth=1.1,
                )
    ax.set_xticks(depths, [names[d] for d in depths])
    ax.set_xlabel(fmt.t("figures.layer_axis"))
    ax.set_ylabel(fmt.t("figures.bits_axis"))
    ax.set_ylim(bottom=0)
    ax.set_title(fmt.t("figures.layers_title"), loc="left")
    handles = [
        Line2D(
            [],
            [],
            color=_colour(gi.get(g, len(gi) + groups.index(g))),
            marker=MARKERS[gi.get(g, len(gi) + groups.index(g)) % 7],
            label=fmt.group(g),
        )
        for g in groups
    ]
    handles += [
        Line2D([], [], color="#444444", linestyle="-", label=fmt.t("figures.layers_held")),
        Line2D([], [], color="#444444", linestyle="--", label=fmt.t("figures.layers_reaches")),
        Line2D(
            [],
            [],
            color="#444444",
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label=fmt.t("figures.not_significant"),
        ),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def people_figure(f: Findings, fmt: Formatter, path: Path, people: str) -> Path:
    """Shape bias per observer (people as dots, models highlighted) and error consistency with
    the human–human ceiling; a panel without data (no cue-conflict images, no model kappa) is
    left out rather than drawn empty."""
    models = models_of(f)
    with_bias, with_kappa = people_panels(f)
    fig, axes = plt.subplots(
        1, 2, figsize=(TEXT_WIDTH_IN, max(2.2, 0.9 + 0.3 * (len(models) + 1))), squeeze=False
    )
    if with_bias:
        _shape_bias_panel(axes[0, 0], f, fmt, people)
    if with_kappa:
        _kappa_panel(fig, axes[0, int(with_bias)], f, fmt, people)
    # A lone panel keeps the width of one of two (the page scales the picture to the text
    # width, so a narrower figure would come out with oversized lettering).
    if not (with_bias and with_kappa):
        axes[0, 1].set_axis_off()
    fig.tight_layout()
    return _save(fig, path)


def _shape_bias_panel(ax: Any, f: Findings, fmt: Formatter, people: str) -> None:
    models = models_of(f)
    humans = [s for s in f.shape_bias if s.kind == "human"]
    pooled = pooled_humans_bias(f)
    with_people = bool(humans) or pooled is not None
    # No people in the study: no empty "People" row, the models only.
    rows = [people, *models] if with_people else list(models)
    first = 1 if with_people else 0
    if humans:
        # One dot per person on the people's row (row 0), offset within +-0.15 rows by the
        # golden-ratio sequence so that people with close values land apart.
        values = sorted(s.shape_bias for s in humans)
        offsets = [0.15 * (2 * ((i * 0.618034) % 1.0) - 1) for i in range(len(values))]
        ax.scatter(
            values, offsets, s=25, color=PEOPLE_LIGHT, edgecolors=PEOPLE_DARK, linewidths=0.6
        )
    if pooled is not None:
        ax.axvline(pooled.shape_bias, color=PEOPLE_DARK, linestyle=":", linewidth=1.2)
        ax.errorbar(
            pooled.shape_bias,
            0,
            xerr=_err(pooled.shape_bias, pooled.ci_low, pooled.ci_high),
            fmt="|",
            color=PEOPLE_DARK,
            markersize=12,
            capsize=3,
        )
    for k, m in enumerate(models):
        s = next((x for x in f.shape_bias if x.observer == m), None)
        if s is None:
            continue
        ax.errorbar(
            s.shape_bias,
            first + k,
            xerr=_err(s.shape_bias, s.ci_low, s.ci_high),
            fmt=MARKERS[k % 7],
            color=_model_colour(k),
            markersize=6,
            capsize=2,
            markeredgecolor="#111111",
        )
    labels = [_label(f, fmt, m) for m in models]
    ax.set_yticks(range(len(rows)), [people, *labels] if with_people else labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.03)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.xaxis.set_major_formatter(lambda x, _pos: fmt.pct(x))
    ax.set_xlabel(fmt.t("figures.shape_bias_axis"))
    ax.set_title(fmt.t("figures.shape_bias_title"), loc="left")


def _kappa_panel(fig: plt.Figure, ax: Any, f: Findings, fmt: Formatter, people: str) -> None:
    kappas = model_kappas(f)
    ceiling = kappa_of(f, "human-human")
    models = models_of(f)
    for i, k in enumerate(kappas):
        _bar(ax, i, k.kappa, k.ci_low, k.ci_high, i, color=_model_colour(models.index(k.observer)))
    if ceiling is not None and is_finite(ceiling.kappa):
        if is_finite(ceiling.ci_low) and is_finite(ceiling.ci_high):
            ax.axvspan(
                ceiling.ci_low,
                ceiling.ci_high,
                color=PEOPLE_LIGHT,
                alpha=0.35,
                hatch="..",
                linewidth=0,
            )
        ax.axvline(
            ceiling.kappa,
            color=PEOPLE_DARK,
            linestyle="--",
            linewidth=1.2,
            label=fmt.t("figures.ceiling_label", people=people),
        )
        _legend_below(fig, ax)
    ax.set_yticks(range(len(kappas)), [_label(f, fmt, k.observer) for k in kappas])
    ax.set_ylim(len(kappas) - 0.5, -0.5)
    # The axis reaches the ceiling line and its band too: without an interval (bootstrap off)
    # the line alone would otherwise fall off the right edge while the legend names it.
    ends = [k.ci_high for k in kappas] + [k.kappa for k in kappas]
    if ceiling is not None:
        ends += [ceiling.kappa, ceiling.ci_high]
    hi = max([x for x in ends if is_finite(x)] + [0.1])
    ax.set_xlim(min(0.0, *[k.kappa for k in kappas if is_finite(k.kappa)]), min(1.0, hi * 1.15))
    ax.set_xlabel(fmt.t("figures.kappa_axis"))
    ax.set_title(fmt.t("figures.kappa_title"), loc="left")


def morph_figure(f: Findings, fmt: Formatter, path: Path, people: str) -> Path:
    """Generalisation curves: probability of endpoint A's class along each morph continuum."""
    morphs = list(dict.fromkeys(p.morph for p in f.morph_curves))
    models = models_of(f)
    humans = set(f.study.humans)
    fig, axes = plt.subplots(
        1, len(morphs), figsize=(TEXT_WIDTH_IN, 2.5), squeeze=False, sharey=True
    )
    for ax, morph in zip(axes[0], morphs, strict=True):
        points = [p for p in f.morph_curves if p.morph == morph]
        for obs in dict.fromkeys(p.observer for p in points):
            curve = sorted((p for p in points if p.observer == obs), key=lambda p: p.level)
            xs, ys = [p.level for p in curve], [p.p_a for p in curve]
            if obs in models:
                i = models.index(obs)
                ax.plot(
                    xs,
                    ys,
                    "-",
                    marker=MARKERS[i % 7],
                    color=_model_colour(i),
                    linewidth=1.6,
                    markersize=4,
                    label=_label(f, fmt, obs),
                )
            elif obs == "humans":
                ax.plot(
                    xs,
                    ys,
                    "--",
                    marker="o",
                    color=PEOPLE_DARK,
                    linewidth=1.6,
                    markersize=4,
                    markerfacecolor="white",
                    label=people,
                )
            elif obs in humans:
                ax.plot(xs, ys, "-", color=PEOPLE_LIGHT, linewidth=0.7, alpha=0.8)
        ax.set_title(
            fmt.t(f"figures.morph_{morph.replace('-', '_')}")
            if morph in ("shape-morph", "texture-morph")
            else morph,
            loc="left",
        )
        ax.set_xlabel(fmt.t("figures.morph_axis"))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(-0.02, 1.02)  # room for the end markers
        ax.yaxis.set_major_formatter(lambda y, _pos: fmt.pct(y))
    axes[0, 0].set_ylabel(fmt.t("figures.morph_p_axis"))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any(p.observer in humans for p in f.morph_curves):
        handles.append(Line2D([], [], color=PEOPLE_LIGHT, linewidth=0.7))
        labels.append(fmt.t("figures.each_person"))
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncols=min(len(labels), 4),
        frameon=False,
        bbox_to_anchor=(0.5, -0.08),
    )
    fig.tight_layout()
    return _save(fig, path)


def trend_figure(
    f: Findings, fmt: Formatter, path: Path, history: list[HistoryRow], people: str
) -> Path:
    """Headline figures over periods: the headline model's shares, its shape bias and people's."""
    rows = trend_rows(f, history)
    model = f.study.models[0]
    labels = [fmt.period(r.period) for r in rows]
    xs = list(range(len(rows)))
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 2.5))
    ax = axes[0]
    gi = _group_index(f)
    for g in f.study.groups:
        k = gi[g]
        pts = [
            (x, r.models[model].shares.get(g))
            for x, r in zip(xs, rows, strict=True)
            if model in r.models
        ]
        pts = [(x, iv) for x, iv in pts if iv is not None]
        if not pts:
            continue
        ax.errorbar(
            [x for x, _ in pts],
            [iv.value for _, iv in pts],
            yerr=[
                [max(iv.value - iv.low, 0) if is_finite(iv.low) else 0 for _, iv in pts],
                [max(iv.high - iv.value, 0) if is_finite(iv.high) else 0 for _, iv in pts],
            ],
            marker=MARKERS[k % 7],
            color=_colour(k),
            capsize=2,
            linewidth=1.4,
            label=fmt.group(g),
        )
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda y, _pos: fmt.pct(y))
    title = (
        "figures.trend_shares_title"
        if len(f.study.models) > 1
        else "figures.trend_shares_title_one"
    )
    ax.set_title(fmt.t(title, model=model), loc="left")
    ax.legend(frameon=True, loc="best")
    ax2 = axes[1]
    pts = [
        (x, r.models[model].shape_bias)
        for x, r in zip(xs, rows, strict=True)
        if model in r.models and r.models[model].shape_bias is not None
    ]
    if pts:
        ax2.errorbar(
            [x for x, _ in pts],
            [iv.value for _, iv in pts],
            marker=MARKERS[models_of(f).index(model) % 7],
            color=_model_colour(models_of(f).index(model)),
            capsize=2,
            label=_label(f, fmt, model),
            yerr=[
                [max(iv.value - iv.low, 0) if is_finite(iv.low) else 0 for _, iv in pts],
                [max(iv.high - iv.value, 0) if is_finite(iv.high) else 0 for _, iv in pts],
            ],
        )
    hp = [
        (x, r.humans_shape_bias)
        for x, r in zip(xs, rows, strict=True)
        if r.humans_shape_bias is not None
    ]
    if hp:
        ax2.plot(
            [x for x, _ in hp],
            [iv.value for _, iv in hp],
            "--",
            marker="o",
            color=PEOPLE_DARK,
            markerfacecolor="white",
            label=people,
        )
    ax2.set_ylim(0, 1)
    ax2.yaxis.set_major_formatter(lambda y, _pos: fmt.pct(y))
    ax2.set_title(fmt.t("figures.trend_shape_title"), loc="left")
    if pts or hp:
        ax2.legend(frameon=True, loc="best")
    for a in axes:
        a.set_xticks(xs, labels)
        a.set_xlim(-0.5, len(xs) - 0.5)
        if len(xs) > 3:  # period names are long ("2026年第4四半期"): slant them
            a.tick_params(axis="x", labelrotation=30)
            for tick in a.get_xticklabels():
                tick.set_horizontalalignment("right")
    fig.tight_layout()
    return _save(fig, path)


def draw_figures(
    names: list[str],
    f: Findings,
    strings: Mapping[str, Any],
    figures_dir: Path,
    history: list[HistoryRow] | None = None,
) -> dict[str, Path]:
    """Draw the named figures (from `figure_plan`) into `figures_dir`; returns name → JPEG."""
    fmt = Formatter.for_findings(strings, f)
    figures_dir.mkdir(parents=True, exist_ok=True)
    people = fmt.t("people.panel_simulated" if f.study.humans_simulated else "people.panel")
    draw = {
        "drivers_summary": lambda path: drivers_summary(f, fmt, path),
        "drivers": lambda path: drivers_figure(f, fmt, path),
        "layers": lambda path: layers_figure(f, fmt, path),
        "people": lambda path: people_figure(f, fmt, path, people),
        "morphs": lambda path: morph_figure(f, fmt, path, people),
        "trend": lambda path: trend_figure(f, fmt, path, history or [], people),
    }
    with _style(strings["meta"]["lang"]):
        return {name: draw[name](figure_path(name, figures_dir)) for name in names}
