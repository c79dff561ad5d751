"""The rendered report: its numbers come from the Findings, both languages are complete, names
are shown as text, history fills "Change since the last report", failures leave nothing behind,
and the PDF renderer reads nothing outside the run's folder."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
import tomllib
import zlib
from pathlib import Path

import pytest

from reportgen.errors import ReportgenError
from reportgen.findings import Caveat, Driver, Findings
from reportgen.findings.evidence import (
    driver_evidence,
    drivers_light,
    more_for_width,
    nuisance_share,
    people_light,
    verdict,
)
from reportgen.findings.headline import row_from_findings
from reportgen.findings.queries import share_interval
from reportgen.outputs.history import previous_runs
from reportgen.report.format import Formatter
from reportgen.report.narrative import build_narrative
from reportgen.report.recommendations import recommend
from reportgen.report.render import FiguresFetcher, OutputFolderFetcher, render_report
from reportgen.report.strings import LOCALE_DIR, load_strings
from reportgen.runner import publish
from tests.report_fixtures import (
    FIXTURE_PICTURE_PX,
    PARTS_CLASSES,
    cue_conflict_findings,
    parts_findings,
    write_example_pictures,
)

MARKUP_PERSON = "<b>insp</b>-07"
MARKUP_FACTOR = "<script>alert(1)</script>"
MARKUP_CLASS = "<i>washer</i>"
#: The parts fixture's last disagreement picture is never written into the Q4 output folder.
SKIPPED_PICTURE = parts_findings().examples[-1].image


def pdf_text(pdf: Path) -> str:
    """The PDF's text: poppler's pdftotext where installed, else the text WeasyPrint laid out
    for the same HTML (the PDF is written from exactly that layout)."""
    if shutil.which("pdftotext"):
        return subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
        ).stdout
    from weasyprint import HTML

    html = pdf.with_suffix(".html")
    doc = HTML(filename=str(html), url_fetcher=OutputFolderFetcher(html.parent)).render()
    chunks: list[str] = []

    def walk(box: object) -> None:
        if hasattr(box, "text"):
            chunks.append(box.text)
        for child in getattr(box, "children", []) or []:
            walk(child)

    for page in doc.pages:
        walk(page._page_box)
    return "\n".join(chunks)


def pdf_streams(pdf: Path) -> bytes:
    """Every stream of the PDF, inflated where compressed: font dictionaries live inside
    compressed object streams, so a plain byte search would miss them."""
    raw = pdf.read_bytes()
    out = [raw]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return b"\n".join(out)


def flat(text: str) -> str:
    """pdftotext breaks lines and may double spaces: compare on collapsed whitespace."""
    return re.sub(r"\s+", " ", text)


def with_markup_names(f: Findings) -> Findings:
    humans = (*f.study.humans[:-1], MARKUP_PERSON)
    drivers = [
        dataclasses.replace(d, name=MARKUP_FACTOR) if d.name == "light_angle" else d
        for d in f.drivers
    ]
    shape_bias = [
        dataclasses.replace(s, observer=MARKUP_PERSON) if s.observer == f.study.humans[-1] else s
        for s in f.shape_bias
    ]
    examples = [
        dataclasses.replace(e, texture=MARKUP_CLASS) if e.texture == "washer" else e
        for e in f.examples
    ]
    return dataclasses.replace(
        f,
        study=dataclasses.replace(f.study, humans=humans),
        drivers=drivers,
        shape_bias=shape_bias,
        examples=examples,
    )


@pytest.fixture(scope="module")
def parts_two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two quarterly reports of the parts study published into one history store. The Q3
    folder holds none of the example pictures, the Q4 folder all but one."""
    base = tmp_path_factory.mktemp("parts")
    db = base / "history.sqlite"
    first = publish(parts_findings(period="2026-Q3", texture_share=0.55), base / "q3", "en", db)
    write_example_pictures(parts_findings(), base / "q4", skip=(SKIPPED_PICTURE,))
    second = publish(parts_findings(), base / "q4", "en", db)
    return {"db": db, "first": first.pdf, "second": second.pdf}


