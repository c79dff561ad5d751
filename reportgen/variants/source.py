"""The user's labelled pictures, read and checked for `reportgen stimuli from-images`.

Two layouts are read:

- a folder with one sub-folder per class (torchvision's ``ImageFolder`` layout); a
  sub-folder named ``masks`` is not a class but holds object masks at the same relative paths
  (``masks/<class>/<name>``, any picture format, or ``<name>`` with a ``.png`` suffix);
- a CSV table with the columns ``image`` and ``label`` and optionally ``mask``, paths relative
  to the table's folder.

Every picture is scaled so its shorter side is the requested size and centre-cropped to a
square. Every problem is collected and reported at once, each naming its file; nothing is
written anywhere by this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import MAX_IMAGE_PIXELS, image_problem
from reportgen.variants.masks import MAX_COVER, MIN_COVER, estimate_mask, signed_distance

__all__ = ["IMAGE_SUFFIXES", "MASKS_FOLDER", "SourceImages", "find_sources", "read_sources"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MASKS_FOLDER = "masks"
#: Problems of one kind shown before the rest are counted in one line.
_SHOW = 10


@dataclass(frozen=True)
class SourceImages:
    """The source pictures, fitted to a square of `size` px.

    Attributes
    ----------
    images : uint8 Tensor ``[n, 3, size, size]``
    masks : float Tensor ``[n, 1, size, size]`` of 0 and 1 (the object)
    sdf : float Tensor ``[n, 1, size, size]``; signed distance to the outline, px
    labels : int64 Tensor ``[n]``; index into `classes`
    classes : tuple of class names, sorted (the order torchvision's ImageFolder gives)
    names : tuple of each picture's path relative to the source (for the table and messages)
    mask_kind : "given", "estimated" or "whole image"
    warnings : lines about masks that look wrong (coverage outside 5-95 %)
    """

    images: Tensor
    masks: Tensor
    sdf: Tensor
    labels: Tensor
    classes: tuple[str, ...]
    names: tuple[str, ...]
    mask_kind: str
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class _Entry:
    image: Path
    label: str
    mask: Path | None
    name: str


def _is_picture(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def _folder_entries(src: Path) -> list[_Entry]:
    masks = src / MASKS_FOLDER
    entries = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name == MASKS_FOLDER:
            continue
        for path in sorted(p for p in folder.rglob("*") if _is_picture(p)):
            rel = path.relative_to(src)
            mask = None
            if masks.is_dir():
                same = masks / rel
                png = (masks / rel).with_suffix(".png")
                mask = same if same.is_file() else png if png.is_file() else None
            entries.append(_Entry(path, folder.name, mask, rel.as_posix()))
    return entries


def _csv_entries(src: Path, problems: list[str]) -> list[_Entry]:
    try:
        table = pd.read_csv(src, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ReportgenError(f"{src}: cannot read the table ({err})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("image", "label") if c not in table.columns]
    if missing:
        raise ReportgenError(
            f"{src}: missing column(s) {', '.join(missing)}; the table needs image,label[,mask]"
        )
    base = src.parent
    entries = []
    for i, row in table.iterrows():
        line = int(i) + 2  # the header is line 1
        image, label = row["image"].strip(), row["label"].strip()
        if not image or not label:
            problems.append(f"{src}: line {line}: empty image or label")
            continue
        mask = row.get("mask", "").strip() if "mask" in table.columns else ""
        entries.append(_Entry(base / image, label, base / mask if mask else None, image))
    return entries


def find_sources(src: Path) -> list[_Entry]:
    """The pictures of `src` (a class-per-folder tree or a CSV), with labels and masks."""
    problems: list[str] = []
    if src.is_dir():
        entries = _folder_entries(src)
    elif src.is_file():
        entries = _csv_entries(src, problems)
    else:
        raise ReportgenError(f"{src}: not found; give a folder of class folders or a CSV table")
    if problems:
        raise ReportgenError(problems)
    if not entries:
        raise ReportgenError(
            f"{src}: no pictures found; expected one sub-folder per class holding pictures "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}), or a CSV with columns image,label[,mask]"
        )
    counts = pd.Series([e.label for e in entries]).value_counts()
    if len(counts) < 2:
        raise ReportgenError(
            f"{src}: only one class ({counts.index[0]}); cue-conflict images need at least two"
        )
    lonely = sorted(counts[counts < 2].index)
    if lonely:
        raise ReportgenError(
            [
                f"{src}: class {c!r} has one picture "
                f"({next(e.name for e in entries if e.label == c)}); "
                "every class needs at least two (a surface donor of the same class must be "
                "another picture)"
                for c in lonely
            ]
        )
    return entries


def _fit(picture: np.ndarray, size: int, resample: int) -> np.ndarray:
    """Scale so the shorter side is `size`, then centre-crop to ``size x size``."""
    from PIL import Image

    img = Image.fromarray(picture)
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def _read_picture(path: Path, mode: str) -> np.ndarray:
    """Pixels of `path` in PIL `mode`; ValueError with one line when it cannot be read."""
    from PIL import Image

    if (why := image_problem(path)) is not None:
        raise ValueError(why)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert(mode))
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image {path} ({type(err).__name__}: {err})") from None


def read_sources(
    src: Path,
    size: int,
    *,
    whole_image: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> SourceImages:
    """Read, check and fit every picture of `src` (see the module docstring).

    Problems (unreadable pictures, masks of the wrong size, pictures smaller than `size`,
    empty masks) are collected over all pictures and raised together as one ReportgenError.
    """
    from PIL import Image

    entries = find_sources(src)
    advance = progress("reading pictures", len(entries)) if progress is not None else None
    if whole_image and any(e.mask is not None for e in entries):
        raise ReportgenError(f"{src}: masks are given; --whole-image would ignore them")
    problems: dict[str, list[str]] = {}
    images, masks = [], []
    for e in entries:
        try:
            pixels = _read_picture(e.image, "RGB")
        except ValueError as err:
            problems.setdefault("unreadable", []).append(str(err))
            pixels = None
        if pixels is not None and min(pixels.shape[:2]) < size:
            problems.setdefault("small", []).append(
                f"{e.image}: {pixels.shape[0]}x{pixels.shape[1]} px, smaller than the "
                f"requested size {size}; give a smaller --size"
            )
            pixels = None
        mask = None
        if e.mask is not None:
            try:
                mask = _read_picture(e.mask, "L")
            except ValueError as err:
                problems.setdefault("unreadable", []).append(f"mask: {err}")
            if mask is not None and pixels is not None and mask.shape != pixels.shape[:2]:
                problems.setdefault("mask size", []).append(
                    f"{e.mask}: mask is {mask.shape[0]}x{mask.shape[1]} px but its image "
                    f"{e.image} is {pixels.shape[0]}x{pixels.shape[1]}; they must match"
                )
                mask = None
        if pixels is not None:
            images.append(_fit(pixels, size, Image.Resampling.LANCZOS))
            if mask is not None:
                masks.append(_fit(mask, size, Image.Resampling.BILINEAR) >= 128)
            else:
                masks.append(None)
        if advance is not None:
            advance(1)
    if any(e.mask is not None for e in entries) and any(e.mask is None for e in entries):
        bare = [e.name for e in entries if e.mask is None]
        problems.setdefault("no mask", []).append(
            f"{src}: {len(bare)} picture(s) have no mask while others do, e.g. {bare[0]}; "
            "give every picture a mask or none"
        )
    if problems:
        lines = []
        for items in problems.values():
            lines += items[:_SHOW]
            if len(items) > _SHOW:
                lines.append(f"... and {len(items) - _SHOW} more like these")
        raise ReportgenError(lines)

    pictures = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    if whole_image:
        mask_t = torch.ones(len(entries), 1, size, size)
        kind = "whole image"
    elif masks[0] is not None:
        mask_t = torch.from_numpy(np.stack(masks)).to(torch.float32)[:, None]
        kind = "given"
    else:
        mask_t = torch.cat(
            [
                estimate_mask(pictures[i : i + 64].to(torch.float32) / 255)
                for i in range(0, len(entries), 64)
            ]
        )
        kind = "estimated"
    cover = mask_t.mean(dim=(1, 2, 3))
    empty = [entries[i].name for i in range(len(entries)) if cover[i] == 0]
    if empty:
        raise ReportgenError(
            [f"{src}: {name}: the object mask is empty" for name in empty[:_SHOW]]
            + ([f"... and {len(empty) - _SHOW} more"] if len(empty) > _SHOW else [])
        )
    warnings = []
    if not whole_image:
        odd = [
            f"{entries[i].name}: the {kind} mask covers {100 * float(cover[i]):.0f}% of the picture"
            for i in range(len(entries))
            if not MIN_COVER <= float(cover[i]) <= MAX_COVER
        ]
        warnings = odd[:_SHOW] + (
            [f"... and {len(odd) - _SHOW} more masks outside 5-95%"] if len(odd) > _SHOW else []
        )
    classes = tuple(sorted({e.label for e in entries}))
    labels = torch.tensor([classes.index(e.label) for e in entries], dtype=torch.int64)
    return SourceImages(
        images=pictures,
        masks=mask_t,
        sdf=signed_distance(mask_t),
        labels=labels,
        classes=classes,
        names=tuple(e.name for e in entries),
        mask_kind=kind,
        warnings=tuple(warnings),
    )
