"""Findings → the report's sentences, in English or Japanese.

Every sentence is a locale string (`templates/locale/{en,ja}.toml`) filled with numbers taken
from one Finding; this module picks *which* string by the evidence rules of report-guide.md
("Wording follows the evidence") and the traffic-light thresholds below. It computes no
statistics: it only compares numbers the analyses already produced (estimates, intervals,
p-values, sample sizes) against documented thresholds.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reportgen.errors import ReportgenError
from reportgen.findings import Caveat, Driver, ErrorConsistency, Example, Findings, ShapeBias
from reportgen.resources import resource_dir

if TYPE_CHECKING:
    from reportgen.history import HistoryRow
    from reportgen.recommendations import Recommendation

TEMPLATE_DIR = resource_dir("templates")
LOCALE_DIR = TEMPLATE_DIR / "locale"
LANGUAGES = ("en", "ja")

# ---- documented thresholds (shown to auditors in "Methods and data") -----------------------
#: An information estimate whose interval stays above this many bits "excludes small effects".
SMALL_EFFECT_BITS = 0.02
#: An interval wider than this multiple of its estimate is "wide" (some evidence, not clear).
WIDE_CI_RATIO = 1.0
#: Gaussian-copula estimates need about 10 trials per dimension and class (methods.md 4.2).
MIN_TRIALS_PER_DIM = 10
#: Fewer cue-conflict trials than this with a cue-matching answer: too few for a shape bias.
MIN_CONFLICT_TRIALS = 30
#: A rate or kappa interval wider than this (in absolute units) is "wide".
MAX_RATE_CI_WIDTH = 0.25
#: Factor groups that should not matter to a decision (lighting, pose, position ...).
NUISANCE_GROUPS = frozenset(
    {"nuisance", "lighting", "light", "pose", "position", "background", "viewpoint", "camera"}
)
#: Traffic light 1 (drivers): share of significant nuisance information.
NUISANCE_AMBER, NUISANCE_RED = 0.10, 0.25
#: Traffic light 2 (people): |model − people| shape bias, and model kappa / human ceiling.
SHAPE_GAP_AMBER, SHAPE_GAP_RED = 0.15, 0.40
KAPPA_RATIO_AMBER, KAPPA_RATIO_RED = 0.70, 0.40


# ---- strings and number formats ------------------------------------------------------------
def load_strings(lang: str) -> dict[str, Any]:
    """Read `templates/locale/<lang>.toml`: every reader-visible string of one language."""
    if lang not in LANGUAGES:
        raise ReportgenError(f"report language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    with open(LOCALE_DIR / f"{lang}.toml", "rb") as handle:
        return tomllib.load(handle)


def lookup(strings: Mapping[str, Any], key: str) -> Any:
    """A dotted key of the string table; a missing key is an error, never the key itself."""
    node: Any = strings
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"locale string {key!r} is missing")
        node = node[part]
    return node


@dataclass(frozen=True, slots=True)
class Pct:
    """A share or rate in [0, 1], shown as a percentage."""

    value: float


@dataclass(frozen=True, slots=True)
class Bits:
    value: float


@dataclass(frozen=True, slots=True)
class Dec:
    """A unitless number shown with two decimals (kappa)."""

    value: float


@dataclass(frozen=True, slots=True)
class Num:
    """A count, shown with thousands separators."""

    value: int


@dataclass(frozen=True, slots=True)
class Group:
    """A factor-group id, shown by its plain-language name where the locale has one."""

    value: str


@dataclass(frozen=True, slots=True)
class Range:
    """A range of values of one kind ("pct", "bits" or "dec"), e.g. over several models."""

    low: float
    high: float
    kind: str = "pct"


@dataclass(frozen=True, slots=True)
class PStat:
    """A corrected p-value written in a sentence: 'p < 0.001', 'p = 0.012'."""

    value: float


@dataclass(frozen=True, slots=True)
class Period:
    """A study period such as '2026-Q4', written in the language's convention."""

    value: str


@dataclass(frozen=True, slots=True)
class Names:
    """Several display names (plain strings or typed values such as `Group`) joined by the
    language's list separator."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ModelCount:
    """`k` of the study's `m` models: "all 7 models", "6 of the 7 models"."""

    k: int
    m: int


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, float | int) and math.isfinite(x)


