"""outputs.results: the tables a manager opens in a spreadsheet."""

from __future__ import annotations

import io
import math

import pandas as pd

from reportgen.outputs.results import neutralise_formulas


def test_text_cells_that_a_spreadsheet_would_run_are_neutralised_and_numbers_are_not() -> None:
    hostile = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    frame = pd.DataFrame(
        {
            "observer": [*hostile, "model-a", "a=b"],
            "mi_bits": [-0.5, 0.1, -1e-3, 2.0, 0.0, math.nan, 1.0, -7.0],
        }
    )
    safe = neutralise_formulas(frame)
    assert safe["observer"].tolist() == ["'" + h for h in hostile] + ["model-a", "a=b"]
    written = safe.to_csv(index=False)
    back = pd.read_csv(io.StringIO(written), keep_default_na=False, dtype={"observer": str})
    assert back["observer"].iloc[0] == "'" + hostile[0]  # the apostrophe survives the file
    assert safe["mi_bits"].equals(frame["mi_bits"])  # negative numbers untouched
    assert "\n-7.0\n" not in written and ",-7.0\n" in written
    assert frame["observer"].iloc[0].startswith("=")  # the caller's frame is not modified
