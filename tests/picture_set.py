"""A small labelled picture set the tests make themselves: flat objects of four outlines,
each with its own surface pattern, on a mottled background; with a shape and a texture per
class that can also be drawn independently (for training cue-specific models)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CLASSES = ("cross", "disc", "square", "triangle")


def outline(kind: int, size: int, rng: np.random.Generator, jitter: float = 1.0) -> np.ndarray:
    """A bool mask of outline `kind` (index into CLASSES), randomly placed, sized and turned."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    cx, cy = size / 2 + rng.uniform(-0.08, 0.08, 2) * size * jitter
    r = size * (0.30 + rng.uniform(-0.03, 0.03) * jitter)
    a = rng.uniform(-0.3, 0.3) * jitter
    u = ((xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)) / r
    v = (-(xx - cx) * math.sin(a) + (yy - cy) * math.cos(a)) / r
    if CLASSES[kind] == "disc":
        return u**2 + v**2 <= 1
    if CLASSES[kind] == "square":
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)
    if CLASSES[kind] == "triangle":
        return (v <= 0.75) & (v >= -1.0 + 1.75 * np.abs(u) / 1.2 * 1.2) & (np.abs(u) <= 1.15)
    return ((np.abs(u) <= 0.35) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.35) & (np.abs(u) <= 1.0))


def surface(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB float pattern of texture `kind`: fine stripes, a checkerboard, dots, or
    diagonal stripes, each in its own colour pair, with a random phase."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    period = size / 10
    px, py = rng.uniform(0, period, 2)
    if kind == 0:
        t = (np.sin(2 * math.pi * (yy + py) / period * 1.5) > 0).astype(float)
        lo, hi = (0.55, 0.35, 0.25), (0.95, 0.8, 0.6)
    elif kind == 1:
        t = ((((xx + px) // (period / 1.2)) + ((yy + py) // (period / 1.2))) % 2).astype(float)
        lo, hi = (0.25, 0.45, 0.3), (0.75, 0.95, 0.7)
    elif kind == 2:
        d = ((xx + px) % period - period / 2) ** 2 + ((yy + py) % period - period / 2) ** 2
        t = (d < (period / 3.2) ** 2).astype(float)
        lo, hi = (0.85, 0.85, 0.9), (0.3, 0.3, 0.7)
    else:
        t = (np.sin(2 * math.pi * (xx + yy + px) / period) > 0).astype(float)
        lo, hi = (0.9, 0.6, 0.7), (0.5, 0.2, 0.35)
    lo_, hi_ = np.array(lo), np.array(hi)
    return lo_ + t[..., None] * (hi_ - lo_)


def picture(
    shape: int, texture: int, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One picture (uint8 HxWx3) with the outline of class `shape` and the surface of class
    `texture`, and its mask."""
    mask = outline(shape, size, rng)
    back = 0.12 + 0.05 * rng.standard_normal((size, size, 1)).repeat(3, axis=2)
    img = np.where(mask[..., None], surface(texture, size, rng), back)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), mask


def write_picture_set(
    root: Path, per_class: int = 6, size: int = 96, seed: int = 0, masks: bool = False
) -> Path:
    """A class-per-folder picture set under `root` (and ``root/masks`` when `masks`)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        if masks:
            (root / "masks" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img, mask = picture(k, k, size, rng)
            Image.fromarray(img).save(root / name / f"{name}_{i:02d}.png")
            if masks:
                Image.fromarray(mask.astype(np.uint8) * 255).save(
                    root / "masks" / name / f"{name}_{i:02d}.png"
                )
    return root