class Formatter:
    """Number, date and name formats of one language; registered once as Jinja2 filters."""

    def __init__(self, strings: Mapping[str, Any]) -> None:
        self.s = strings

    def t(self, key: str, **params: Any) -> str:
        """The locale string `key` with `params` formatted for this language."""
        text = lookup(self.s, key)
        return text.format(**{k: self.value(v) for k, v in params.items()})

    def value(self, v: Any) -> str:
        match v:
            case Pct(x):
                return self.pct(x)
            case Bits(x):
                return self.bits(x)
            case Dec(x):
                return self.dec(x)
            case Num(x):
                return self.num(x)
            case Group(g):
                return self.group(g)
            case Names(values):
                return self.join(self.value(x) for x in values)
            case ModelCount(k, m):
                key = "format.models_all" if k == m else "format.models_some"
                return self.t(key, k=Num(k), m=Num(m))
            case Range(low, high, kind):
                show = {"pct": self.pct, "bits": self.bits}.get(kind, self.dec)
                return show(low) if show(low) == show(high) else self.interval(low, high, kind)
            case PStat(p):
                return self.pstat(p)
            case Period(text):
                return self.period(text)
            case float():
                return self.dec(v)
            case int():
                return self.num(v)
        return str(v)

    def pct(self, x: float | None) -> str:
        """71%; one decimal below 10% (report-guide: no decimals unless below 10%)."""
        if not _finite(x):
            return self.s["format"]["missing"]
        v = 100.0 * x
        text = f"{v:.1f}" if 0 < abs(v) < 9.95 else f"{v:.0f}"
        return self.s["format"]["percent"].format(v=text)

    def num(self, n: int | float | None) -> str:
        if not _finite(n):
            return self.s["format"]["missing"]
        return f"{int(round(n)):,}"

    def bits(self, x: float | None) -> str:
        """Information, floored at 0 for display only (see `shown_bits`)."""
        return f"{shown_bits(x):.3f}" if _finite(x) else self.s["format"]["missing"]

    def dec(self, x: float | None) -> str:
        return f"{x:.2f}" if _finite(x) else self.s["format"]["missing"]

    def pval(self, p: float | None) -> str:
        if not _finite(p):
            return self.s["format"]["missing"]
        return "< 0.001" if p < 0.001 else f"{p:.3f}"

    def pstat(self, p: float | None) -> str:
        if not _finite(p):
            return self.s["format"]["missing"]
        return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

    def interval(self, low: float | None, high: float | None, kind: str = "pct") -> str:
        fmt = {"pct": self.pct, "bits": self.bits, "dec": self.dec}[kind]
        if not (_finite(low) and _finite(high)):
            return self.s["format"]["missing"]
        if fmt(low) == fmt(high):  # "100%–100%" says no more than "100%"
            return fmt(low)
        return self.s["format"]["range"].format(low=fmt(low), high=fmt(high))

    def seconds(self, x: float) -> str:
        return self.s["format"]["seconds"].format(v=f"{x:.1f}")

    def date(self, iso: str) -> str:
        """ISO 8601 date-time → '28 November 2026' / '2026年11月28日'."""
        if not iso:
            return self.s["format"]["missing"]
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        month = self.s["dates"]["months"][when.month - 1]
        return self.s["dates"]["date"].format(
            year=when.year, month=month, month_num=when.month, day=when.day
        )

    def period(self, text: str) -> str:
        """'2026-Q4' → 'Q4 2026' / '2026年第4四半期'; '2026-11' → month form; else verbatim."""
        parts = text.strip().upper().split("-")
        if len(parts) == 2 and parts[0].isdigit() and len(parts[0]) == 4:
            year, rest = parts
            if rest.startswith("Q") and rest[1:] in {"1", "2", "3", "4"}:
                return self.s["dates"]["quarter"].format(year=year, q=rest[1:])
            if rest.isdigit() and 1 <= int(rest) <= 12:
                month = self.s["dates"]["months"][int(rest) - 1]
                return self.s["dates"]["month_period"].format(
                    year=year, month=month, month_num=int(rest)
                )
        return text

    def group(self, name: str) -> str:
        # Group ids come from the user's config; the locale names the usual ones in plain words
        # and any other group is shown under the name its owner gave it.
        return self.s["groups"].get(name, name)

    def condition(self, name: str) -> str:
        # Like groups: the built-in conditions have plain names, any other is shown as given.
        return self.s["conditions"].get(name, name)

    def join(self, items: Iterable[str]) -> str:
        return self.s["format"]["list_sep"].join(items)

    def count(self, n: int, unit: str) -> str:
        key = f"units.{unit}_one" if n == 1 else f"units.{unit}"
        return lookup(self.s, key).format(n=self.num(n))

    def chance(self, p: float) -> str:
        """A corrected p-value in plain words for page 1 ('less than 1 in 1,000')."""
        if not _finite(p) or p >= 0.05:
            return self.t("evidence.chance_easily")
        return self.t("evidence.chance_rare", k=Num(_nice_round(1.0 / p)))


