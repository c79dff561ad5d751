"""Stimuli from a built-in generator (``[stimuli] generator = "parts"``), made at run time.

Parameters come from ``[stimuli.params]``: one count per condition plus the generator's own
settings. Unknown parameters are errors that name the key.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import Tensor

from reportgen.config import GENERATOR_PARAMS, Config
from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import StimulusSet, build_stimulus_set, cue_columns

# Default design of the parts demo (the defaults of `config.GENERATOR_PARAMS`): cue-conflict
# stimuli, where shape and texture vary independently, carry the information analyses (enough
# per class for the 14-dimensional shape group, methods.md 4.2); standard stimuli measure
# accuracy; morphs give the curves.
PARTS_DEFAULTS: dict[str, Any] = {k: v[0] for k, v in GENERATOR_PARAMS["parts"].items()}
_CONDITIONS = {
    "standard": "standard",
    "cue_conflict": "cue-conflict",
    "shape_morph": "shape-morph",
    "texture_morph": "texture-morph",
}


def generate_stimuli(name: str, params: dict[str, Any]) -> tuple[pd.DataFrame, Tensor]:
    """Generate a stimulus table and its images (uint8 ``[n, 3, size, size]``)."""
    if name != "parts":
        raise ReportgenError(f"stimuli.generator: unknown generator {name!r}; known: parts")
    unknown = sorted(set(params) - set(PARTS_DEFAULTS))
    if unknown:
        raise ReportgenError(
            [
                f"stimuli.params.{k}: unknown parameter; known: {', '.join(PARTS_DEFAULTS)}"
                for k in unknown
            ]
        )
    p = {**PARTS_DEFAULTS, **params}
    from reportgen.inputs import parts

    tables, images = [], []
    settings = {k: p[k] for k in ("n_types", "size", "shape_jitter", "texture_jitter")}
    for offset, (key, condition) in enumerate(_CONDITIONS.items()):
        count = int(p[key])
        if count <= 0:
            continue
        extra = {"morph_levels": int(p["morph_levels"])} if condition.endswith("morph") else {}
        try:
            batch = parts.generate(
                count, condition, seed=int(p["seed"]) * 16 + offset, **settings, **extra
            )
        except ValueError as err:
            raise ReportgenError(f"stimuli.params: {err}") from None
        table = batch.table.copy()
        table["id"] = [f"{condition}-{i:05d}" for i in range(len(table))]
        table["image"] = table["id"] + ".png"
        tables.append(table)
        images.append(batch.images)
    if not tables:
        raise ReportgenError("stimuli.params: every condition count is zero; nothing to analyse")
    return pd.concat(tables, ignore_index=True), torch.cat(images)


def generated_stimulus_set(config: Config) -> tuple[StimulusSet, Tensor]:
    """The checked stimulus set of a config's ``[stimuli] generator`` and its pictures
    (uint8 ``[n, 3, size, size]``, in table order): what a run analyses and `collect` shows."""
    gen = config.stimuli.generator
    if gen is None:
        raise ValueError("the config names a stimulus table, not a generator")
    table, images = generate_stimuli(gen.name, dict(gen.params))
    stimset = build_stimulus_set(
        table,
        source=f"generator {gen.name}",
        image_dir=None,
        factor_globs=config.factors,
        classes=config.stimuli.classes,
        require_images=False,
        categorical=config.stimuli.categorical,
        continuous=config.stimuli.continuous,
        cue_columns=cue_columns(config),
    )
    return stimset, images
