"""Which variants of which source pictures to make, and every factor value of each.

Per source picture A (class a), the plan holds:

- ``standard``: A as it is;
- ``cue-conflict`` (K per picture): A's outline with the surface of a picture B, in patches;
  B's class cycles through every class (a included, then B is another picture of a), so over
  the condition the outline's class and the surface's class are independent by design, as in
  the cue-conflict set of Geirhos et al. (ICLR 2019), whose same-class images the shape bias
  leaves out. The pose, light and camera factors vary at random, so their information can be
  measured on the same images;
- ``texture-weakened`` (K): A's surface low-passed and/or reshuffled in patches, outline kept;
- ``shape-warped`` (K): A's outline warped, stretched and/or smoothed, surface kept;
- ``nuisance-varied`` (K): A under another pose, light, colour, blur and sensor noise;
- ``shape-morph`` and ``texture-morph`` (L levels each): one cue moved in L steps from A's to
  that of a picture of another class, the other cue A's.

Every factor is a column in pixels of the output picture or in the unit its name gives;
outside the condition that varies it, a factor has its neutral value (0, or 1 for gains).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CONDITIONS",
    "FACTORS",
    "NUISANCE",
    "Ranges",
    "plan_variants",
]

CONDITIONS = (
    "standard",
    "cue-conflict",
    "texture-weakened",
    "shape-warped",
    "nuisance-varied",
    "shape-morph",
    "texture-morph",
)
SHAPE = ("shape_warp", "shape_warp_scale", "shape_aspect", "shape_smooth")
TEXTURE = ("texture_lowpass", "texture_patch")
NUISANCE = (
    "brightness",
    "contrast",
    "colour_temp",
    "rotation",
    "scale",
    "shift_x",
    "shift_y",
    "blur",
    "noise",
)
FACTORS = SHAPE + TEXTURE + NUISANCE
#: Values that leave a picture as it is.
NEUTRAL = {f: 0.0 for f in FACTORS} | {"brightness": 1.0, "contrast": 1.0, "scale": 1.0}


@dataclass(frozen=True)
class Ranges:
    """How far each factor is drawn (uniformly) from neutral; lengths as fractions of the
    picture's side unless a unit is named."""

    warp: float = 0.04  # displacement, RMS
    warp_scale: tuple[float, float] = (0.06, 0.15)  # smoothness of the displacement field
    aspect: float = 0.6  # log2 of the width/height stretch, +-
    smooth: float = 0.04  # outline smoothing, Gaussian sigma
    lowpass: float = 0.03  # surface low-pass, Gaussian sigma
    patches: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4)  # shuffle patch sides
    conflict_patch: float = 1 / 8  # side of the donor's patches in cue-conflict images
    brightness: float = 0.25  # gain 1 +- this
    contrast: float = 0.3  # gain 1 +- this
    colour_temp: float = 1.0  # -1 .. 1
    rotation: float = 20.0  # degrees, +-
    scale: float = 0.12  # 1 +- this
    shift: float = 0.08  # fraction of the side, +-
    blur: float = 0.006  # Gaussian sigma, up to this
    noise: float = 0.04  # sensor noise SD on the 0..1 scale, up to this


def _balanced(count: int, levels: int, rng: np.random.Generator) -> np.ndarray:
    """`count` values cycling through 0..levels-1 from a random start, then shuffled: each
    level appears floor or ceil of count / levels times."""
    return rng.permutation((np.arange(count) + rng.integers(levels)) % levels)


