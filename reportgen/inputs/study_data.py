"""Turn a checked config into the tensors the analyses need: one `StudyData` per run.

This is the only stage that touches files, the stimulus generator and the model: it loads
(or generates) the stimuli, runs the model with streaming extraction, reads people's and
logged models' responses, and codes everything against one class set.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor

from reportgen.caveats import Caveat
from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.inputs.responses import StudyInputs, decision_matrix, load_study_inputs
from reportgen.inputs.stimuli import (
    StimulusSet,
    encode,
    load_images,
    shape_pictures,
)

ProgressFn = Callable[[str, int], Callable[[int], None]]
"""Opens a progress task: ``(description, total) -> advance(n)``."""


@dataclass(frozen=True)
class FactorVariable:
    """One tested variable: a factor column, or a factor group as a whole."""

    name: str
    group: str
    kind: str  # "continuous" or "categorical"
    values: Tensor  # continuous: (n, d) float64; categorical: (n,) int64 codes
    levels: int = 0  # categorical only


@dataclass(frozen=True)
class StudyData:
    """Everything a run analyses, coded against the study's class set.

    ``decisions[i, j]`` is observer i's answer to stimulus j as an index into ``classes``
    (-1: no answer). Models come first, then people.
    """

    stimuli: StimulusSet
    classes: tuple[str, ...]
    observers: tuple[str, ...]
    kinds: tuple[str, ...]  # "model" or "human", per observer
    decisions: Tensor  # (n_observers, n_stimuli) int64
    labels: Tensor  # (n_stimuli,) int64, true class
    conditions: tuple[str, ...]
    condition_codes: Tensor  # (n_stimuli,) int64 into `conditions`
    variables: list[FactorVariable]
    groups: dict[str, list[str]]
    shape_cue: Tensor | None  # (n_stimuli,) class index the shape points to, -1 unknown
    texture_cue: Tensor | None
    morph: pd.DataFrame | None  # rows of *-morph conditions: condition, level, from, to codes
    activations: dict[str, Tensor] = field(default_factory=dict)  # layer -> (n, units) float32
    images: Tensor | None = None  # uint8 (n, 3, H, W) when loaded or generated
    model_fingerprint: str | None = None
    device: str = "cpu"  # where every tensor above lies (see `to`); images stay on the CPU
    humans_simulated: bool = False
    attribution: str = ""  # data licence and attribution, shown in the report's Methods
    warnings: list[Caveat] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> StudyData:
        """The same study with every tensor the analyses read on `device` (moved once, here).

        Pictures stay on the CPU: they are only written out as example images.
        """
        device = torch.device(device)

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return dataclasses.replace(
            self,
            decisions=move(self.decisions),
            labels=move(self.labels),
            condition_codes=move(self.condition_codes),
            variables=[dataclasses.replace(v, values=move(v.values)) for v in self.variables],
            shape_cue=move(self.shape_cue),
            texture_cue=move(self.texture_cue),
            activations={name: move(a) for name, a in self.activations.items()},
            device=str(device),
        )

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(o for o, k in zip(self.observers, self.kinds, strict=True) if k == "model")

    @property
    def humans(self) -> tuple[str, ...]:
        return tuple(o for o, k in zip(self.observers, self.kinds, strict=True) if k == "human")


def model_observer_id(config: Config) -> str:
    """The observer id of the analysed model: its configured name, else the weights file's
    name, else the architecture."""
    assert config.model is not None
    if config.model.name:
        return config.model.name
    if config.model.weights is not None:
        return config.model.weights.stem
    return config.model.arch.rsplit(":", 1)[-1]


def load_study_data(config: Config, *, progress: ProgressFn | None = None) -> StudyData:
    """Load, generate and run everything the config names (see the module docstring).

    The model runs on, and every tensor the analyses read is returned on, the config's
    device (`Config.with_overrides` resolves it; an unresolved config is resolved here).
    """
    if not config.resolved:
        config = config.with_overrides()
    dev = torch.device(config.analysis.device)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    images: Tensor | None = None
    if config.stimuli.generator is not None:
        inputs, images = _generated_inputs(config)
    else:
        inputs = load_study_inputs(config)
    stimset, humans, decisions_trials = inputs.stimuli, inputs.humans, inputs.decisions
    warnings = list(inputs.warnings)
    timings["load inputs"] = time.perf_counter() - t0
    classes = stimset.classes

    observers: list[str] = []
    kinds: list[str] = []
    rows: list[Tensor] = []
    activations: dict[str, Tensor] = {}
    fingerprint = None
    if config.model is not None:
        t1 = time.perf_counter()
        from reportgen.inputs.extract import extract, preprocessor
        from reportgen.inputs.model import load_configured_model, model_fingerprint

        mc = config.model
        model, layers = load_configured_model(mc, mc.num_classes or len(classes))
        fingerprint = model_fingerprint(model)
        if images is None:
            seen = load_images(stimset, preprocess=mc.preprocess)
        else:  # generated pictures (kept as they are for the montages): the same geometry
            seen = shape_pictures(images, mc.preprocess)
        advance = progress("Running the model", len(stimset)) if progress else None
        responses = extract(
            model,
            seen,
            layers,
            device=dev,
            batch_size=mc.batch_size,
            preprocess=preprocessor(mc.preprocess),
            projection=mc.projection,
            dim=mc.projection_dim,
            seed=config.analysis.seed,
            on_progress=advance,
        )
        observers.append(model_observer_id(config))
        kinds.append("model")
        rows.append(responses.decisions.to(torch.int64).reshape(1, -1))
        activations = {}
        for name, acts in responses.activations.items():
            same = [
                k for k, v in activations.items() if v.shape == acts.shape and torch.equal(v, acts)
            ]
            if same:
                # e.g. a ResNet's avgpool is exactly the pooled last stage: analysing it twice
                # would only repeat a row of the layer profile.
                warnings.append(Caveat("duplicate_layer", {"layer": name, "same": same[0]}))
                continue
            activations[name] = acts
        timings["model"] = time.perf_counter() - t1

    for trials in (decisions_trials, humans):
        if trials is None:
            continue
        ids, matrix = decision_matrix(trials, stimset)
        trial_kinds = trials.kinds
        for i, obs in enumerate(ids):
            if obs in inputs.left_out:  # too few usable answers: a caveat names them
                continue
            if obs in observers:
                raise ReportgenError(
                    f"observer id {obs!r} is used twice (the model and a responses file); "
                    "rename one of them"
                )
            observers.append(obs)
            kinds.append(trial_kinds[obs])
            rows.append(matrix[i : i + 1].to(torch.int64))
    if not observers:
        raise ReportgenError(f"{config.path}: no model and no responses: nothing to analyse")

    table = stimset.table
    labels, _ = encode(table["label"], classes)
    conditions = tuple(dict.fromkeys(table["condition"].astype(str)))
    condition_codes, _ = encode(table["condition"].astype(str), conditions)
    cues = config.cues
    shape_cue = _cue_codes(table, cues.shape, classes)
    texture_cue = _cue_codes(table, cues.texture, classes)
    morph = _morph_table(table, cues, classes, conditions)
    return StudyData(
        stimuli=stimset,
        classes=classes,
        observers=tuple(observers),
        kinds=tuple(kinds),
        decisions=torch.cat(rows),
        labels=labels,
        conditions=conditions,
        condition_codes=condition_codes,
        variables=_factor_variables(stimset),
        groups={g: list(cols) for g, cols in stimset.groups.items()},
        shape_cue=shape_cue,
        texture_cue=texture_cue,
        morph=morph,
        activations=activations,
        images=images,
        model_fingerprint=fingerprint,
        humans_simulated=bool(config.humans is not None and config.humans.simulated),
        attribution=_attribution(config),
        warnings=warnings,
        timings_s=timings,
    ).to(dev)


def _cue_codes(table: pd.DataFrame, column: str, classes: tuple[str, ...]) -> Tensor | None:
    """Class index each stimulus's cue points to (names or indices in the column), or None."""
    if column not in table.columns:
        return None
    values = table[column]
    if pd.api.types.is_integer_dtype(values):
        codes = torch.as_tensor(values.to_numpy().copy(), dtype=torch.int64)
        return torch.where((codes >= 0) & (codes < len(classes)), codes, -1)
    codes, _ = encode(values.astype(str), classes)
    return codes


