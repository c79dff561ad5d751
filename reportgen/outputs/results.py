"""Machine-readable outputs of a run: `results.json`, `tables/*.csv` and `run.log`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from reportgen.findings import Findings
from reportgen.inputs.study_data import StudyData, stimulus_image

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); text cells from the data that do are written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as spreadsheet formulas: those that begin
    with ``= + - @``, a tab or a carriage return get a leading ``'``. Numbers (a negative
    value included) stay numbers; results.json keeps every exact value."""
    out = frame.copy()
    for col in out.columns:
        if not (out[col].dtype == object or pd.api.types.is_string_dtype(out[col])):
            continue
        out[col] = out[col].map(
            lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_STARTS) else v
        )
    return out


# One CSV per list of Findings records; the columns are the dataclass fields.
TABLES = (
    "drivers",
    "shape_bias",
    "accuracy",
    "morph_curves",
    "error_consistency",
    "decision_agreement",
    "shared_information",
    "layers",
)


def write_results(findings: Findings, out_dir: Path, log_lines: list[str]) -> None:
    """Write results.json, tables/*.csv and run.log into `out_dir`."""
    findings.write_json(out_dir / "results.json")
    tables = out_dir / "tables"
    tables.mkdir(exist_ok=True)
    for name in TABLES:
        records = getattr(findings, name)
        cls_fields = [f.name for f in dataclasses.fields(_record_type(name))]
        frame = pd.DataFrame([dataclasses.asdict(r) for r in records], columns=cls_fields)
        neutralise_formulas(frame).to_csv(tables / f"{name}.csv", index=False)
    lines = list(log_lines)
    lines.append(
        "timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in findings.run.timings_s.items())
    )
    (out_dir / "run.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _record_type(name: str) -> type:
    from reportgen import findings as f

    return {
        "drivers": f.Driver,
        "shape_bias": f.ShapeBias,
        "accuracy": f.Accuracy,
        "morph_curves": f.MorphPoint,
        "error_consistency": f.ErrorConsistency,
        "decision_agreement": f.DecisionAgreement,
        "shared_information": f.SharedInformation,
        "layers": f.LayerInfo,
    }[name]


def write_example_images(data: StudyData, findings: Findings, out_dir: Path) -> None:
    """Write the picture of every example stimulus the Findings name (PNG, as stored)."""
    from PIL import Image

    ids = {str(v): i for i, v in enumerate(data.stimuli.table["id"])}
    for example in findings.examples:
        image = stimulus_image(data, ids[example.stimulus_id])
        if image is None:
            continue
        target = out_dir / example.image
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(target)
