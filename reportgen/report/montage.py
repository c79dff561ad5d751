"""The example montages: which stimulus pictures the report shows, with their captions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reportgen.findings import Example, Findings
from reportgen.findings.queries import is_finite, no_people_key
from reportgen.report.format import Class, Formatter, Model, Num, Pct

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
            _tile(e, w, (fmt.t("montage.tile_class", label=Class(e.label)) if e.label else "",))
            for e, w in standard
        ]
        groups.append(TileGroup(fmt.t("montage.standard_caption"), tiles))
    if conflict:
        tiles = [
            _tile(
                e,
                w,
                (
                    fmt.t("montage.tile_shape", shape=Class(e.shape)) if e.shape else "",
                    fmt.t("montage.tile_texture", texture=Class(e.texture)) if e.texture else "",
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
        return Montage(title, [], [], [fmt.t(no_people_key(f, "montage.disagree_no_people"))])
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
        intro.append(fmt.t("montage.disagree_model", model=Model(f.study.models[0])))
    missing = fmt.s["format"]["missing"]
    tiles = []
    for e, w in shown:
        said = Class(e.people_answer) if e.people_answer else missing
        people = (
            fmt.t("montage.tile_people_share", answer=said, share=Pct(e.people_agree))
            if is_finite(e.people_agree)
            else fmt.t("montage.tile_people", answer=said)
        )
        answer = Class(e.model_answer) if e.model_answer else missing
        model = fmt.t("montage.tile_model", answer=answer)
        tiles.append(_tile(e, w, (fmt.t("montage.tile_true", label=Class(e.label)), model, people)))
    groups = [TileGroup(fmt.t("montage.disagree_caption"), tiles)]
    return Montage(title, intro + simulated, groups, _missing_note(lost, fmt))