def _pick_other(
    labels: np.ndarray, wanted: np.ndarray, exclude: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each row a random picture of class `wanted` other than picture `exclude`."""
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    out = np.empty(len(wanted), dtype=np.int64)
    for k, (c, ex) in enumerate(zip(wanted, exclude, strict=True)):
        pool = by_class[int(c)]
        pool = pool[pool != ex]
        out[k] = pool[rng.integers(len(pool))]
    return out


def _fit_patch(
    wanted: np.ndarray, fits: np.ndarray, sizes: np.ndarray, who: np.ndarray
) -> np.ndarray:
    """The largest patch side <= wanted that fits inside picture `who`'s object."""
    out = np.zeros(len(wanted))
    for k, (w, i) in enumerate(zip(wanted, who, strict=True)):
        ok = sizes[(sizes <= w) & fits[i]]
        out[k] = ok.max() if len(ok) else sizes[fits[i]].min()
    return out


def plan_variants(
    labels: np.ndarray,
    n_classes: int,
    *,
    size: int,
    per_image: int,
    morph_levels: int,
    seed: int,
    patch_sizes: np.ndarray,
    patch_fits: np.ndarray,
    ranges: Ranges = Ranges(),
) -> pd.DataFrame:
    """The plan: one row per stimulus.

    Parameters
    ----------
    labels : int array ``[n_sources]``, class of each source picture
    n_classes : number of classes
    size : side of the output pictures, px
    per_image : K, variants per source picture in each of the four perturbation conditions
    morph_levels : L, steps of each morph (0: no morphs)
    seed : the seed of every random choice
    patch_sizes : int array of candidate patch sides, px, ascending
    patch_fits : bool array ``[n_sources, len(patch_sizes)]``; the object of picture i holds a
        whole patch of that side somewhere

    Returns
    -------
    DataFrame with ``condition, src, donor`` (the surface's picture; -1: none), ``partner``
    (the morph's other picture; -1: none), ``morph_level`` (NaN outside morphs), ``seed``
    (of the pixel-level randomness of this stimulus) and every factor of `FACTORS`.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    src_all = np.arange(n)
    parts = [pd.DataFrame({"condition": "standard", "src": src_all})]

    rep = np.repeat(src_all, per_image)
    if per_image > 0:
        # Cue conflict: the surface's class cycles over every class within each source class.
        donor_class = np.empty(len(rep), dtype=np.int64)
        for c in range(n_classes):
            rows = np.flatnonzero(labels[rep] == c)
            donor_class[rows] = _balanced(len(rows), n_classes, rng)
        donor = _pick_other(labels, donor_class, rep, rng)
        conflict = pd.DataFrame({"condition": "cue-conflict", "src": rep, "donor": donor})
        conflict["texture_patch"] = _fit_patch(
            np.full(len(rep), ranges.conflict_patch * size), patch_fits, patch_sizes, donor
        )
        conflict = _draw_nuisance(conflict, size, ranges, rng)

        weak = pd.DataFrame({"condition": "texture-weakened", "src": rep})
        weak["texture_lowpass"] = rng.uniform(0, ranges.lowpass * size, len(rep))
        wanted = rng.choice([0.0, *(f * size for f in ranges.patches)], len(rep))
        fitted = _fit_patch(wanted, patch_fits, patch_sizes, rep)
        weak["texture_patch"] = np.where(wanted > 0, fitted, 0.0)

        warped = pd.DataFrame({"condition": "shape-warped", "src": rep})
        warped["shape_warp"] = rng.uniform(0, ranges.warp * size, len(rep))
        warped["shape_warp_scale"] = rng.uniform(*ranges.warp_scale, len(rep)) * size
        warped["shape_aspect"] = rng.uniform(-ranges.aspect, ranges.aspect, len(rep))
        warped["shape_smooth"] = rng.uniform(0, ranges.smooth * size, len(rep))

        nuisance = _draw_nuisance(
            pd.DataFrame({"condition": "nuisance-varied", "src": rep}), size, ranges, rng
        )
        parts += [conflict, weak, warped, nuisance]

    if morph_levels > 0:
        levels = np.linspace(0, 1, morph_levels)
        for kind in ("shape-morph", "texture-morph"):
            # the partner's class cycles over the other classes
            step = _balanced(n, n_classes - 1, rng) + 1
            partner = _pick_other(labels, (labels + step) % n_classes, src_all, rng)
            rows = pd.DataFrame(
                {
                    "condition": kind,
                    "src": np.repeat(src_all, morph_levels),
                    "partner": np.repeat(partner, morph_levels),
                    "morph_level": np.tile(levels, n),
                }
            )
            if kind == "texture-morph":
                fitted = _fit_patch(
                    np.full(len(rows), ranges.conflict_patch * size),
                    patch_fits,
                    patch_sizes,
                    rows["partner"].to_numpy(),
                )
                rows["texture_patch"] = fitted
            parts.append(rows)

    plan = pd.concat(parts, ignore_index=True)
    for col, default in (("donor", -1), ("partner", -1), ("morph_level", np.nan)):
        if col not in plan:
            plan[col] = default
        plan[col] = plan[col].fillna(default)
    plan[["donor", "partner"]] = plan[["donor", "partner"]].astype(np.int64)
    for f in FACTORS:
        plan[f] = plan[f].fillna(NEUTRAL[f]) if f in plan else NEUTRAL[f]
        plan[f] = plan[f].astype(float)
    plan["seed"] = rng.integers(0, 2**62, len(plan))
    return plan


def _draw_nuisance(
    rows: pd.DataFrame, size: int, r: Ranges, rng: np.random.Generator
) -> pd.DataFrame:
    m = len(rows)
    rows = rows.copy()
    rows["brightness"] = rng.uniform(1 - r.brightness, 1 + r.brightness, m)
    rows["contrast"] = rng.uniform(1 - r.contrast, 1 + r.contrast, m)
    rows["colour_temp"] = rng.uniform(-r.colour_temp, r.colour_temp, m)
    rows["rotation"] = rng.uniform(-r.rotation, r.rotation, m)
    rows["scale"] = rng.uniform(1 - r.scale, 1 + r.scale, m)
    rows["shift_x"] = rng.uniform(-r.shift, r.shift, m)
    rows["shift_y"] = rng.uniform(-r.shift, r.shift, m)
    rows["blur"] = rng.uniform(0, r.blur * size, m)
    rows["noise"] = rng.uniform(0, r.noise, m)
    return rows
