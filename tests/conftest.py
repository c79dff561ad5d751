"""Shared fixtures. Tests mirror the packages: tests/analyses, tests/inputs, tests/demo,
tests/report, tests/outputs; the end-to-end runs and the config tests sit at the top.

Tests marked ``slow`` take more than a few seconds each; `make test` runs every test, and
``pytest -m "not slow"`` (or `make test-fast`) leaves them out while working.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cue_conflict_study():
    """The shipped cue-conflict study (real decisions of 7 CNNs and 10 people), loaded on the
    CPU with 100 permutations and no bootstrap: ``(StudyData, Config)``."""
    from reportgen.config import load_config
    from reportgen.inputs.study_data import load_study_data
    from reportgen.runner import demo_config_path

    config = load_config(demo_config_path("cue-conflict")).with_overrides(device="cpu")
    fast = dataclasses.replace(config.analysis, permutations=100, bootstrap=0)
    config = dataclasses.replace(config, analysis=fast)
    return load_study_data(config), config
