"""Without Chromium the browser tests fail with what to install; they never pass unrun."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collect import browser


def test_a_missing_chromium_fails_naming_the_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        browser.chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing on CI: .ci/run installs it"):
        browser.chromium()
