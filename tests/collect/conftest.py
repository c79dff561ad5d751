"""Fixtures of the collection tests; the study builder is in `tests.collect.studies`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collect.studies import write_study


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Six stimuli (two per class), one practice trial; trials in ``panel.csv``."""
    return write_study(tmp_path / "study")