def _nice_round(x: float) -> int:
    """Round down to one significant figure, so '1 in 1,000' is never overstated."""
    if x < 10:
        return max(1, int(x))
    scale = 10 ** int(math.floor(math.log10(x)))
    return int(x // scale) * scale


def _round_up_2sig(x: float) -> int:
    if x <= 0:
        return 0
    scale = 10 ** max(int(math.floor(math.log10(x))) - 1, 0)
    return int(math.ceil(x / scale) * scale)


# ---- selecting the Findings a sentence speaks about -------------------------------------------
def models_of(f: Findings) -> list[str]:
    if not f.study.models:
        raise ReportgenError("findings: study.models is empty; the report needs at least one model")
    return list(f.study.models)


def drivers_of(f: Findings, observer: str) -> list[Driver]:
    """Drivers of one observer; a single-model study may leave the model's `observer` unset."""
    single = len(f.study.models) == 1 and observer == f.study.models[0]
    return [d for d in f.drivers if d.observer == observer or (single and d.observer is None)]


def group_entries(drivers: Iterable[Driver]) -> list[Driver]:
    """The factor groups' own entries, largest share first."""
    return sorted((d for d in drivers if d.name == d.group), key=lambda d: -d.share)


def factor_entries(drivers: Iterable[Driver], group: str) -> list[Driver]:
    return sorted(
        (d for d in drivers if d.group == group and d.name != d.group), key=lambda d: -d.mi_bits
    )


def is_nuisance(group: str) -> bool:
    return group.lower() in NUISANCE_GROUPS


def group_total(drivers: Iterable[Driver]) -> float:
    """The denominator of one observer's shares: its groups' information floored at 0, in bits
    (methods.md 4.5: a share is max(I, 0) over the summed floored group information)."""
    return sum(max(d.mi_bits, 0.0) for d in drivers if d.name == d.group and _finite(d.mi_bits))


def share_interval(d: Driver, total: float | None = None) -> tuple[float, float]:
    """The share's interval: the interval of `mi_bits` over the observer's summed group bits
    (`total`; recovered as mi_bits / share when not given), clamped to [0, 1] for display.

    A share is descriptive and lives in [0, 1]; the bits interval may leave that range (it is
    kept signed in the statistics), but a share of "107%" or "-3%" means nothing to a reader.
    """
    if not (_finite(d.ci_low) and _finite(d.ci_high)):
        return math.nan, math.nan
    if total is None or not (_finite(total) and total > 0):
        if not (_finite(d.mi_bits) and d.mi_bits > 0 and _finite(d.share) and d.share > 0):
            return math.nan, math.nan
        total = d.mi_bits / d.share
    return _clamp01(d.ci_low / total), _clamp01(d.ci_high / total)


def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def shown_bits(x: float) -> float:
    """Information as the report shows it (`Formatter.bits`, in sentences and tables alike):
    bias-corrected estimates can fall below 0, and the statistics keep them signed, but
    "-0.05 bits" is read as 0 (methods.md 4.5)."""
    return max(x, 0.0) + 0.0 if _finite(x) else x  # + 0.0: no "-0.000" from -0.0


def shape_bias_of(f: Findings, observer: str) -> ShapeBias | None:
    return next((s for s in f.shape_bias if s.observer == observer), None)


def pooled_humans_bias(f: Findings) -> ShapeBias | None:
    return next((s for s in f.shape_bias if s.kind == "humans"), None)


def kappa_of(f: Findings, observer: str) -> ErrorConsistency | None:
    return next((e for e in f.error_consistency if e.observer == observer), None)


def headline_accuracy(f: Findings, observer: str) -> float | None:
    """Accuracy on `standard` stimuli, else over all conditions (weighted by trials)."""
    rows = [a for a in f.accuracy if a.observer == observer]
    standard = [a for a in rows if a.condition == "standard"]
    rows = standard or rows
    total = sum(a.n for a in rows)
    if not rows or total == 0:
        return None
    return sum(a.accuracy * a.n for a in rows) / total


# ---- evidence ------------------------------------------------------------------------------
CLEAR, SOME, NONE, TOO_FEW = "clear", "some", "none", "too_few"


@dataclass(frozen=True, slots=True)
class Evidence:
    """How strongly the numbers support a claim, and how many more stimuli would settle it."""

    level: str  # CLEAR, SOME, NONE or TOO_FEW
    n_more: int | None = None  # extra stimuli (or trials) suggested; None when not applicable


def more_for_width(n: int, width: float, target: float) -> int:
    """Extra samples to shrink an interval of `width` to `target` (width ∝ 1/√N)."""
    if not (_finite(width) and target > 0) or width <= target or n <= 0:
        return 0
    return _round_up_2sig(n * ((width / target) ** 2 - 1.0))


def driver_evidence(d: Driver, f: Findings) -> Evidence:
    """Classify one driver by report-guide's wording table, with the thresholds above."""
    n = f.run.n_stimuli
    dims = len(f.study.groups.get(d.group, [])) if d.name == d.group else 1
    n_min = MIN_TRIALS_PER_DIM * max(dims, 1) * max(len(f.study.classes), 1)
    if n < n_min:
        return Evidence(TOO_FEW, n_min - n)
    if not (_finite(d.ci_low) and _finite(d.ci_high) and _finite(d.mi_bits)):
        return Evidence(TOO_FEW, None)
    if not d.significant:
        return Evidence(NONE)
    width = d.ci_high - d.ci_low
    target = WIDE_CI_RATIO * max(d.mi_bits, SMALL_EFFECT_BITS)
    if d.ci_low >= SMALL_EFFECT_BITS and width <= target:
        return Evidence(CLEAR)
    return Evidence(SOME, more_for_width(n, width, target) or None)


def rate_evidence(n: int, low: float, high: float) -> Evidence:
    """A rate (shape bias) or kappa with its interval: precise, wide, or too few trials."""
    if n < MIN_CONFLICT_TRIALS:
        return Evidence(TOO_FEW, MIN_CONFLICT_TRIALS - n)
    if not (_finite(low) and _finite(high)):
        return Evidence(TOO_FEW, None)
    width = high - low
    if width > MAX_RATE_CI_WIDTH:
        return Evidence(SOME, more_for_width(n, width, MAX_RATE_CI_WIDTH) or None)
    return Evidence(CLEAR)


def shape_bias_evidence(s: ShapeBias) -> Evidence:
    return rate_evidence(s.n_shape + s.n_texture, s.ci_low, s.ci_high)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if not all(_finite(x) for x in (*a, *b)):
        return True  # an unknown interval cannot show a difference
    return a[0] <= b[1] and b[0] <= a[1]


# ---- the narrative ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyPoint:
    number: int
    heading: str
    sentence: str
    evidence: str
    light: str  # "green", "amber", "red" or "grey"
    light_label: str


@dataclass(frozen=True, slots=True)
class RecommendationText:
    title: str
    risk: str
    action: str
    evidence: str
    plain: str  # page 1's evidence line, without jargon
    effort: str
    next_report: str
    severity: str


@dataclass(frozen=True, slots=True)
class ChangeRow:
    what: str
    previous: str
    current: str
    moved: str  # "moved", "steady" or "no_interval" (locale word in `moved_label`)
    moved_label: str


@dataclass(slots=True)
class Narrative:
    """Everything the template shows as text; numbers in tables are formatted by filters."""

    lang: str
    analysed: str
    notices: list[str]
    key_points: list[KeyPoint]
    drivers: list[str]
    people: list[str]
    network: list[str]
    network_omitted: str | None
    risks: list[str]
    change: list[str]
    change_rows: list[ChangeRow]
    first_run: bool
    recommendations: list[RecommendationText]
    methods: list[tuple[str, str]]
    glossary: list[tuple[str, str]]
    people_label: str
    stimuli: Montage | None = None  # "What the stimuli look like" (section 1)
    disagreements: Montage | None = None  # images the model and people disagree on (section 2)
    extra: dict[str, Any] = field(default_factory=dict)


def people_label(f: Findings, fmt: Formatter) -> str:
    return fmt.t("people.panel_simulated" if f.study.humans_simulated else "people.panel")


def build_narrative(
    f: Findings,
    strings: Mapping[str, Any],
    recommendations: list[Recommendation],
    history: list[HistoryRow] | None,
    pictures: Mapping[str, int] | None = None,
) -> Narrative:
    """Turn Findings (plus rule-based recommendations and past runs) into the report's text.

    `pictures` maps each example image (path relative to the output folder) that exists there
    to its width in pixels; examples without an entry are left out of the montages and counted
    as missing. None takes every example's picture as present (text-only use).
    """
    fmt = Formatter(strings)
    models_of(f)
    several = len(f.study.models) > 1
    recs = [recommendation_text(r, fmt, several) for r in recommendations]
    notices = []
    if f.study.humans and f.study.humans_simulated:
        notices.append(fmt.t("notices.simulated_panel"))
    if f.study.decision_only:
        notices.append(fmt.t("notices.decision_only"))
    change, change_rows, first = change_section(f, history or [], fmt)
    return Narrative(
        lang=strings["meta"]["lang"],
        analysed=analysed_line(f, fmt),
        notices=notices,
        key_points=[
            key_point_drivers(f, fmt),
            key_point_people(f, fmt),
            key_point_risk(recommendations, recs, fmt),
        ],
        drivers=drivers_section(f, fmt),
        people=people_section(f, fmt),
        network=network_section(f, fmt),
        network_omitted=fmt.t("network.omitted") if f.study.decision_only else None,
        risks=risks_section(f, fmt),
        change=change,
        change_rows=change_rows,
        first_run=first,
        recommendations=recs,
        methods=methods_rows(f, fmt),
        glossary=[(g["term"], g["text"]) for g in strings["glossary"]["entries"]],
        people_label=people_label(f, fmt),
        stimuli=stimuli_montage(f, fmt, pictures),
        disagreements=disagreement_montage(f, fmt, pictures),
    )


# ---- example montages ---------------------------------------------------------------------
#: Pictures narrower than this many pixels are enlarged with hard pixel edges in print: a
#: 2 cm tile holds about 240 pixels at 300 dpi, so a 64-pixel part is blown up almost fourfold
#: and looks blurred when smoothed, while a 224-pixel photograph is shown at about its size.
PIXELATED_BELOW = 128


@dataclass(frozen=True, slots=True)
class Tile:
    """One picture of a montage, with its caption lines (plain text; the template escapes)."""

    image: str  # path relative to the output folder
    lines: tuple[str, ...]
    pixelated: bool


@dataclass(frozen=True, slots=True)
class TileGroup:
    caption: str
    tiles: list[Tile]


@dataclass(frozen=True, slots=True)
class Montage:
    """A titled set of picture grids, with the sentences that explain them and any notes
    (no pictures available, pictures left out)."""

    title: str
    intro: list[str]
    groups: list[TileGroup]
    notes: list[str]


def _present(
    examples: list[Example], pictures: Mapping[str, int] | None
) -> tuple[list[tuple[Example, int | None]], int]:
    """The examples whose picture is in the output folder (with its width), and how many
    named pictures are missing."""
    if pictures is None:
        return [(e, None) for e in examples], 0
    shown = [(e, pictures[e.image]) for e in examples if e.image in pictures]
    return shown, len(examples) - len(shown)


def _tile(e: Example, width: int | None, lines: Iterable[str]) -> Tile:
    small = width is not None and width < PIXELATED_BELOW
    return Tile(e.image, tuple(x for x in lines if x), small)


def _missing_note(n: int, fmt: Formatter) -> list[str]:
    if n <= 0:
        return []
    return [fmt.t("montage.missing_one" if n == 1 else "montage.missing", n=Num(n))]


def stimuli_montage(
    f: Findings, fmt: Formatter, pictures: Mapping[str, int] | None = None
) -> Montage:
    """ "What the stimuli look like": the standard examples captioned with their class, and the
    cue-conflict examples captioned with the class their shape and their texture point to."""
    standard, lost_s = _present([e for e in f.examples if e.role == "standard"], pictures)
    conflict, lost_c = _present([e for e in f.examples if e.role == "cue-conflict"], pictures)
    groups = []
    if standard:
        tiles = [
            _tile(e, w, (fmt.t("montage.tile_class", label=e.label) if e.label else "",))
            for e, w in standard
        ]
        groups.append(TileGroup(fmt.t("montage.standard_caption"), tiles))
    if conflict:
        tiles = [
            _tile(
                e,
                w,
                (
                    fmt.t("montage.tile_shape", shape=e.shape) if e.shape else "",
                    fmt.t("montage.tile_texture", texture=e.texture) if e.texture else "",
                ),
            )
            for e, w in conflict
        ]
        groups.append(TileGroup(fmt.t("montage.conflict_caption"), tiles))
    intro = []
    if standard:
        intro.append(fmt.t("montage.standard_intro"))
    if conflict:
        intro.append(fmt.t("montage.conflict_intro"))
    lost = _missing_note(lost_s + lost_c, fmt)
    # No pictures at all: say whether the study had none or they went missing, not both.
    notes = lost if groups or lost else [fmt.t("montage.no_pictures")]
    return Montage(fmt.t("montage.stimuli_title"), intro, groups, notes)


def disagreement_montage(
    f: Findings, fmt: Formatter, pictures: Mapping[str, int] | None = None
) -> Montage:
    """The images on which the model's answer differs from most people's and the people are
    right, captioned with the true class, the model's answer and the people's (with the share
    of people giving it)."""
    title = fmt.t("montage.disagree_title")
    if not f.study.humans:
        return Montage(title, [], [], [fmt.t("montage.disagree_no_people")])
    named = [e for e in f.examples if e.role == "disagreement"]
    shown, lost = _present(named, pictures)
    simulated = [fmt.t("montage.disagree_simulated")] if f.study.humans_simulated else []
    if not shown:
        if named:
            notes = []  # every picture named is missing: the note below says so
        elif f.examples:
            notes = [fmt.t("montage.disagree_none")]
        else:
            notes = [fmt.t("montage.no_pictures")]
        return Montage(title, simulated, [], notes + _missing_note(lost, fmt))
    intro = [fmt.t("montage.disagree_intro")]
    if any(e.shape != e.texture and e.label == e.shape != "" for e, _ in shown):
        # Cue-conflict pictures are scored against their shape (the study's convention).
        intro.append(fmt.t("montage.disagree_shape_correct"))
    if len(f.study.models) > 1:
        intro.append(fmt.t("montage.disagree_model", model=f.study.models[0]))
    missing = fmt.s["format"]["missing"]
    tiles = []
    for e, w in shown:
        people = (
            fmt.t("montage.tile_people_share", answer=e.people_answer, share=Pct(e.people_agree))
            if _finite(e.people_agree)
            else fmt.t("montage.tile_people", answer=e.people_answer or missing)
        )
        model = fmt.t("montage.tile_model", answer=e.model_answer or missing)
        tiles.append(_tile(e, w, (fmt.t("montage.tile_true", label=e.label), model, people)))
    groups = [TileGroup(fmt.t("montage.disagree_caption"), tiles)]
    return Montage(title, intro + simulated, groups, _missing_note(lost, fmt))


def analysed_line(f: Findings, fmt: Formatter) -> str:
    models = models_of(f)
    parts = [
        fmt.count(len(f.study.classes), "classes"),
        fmt.count(f.run.n_stimuli, "images"),
    ]
    if f.study.humans:
        key = "people_simulated" if f.study.humans_simulated else "people"
        parts.append(fmt.count(len(f.study.humans), key))
    if len(models) == 1 and not is_generic_model_id(models[0], fmt):
        parts.append(fmt.t("summary.one_model", model=models[0]))
    else:
        parts.append(fmt.count(len(models), "models"))
    return fmt.t("summary.analysed", items=Names(tuple(parts)))


def is_generic_model_id(observer: str, fmt: Formatter) -> bool:
    """An id that only says "model" (the parts demo passes "model"): naming it in prose would
    read "model model", so sentences say "the model" / "1 model" instead."""
    word = observer.strip().lower()
    return word in {"model", "the model", fmt.t("kinds.model").lower()}


def _evidence_line(level: str, fmt: Formatter, **params: Any) -> str:
    return fmt.t(f"evidence.{level}", **params)


def key_point_drivers(f: Findings, fmt: Formatter) -> KeyPoint:
    models = models_of(f)
    heading = fmt.t("summary.kp1_heading")
    per_model = {m: group_entries(drivers_of(f, m)) for m in models}
    if not any(per_model.values()):
        text = fmt.t("summary.kp1_missing")
        return KeyPoint(1, heading, text, "", "grey", fmt.t("lights.grey"))
    if len(models) == 1:
        groups = per_model[models[0]]
        top = groups[0]
        ev = driver_evidence(top, f)
        others = Names(
            tuple(
                fmt.t("summary.share_item", group=Group(d.group), share=Pct(d.share))
                for d in groups[1:]
            )
        )
        if ev.level == TOO_FEW:
            sentence = fmt.t("summary.kp1_too_few", n=Num(ev.n_more or 0))
        elif ev.level == NONE:
            sentence = fmt.t("summary.kp1_none", group=Group(top.group), share=Pct(top.share))
        else:
            key = "summary.kp1_clear" if ev.level == CLEAR else "summary.kp1_some"
            sentence = fmt.t(key, group=Group(top.group), share=Pct(top.share))
            key = "summary.kp1_with_others" if groups[1:] else "summary.kp1_alone"
            sentence = fmt.t(key, first=sentence, others=others)
        evidence = _evidence_line(
            ev.level,
            fmt,
            n=fmt.count(f.run.n_stimuli, "images"),
            chance=fmt.chance(top.p_value),
        )
    else:
        sentence, level, sig, led = _drivers_several(f, fmt, per_model)
        evidence = _evidence_line(
            level,
            fmt,
            n=fmt.count(f.run.n_stimuli, "images"),
            chance=fmt.t(
                "evidence.significant_all" if sig == led else "evidence.significant_in",
                k=Num(sig),
                m=Num(led),
            ),
        )
    light = drivers_light(f)
    return KeyPoint(1, heading, sentence, evidence, light, fmt.t(f"lights.{light}"))


def _drivers_several(
    f: Findings, fmt: Formatter, per_model: Mapping[str, list[Driver]]
) -> tuple[str, str, int, int]:
    """Several models: the factor group that leads in most of them, with the range of its
    share over exactly those models, then the groups that lead in the others.

    Returns the sentence, its evidence level, and how many of the models it leads in have it
    significant, out of how many.
    """
    tops = {m: g[0] for m, g in per_model.items() if g}
    counts: dict[str, int] = {}
    for d in tops.values():
        counts[d.group] = counts.get(d.group, 0) + 1
    lead = max(counts, key=lambda g: counts[g])
    led = [d for d in tops.values() if d.group == lead]  # the models the sentence speaks of
    shares = [d.share for d in led]
    sig = sum(d.significant for d in led)
    levels = [driver_evidence(d, f).level for d in led]
    level = CLEAR if all(x == CLEAR for x in levels) else (SOME if sig else NONE)
    key = {CLEAR: "summary.kpm_clear", SOME: "summary.kpm_some", NONE: "summary.kpm_none"}[level]
    if len(led) == len(per_model) and level != NONE:
        key += "_all"  # "In all 7 models", not "In 7 of the 7 models"
    sentence = fmt.t(
        key,
        k=Num(len(led)),
        m=Num(len(per_model)),
        group=Group(lead),
        share=Range(min(shares), max(shares)),
    )
    others = [d for d in tops.values() if d.group != lead]
    if others:
        by_group: dict[str, list[float]] = {}
        for d in others:
            by_group.setdefault(d.group, []).append(d.share)
        items = Names(
            tuple(
                fmt.t("summary.rest_item", group=Group(g), share=Range(min(v), max(v)))
                for g, v in by_group.items()
            )
        )
        rest = "summary.kpm_rest_one" if len(others) == 1 else "summary.kpm_rest"
        sentence = fmt.t("format.sentence_join").join(
            [sentence, fmt.t(rest, n=Num(len(others)), items=items)]
        )
    return sentence, level, sig, len(led)


def nuisance_share(f: Findings, model: str) -> float:
    """Summed share of significant nuisance groups for one model."""
    return sum(
        d.share
        for d in group_entries(drivers_of(f, model))
        if is_nuisance(d.group) and d.significant
    )


def drivers_light(f: Findings) -> str:
    """Red: a nuisance group leads, or significant nuisance share ≥ NUISANCE_RED; amber: ≥
    NUISANCE_AMBER or the lead driver is not clearly established; green otherwise."""
    worst = "green"
    for m in models_of(f):
        groups = group_entries(drivers_of(f, m))
        if not groups:
            return "grey"
        share = nuisance_share(f, m)
        top = groups[0]
        if (is_nuisance(top.group) and top.significant) or share >= NUISANCE_RED:
            return "red"
        if share >= NUISANCE_AMBER or driver_evidence(top, f).level != CLEAR:
            worst = "amber"
    return worst


def people_light(f: Findings) -> str:
    """Grey without people; red: shape-bias gap ≥ SHAPE_GAP_RED or kappa below
    KAPPA_RATIO_RED of the human ceiling; amber: ≥ SHAPE_GAP_AMBER or < KAPPA_RATIO_AMBER."""
    if not f.study.humans:
        return "grey"
    humans = pooled_humans_bias(f)
    ceiling = kappa_of(f, "human-human")
    light = "green"
    for m in models_of(f):
        sb = shape_bias_of(f, m)
        if humans and sb and _finite(sb.shape_bias) and _finite(humans.shape_bias):
            gap = abs(sb.shape_bias - humans.shape_bias)
            if gap >= SHAPE_GAP_RED:
                return "red"
            if gap >= SHAPE_GAP_AMBER:
                light = "amber"
        k = kappa_of(f, m)
        if k and ceiling and _finite(k.kappa) and _finite(ceiling.kappa) and ceiling.kappa > 0:
            ratio = k.kappa / ceiling.kappa
            if ratio < KAPPA_RATIO_RED:
                return "red"
            if ratio < KAPPA_RATIO_AMBER:
                light = "amber"
    return light


def key_point_people(f: Findings, fmt: Formatter) -> KeyPoint:
    heading = fmt.t("summary.kp2_heading")
    light = people_light(f)
    if not f.study.humans:
        return KeyPoint(
            2, heading, fmt.t("summary.kp2_no_people"), "", "grey", fmt.t("lights.grey")
        )
    models = models_of(f)
    humans = pooled_humans_bias(f)
    model_sb = [s for m in models if (s := shape_bias_of(f, m))]
    agreements = [a for a in f.decision_agreement if a.observer in models]
    parts = []
    if humans and model_sb:
        if len(models) == 1:
            parts.append(
                fmt.t(
                    "summary.kp2_shape",
                    people=Pct(humans.shape_bias),
                    model=Pct(model_sb[0].shape_bias),
                )
            )
        else:
            values = [s.shape_bias for s in model_sb]
            parts.append(
                fmt.t(
                    "summary.kpm2_shape",
                    people=Pct(humans.shape_bias),
                    m=Num(len(model_sb)),
                    low=Pct(min(values)),
                    high=Pct(max(values)),
                )
            )
    else:
        hd = group_entries(drivers_of(f, "humans"))
        md = group_entries(drivers_of(f, models[0]))
        if hd and md:
            parts.append(
                fmt.t(
                    "summary.kp2_drivers",
                    people_group=Group(hd[0].group),
                    people_share=Pct(hd[0].share),
                    model_group=Group(md[0].group),
                    model_share=Pct(md[0].share),
                )
            )
    if agreements:
        if len(agreements) == 1:
            a = agreements[0]
            parts.append(fmt.t("summary.kp2_agree", agree=Pct(a.agreement), chance=Pct(a.chance)))
        else:
            values = [a.agreement for a in agreements]
            parts.append(fmt.t("summary.kpm2_agree", low=Pct(min(values)), high=Pct(max(values))))
    if not parts:
        parts.append(fmt.t("summary.kp2_missing"))
    sentence = fmt.t("format.sentence_join").join(parts)
    # Evidence: do the model's and people's intervals separate?
    level = NONE if humans and model_sb else "drivers"
    if humans and model_sb:
        separated = [
            not intervals_overlap((s.ci_low, s.ci_high), (humans.ci_low, humans.ci_high))
            for s in model_sb
        ]
        evs = [shape_bias_evidence(s).level for s in [*model_sb, humans]]
        if TOO_FEW in evs:
            level = TOO_FEW
        elif all(separated):
            level = CLEAR if all(e == CLEAR for e in evs) else SOME
        elif any(separated):
            level = SOME
    evidence = fmt.t(
        f"evidence.people_{level}",
        people=fmt.count(
            len(f.study.humans), "people_simulated" if f.study.humans_simulated else "people"
        ),
        n=fmt.count(humans.n_shape + humans.n_texture if humans else 0, "trials"),
    )
    return KeyPoint(2, heading, sentence, evidence, light, fmt.t(f"lights.{light}"))


SEVERITY_LIGHT = {"high": "red", "medium": "amber", "low": "green", "info": "green"}


def key_point_risk(
    recs: list[Recommendation], texts: list[RecommendationText], fmt: Formatter
) -> KeyPoint:
    heading = fmt.t("summary.kp3_heading")
    acting = [(r, t) for r, t in zip(recs, texts, strict=True) if r.severity != "info"]
    if not acting:
        return KeyPoint(
            3,
            heading,
            fmt.t("summary.kp3_none"),
            fmt.t("summary.kp3_none_evidence"),
            "green",
            fmt.t("lights.green"),
        )
    rec, text = acting[0]  # recommend() returns them most severe first
    sentence = fmt.t("summary.kp3", risk=text.risk, action=text.action)
    light = SEVERITY_LIGHT[rec.severity]
    return KeyPoint(3, heading, sentence, text.plain, light, fmt.t(f"lights.{light}"))


def recommendation_text(
    r: Recommendation, fmt: Formatter, several: bool = False
) -> RecommendationText:
    """A fired rule in words. With several models a rule's `<field>_m` sentence (naming how
    many and which models) replaces the one-model sentence, which speaks of "the model"."""
    base = lookup(fmt.s, f"rules.{r.rule}")

    def text(name: str) -> str:
        key = f"{name}_m" if several and f"{name}_m" in base else name
        return fmt.t(f"rules.{r.rule}.{key}", **r.params)

    return RecommendationText(
        title=text("title"),
        risk=text("risk"),
        action=text("action"),
        evidence=text("evidence"),
        plain=text("plain"),
        effort=fmt.t(f"effort.{r.effort}"),
        next_report=text("next"),
        severity=fmt.t(f"severity.{r.severity}"),
    )


def _driver_sentence(d: Driver, f: Findings, fmt: Formatter, prefix: str) -> str:
    ev = driver_evidence(d, f)
    params = dict(
        name=Group(d.name) if d.name == d.group else d.name,
        share=Pct(d.share),
        bits=Bits(d.mi_bits),
        p=PStat(d.p_value),
        n=Num(ev.n_more or 0),
    )
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
                    fmt.t("drivers.factor_item", name=d.name, share=Pct(d.share)) for d in top
                )
                out.append(fmt.t("drivers.within", group=Group(g.group), items=Names(items)))
    out.append(fmt.t("drivers.varied", groups=Names(tuple(fmt.group(g) for g in f.study.groups))))
    return out