def _morph_table(
    table: pd.DataFrame, cues, classes: tuple[str, ...], conditions: tuple[str, ...]
) -> pd.DataFrame | None:
    """Morph rows with their level and endpoint classes, or None when the study has none."""
    needed = (cues.morph_from, cues.morph_to, cues.morph_level)
    if not all(c in table.columns for c in needed):
        return None
    rows = table["condition"].astype(str).str.endswith("-morph")
    if not rows.any():
        return None
    sub = table.loc[rows]
    return pd.DataFrame(
        {
            "index": sub.index.to_numpy(),
            "condition": sub["condition"].astype(str).to_numpy(),
            "level": sub[cues.morph_level].astype(float).to_numpy(),
            "from": _cue_codes(sub, cues.morph_from, classes).numpy(),
            "to": _cue_codes(sub, cues.morph_to, classes).numpy(),
        }
    )


def _factor_variables(stimset: StimulusSet) -> list[FactorVariable]:
    """Every factor column and every multi-column group, typed for the estimators.

    A group's columns share one kind (`build_stimulus_set` checks); several categorical
    columns form one joint code.
    """
    out: list[FactorVariable] = []
    table = stimset.table
    for group, columns in stimset.groups.items():
        kind = stimset.kinds[columns[0]]
        singles: list[FactorVariable] = []
        for col in columns:
            if kind == "continuous":
                singles.append(
                    FactorVariable(col, group, kind, stimset.factor_tensor(col).reshape(-1, 1))
                )
            else:
                codes, levels = encode(table[col].astype(str))
                singles.append(FactorVariable(col, group, kind, codes, len(levels)))
        if len(columns) == 1:
            out.append(FactorVariable(group, group, kind, singles[0].values, singles[0].levels))
            if columns[0] != group:
                out.append(singles[0])
            continue
        if kind == "continuous":
            joint = torch.cat([s.values for s in singles], dim=1)
            out.append(FactorVariable(group, group, kind, joint))
        else:
            keys = table[list(columns)].astype(str).agg("\x1f".join, axis=1)
            codes, levels = encode(keys)
            out.append(FactorVariable(group, group, kind, codes, len(levels)))
        out.extend(singles)
    return out


