"""Numbers in words: the typed values a sentence is filled with, and the `Formatter` that
prints them in the report's language (percentages, bits, counts, names, periods).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportgen.findings import Findings
from reportgen.findings.queries import is_finite, shown_bits
from reportgen.report.strings import lookup


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
class Factor:
    """A factor column id, shown by the display name the study's labels give it."""

    value: str


@dataclass(frozen=True, slots=True)
class Class:
    """A class id, shown by its display name where the study's labels give one."""

    value: str


@dataclass(frozen=True, slots=True)
class Model:
    """A model observer id, shown by its display name where the study's labels give one."""

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
class Word:
    """A locale key (e.g. "format.bound_at_least"), shown in the report's language."""

    key: str


@dataclass(frozen=True, slots=True)
class ModelCount:
    """`k` of the study's `m` models: "all 7 models", "6 of the 7 models"."""

    k: int
    m: int


class Formatter:
    """Number, date and name formats of one language; registered once as Jinja2 filters."""

    def __init__(
        self, strings: Mapping[str, Any], labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self.s = strings
        # the study's own display names in this language (config [labels.<lang>.<kind>])
        self.labels = labels or {}

    @classmethod
    def for_findings(cls, strings: Mapping[str, Any], f: Findings) -> Formatter:
        """The formatter of `strings`' language with the display names `f`'s study gives."""
        return cls(strings, f.study.labels.get(strings["meta"]["lang"], {}))

    def t(self, key: str, **params: Any) -> str:
        """The locale string `key` with `params` formatted for this language."""
        text = lookup(self.s, key)
        return text.format(**{k: self.value(v) for k, v in params.items()})

    def t_more(self, key: str, more: int | None, **params: Any) -> str:
        """`key`, whose sentence ends "about N more would settle it", or `key`_unsized when
        no such N could be derived (no confidence interval to size the sample from)."""
        return self.t(key if more else f"{key}_unsized", **params)

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
            case Factor(name):
                return self.factor(name)
            case Class(name):
                return self.cls(name)
            case Model(name):
                return self.model(name)
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
            case Word(key):
                return self.t(key)
            case Period(text):
                return self.period(text)
            case float():
                return self.dec(v)
            case int():
                return self.num(v)
        return str(v)

    def pct(self, x: float | None) -> str:
        """71%; one decimal below 10% (report-guide: no decimals unless below 10%)."""
        if not is_finite(x):
            return self.s["format"]["missing"]
        v = 100.0 * x
        text = f"{v:.1f}" if 0 < abs(v) < 9.95 else f"{v:.0f}"
        return self.s["format"]["percent"].format(v=text)

    def num(self, n: int | float | None) -> str:
        if not is_finite(n):
            return self.s["format"]["missing"]
        return f"{int(round(n)):,}"

    def bits(self, x: float | None) -> str:
        """Information in bits, 3 decimals. A bias-corrected estimate below 0 reads "≈ 0":
        no information is found, which "0.000" would overstate as a measured zero."""
        if not is_finite(x):
            return self.s["format"]["missing"]
        return self.s["format"]["about_zero"] if x < 0 else f"{shown_bits(x):.3f}"

    def dec(self, x: float | None) -> str:
        return f"{x:.2f}" if is_finite(x) else self.s["format"]["missing"]

    def pval(self, p: float | None) -> str:
        if not is_finite(p):
            return self.s["format"]["missing"]
        return "< 0.001" if p < 0.001 else f"{p:.3f}"

    def pstat(self, p: float | None) -> str:
        if not is_finite(p):
            return self.s["format"]["missing"]
        return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

    def interval(self, low: float | None, high: float | None, kind: str = "pct") -> str:
        fmt = {"pct": self.pct, "bits": self.bits, "dec": self.dec}[kind]
        if not (is_finite(low) and is_finite(high)):
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

    def _label(self, kind: str, name: str) -> str | None:
        return self.labels.get(kind, {}).get(name)

    def group(self, name: str) -> str:
        # Group ids come from the user's config: its display name first, then the locale's
        # plain words for the usual ones, else the id as its owner wrote it.
        return self._label("groups", name) or self.s["groups"].get(name, name)

    def condition(self, name: str) -> str:
        # Like groups: the built-in conditions have plain names, any other is shown as given.
        return self._label("conditions", name) or self.s["conditions"].get(name, name)

    def title(self, title: str) -> str:
        """The report's title: the study's own for this language, else the config's."""
        return self.report_text("title", title)

    def report_text(self, key: str, text: str) -> str:
        """A free text of the config (title, model-card entries) in this language where
        `[labels.<lang>.report]` gives one, else as the config wrote it."""
        return self._label("report", key) or text

    def factor(self, name: str) -> str:
        return self._label("factors", name) or name

    def cls(self, name: str) -> str:
        return self._label("classes", name) or name

    def model(self, name: str) -> str:
        return self._label("models", name) or name

    def join(self, items: Iterable[str]) -> str:
        return self.s["format"]["list_sep"].join(items)

    def count(self, n: int, unit: str) -> str:
        key = f"units.{unit}_one" if n == 1 else f"units.{unit}"
        return lookup(self.s, key).format(n=self.num(n))

    def chance(self, p: float) -> str:
        """A corrected p-value in plain words for page 1 ('less than 1 in 1,000')."""
        if not is_finite(p) or p >= 0.05:
            return self.t("evidence.chance_easily")
        return self.t("evidence.chance_rare", k=Num(_nice_round(1.0 / p)))


def _nice_round(x: float) -> int:
    """Round down to one significant figure, so '1 in 1,000' is never overstated."""
    if x < 10:
        return max(1, int(x))
    scale = 10 ** int(math.floor(math.log10(x)))
    return int(x // scale) * scale
