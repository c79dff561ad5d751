"""The page itself: every visible string in English and Japanese, nothing fetched from
outside this server, and a Japanese page that brings its own font."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from reportgen.collect.app import PAGE_DIR, create_app, load_strings
from reportgen.collect.pictures import load_pictures
from reportgen.collect.server import collect_settings
from reportgen.collect.session import Sessions
from reportgen.collect.store import TrialStore
from reportgen.config import load_config


def _client(config_path: Path, lang: str) -> TestClient:
    config = load_config(config_path)
    settings = collect_settings(config)
    pictures = load_pictures(config)
    store = TrialStore(settings.trials, set(pictures.ids), set(pictures.classes))
    return TestClient(create_app(Sessions(pictures, settings, store), lang=lang))


def test_english_and_japanese_define_the_same_strings() -> None:
    en, ja = load_strings("en"), load_strings("ja")
    assert en.keys() == ja.keys()
    assert all(v.strip() for v in [*en.values(), *ja.values()])
    for key in en:  # the same placeholders, so neither language loses a number
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", ja[key]))


def test_every_string_the_script_shows_is_in_the_locale_files() -> None:
    script = (PAGE_DIR / "collect.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\.(\w+)", script))
    page = (PAGE_DIR / "page.html").read_text(encoding="utf-8")
    used |= set(re.findall(r"\bt\.(\w+)", page))
    assert used and used <= load_strings("en").keys()
    # no sentence written into the script or the page itself
    texts = re.findall(r">([^<>{}]*[A-Za-z]{3,}[^<>{}]*)<", page)
    assert texts == [], texts


def test_the_page_fetches_nothing_from_outside_this_server(study: Path) -> None:
    client = _client(study, "en")
    for path in ["/?observer=p1", "/", "/static/collect.js", "/static/collect.css"]:
        text = client.get(path).text
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), path
    assert "default-src 'none'" in client.get("/").headers["content-security-policy"]


def test_a_japanese_page_is_in_japanese_with_its_font_served_here(study: Path) -> None:
    client = _client(study, "ja")
    page = client.get("/?observer=p1")
    assert '<html lang="ja">' in page.text and "どのクラスですか" in page.text
    assert "観察者ID" in client.get("/").text
    css = client.get("/static/collect.css").text
    assert 'url("/static/ipaexg.ttf")' in css
    font = client.get("/static/ipaexg.ttf")
    assert font.status_code == 200 and len(font.content) > 1_000_000
