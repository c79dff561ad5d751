"""Where the report templates and the embedded sample data are.

In a source checkout, and in the editable install that ``make venv`` makes, they sit beside
the packages, as design.md lays out the repository. A wheel carries them inside the package,
as ``reportgen/templates`` and ``reportgen/sample_data`` (pyproject.toml maps them there).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` ("templates" or "sample_data"): inside the installed package when
    it is there, else at the root of the source tree."""
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name
