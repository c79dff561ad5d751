"""Caveats: data-quality and small-sample warnings, raised while inputs are read and analysed.

They sit below every stage, beside `errors`, because the input readers raise them as well as
the analysis stage; the report turns each code into a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Caveat:
    """A data-quality or small-sample caveat the report must show."""

    code: str  # stable key, used to pick the sentence in the locale files
    detail: dict[str, Any] = field(default_factory=dict)