def people_section(f: Findings, fmt: Formatter) -> list[str]:
    if not f.study.humans:
        return [fmt.t("people.none")]
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
        key = "people.shape_differ" if differ else "people.shape_same"
        if ev.level == TOO_FEW:
            key = "people.shape_too_few"
        out.append(
            fmt.t(
                key,
                model_sb=Pct(sb.shape_bias),
                model_ci=fmt.interval(sb.ci_low, sb.ci_high),
                people_sb=Pct(humans.shape_bias),
                people_ci=fmt.interval(humans.ci_low, humans.ci_high),
                n=Num(sb.n_shape + sb.n_texture),
                more=Num(ev.n_more or 0),
            )
        )
    k = kappa_of(f, m)
    if k and ceiling and _finite(k.kappa):
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
            out.append(fmt.t("people.agree", agree=Pct(a.agreement), chance=Pct(a.chance)))
    for s in f.shared_information:
        if s.observer == m:
            out.append(
                fmt.t(
                    "people.shared_sig" if s.significant else "people.shared_none",
                    group=Group(s.group),
                    bits=Bits(s.redundancy_bits),
                    p=PStat(s.p_value),
                )
            )
    return out


def _kappa_below(k: ErrorConsistency, ceiling: ErrorConsistency) -> bool:
    """The model's interval lies wholly below the people's own (human–human) interval."""
    return _finite(ceiling.ci_low) and _finite(k.ci_high) and k.ci_high < ceiling.ci_low


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
    ks = [k for x in models if (k := kappa_of(f, x)) and _finite(k.kappa)]
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