@pytest.fixture(scope="module")
def parts_ja(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ja")
    f = with_markup_names(parts_findings())
    write_example_pictures(f, out)
    return render_report(f, out, lang="ja", history=None).pdf


@pytest.fixture(scope="module")
def cue_en(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cue")
    return render_report(cue_conflict_findings(), out, lang="en", history=[]).pdf


def test_english_pdf_states_the_headline_numbers_of_the_findings(parts_two_runs) -> None:
    f = parts_findings()
    fmt = Formatter(load_strings("en"))
    text = flat(pdf_text(parts_two_runs["second"]))
    groups = sorted(
        (d for d in f.drivers if d.observer is None and d.name == d.group), key=lambda d: -d.share
    )
    model_sb = next(s for s in f.shape_bias if s.kind == "model")
    people_sb = next(s for s in f.shape_bias if s.kind == "humans")
    agreement = next(a for a in f.decision_agreement if a.observer == f.study.models[0])
    expected = [
        *(fmt.pct(d.share) for d in groups),
        fmt.pct(model_sb.shape_bias),
        fmt.pct(people_sb.shape_bias),
        fmt.pct(agreement.agreement),
        fmt.num(f.run.n_stimuli),
        f.run.config_hash,
    ]
    for number in expected:
        assert number in text, number
    # Page 1 states the lead driver's share in the first key point's sentence.
    assert f"surface texture, which carries {fmt.pct(groups[0].share)}" in text


def test_simulated_panel_is_labelled_in_the_report(parts_two_runs) -> None:
    text = flat(pdf_text(parts_two_runs["second"]))
    assert "SIMULATED demo data" in text
    assert "(simulated)" in text


def test_decision_only_report_says_why_the_network_section_is_omitted(cue_en) -> None:
    text = flat(pdf_text(cue_en))
    assert "Layer analysis needs the model weights" in text
    assert "In all 7 models, surface texture clearly carries the most information" in text
    assert "simulated" not in text.lower()  # real people: no simulated label


def test_japanese_pdf_has_japanese_text_in_an_embedded_font(parts_ja) -> None:
    text = flat(pdf_text(parts_ja))
    assert "要点は三つです" in text and "判断" in text  # key points and the decision box
    assert "2026年第4四半期" in text
    assert "71%" in text and "2,400枚" in text
    streams = pdf_streams(parts_ja)
    assert b"IPAexGothic" in streams  # the font the text is set in ...
    assert b"/FontFile2" in streams  # ... with its glyphs embedded in the PDF


def test_markup_in_names_is_shown_as_text(parts_ja) -> None:
    html = parts_ja.with_suffix(".html").read_text(encoding="utf-8")
    assert MARKUP_PERSON not in html and MARKUP_FACTOR not in html
    assert "&lt;b&gt;insp&lt;/b&gt;-07" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MARKUP_FACTOR in flat(pdf_text(parts_ja))  # the reader sees the name as typed


def test_condition_names_are_in_the_report_language(parts_ja) -> None:
    html = parts_ja.with_suffix(".html").read_text(encoding="utf-8")
    assert '<th class="num">標準画像</th>' in html
    assert '<th class="num">形状と質感が食い違う画像</th>' in html
    assert '<th class="num">cue-conflict</th>' not in html
    fmt = Formatter(load_strings("en"))
    assert fmt.condition("shape-morph") == "Shape morph"
    assert fmt.condition("night-shift") == "night-shift"  # a study's own condition, as given


# ---- example montages ---------------------------------------------------------------------
def _img_sources(html: str) -> list[str]:
    return re.findall(r'<img[^>]*\bsrc="(figures/stimuli/[^"]+)"', html)


def test_montages_show_the_example_pictures_with_their_captions(parts_two_runs) -> None:
    f = parts_findings()
    pdf = parts_two_runs["second"]
    html = pdf.with_suffix(".html").read_text(encoding="utf-8")
    present = [e.image for e in f.examples if e.image != SKIPPED_PICTURE]
    assert _img_sources(html) == present  # every written picture, in order; the missing one not
    # The pictures themselves are in the PDF (the fixture's are 12 px, like no other image).
    streams = pdf_streams(pdf)
    assert len(re.findall(rb"/Width\s+%d\b" % FIXTURE_PICTURE_PX, streams)) == len(present)
    text = flat(pdf_text(pdf))
    assert "What the stimuli look like" in text and "Where the model and people disagree" in text
    for caption in (
        "shape: gear",
        "texture: washer",
        "shape: spacer",
        "texture: flange",
        "correct: clip",
        "model: hinge",
        "people: clip (100%)",
        "people: gear (83%)",
    ):
        assert f'<span class="tile-line">{caption}</span>' in html, caption
        # In the PDF a narrow tile may wrap the share onto its own line.
        assert caption.split(" (")[0] in text, caption
    for part in ("bracket", "spacer"):  # standard pictures are captioned with their class
        assert re.search(rf'<span class="tile-line">{part}</span>', html), part
    assert "people: nut" not in text  # the disagreement whose picture is missing
    assert "One of the pictures chosen as examples was not found" in text
    assert "The people's answers are simulated demo data" in text


def test_missing_pictures_are_left_out_and_counted(parts_two_runs) -> None:
    pdf = parts_two_runs["first"]  # its folder holds none of the 12 + 3 pictures
    assert _img_sources(pdf.with_suffix(".html").read_text(encoding="utf-8")) == []
    text = flat(pdf_text(pdf))
    for n in (12, 3):  # standard and cue-conflict pictures; disagreements
        assert f"{n} of the pictures chosen as examples were not found in the output" in text
    assert "No pictures of the stimuli were available" not in text  # they were, but went missing
    assert "people: clip" not in text


def test_a_study_without_pictures_says_so_in_both_montages(cue_en) -> None:
    assert _img_sources(cue_en.with_suffix(".html").read_text(encoding="utf-8")) == []
    text = flat(pdf_text(cue_en))
    assert text.count("No pictures of the stimuli were available for this study") == 2


def test_montage_captions_are_japanese_and_markup_in_class_names_is_text(parts_ja) -> None:
    html = parts_ja.with_suffix(".html").read_text(encoding="utf-8")
    assert MARKUP_CLASS not in html
    assert "質感：&lt;i&gt;washer&lt;/i&gt;" in html
    assert len(_img_sources(html)) == len(parts_findings().examples)
    text = flat(pdf_text(parts_ja))
    assert "テスト画像の例" in text and "形状：gear" in text
    assert "正解：clip" in text and "人：clip（100%）" in text
    # The reader sees the tag as typed (the 2 cm caption wraps after "</", and the layout
    # text interleaves the lines of neighbouring tiles, so only the line's start is compared).
    assert "質感：<i>washer</" in text


def test_example_pictures_keeps_only_readable_images_inside_the_folder(tmp_path) -> None:
    from reportgen.report.render import example_pictures

    out = tmp_path / "out"
    f = parts_findings()
    write_example_pictures(f, out)
    good, corrupt, outside = f.examples[0], f.examples[1], f.examples[2]
    (out / corrupt.image).write_bytes(b"not a picture")
    write_example_pictures(f, tmp_path, skip=())  # a copy outside `out` ...
    escaping = dataclasses.replace(outside, image="../" + outside.image)  # ... named from it
    f = dataclasses.replace(f, examples=[good, corrupt, escaping])
    assert example_pictures(f, out) == {good.image: FIXTURE_PICTURE_PX}


def _montages(f: Findings, lang: str = "en", pictures: dict[str, int] | None = None):
    n = build_narrative(f, load_strings(lang), recommend(f), None, pictures)
    return n.stimuli, n.disagreements


def test_disagreement_montage_says_when_there_is_nothing_to_show() -> None:
    f = parts_findings()
    no_disagreement = dataclasses.replace(
        f, examples=[e for e in f.examples if e.role != "disagreement"]
    )
    _, d = _montages(no_disagreement)
    assert d.groups == [] and d.notes == [
        "Among the images with a picture, there is none on which the model and most people "
        "disagree while the people are right."
    ]
    assert d.intro == [
        "The people's answers are simulated demo data, not answers of real inspectors."
    ]
    no_people = dataclasses.replace(f, study=dataclasses.replace(f.study, humans=()))
    _, d = _montages(no_people)
    assert d.groups == [] and "No people were tested" in d.notes[0]
    # Several models: the montage names the model whose answers it shows; real people: no label.
    cue = cue_conflict_findings()
    cue = dataclasses.replace(cue, examples=parts_findings().examples)
    _, d = _montages(cue)
    assert "The model answers shown are those of alexnet-caffe." in d.intro
    assert not any("simulated" in p for p in d.intro)
    shape_scored = (
        "On a cue-conflict image, the class its shape belongs to counts as the correct answer."
    )
    assert shape_scored not in d.intro  # the fixture's disagreements are standard pictures
    conflicting = [
        dataclasses.replace(e, shape=e.label, texture="oven") if e.role == "disagreement" else e
        for e in cue.examples
    ]
    _, d = _montages(dataclasses.replace(cue, examples=conflicting))
    assert shape_scored in d.intro


def test_small_pictures_are_marked_for_hard_pixel_edges() -> None:
    f = parts_findings()
    sizes = {e.image: (64 if e.role == "standard" else 224) for e in f.examples}
    stimuli, _ = _montages(f, pictures=sizes)
    standard, conflict = stimuli.groups
    # A 2 cm tile holds about 240 print pixels: 64 px is enlarged almost fourfold and gets hard
    # pixel edges; a 224-px photograph is shown at about its size and stays smooth.
    assert all(t.pixelated for t in standard.tiles)
    assert not any(t.pixelated for t in conflict.tiles)
    assert [t.lines for t in conflict.tiles][0] == ("shape: gear", "texture: washer")


def _keys(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        return {k for key, v in node.items() for k in _keys(v, f"{prefix}{key}.")} | {prefix}
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return {k for i, v in enumerate(node) for k in _keys(v, f"{prefix}{i}.")}
    return {prefix}


def test_english_and_japanese_locales_define_exactly_the_same_keys() -> None:
    tables = {}
    for lang in ("en", "ja"):
        with open(LOCALE_DIR / f"{lang}.toml", "rb") as handle:
            tables[lang] = tomllib.load(handle)
    assert _keys(tables["en"]) == _keys(tables["ja"])
    assert len(tables["en"]["dates"]["months"]) == len(tables["ja"]["dates"]["months"]) == 12


def test_every_placeholder_of_a_string_is_the_same_in_both_languages() -> None:
    en, ja = load_strings("en"), load_strings("ja")

    def placeholders(node: object, prefix: str = "") -> dict[str, set[str]]:
        if isinstance(node, dict):
            return {
                k: v
                for key, val in node.items()
                for k, v in placeholders(val, f"{prefix}{key}.").items()
            }
        if isinstance(node, str):
            return {prefix: set(re.findall(r"\{(\w+)\}", node))}
        return {}

    en_p, ja_p = placeholders(en), placeholders(ja)
    assert en_p.keys() == ja_p.keys()
    # Dates are written differently ('28 November 2026' / '2026年11月28日'): each form may pick
    # any of the date fields the formatter supplies; every other string needs the same numbers.
    date_fields = {"year", "month", "month_num", "day", "q"}
    for key in en_p:
        if key.startswith("dates."):
            assert en_p[key] | ja_p[key] <= date_fields, key
        else:
            assert en_p[key] == ja_p[key], key


def test_second_run_of_a_study_fills_change_since_the_last_report(parts_two_runs) -> None:
    rows = previous_runs(parts_two_runs["db"], "parts-demo")
    assert [r.period for r in rows] == ["2026-Q3", "2026-Q4"]
    first, second = (flat(pdf_text(parts_two_runs[k])) for k in ("first", "second"))
    assert "This is the first report for this study" in first
    assert "This is the first report for this study" not in second
    assert "Compared with the previous report (Q3 2026" in second
    # Texture share went from 55% to 71%: outside the current interval, so it "moved".
    assert "Moved beyond the current interval: Share of surface texture" in second


def test_interrupted_render_leaves_no_pdf_and_no_history_row(tmp_path, monkeypatch) -> None:
    import weasyprint

    def broken(*args, **kwargs):
        raise RuntimeError("power cut while writing the PDF")

    monkeypatch.setattr(weasyprint.Document, "write_pdf", broken)
    db, out = tmp_path / "history.sqlite", tmp_path / "out"
    with pytest.raises(RuntimeError, match="power cut"):
        publish(parts_findings(), out, "en", db)
    assert not (out / "report.pdf").exists()
    assert not (out / "report.html").exists()
    assert not list(out.glob(".report*"))  # no temporary leftovers either
    assert previous_runs(db, "parts-demo") == []


def test_url_fetcher_serves_only_files_inside_the_output_folder(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "a.png").write_bytes(b"\x89PNG fixture")
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    fetcher = OutputFolderFetcher(out)
    assert fetcher.fetch((out / "figures" / "a.png").as_uri()).read() == b"\x89PNG fixture"
    refused = [
        "http://example.com/logo.png",
        "https://example.com/font.ttf",
        (tmp_path / "secret.txt").as_uri(),
        out.as_uri() + "/../secret.txt",
        "file:///etc/passwd",
        "data:text/plain,hello",
        "file://otherhost" + str(out / "figures" / "a.png"),
    ]
    for url in refused:
        with pytest.raises(ReportgenError, match="refused"):
            fetcher.fetch(url)


def test_the_first_figure_waits_for_the_helper_and_the_stylesheet_does_not(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "figures" / "stimuli").mkdir(parents=True)
    (out / "assets").mkdir()
    (out / "assets" / "report.css").write_text("p {}", encoding="utf-8")
    for name in ("figures/a.jpg", "figures/stimuli/s.png"):
        (out / name).write_bytes(b"picture")
    waited: list[int] = []
    fetcher = FiguresFetcher(out, out / "figures", lambda: waited.append(1))
    fetcher.fetch((out / "assets" / "report.css").as_uri())
    assert waited == []  # WeasyPrint styles the page before any figure is drawn
    fetcher.fetch((out / "figures" / "stimuli" / "s.png").as_uri())
    fetcher.fetch((out / "figures" / "a.jpg").as_uri())
    assert waited == [1]  # once, at the first file of the figures folder
    with pytest.raises(ReportgenError, match="refused"):
        fetcher.fetch("http://example.com/a.jpg")


def test_a_figure_that_fails_in_the_helper_stops_the_render_with_its_own_error(
    tmp_path, monkeypatch
) -> None:
    import contextlib

    import reportgen.report.render as render

    class Boom(Exception):
        pass

    @contextlib.contextmanager
    def failing_helper(names, *args):
        def wait():
            raise Boom(f"could not draw {names}")

        yield wait

    monkeypatch.setattr(render, "may_fork", lambda: True)
    monkeypatch.setattr(render, "figures_elsewhere", failing_helper)
    f = parts_findings()
    with pytest.raises(Boom, match="drivers"):
        render_report(f, tmp_path / "out", lang="en", history=None)
    assert not (tmp_path / "out" / "report.pdf").exists()


# ---- wording and rules (no rendering) --------------------------------------------------------
def _with_top_driver(f: Findings, **changes) -> Findings:
    drivers = [
        dataclasses.replace(d, **changes) if d.observer is None and d.name == "texture" else d
        for d in f.drivers
    ]
    return dataclasses.replace(f, drivers=drivers)


def test_wording_follows_the_evidence_for_the_lead_driver() -> None:
    strings = load_strings("en")
    f = parts_findings()
    clear = build_narrative(f, strings, recommend(f), None).key_points[0].sentence
    assert "clearly driven by surface texture" in clear
    weak = _with_top_driver(f, significant=False, p_value=0.2)
    none = build_narrative(weak, strings, recommend(weak), None).key_points[0].sentence
    assert none.startswith("There is no reliable evidence")
    wide = _with_top_driver(f, ci_low=0.05, ci_high=1.6)  # width 1.55 > estimate 0.92
    some = build_narrative(wide, strings, recommend(wide), None).key_points[0].sentence
    assert some.startswith("There is some evidence")
    small = dataclasses.replace(f, run=dataclasses.replace(f.run, n_stimuli=120))
    few = build_narrative(small, strings, recommend(small), None).key_points[0].sentence
    # texture has 3 factor columns and 8 classes: 10 × 3 × 8 = 240 images needed, 120 more
    assert (
        few == "There are too few images to tell what drives the model's decisions; "
        "about 120 more would settle it."
    )


def test_a_significant_nuisance_factor_in_an_unclear_group_sets_every_light_alike() -> None:
    # The group "nuisance" as a whole is not significant (its several columns meet a wider
    # null), but one of its factors is, with 27 % of the information: key point 1, the
    # recommendation and the verdict must read the same share, and the words must give it
    # to the factor, not to the group.
    base = parts_findings(texture_share=0.2)  # texture small: nothing else turns lights red
    drivers = []
    for d in base.drivers:
        if d.observer is None and d.name == "nuisance":
            d = dataclasses.replace(d, significant=False, p_value=0.3, share=0.45)
        elif d.observer is None and d.name == "light_angle":
            d = dataclasses.replace(d, significant=True, p_value=0.001, share=0.27)
        drivers.append(d)
    f = dataclasses.replace(base, drivers=drivers)
    model = f.study.models[0]
    assert nuisance_share(f, model) == pytest.approx(0.27)
    assert drivers_light(f) == "red"  # 27 % reaches NUISANCE_SHARE's red, 25 %
    (rec,) = [r for r in recommend(f) if r.rule == "nuisance_reliance"]
    assert rec.severity == "high"
    n = build_narrative(f, load_strings("en"), recommend(f), None)
    kp3 = n.key_points[2]
    assert kp3.light == n.key_points[0].light == "red"
    # key point 1 says why it is red although the lead group is the right one
    assert "But light_angle, which should not matter" in n.key_points[0].sentence
    assert "light_angle alone carries 27%" in kp3.evidence
    assert "account for" not in kp3.evidence  # the 27 % is not the group's
    # key points 1 (new: the nuisance factor) and 2 (people, red before) turn "go" into "hold"
    assert verdict(f, model).red == (1, 2)


def test_more_for_width_scales_with_the_inverse_square_root_of_n() -> None:
    # Halving an interval needs four times the data: 100 → 400, i.e. 300 more (closed form).
    assert more_for_width(100, 2.0, 1.0) == 300
    assert more_for_width(100, 1.0, 1.0) == 0
    d = _with_top_driver(parts_findings(), ci_low=0.05, ci_high=1.6)
    top = next(x for x in d.drivers if x.observer is None and x.name == "texture")
    ev = driver_evidence(top, d)
    # width 1.55 → target 0.923 (the estimate): 2400 × ((1.55/0.923)² − 1) ≈ 4,369 → 4,400
    assert ev.level == "some" and ev.n_more == 4400


def test_rules_fire_on_the_findings_they_document() -> None:
    parts = [r.rule for r in recommend(parts_findings())]
    assert parts[0] == "cue_mismatch"  # 23% vs 94% shape bias: the high-severity risk first
    assert {"nuisance_reliance", "low_error_consistency"} <= set(parts)
    cue = [r.rule for r in recommend(cue_conflict_findings())]
    assert "nuisance_reliance" not in cue  # that study varied no nuisance factor
    assert "late_decisive" not in cue  # and has no layers
    same_people = dataclasses.replace(
        parts_findings(),
        shape_bias=[
            dataclasses.replace(s, shape_bias=0.93, ci_low=0.91, ci_high=0.95)
            if s.kind == "model"
            else s
            for s in parts_findings().shape_bias
        ],
    )
    assert "cue_mismatch" not in [r.rule for r in recommend(same_people)]


def test_traffic_lights_follow_the_documented_thresholds() -> None:
    f = parts_findings()
    assert people_light(f) == "red"  # shape-bias gap 0.71 ≥ 0.40
    close = dataclasses.replace(
        f,
        shape_bias=[
            dataclasses.replace(s, shape_bias=0.85) if s.kind == "model" else s
            for s in f.shape_bias
        ],
        error_consistency=[
            dataclasses.replace(e, kappa=0.50) if e.observer != "human-human" else e
            for e in f.error_consistency
        ],
    )
    assert people_light(close) == "green"  # gap 0.09 < 0.15 and kappa 0.50/0.55 ≥ 0.70
    # Texture (71%) is incidental in the fixture: the model rests mostly on a shortcut.
    assert drivers_light(f) == "red"  # off-target share 71% + 11% ≥ 50%
    diagnostic = dataclasses.replace(
        f, study=dataclasses.replace(f.study, roles={**f.study.roles, "texture": "diagnostic"})
    )
    assert drivers_light(diagnostic) == "amber"  # significant nuisance share 11% ≥ 10%
    big = dataclasses.replace(
        diagnostic,
        drivers=[
            dataclasses.replace(d, share=0.3) if d.observer is None and d.name == "nuisance" else d
            for d in f.drivers
        ],
    )
    assert drivers_light(big) == "red"  # ≥ 25%
    # The role, not the name, decides: the same 11% under a group named "nuisance" but given
    # the role diagnostic sets no light.
    renamed = dataclasses.replace(
        diagnostic,
        study=dataclasses.replace(
            diagnostic.study, roles={g: "diagnostic" for g in diagnostic.study.roles}
        ),
    )
    assert drivers_light(renamed) == "green"
    assert "nuisance_reliance" not in [r.rule for r in recommend(renamed)]


def test_light_rules_are_one_table_with_inclusive_thresholds() -> None:
    from reportgen.findings.evidence import KAPPA_RATIO, LIGHT_RULES, NUISANCE_SHARE

    assert NUISANCE_SHARE.light(0.0999) == "green"
    assert NUISANCE_SHARE.light(0.10) == "amber"
    assert NUISANCE_SHARE.light(0.25) == "red"
    assert KAPPA_RATIO.light(0.70) == "green"
    assert KAPPA_RATIO.light(0.69) == "amber"
    assert KAPPA_RATIO.light(0.399) == "red"
    assert NUISANCE_SHARE.light(math.nan) == "grey"
    # Methods prints every row, with the same numbers the lights use.
    n = build_narrative(parts_findings(), load_strings("en"), [], None)
    assert len(n.light_rules) == len(LIGHT_RULES) + 4  # + two unnumbered, two verdict rows
    assert n.light_rules[0][2:] == ("from 10%", "from 25%")


def test_change_rows_flag_only_moves_beyond_the_current_interval() -> None:
    from reportgen.findings.headline import row_from_findings

    strings = load_strings("en")
    before = row_from_findings(parts_findings(period="2026-Q3", texture_share=0.70))
    f = parts_findings()
    n = build_narrative(f, strings, recommend(f, [before]), [before])
    texture = next(r for r in n.change_rows if r.what == "Share of surface texture")
    # 70% lies inside the current 71% interval (66–76%): no move claimed.
    assert texture.moved == "steady"
    assert not math.isnan(before.models["parts-resnet10"].shares["texture"].low)


# ---- display rules for real-run numbers (no rendering) --------------------------------------
def _narrative(f: Findings, lang: str = "en"):
    return build_narrative(f, load_strings(lang), recommend(f), None)


def test_share_interval_is_the_bits_interval_over_the_group_total_clamped_to_0_1() -> None:
    # Closed form: share = max(I, 0) / T with T the summed floored group bits, so the share's
    # interval is [lo, hi] / T; here T = 2.0 bits.
    inside = Driver("texture", "texture", 1.0, 0.5, 0.001, True, 0.8, 1.2)
    assert share_interval(inside, 2.0) == pytest.approx((0.4, 0.6))
    assert share_interval(inside) == pytest.approx((0.4, 0.6))  # T recovered as I / share
    # A bias-corrected interval above the total (real run: "100%–107%") shows as at most 100%,
    # and one below 0 bits as at least 0%.
    over = Driver("texture", "texture", 2.0, 1.0, 0.001, True, 1.95, 2.14)
    assert share_interval(over, 2.0) == pytest.approx((0.975, 1.0))
    below = Driver("shape", "shape", -0.001, 0.0, 0.94, False, -0.065, 0.016)
    # The estimate is below 0 (share 0): the total must come from the other groups.
    assert all(math.isnan(x) for x in share_interval(below))
    assert share_interval(below, 2.0) == pytest.approx((0.0, 0.008))


def test_driver_table_rows_never_show_shares_outside_0_to_100_percent() -> None:
    from reportgen.report.render import _table_context

    f = cue_conflict_findings()
    # Plant the real run's case: one model's texture interval reaches past the group total.
    drivers = [
        dataclasses.replace(d, mi_bits=1.9, share=1.0, ci_low=1.88, ci_high=2.03)
        if d.observer == "vgg16" and d.name == "texture"
        else dataclasses.replace(d, mi_bits=-0.001, share=0.0, ci_low=-0.06, ci_high=0.02)
        if d.observer == "vgg16" and d.name == "shape"
        else d
        for d in f.drivers
    ]
    rows = _table_context(dataclasses.replace(f, drivers=drivers))["rows"]["drivers"]
    for row in rows:
        assert 0.0 <= row["low"] <= row["high"] <= 1.0, row
    vgg_shape = next(r for r in rows if r["model"] == "vgg16" and r["d"].name == "shape")
    assert vgg_shape["high"] == pytest.approx(0.02 / 1.9)  # interval over vgg16's own total


def _shape_led(f: Findings, model: str) -> Findings:
    """`model` leans on shape instead (share 0.84), like the stylised-ImageNet ResNet."""
    swap = {"texture": 0.16, "shape": 0.84}
    drivers = [
        dataclasses.replace(
            d,
            share=swap[d.name],
            mi_bits=swap[d.name] * 1.9,
            ci_low=swap[d.name] * 1.9 - 0.07,
            ci_high=swap[d.name] * 1.9 + 0.07,
        )
        if d.observer == model
        else d
        for d in f.drivers
    ]
    return dataclasses.replace(f, drivers=drivers)


def test_key_point_range_covers_only_the_models_the_sentence_counts() -> None:
    f = _shape_led(cue_conflict_findings(), "resnet50")
    sentence = _narrative(f).key_points[0].sentence
    # Texture leads in the 6 other models, with shares 58%–77% (fixture); the shape-led
    # model's 16% texture share must not widen that range.
    assert sentence.startswith(
        "In 6 of the 7 models, surface texture clearly carries the most information behind "
        "the decisions (58%–77% of it)."
    )
    assert "16%" not in sentence.split(".")[0]
    assert "In the remaining model, outline shape (84%) carries the most." in sentence
    ja = _narrative(f, "ja").key_points[0].sentence
    assert ja.startswith("7種のモデルのうち6種で") and "（情報量の58%〜77%）" in ja


def test_no_significant_shared_information_is_said_without_a_range_and_no_negative_bits() -> None:
    f = cue_conflict_findings()
    shared = [
        dataclasses.replace(s, redundancy_bits=-0.052, p_value=0.9, significant=False)
        if s.group == "texture"
        else s
        for s in f.shared_information
    ]
    people = _narrative(dataclasses.replace(f, shared_information=shared)).people
    texture = next(p for p in people if p.startswith("About surface texture"))
    assert "no reliable evidence" in texture
    assert "bits" not in texture and "-0.052" not in texture
    # One model without it: the range covers the significant models only, the other is named.
    shared = [
        dataclasses.replace(s, redundancy_bits=-0.001, significant=False, p_value=1.0)
        if s.group == "shape" and s.observer == "vgg16"
        else s
        for s in f.shared_information
    ]
    people = _narrative(dataclasses.replace(f, shared_information=shared)).people
    shape = next(p for p in people if p.startswith("About outline shape"))
    low = min(s.redundancy_bits for s in shared if s.group == "shape" and s.significant)
    assert f"({low:.3f}–" in shape and "-0.001" not in shape and "for vgg16" in shape
    # A single model's negative estimate reads "≈ 0" in the sentence, never as negative bits.
    parts = parts_findings()
    neg = [
        dataclasses.replace(s, redundancy_bits=-0.03) if s.group == "nuisance" else s
        for s in parts.shared_information
    ]
    text = " ".join(_narrative(dataclasses.replace(parts, shared_information=neg)).people)
    assert "(≈ 0 bits shared" in text and "-0.030" not in text


def test_validation_caveat_is_a_sentence_in_both_languages() -> None:
    message = "stimuli.csv: column 'label': 2 of 8 classes have fewer than 40 stimuli"
    f = dataclasses.replace(parts_findings(), warnings=[Caveat("validation", {"message": message})])
    assert f"Input check: {message}." in _narrative(f).risks
    assert f"入力データの確認：{message}" in _narrative(f, "ja").risks
    assert not any("message =" in s for s in _narrative(f).risks)


def test_input_caveats_are_sentences_of_the_report_language() -> None:
    caveats = [
        Caveat("duplicate_layer", {"layer": "avgpool", "same": "layer4"}),
        Caveat(
            "few_per_class",
            {"short": 2, "classes": 8, "recommended": 40, "fewest": "cam", "count": 31},
        ),
    ]
    f = dataclasses.replace(parts_findings(), warnings=caveats)
    en, ja = _narrative(f).risks, _narrative(f, "ja").risks
    assert "Layer avgpool gives exactly the same activations as layer4" in " ".join(en)
    assert "2 of 8 classes have fewer test images than the 40 per class" in " ".join(en)
    assert "段階 avgpool の出力は layer4 とまったく同じ" in " ".join(ja)
    assert "8クラスのうち2クラス" in " ".join(ja) and "camの31枚" in " ".join(ja)
    # Nothing English is left in those Japanese sentences but the names themselves.
    ours = " ".join(x for x in ja if "avgpool" in x or "cam" in x)
    assert not re.search(r"[a-z]{3,}", re.sub("avgpool|layer4|cam", "", ours))


def test_tied_factors_become_one_sentence_with_their_shares() -> None:
    one = [Caveat("ties", {"factor": "shape_notch_depth", "fraction": 0.3219})]
    f = dataclasses.replace(parts_findings(), warnings=one)
    assert any(
        s.startswith("Factor shape_notch_depth: 32% of the analysed images share its value")
        for s in _narrative(f).risks
    )
    several = [*one, Caveat("ties", {"factor": "shape_bolt_n", "fraction": 0.15})]
    f = dataclasses.replace(parts_findings(), warnings=several)
    en = [s for s in _narrative(f).risks if "shared by" in s]
    assert len(en) == 1 and "(shape_notch_depth 32%, shape_bolt_n 15%)" in en[0]
    ja = [s for s in _narrative(f, "ja").risks if "同じ値を持って" in s]
    assert len(ja) == 1 and "shape_notch_depth 32%" in ja[0] and "shape_bolt_n 15%" in ja[0]


def test_information_in_tables_is_floored_at_zero_for_display_only() -> None:
    # Bias-corrected MI can come out a little below 0 (methods.md 4.5): "≈ 0", not a
    # measured "0.000".
    for lang in ("en", "ja"):
        fmt = Formatter(load_strings(lang))
        assert fmt.bits(-0.030) == "≈ 0" and fmt.bits(0.4567) == "0.457"
        assert fmt.bits(-0.0) == "0.000" and fmt.bits(0.0004) == "0.000"
        assert fmt.bits(float("nan")) == fmt.s["format"]["missing"]


def test_missing_answers_of_several_people_become_one_sentence() -> None:
    counts = {"subject-01": 27, "subject-02": 15, "subject-09": 1}
    caveats = [Caveat("missing_responses", {"observer": o, "n": n}) for o, n in counts.items()]
    risks = _narrative(dataclasses.replace(cue_conflict_findings(), warnings=caveats)).risks
    merged = [s for s in risks if "subject-" in s]
    assert len(merged) == 1
    assert "43 answers in all" in merged[0] and "subject-09 1" in merged[0]
    one = [Caveat("missing_responses", {"observer": "subject-09", "n": 1})]
    risks = _narrative(dataclasses.replace(cue_conflict_findings(), warnings=one)).risks
    assert "subject-09: 1 answer is missing and was left out." in risks


@pytest.mark.parametrize("model_id", ["model", "inspect-v3"])
def test_a_lone_model_is_the_model_in_prose_whatever_its_id(model_id: str) -> None:
    f = parts_findings()
    old = f.study.models[0]

    def rename(x):
        return dataclasses.replace(x, observer=model_id) if x.observer == old else x

    f = dataclasses.replace(
        f,
        study=dataclasses.replace(f.study, models=(model_id,)),
        shape_bias=[rename(s) for s in f.shape_bias],
        accuracy=[rename(a) for a in f.accuracy],
        error_consistency=[rename(e) for e in f.error_consistency],
        decision_agreement=[rename(a) for a in f.decision_agreement],
        shared_information=[rename(s) for s in f.shared_information],
    )
    for lang in ("en", "ja"):
        n = _narrative(f, lang)
        prose = [n.analysed, *(k.sentence for k in n.key_points), *n.people, *n.risks]
        prose += [r.evidence for r in n.recommendations] + [r.risk for r in n.recommendations]
        text = " ".join(prose)
        assert "model model" not in text.lower() and f"({model_id})" not in text
        if model_id != "model":  # ("model" itself is also the word the prose uses)
            # The id only where it tells the reader something: the "what was analysed" line.
            assert sum(p.count(model_id) for p in prose[1:]) == 0, (lang, text)
    assert "model model" not in _narrative(f).analysed
    if model_id != "model":
        assert model_id in _narrative(f).analysed


def test_non_significant_nuisance_factors_share_one_sentence_significant_ones_keep_theirs() -> None:
    risks = _narrative(parts_findings()).risks
    nuisance = [s for s in risks if "should not matter" in s or "No reliable evidence" in s]
    # Fixture: the group (11%) and light_angle are significant, rotation and scale are not.
    assert nuisance == [
        "The decisions clearly depend on lighting and position, which should not matter: "
        "11% of the information (p = 0.004).",
        "The decisions clearly depend on light_angle, which should not matter: "
        "7.0% of the information (p = 0.004).",
        "No reliable evidence that lighting and position — rotation, scale — affect the "
        "decisions: none of them is statistically significant (each 2.0% of the information "
        "or less).",
    ]


def test_inside_the_network_says_where_the_decisive_information_appears() -> None:
    network = _narrative(parts_findings()).network
    # Planted profile (fixture): texture held and shared from layer1; shape held only from
    # layer3 and shared only at avgpool; at avgpool the shared bits are texture 0.85, shape
    # 0.08, nuisance 0.09, so shape makes up 0.08 / 1.02 = 7.8% of what reaches the decision.
    assert network[1].startswith(
        "Information about surface texture can be read from the first stage (layer1) on "
        "and reaches the decision from layer1 on"
    )
    assert network[2].startswith(
        "Information about outline shape can be read only from layer3 (stage 3 of 5) on, "
        "but little of it reaches the decision"
    )
    assert "only 7.8%" in network[2]
    assert "appears only at avgpool, the last analysed stage" in network[3]
    ja = _narrative(parts_findings(), "ja").network
    assert ja[1].startswith("質感・表面の模様の情報は最初の段階（layer1）から読み取れ")
    assert ja[2].startswith("形状の情報はlayer3（5段階中の第3段階）になって初めて読み取れますが")


def _drawn(monkeypatch, draw) -> object:
    """The matplotlib figure a figures.* function draws, laid out as it is saved."""
    import reportgen.report.figures as figures

    seen = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.append(fig) or path)
    with figures._style("en"):
        draw(figures)
    (fig,) = seen
    fig.canvas.draw()
    return fig


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_a_legend_under_a_short_panel_does_not_cover_its_axis_label(monkeypatch, tmp_path) -> None:
    # Two factor groups make the shortest drivers figure: a legend offset by a fraction of
    # the axes height used to land on the "Share of the decision information" label.
    f = parts_findings()
    keep = ("texture", "shape")
    f = dataclasses.replace(
        f,
        drivers=[d for d in f.drivers if d.group in keep],
        study=dataclasses.replace(f.study, groups={g: f.study.groups[g] for g in keep}),
    )
    fmt = Formatter(load_strings("en"))
    fig = _drawn(monkeypatch, lambda fg: fg.drivers_figure(f, fmt, tmp_path / "d.png"))
    renderer = fig.canvas.get_renderer()
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 2
    for ax, legend in legends:
        label = ax.xaxis.label.get_window_extent(renderer)
        assert not _overlap(legend.get_window_extent(renderer), label)
        assert legend.get_window_extent(renderer).y1 <= label.y0  # below it, not beside


def test_the_people_figure_leaves_out_a_panel_it_has_no_data_for(monkeypatch, tmp_path) -> None:
    strings = load_strings("en")
    fmt = Formatter(strings)
    both = cue_conflict_findings()
    no_conflict = dataclasses.replace(both, shape_bias=[])  # no cue-conflict images
    for f, titles, caption in (
        (both, ["shape_bias_title", "kappa_title"], "people_caption"),
        (no_conflict, ["kappa_title"], "people_caption_kappa"),
    ):
        fig = _drawn(monkeypatch, lambda fg, f=f: fg.people_figure(f, fmt, tmp_path / "p.png", "P"))
        drawn = [ax.get_title(loc="left") for ax in fig.axes if ax.axison]
        assert drawn == [strings["figures"][t] for t in titles]
        n = build_narrative(f, strings, recommend(f), None)
        assert n.people_caption == strings["figures"][caption]


def test_a_study_without_a_period_says_nothing_empty_about_it() -> None:
    strings = load_strings("en")
    f = parts_findings(period="")
    n = build_narrative(f, strings, recommend(f), [row_from_findings(f, "2026-11-02T10:00:00")])
    assert n.change[0] == "Compared with the previous report (recorded 2 November 2026)."
    assert dict(n.methods)[strings["methods"]["period"]] == strings["methods"]["not_recorded"]


def _tile_cells(box, inside: bool = False):
    element = getattr(box, "element", None)
    classes = (element.get("class") or "") if element is not None else ""
    inside = inside or (getattr(box, "element_tag", None) == "table" and "tiles" in classes)
    if inside and getattr(box, "element_tag", None) == "td":
        yield box
    for child in getattr(box, "children", []) or []:
        yield from _tile_cells(child, inside)


def test_a_row_of_eight_pictures_stays_inside_the_text_block(parts_two_runs) -> None:
    # Cell widths of 12.5% plus their padding once ran the eighth picture past the margin.
    from weasyprint import HTML

    html = parts_two_runs["second"].with_suffix(".html")
    doc = HTML(filename=str(html), url_fetcher=OutputFolderFetcher(html.parent)).render()
    rows = 0
    for page in doc.pages:
        box = page._page_box
        cells = list(_tile_cells(box))
        if len(cells) >= 8:
            rows += 1
            right = max(c.position_x + c.margin_width() for c in cells)
            assert right <= box.content_box_x() + box.width + 0.01  # CSS px
    assert rows  # the disagreement montage has a full row


def test_a_model_match_is_claimed_only_when_both_runs_have_a_fingerprint() -> None:
    strings = load_strings("en")
    change = strings["change"]

    def with_print(fingerprint: str | None) -> Findings:
        f = parts_findings()
        return dataclasses.replace(f, run=dataclasses.replace(f.run, model_fingerprint=fingerprint))

    def second_sentence(before: str | None, now: str | None) -> str:
        f = with_print(now)
        past = row_from_findings(with_print(before), "2026-11-02T10:00:00")
        return build_narrative(f, strings, recommend(f), [past]).change[1]

    assert second_sentence(None, None) == change["fingerprint_none"]  # decision-only runs
    assert second_sentence("ab" * 32, None) == change["fingerprint_one"]
    assert second_sentence("ab" * 32, "ab" * 32) == change["fingerprint_same"]
    assert "abababababab" in second_sentence("ab" * 32, "cd" * 32)


def test_without_people_the_shape_bias_panel_has_no_people_row(monkeypatch, tmp_path) -> None:
    strings = load_strings("en")
    fmt = Formatter(strings)
    f = cue_conflict_findings()
    f = dataclasses.replace(
        f,
        study=dataclasses.replace(f.study, humans=()),
        shape_bias=[s for s in f.shape_bias if s.kind == "model"],
        error_consistency=[],
    )
    fig = _drawn(monkeypatch, lambda fg: fg.people_figure(f, fmt, tmp_path / "p.png", "People"))
    (ax,) = [a for a in fig.axes if a.axison]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert "People" not in rows and rows == list(f.study.models)
    n = build_narrative(f, strings, recommend(f), None)
    assert n.people_caption == strings["figures"]["people_caption_models"]


def test_the_at_chance_alarm_gives_the_advice_that_fits_the_study() -> None:
    strings = load_strings("en")
    alarm = Caveat(
        "low_accuracy",
        {
            "observer": "net",
            "accuracy": 0.3,
            "n": 90,
            "chance": 1 / 3,
            "ci_low": 0.21,
            "ci_high": 0.4,
        },
    )
    f = parts_findings()
    f = dataclasses.replace(f, warnings=[*f.warnings, alarm])
    logged = dataclasses.replace(f, study=dataclasses.replace(f.study, decision_only=True))
    run_here, from_logs = (build_narrative(x, strings, recommend(x), None) for x in (f, logged))
    assert "[model.preprocess]" in run_here.alarms[0] and "the log" not in run_here.alarms[0]
    assert "the log is this model's answers" in from_logs.alarms[0]
    assert "[model.preprocess]" not in from_logs.alarms[0]
    assert run_here.recommendations[0].title == from_logs.recommendations[0].title
    assert "decision log" in from_logs.recommendations[0].action
    assert "[model.preprocess]" in run_here.recommendations[0].action


def test_a_target_is_a_value_its_rule_counts_as_green() -> None:
    from reportgen.findings.evidence import KAPPA_RATIO, SHAPE_GAP, kappa_ratios, shape_gaps

    f = parts_findings()
    recs = {r.rule: r for r in recommend(f)}
    target = recs["cue_mismatch"].params["target"].value
    # "above 81%": any model shape bias above the target is green, the target itself is not.
    for value, light in ((target + 0.005, "green"), (target, "amber")):
        moved = dataclasses.replace(
            f,
            shape_bias=[
                dataclasses.replace(s, shape_bias=value) if s.kind == "model" else s
                for s in f.shape_bias
            ],
        )
        assert {SHAPE_GAP.light(g) for g in shape_gaps(moved).values()} == {light}
    kappa = recs["low_error_consistency"].params["target"].value
    met = dataclasses.replace(
        f,
        error_consistency=[
            dataclasses.replace(e, kappa=kappa) if e.observer != "human-human" else e
            for e in f.error_consistency
        ],
    )
    assert {KAPPA_RATIO.light(r) for r in kappa_ratios(met).values()} == {"green"}
    # the midpoint the report used to print would still be amber or red
    people = next(s.shape_bias for s in f.shape_bias if s.kind == "humans")
    model = next(s.shape_bias for s in f.shape_bias if s.kind == "model")
    assert SHAPE_GAP.light(abs((model + people) / 2 - people)) != "green"


def test_japanese_pdf_names_nothing_by_an_id_the_study_gave_a_japanese_name(tmp_path) -> None:
    f = parts_findings()
    factors = sorted(
        {c for cols in f.study.groups.values() for c in cols}
        | {d.name for d in f.drivers if d.name != d.group}
    )
    labels = {
        "ja": {
            "report": {"title": "部品検査モデルの四半期レビュー"},
            "groups": {"shape": "外形", "texture": "表面", "nuisance": "照明と位置"},
            "classes": {c: f"部品{i}" for i, c in enumerate(PARTS_CLASSES)},
            "factors": {c: f"要素{i}" for i, c in enumerate(factors)},
            "models": {"parts-resnet10": "検査モデル"},
        }
    }
    f = dataclasses.replace(f, study=dataclasses.replace(f.study, labels=labels))
    write_example_pictures(f, tmp_path)
    text = flat(pdf_text(render_report(f, tmp_path, lang="ja", history=None).pdf))
    ids = [*factors, *PARTS_CLASSES, "parts-resnet10", "cue-conflict", "shape-morph"]
    words = set(re.findall(r"[A-Za-z][\w-]*", text))
    assert not [i for i in ids if i in words], sorted(i for i in ids if i in words)
    assert "部品検査モデルの四半期レビュー" in text and "検査モデル" in text
    assert "外形" in text and "要素0" in text
    # What is left in Latin letters is names nobody translated (people's ids), units and
    # the auditors' table: no English sentence (four or more English words in a row).
    runs = re.findall(r"(?:\b[A-Za-z]{2,}\b[ ,]+){4,}", text)
    assert not runs, runs


def _with_decision(f: Findings, accuracy: float, n: int, **decision) -> Findings:
    from analyses.behaviour import wilson_interval

    low, high = wilson_interval(round(accuracy * n), n)
    rows = [
        dataclasses.replace(a, accuracy=accuracy, n=n, ci_low=low, ci_high=high)
        if a.observer == f.study.models[0] and a.condition == "standard"
        else a
        for a in f.accuracy
    ]
    study = dataclasses.replace(f.study, decision=decision)
    return dataclasses.replace(f, accuracy=rows, study=study)


def test_the_verdict_follows_the_documented_rule() -> None:
    from reportgen.findings.evidence import GO, HOLD, NO_GO, NOT_ASSESSED, verdict

    f = parts_findings()  # key points 1 and 2 are red in the fixture
    model = f.study.models[0]
    # 91% of 1,600 is 89.5–92.4%: against a 95% bar, clearly unfit
    v = verdict(_with_decision(f, 0.91, 1600, fit_accuracy=0.95), model)
    assert (v.code, v.reason) == (NO_GO, "unfit")
    # against 90% the interval straddles the bar: hold, not go
    v = verdict(_with_decision(f, 0.91, 1600, fit_accuracy=0.90), model)
    assert (v.code, v.reason) == (HOLD, "fit_unclear")
    # clearly fit, but red lights: hold, naming them
    v = verdict(_with_decision(f, 0.91, 1600, fit_accuracy=0.85), model)
    assert (v.code, v.reason, v.red) == (HOLD, "red", (1, 2))
    # fit and nothing red: go (texture diagnostic, people's shape bias moved to the model's)
    calm = dataclasses.replace(
        _with_decision(f, 0.91, 1600, fit_accuracy=0.85),
        shape_bias=[dataclasses.replace(s, shape_bias=0.25) for s in f.shape_bias],
        error_consistency=[dataclasses.replace(e, kappa=0.33) for e in f.error_consistency],
    )
    calm = dataclasses.replace(
        calm, study=dataclasses.replace(calm.study, roles={g: "diagnostic" for g in f.study.groups})
    )
    calm = dataclasses.replace(calm, drivers=[d for d in calm.drivers if d.group != "nuisance"])
    assert verdict(calm, model).code == GO
    # without a bar, fit means clearly above chance (12.5% for 8 classes)
    v = verdict(_with_decision(f, 0.20, 400), model)
    assert v.bar == 1 / 8 and not v.bar_configured and v.code != NO_GO
    # ... and an interval reaching chance (13% of 400: 10-17%) is no-go, as the alarm says
    v = verdict(_with_decision(f, 0.13, 400), model)
    assert (v.code, v.reason) == (NO_GO, "at_chance")
    # the chance the run recorded (the commonest class) is the bar, not 1 / K
    skewed = _with_decision(f, 0.20, 400)
    skewed = dataclasses.replace(
        skewed, accuracy=[dataclasses.replace(a, chance=0.25) for a in skewed.accuracy]
    )
    assert verdict(skewed, model).bar == 0.25 and verdict(skewed, model).code == NO_GO
    # no standard stimuli: not assessed, whatever else
    none = dataclasses.replace(f, accuracy=[a for a in f.accuracy if a.condition != "standard"])
    assert verdict(none, model).code == NOT_ASSESSED


def test_page_one_decision_box_states_fitness_risk_action_owner_and_options() -> None:
    f = _with_decision(
        parts_findings(),
        0.91,
        1600,
        fit_accuracy=0.95,
        owner="Line 3 quality lead",
        due="2027-03-31",
        options=[
            {
                "name": "Retrain",
                "cost": "3 weeks",
                "benefit": "fewer finish errors",
                "translations": {"ja": {"name": "再学習", "cost": "3週間"}},
            }
        ],
    )
    n = build_narrative(f, load_strings("en"), recommend(f), None)
    d = n.decision
    assert d.verdict == "no_go" and d.label == "No-go"
    assert "91% correct on 1,600 test images" in d.fitness and "95%" in d.fitness
    # the sized risk comes from the cue-conflict accuracy (21% of 400)
    assert "21% of 400" in d.risk and "surface texture points to another class" in d.risk
    assert "Owner: Line 3 quality lead; due 2027-03-31" in d.action
    assert [(o.name, o.cost, o.effort) for o in d.options] == [("Retrain", "3 weeks", "")]
    ja = build_narrative(f, load_strings("ja"), recommend(f), None).decision
    assert ja.label == "実施不可" and "担当：Line 3 quality lead" in ja.action
    # the option's Japanese texts where given, the rest as written
    assert [(o.name, o.cost, o.benefit) for o in ja.options] == [
        ("再学習", "3週間", "fewer finish errors")
    ]
    bare = build_narrative(parts_findings(), load_strings("en"), recommend(parts_findings()), None)
    assert "[report.decision]" in bare.decision.action  # says how to set who and when


def test_agreement_is_shown_apart_for_standard_and_conflicting_images() -> None:
    from reportgen.report.key_points import key_point_people

    f = parts_findings()
    split = {"standard": [0.97, 0.2, 400.0], "cue-conflict": [0.08, 0.2, 960.0]}
    people = {"standard": [0.95, 0.2, 600.0], "cue-conflict": [0.89, 0.2, 1440.0]}
    f = dataclasses.replace(
        f,
        decision_agreement=[
            dataclasses.replace(a, by_condition=people if a.observer == "human-human" else split)
            for a in f.decision_agreement
        ],
    )
    text = key_point_people(f, Formatter.for_findings(load_strings("en"), f)).sentence
    assert "97% of the standard images (people with each other: 95%)" in text
    assert "8.0% of the conflicting ones (people: 89%)" in text
    assert "of all images" not in text  # no rate that pools the two


def test_the_agreement_table_shows_standard_and_conflicting_images_apart(tmp_path) -> None:
    f = parts_findings()
    split = {"standard": [0.97, 0.2, 400.0], "cue-conflict": [0.081, 0.2, 960.0]}
    f = dataclasses.replace(
        f,
        decision_agreement=[
            dataclasses.replace(a, by_condition=split) for a in f.decision_agreement
        ],
    )
    html = render_report(f, tmp_path, lang="en", history=None).html.read_text(encoding="utf-8")
    table = html[html.index("Agreement, all images") :]
    table = table[: table.index("</table>")]
    assert "Standard images" in table and "Conflicting images" in table
    assert "97%" in table and "8.1%" in table


def _strings(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{key}.{k}" if key else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{key}[{i}]")
    elif isinstance(node, str):
        yield key, node


def test_no_japanese_string_is_left_in_english() -> None:
    # Every string of the Japanese locale, placeholders removed: config keys and symbols
    # ("[report.decision]", "I_ccs", "p") may stay in Latin letters, an English phrase (three
    # words in a row) may not. The English locale holds no Japanese.
    with open(LOCALE_DIR / "ja.toml", "rb") as handle:
        ja = tomllib.load(handle)
    english = re.compile(r"(?:\b[A-Za-z]{2,}\b[ ,.]+){2,}\b[A-Za-z]{2,}\b")
    left = [k for k, v in _strings(ja) if english.search(re.sub(r"\{[^}]*\}", "", v))]
    assert not left, left
    with open(LOCALE_DIR / "en.toml", "rb") as handle:
        en = tomllib.load(handle)
    kana = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    assert not [k for k, v in _strings(en) if kana.search(v)]


def test_conflict_accuracy_is_a_risk_only_where_a_group_is_marked_incidental() -> None:
    f = parts_findings()  # texture incidental: the cue-conflict accuracy sizes the risk
    n = build_narrative(f, load_strings("en"), recommend(f), None)
    assert "21% of 400" in n.decision.risk
    # every cue diagnostic: "right" on a conflict image is a convention, not a risk
    calm = dataclasses.replace(
        f, study=dataclasses.replace(f.study, roles={g: "diagnostic" for g in f.study.roles})
    )
    n = build_narrative(calm, load_strings("en"), recommend(calm), None)
    assert "of 400" not in n.decision.risk
