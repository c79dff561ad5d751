"""Findings: the typed numbers a run produces (`records`), the queries on them, the evidence
levels and thresholds the report's wording follows, and the headline figures the history
store keeps — numbers only, no words. `build` makes them from a study by calling `analyses`.

The record types are re-exported here: ``from reportgen.findings import Findings, Driver``.
"""

from reportgen.caveats import Caveat
from reportgen.findings.records import (
    SCHEMA_VERSION,
    Accuracy,
    DecisionAgreement,
    Driver,
    ErrorConsistency,
    Example,
    Findings,
    LayerInfo,
    MorphPoint,
    RunInfo,
    ShapeBias,
    SharedInformation,
    Study,
)

__all__ = [
    "SCHEMA_VERSION",
    "Accuracy",
    "Caveat",
    "DecisionAgreement",
    "Driver",
    "ErrorConsistency",
    "Example",
    "Findings",
    "LayerInfo",
    "MorphPoint",
    "RunInfo",
    "ShapeBias",
    "SharedInformation",
    "Study",
]