#: A factor group making up less than this part of what the last stage passes on to the
#: decision is "little of it reaches the decision".
LITTLE_REACHES = 0.25


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
            out.append(fmt.t("network.group_none", group=Group(group), where=where))
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
            if not is_nuisance(g.group):
                continue
            nuisance_seen = True
            for s in _nuisance_sentences(f, fmt, g, factor_entries(ds, g.group)):
                out.append(fmt.t("risks.with_model", model=m, text=s) if several else s)
    if not nuisance_seen:
        out.append(fmt.t("risks.no_nuisance"))
    out += caveat_sentences(f.warnings, fmt)
    for m in models_of(f):
        for g in group_entries(drivers_of(f, m))[:1]:
            ev = driver_evidence(g, f)
            if ev.level == TOO_FEW:
                out.append(fmt.t("risks.small_sample", n=Num(ev.n_more or 0)))
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
                names=Names(tuple(d.name for d in quiet)),
                share=Pct(max(d.share for d in quiet)),
            )
        )
    few = [d for d in factors if levels[d.name].level == TOO_FEW]
    if few:
        out.append(
            fmt.t(
                "risks.nuisance_too_few_many" if len(few) > 1 else "risks.nuisance_too_few",
                names=Names(tuple(d.name for d in few)),
                name=few[0].name,
                n=Num(max(levels[d.name].n_more or 0 for d in few)),
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
        return fmt.t("caveats.ties", factor=d["factor"], fraction=Pct(float(d["fraction"])))
    items = tuple(
        fmt.t(
            "caveats_many.ties_item",
            factor=c.detail["factor"],
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
            return table[key].format(**{k: _detail_value(v, fmt) for k, v in detail.items()})
        except (KeyError, IndexError):
            pass  # the detail lacks a field the sentence names: fall through to the plain form
    items = Names(tuple(f"{k} = {_detail_value(v, fmt)}" for k, v in detail.items()))
    return fmt.t("caveats_generic.text", code=code, detail=items)


def _detail_value(v: Any, fmt: Formatter) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return fmt.num(v)
    if isinstance(v, float):
        return fmt.dec(v)
    if isinstance(v, list | tuple):
        return fmt.join(str(x) for x in v)
    return str(v)


def change_section(
    f: Findings, history: list[HistoryRow], fmt: Formatter
) -> tuple[list[str], list[ChangeRow], bool]:
    """Compare with the previous run of the same study; an earlier value outside the current
    interval counts as 'moved beyond its CI'."""
    from reportgen.history import row_from_findings

    previous = [h for h in history if h.study == f.study.name]
    if not previous:
        return [fmt.t("change.first_run")], [], True
    prev = previous[-1]
    cur = row_from_findings(f)
    out = [fmt.t("change.compared", period=fmt.period(prev.period), date=fmt.date(prev.created_at))]
    if (prev.model_fingerprint or "") != (cur.model_fingerprint or ""):
        out.append(
            fmt.t(
                "change.fingerprint_changed",
                before=(prev.model_fingerprint or "–")[:12],
                after=(cur.model_fingerprint or "–")[:12],
            )
        )
    else:
        out.append(fmt.t("change.fingerprint_same"))
    rows: list[ChangeRow] = []
    moved_names = []
    for model, now in cur.models.items():
        before = prev.models.get(model)
        if before is None:
            continue
        tag = f"{model} · " if len(cur.models) > 1 else ""
        if before.top_driver and now.top_driver and before.top_driver != now.top_driver:
            out.append(
                fmt.t(
                    "change.top_changed" if len(cur.models) > 1 else "change.top_changed_one",
                    model=model,
                    before=Group(before.top_driver),
                    after=Group(now.top_driver),
                )
            )
        for g, iv in now.shares.items():
            if g in before.shares:
                label = tag + fmt.t("change.share_of", group=Group(g))
                rows.append(_change_row(label, before.shares[g].value, iv, fmt, "pct"))
        if now.shape_bias and before.shape_bias:
            label = tag + fmt.t("change.shape_bias")
            rows.append(_change_row(label, before.shape_bias.value, now.shape_bias, fmt, "pct"))
        if now.kappa and before.kappa:
            label = tag + fmt.t("change.kappa")
            rows.append(_change_row(label, before.kappa.value, now.kappa, fmt, "dec"))
        if now.accuracy is not None and before.accuracy is not None:
            label = tag + fmt.t("change.accuracy")
            rows.append(
                ChangeRow(
                    label,
                    fmt.pct(before.accuracy),
                    fmt.pct(now.accuracy),
                    "no_interval",
                    fmt.t("change.state_no_interval"),
                )
            )
    moved_names = [r.what for r in rows if r.moved == "moved"]
    if moved_names:
        out.append(fmt.t("change.moved", items=Names(tuple(moved_names))))
    else:
        out.append(fmt.t("change.nothing_moved"))
    return out, rows, False


def _change_row(label: str, before: float, now: Any, fmt: Formatter, kind: str) -> ChangeRow:
    show = fmt.pct if kind == "pct" else fmt.dec
    if _finite(now.low) and _finite(now.high) and _finite(before):
        moved = "moved" if not (now.low <= before <= now.high) else "steady"
    else:
        moved = "no_interval"
    return ChangeRow(label, show(before), show(now.value), moved, fmt.t(f"change.state_{moved}"))


def methods_rows(f: Findings, fmt: Formatter) -> list[tuple[str, str]]:
    s, r = f.study, f.run
    t = fmt.t
    rows = [
        (t("methods.study"), f"{s.title} ({s.name})"),
        (t("methods.period"), fmt.period(s.period)),
        (
            t("methods.stimuli"),
            fmt.join(
                t("format.pair", label=fmt.condition(c), value=fmt.num(n))
                for c, n in s.conditions.items()
            )
            + t("methods.total", n=Num(r.n_stimuli), trials=Num(r.n_trials)),
        ),
        (t("methods.classes"), fmt.join(s.classes)),
        (
            t("methods.factors"),
            t("format.item_sep").join(
                t("format.pair", label=fmt.group(g), value=fmt.join(cols))
                for g, cols in s.groups.items()
            ),
        ),
        (t("methods.models"), fmt.join(s.models)),
        (t("methods.fingerprint"), r.model_fingerprint or t("methods.no_fingerprint")),
    ]
    if f.layers:
        layers = dict.fromkeys(x.layer for x in sorted(f.layers, key=lambda x: x.depth))
        rows.append((t("methods.layers"), fmt.join(layers)))
    else:
        rows.append((t("methods.layers"), t("network.omitted")))
    if s.humans:
        label = t("methods.observers_simulated" if s.humans_simulated else "methods.observers")
        rows.append((label, fmt.join(s.humans)))
    estimators = sorted({d.estimator for d in f.drivers if d.estimator})
    measures = sorted({x.measure for x in f.layers} | {x.measure for x in f.shared_information})
    rows += [
        (t("methods.estimators"), fmt.join(estimators) or t("methods.not_recorded")),
        (t("methods.redundancy"), fmt.join(measures) or t("methods.not_recorded")),
        (t("methods.permutations"), fmt.num(r.permutations)),
        (t("methods.correction"), t("methods.correction_text")),
        (t("methods.alpha"), f"{r.alpha:g}"),
        (t("methods.seed"), str(r.seed)),
        (t("methods.versions"), fmt.join(f"{k} {v}" for k, v in r.versions.items())),
        (t("methods.device"), r.device),
        (t("methods.config_hash"), r.config_hash),
        (
            t("methods.timings"),
            fmt.join(f"{k} {fmt.seconds(v)}" for k, v in r.timings_s.items()),
        ),
        (
            t("methods.started"),
            fmt.date(r.started_at) if r.started_at else t("methods.not_recorded"),
        ),
        (t("methods.schema"), f.schema_version),
        (
            t("methods.thresholds"),
            t(
                "methods.thresholds_text",
                small=SMALL_EFFECT_BITS,
                wide=WIDE_CI_RATIO,
                per_dim=MIN_TRIALS_PER_DIM,
                min_conflict=MIN_CONFLICT_TRIALS,
                rate_width=MAX_RATE_CI_WIDTH,
                n_amber=Pct(NUISANCE_AMBER),
                n_red=Pct(NUISANCE_RED),
                g_amber=Pct(SHAPE_GAP_AMBER),
                g_red=Pct(SHAPE_GAP_RED),
                k_amber=Pct(KAPPA_RATIO_AMBER),
                k_red=Pct(KAPPA_RATIO_RED),
            ),
        ),
        (t("methods.attribution"), s.attribution or t("methods.not_recorded")),
    ]
    return rows


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
