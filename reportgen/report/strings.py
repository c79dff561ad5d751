"""The report's locale strings (`templates/locale/{en,ja}.toml`) and where the templates are."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from reportgen.config import LANGUAGES
from reportgen.errors import ReportgenError
from reportgen.resources import resource_dir

TEMPLATE_DIR = resource_dir("templates")
LOCALE_DIR = TEMPLATE_DIR / "locale"


# ---- strings and number formats ------------------------------------------------------------
def load_strings(lang: str) -> dict[str, Any]:
    """Read `templates/locale/<lang>.toml`: every reader-visible string of one language."""
    if lang not in LANGUAGES:
        raise ReportgenError(f"report language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    with open(LOCALE_DIR / f"{lang}.toml", "rb") as handle:
        return tomllib.load(handle)


def lookup(strings: Mapping[str, Any], key: str) -> Any:
    """A dotted key of the string table; a missing key is an error, never the key itself."""
    node: Any = strings
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"locale string {key!r} is missing")
        node = node[part]
    return node
