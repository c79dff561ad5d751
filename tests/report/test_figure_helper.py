"""Figures drawn in a forked helper while the report is assembled (report.figure_helper)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reportgen.report.figure_helper import split_plan
from reportgen.report.figure_plan import figure_plan
from reportgen.report.figures import draw_figures
from reportgen.report.strings import load_strings
from tests.report_fixtures import parts_findings

PLAN = ["drivers_summary", "drivers", "layers", "people", "morphs", "trend"]


def test_split_plan_keeps_every_figure_once_in_report_order() -> None:
    here, there = split_plan(PLAN, helper=True)
    assert sorted(here + there) == sorted(PLAN)
    assert here == [n for n in PLAN if n in here] and there == [n for n in PLAN if n in there]
    # The costliest figure goes to the helper: the caller has WeasyPrint to import meanwhile.
    assert "drivers" in there
    assert split_plan(PLAN, helper=False) == (PLAN, [])
    # Two figures are not worth importing matplotlib here as well: the helper draws both.
    assert split_plan(["drivers", "people"], helper=True) == ([], ["drivers", "people"])


_CHILD = """
import json, sys
from pathlib import Path
from reportgen.findings import Findings
from reportgen.report.figure_helper import figures_elsewhere, may_fork
from reportgen.report.strings import load_strings
f = Findings.from_json_dict(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
names = sys.argv[3:]
assert may_fork()
with figures_elsewhere(names, f, load_strings("ja"), Path(sys.argv[2]), None) as wait:
    drawn = wait()
assert sorted(drawn) == sorted(names), drawn
# Drawing needs matplotlib: a process that never imported it drew nothing.
assert "matplotlib" not in sys.modules, "drawn here"
"""


def test_figures_from_the_helper_are_the_pictures_drawn_here(tmp_path: Path) -> None:
    f = parts_findings()
    plan = figure_plan(f)
    assert len(plan) >= 3
    results = tmp_path / "results.json"
    results.write_text(json.dumps(f.to_json_dict()), encoding="utf-8")
    # A fresh interpreter without torch, as `reportgen render` is: the helper is forked there.
    (tmp_path / "helper").mkdir()
    subprocess.run(
        [sys.executable, "-c", _CHILD, str(results), str(tmp_path / "helper"), *plan],
        check=True,
        timeout=120,
    )
    here = draw_figures(plan, f, load_strings("ja"), tmp_path / "here")
    for name in plan:
        helper_drew = tmp_path / "helper" / here[name].name
        assert helper_drew.read_bytes() == here[name].read_bytes(), name
