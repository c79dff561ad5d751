"""A SIMULATED inspector panel for the parts demo: made-up observers, not people.

The demo study needs people's answers to compare the model with, and no real inspectors ever
saw the generated parts. This module simulates a panel of inspectors who, like the people in
Geirhos et al. (ICLR 2019) and Xu et al. (arXiv 1811.07807), judge mostly by outline shape.
Everything it writes says so: observer ids ``sim-inspector-N``, a ``simulated`` column that is
always true, and the demo config's ``[humans] simulated = true``.

Observer model
--------------
For observer ``o`` and stimulus ``k`` the perceived evidence for class ``c`` is

    e_c = w_shape[o] * q_k * s_c + w_texture[o] * t_c + sigma[o] * eps_c,    eps_c ~ N(0, 1)

and the answer is the class with the largest evidence; with probability ``lapse[o]`` the
observer lapses instead and answers a class drawn uniformly at random.

* ``s`` is the shape cue: 1 for the stimulus's shape class and 0 elsewhere; on ``shape-morph``
  stimuli ``1 - morph_level`` for ``morph_from`` and ``morph_level`` for ``morph_to``.
  ``t`` is the texture cue, defined the same way (morphed on ``texture-morph``).
* ``q_k`` in (0, 1] is the outline's typicality, the one place where the continuous shape
  factors enter: an outline far from what its cue says (the shape prototype, or the morph's
  blend of two prototypes, ``sum_c s_c * prototype_c``) is read less surely,
  ``q = exp(-D / (2 tau^2))`` with ``D`` the mean squared deviation of the shape factors from
  that nominal outline, each in units of a quarter of the factor's valid range
  (``parts.FACTOR_RANGES``), and ``tau^2 = 0.25``. Tables without the parts shape columns get
  ``q = 1``.
* Per-observer parameters, drawn once from the seed: ``w_shape ~ N(0.85, 0.05)`` clipped to
  [0.6, 1], ``w_texture ~ N(0.15, 0.04)`` clipped to [0.02, 0.4], ``sigma ~ U(0.12, 0.24)``,
  ``lapse ~ U(0.01, 0.05)`` (about 3 % on average).

The result is deterministic for a given table, class list and seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reportgen.errors import ReportgenError
from reportgen.inputs import parts

if TYPE_CHECKING:
    from reportgen.config import Config

__all__ = [
    "OBSERVER_PREFIX",
    "observer_parameters",
    "outline_typicality",
    "simulate_panel",
    "simulate_panel_for_config",
    "write_panel",
]

OBSERVER_PREFIX = "sim-inspector-"
_PARAMETERS = ("w_shape", "w_texture", "sigma", "lapse")
_TAU2 = 0.25  # typicality width, in squared quarter-ranges
_SHAPE_FACTORS = parts.FACTOR_GROUPS["shape"]


def observer_parameters(n_observers: int = 6, seed: int = 0) -> pd.DataFrame:
    """Draw the simulated observers' parameters.

    Parameters
    ----------
    n_observers : panel size, at least 1.
    seed : seed of the draw (the same seed ``simulate_panel`` uses).

    Returns
    -------
    DataFrame indexed by observer id (``sim-inspector-1`` ...), columns ``w_shape``,
    ``w_texture`` (cue weights), ``sigma`` (evidence noise sd) and ``lapse`` (probability).
    """
    if not isinstance(n_observers, int) or isinstance(n_observers, bool) or n_observers < 1:
        raise ReportgenError(f"simulated panel: n_observers must be ≥ 1, got {n_observers!r}")
    rng = np.random.default_rng([seed, 0])
    values = {
        "w_shape": np.clip(rng.normal(0.85, 0.05, n_observers), 0.6, 1.0),
        "w_texture": np.clip(rng.normal(0.15, 0.04, n_observers), 0.02, 0.4),
        "sigma": rng.uniform(0.12, 0.24, n_observers),
        "lapse": rng.uniform(0.01, 0.05, n_observers),
    }
    index = pd.Index([f"{OBSERVER_PREFIX}{i + 1}" for i in range(n_observers)], name="observer")
    return pd.DataFrame(values, index=index)


def _class_codes(table: pd.DataFrame, column: str, classes: Sequence[str]) -> np.ndarray:
    """A cue column (class indices or class names) as int64 class indices."""
    if column not in table.columns:
        raise ReportgenError(f"simulated panel: the stimulus table has no column '{column}'")
    values = table[column]
    if pd.api.types.is_numeric_dtype(values):
        codes = values.to_numpy()
        bad = ~np.isfinite(codes.astype(float)) | (codes < 0) | (codes >= len(classes))
        bad |= codes.astype(float) != np.round(codes.astype(float))
    else:
        lookup = {name: i for i, name in enumerate(classes)}
        codes = np.array([lookup.get(str(v), -1) for v in values])
        bad = codes < 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ReportgenError(
            f"simulated panel: column '{column}', row {row + 1}: {values.iloc[row]!r} is not a "
            f"class index 0..{len(classes) - 1} or a class name"
        )
    return codes.astype(np.int64)


def _cue_matrix(
    table: pd.DataFrame,
    column: str,
    morph_condition: str,
    classes: Sequence[str],
) -> np.ndarray:
    """Cue strengths, shape (n, n_classes): one-hot, or the morph weights on morph rows."""
    n, k = len(table), len(classes)
    cue = np.zeros((n, k))
    cue[np.arange(n), _class_codes(table, column, classes)] = 1.0
    morph = (table["condition"] == morph_condition).to_numpy()
    if morph.any():
        rows = table.loc[morph]
        start = _class_codes(rows, "morph_from", classes)
        end = _class_codes(rows, "morph_to", classes)
        level = rows["morph_level"].to_numpy(dtype=float)
        if not np.all((level >= 0) & (level <= 1)):
            raise ReportgenError(
                "simulated panel: column 'morph_level' must lie in [0, 1] on "
                f"{morph_condition} rows"
            )
        idx = np.flatnonzero(morph)
        cue[idx] = 0.0
        cue[idx, start] += 1.0 - level
        cue[idx, end] += level
    return cue


def outline_typicality(
    table: pd.DataFrame, shape_cue: np.ndarray, classes: Sequence[str]
) -> np.ndarray:
    """Outline typicality ``q = exp(-D / (2 tau^2))`` of every stimulus (module docstring).

    Parameters
    ----------
    table : stimulus table; without every parts shape factor column all q are 1.
    shape_cue : array, shape (n, n_classes), the shape cue strengths (rows sum to 1).
    classes : class names; must be the leading ``parts.CLASS_NAMES`` for prototypes to apply.

    Returns
    -------
    q : array, float64, shape (n,), in (0, 1]; 1 exactly where the outline is the nominal one.
    """
    protos = parts.prototypes(len(parts.CLASS_NAMES))
    if not set(_SHAPE_FACTORS) <= set(table.columns) or list(classes) != list(
        protos.index[: len(classes)]
    ):
        return np.ones(len(table))
    proto = protos.loc[list(classes), _SHAPE_FACTORS].to_numpy()  # (n_classes, n_shape)
    unit = np.array(
        [(hi - lo) / 4.0 for lo, hi in (parts.FACTOR_RANGES[f] for f in _SHAPE_FACTORS)]
    )
    nominal = shape_cue @ proto
    x = table[_SHAPE_FACTORS].to_numpy(dtype=float)
    d = np.mean(((x - nominal) / unit) ** 2, axis=1)
    return np.exp(-d / (2.0 * _TAU2))


def simulate_panel(
    table: pd.DataFrame,
    classes: Sequence[str] = parts.CLASS_NAMES,
    *,
    n_observers: int = 6,
    seed: int = 0,
    observers: pd.DataFrame | None = None,
    shape_column: str = "shape_type",
    texture_column: str = "texture_type",
) -> pd.DataFrame:
    """Simulated inspectors' answers to every stimulus of ``table`` (see the module docstring).

    Parameters
    ----------
    table : stimulus table with ``id``, ``condition``, the cue columns (class indices or names),
        and on morph rows ``morph_from``, ``morph_to`` (class indices) and ``morph_level``
        (0..1); the parts shape factor columns, when present, set the outline typicality.
    classes : class names; class index i is ``classes[i]``.
    n_observers : panel size (ignored when ``observers`` is given).
    seed : seed of the observers' parameters and of every noise and lapse draw.
    observers : optional parameters (as returned by `observer_parameters`) to use instead of
        drawing them.
    shape_column, texture_column : the cue columns (the config's ``[cues]``).

    Returns
    -------
    DataFrame, n_observers * n rows (observer-major, stimuli in table order), columns
    ``observer, observer_kind ('human'), stimulus_id, response (a class name), simulated (True)``.
    """
    if len(table) == 0:
        raise ReportgenError("simulated panel: the stimulus table has no rows")
    for col in ("id", "condition"):
        if col not in table.columns:
            raise ReportgenError(f"simulated panel: the stimulus table has no column '{col}'")
    table = table.reset_index(drop=True)
    classes = list(classes)
    if observers is None:
        observers = observer_parameters(n_observers, seed)
    missing = [c for c in _PARAMETERS if c not in observers.columns]
    if missing:
        raise ReportgenError(f"simulated panel: observers lack parameter(s) {', '.join(missing)}")
    n, k = len(table), len(classes)
    shape = _cue_matrix(table, shape_column, "shape-morph", classes)
    texture = _cue_matrix(table, texture_column, "texture-morph", classes)
    shape = shape * outline_typicality(table, shape, classes)[:, None]

    rng = np.random.default_rng([seed, 1])
    frames = []
    for name, p in observers.iterrows():
        eps = rng.standard_normal((n, k))
        lapsed = rng.random(n) < p["lapse"]
        guess = rng.integers(0, k, n)
        evidence = p["w_shape"] * shape + p["w_texture"] * texture + p["sigma"] * eps
        choice = np.where(lapsed, guess, evidence.argmax(axis=1))
        frames.append(
            pd.DataFrame(
                {
                    "observer": str(name),
                    "observer_kind": "human",
                    "stimulus_id": table["id"].astype(str).to_numpy(),
                    "response": np.asarray(classes, dtype=object)[choice],
                    "simulated": True,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def simulate_panel_for_config(
    config: Config, *, n_observers: int = 6, seed: int = 0
) -> pd.DataFrame:
    """The simulated panel for a study's stimuli (generated at run time, or its table).

    Uses the config's class list (default ``parts.CLASS_NAMES``) and its ``[cues]`` columns,
    so the ids and answers match what a run of that study analyses.

    Returns
    -------
    DataFrame as `simulate_panel` returns it.
    """
    if config.stimuli.generator is not None:
        from reportgen.inputs.generated import generate_stimuli

        gen = config.stimuli.generator
        table, _ = generate_stimuli(gen.name, dict(gen.params))
    else:
        from reportgen.inputs.stimuli import load_stimuli_from_config

        table = load_stimuli_from_config(config).table
    classes = config.stimuli.classes or parts.CLASS_NAMES
    return simulate_panel(
        table,
        classes,
        n_observers=n_observers,
        seed=seed,
        shape_column=config.cues.shape,
        texture_column=config.cues.texture,
    )


def write_panel(panel: pd.DataFrame, path: Path) -> Path:
    """Write a simulated panel as CSV (UTF-8, no index, ``\\n`` line ends); returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        panel.to_csv(path, index=False, lineterminator="\n")
    except OSError as err:
        raise ReportgenError(f"{path}: cannot write the simulated panel ({err})") from None
    return path