def _generated_inputs(config: Config) -> tuple[StudyInputs, Tensor]:
    """Stimuli from a built-in generator, checked with the responses files the config names."""
    from reportgen.inputs.generated import generated_stimulus_set

    stimset, images = generated_stimulus_set(config)
    return load_study_inputs(config, stimset), images


def has_image(data: StudyData) -> list[bool]:
    """Per stimulus: is its picture available (in memory, or as a file)? Reads no image."""
    if data.images is not None:
        return [True] * len(data.stimuli)
    if data.stimuli.image_dir is None or "image" not in data.stimuli.table.columns:
        return [False] * len(data.stimuli)
    return [path.is_file() for path in data.stimuli.image_paths()]


def stimulus_image(data: StudyData, index: int) -> Tensor | None:
    """The picture of stimulus `index` (uint8 ``[3, H, W]``), or None if it is not available.
    A file that exists but cannot be decoded raises `ReportgenError` saying why."""
    if data.images is not None:
        return data.images[index]
    if data.stimuli.image_dir is None or "image" not in data.stimuli.table.columns:
        return None
    if not data.stimuli.image_paths()[index].is_file():
        return None
    return load_images(data.stimuli, rows=[index])[0]


def image_unreadable(data: StudyData, index: int) -> str | None:
    """Why the available picture of stimulus `index` cannot be decoded (one line), or None.
    Decision-only studies do not check their pictures up front; the montages ask this."""
    if data.images is not None:
        return None
    try:
        stimulus_image(data, index)
    except ReportgenError as err:
        return str(err)
    return None


def _attribution(config: Config) -> str:
    """The data licence note: ATTRIBUTION.txt beside the stimulus table ("" for generated
    stimuli, which the report words in its own language from `Study.generator`)."""
    table = config.stimuli.table
    note = table.parent / "ATTRIBUTION.txt" if table is not None else None
    return note.read_text(encoding="utf-8").strip() if note is not None and note.is_file() else ""
