"""Make the pictures of a variant plan, batch by batch, on the chosen device.

Each stimulus draws its pixel-level randomness (the warp's noise, where patches come from, the
sensor noise) from a generator seeded by its own plan row, on the CPU, so a picture is the same
whatever the batch it is made in and whatever the device (up to float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from reportgen.variants import ops
from reportgen.variants.design import Ranges
from reportgen.variants.masks import centroid
from reportgen.variants.source import SourceImages

__all__ = ["BATCH", "core_masks", "patch_candidates", "patch_fits", "render_plan", "render_rows"]

#: Stimuli made at once (a few tens of MB at 224 px).
BATCH = 32
#: The smallest patch side, px: below it a patch holds no texture worth the name.
SMALLEST_PATCH = 4


def patch_candidates(size: int) -> np.ndarray:
    """Patch sides tried, px: powers of two from `SMALLEST_PATCH` up to half the picture,
    plus the sides `design.Ranges` asks for at this size."""
    sides = {SMALLEST_PATCH * 2**k for k in range(int(math.log2(size / 2 / SMALLEST_PATCH)) + 1)}
    r = Ranges()
    sides |= {max(SMALLEST_PATCH, round(size * f)) for f in (*r.patches, r.conflict_patch)}
    return np.array(sorted(s for s in sides if s <= size // 2), dtype=np.int64)


def _valid_corners(masks: Tensor, patch: int) -> Tensor:
    """Top-left corners whose ``patch x patch`` window lies wholly inside the object."""
    return ops.box_fraction(masks, patch) >= 1 - 1e-6


def patch_fits(masks: Tensor, sizes: np.ndarray) -> np.ndarray:
    """``[n, len(sizes)]`` bool: the object holds a whole patch of that side."""
    return np.stack(
        [_valid_corners(masks, int(s)).flatten(1).any(dim=1).cpu().numpy() for s in sizes], axis=1
    )


def core_masks(sdf: Tensor) -> Tensor:
    """The part of each object more than `_rim` px inside its outline (``[n, 1, H, W]``, 0/1):
    where patches of its surface are cut, so no rim pixel of an estimated mask is copied."""
    return (sdf < -_rim(sdf.shape[-1])).to(sdf.dtype)


def _by_patch(
    source: Tensor, masks: Tensor, patch: Tensor, u: Tensor, offset: Tensor, size: int
) -> Tensor:
    """Patch canvases of `source`, one patch side per row (rows grouped by side)."""
    out = torch.empty_like(source)
    for side in torch.unique(patch).tolist():
        rows = (patch == side).nonzero().squeeze(1)
        p = int(side)
        valid = _valid_corners(masks[rows], p)
        cells = (math.ceil(size / p) + 1) ** 2
        out[rows] = ops.patch_canvas(
            source[rows], valid, p, size, size, u[rows, :cells], offset[rows] % p
        )
    return out


def _randoms(seeds: np.ndarray, size: int) -> dict[str, Tensor]:
    """Every random number a row may need, from a CPU generator seeded by that row alone."""
    cells = (size // SMALLEST_PATCH + 2) ** 2
    out: dict[str, list[Tensor]] = {"field": [], "noise": [], "u": [], "mix": [], "offset": []}
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        out["field"].append(torch.randn(2, size, size, generator=g))
        out["noise"].append(torch.randn(3, size, size, generator=g))
        out["u"].append(torch.rand(cells, generator=g))
        out["mix"].append(torch.rand(cells, generator=g))
        out["offset"].append(torch.randint(0, 2**20, (2,), generator=g))
    return {k: torch.stack(v) for k, v in out.items()}


def render_rows(sources: SourceImages, rows: pd.DataFrame, device: torch.device) -> Tensor:
    """The pictures of plan `rows` (see `design.plan_variants`): uint8 ``[b, 3, S, S]``."""
    size = sources.images.shape[-1]
    dt = torch.float32

    def col(name: str) -> Tensor:
        return torch.as_tensor(rows[name].to_numpy(dtype=float, copy=True), dtype=dt, device=device)

    def idx(name: str) -> Tensor:
        return torch.as_tensor(rows[name].to_numpy().copy(), dtype=torch.int64)

    cond = rows["condition"].to_numpy()
    a = idx("src")
    img = sources.images[a].to(device=device, dtype=dt) / 255
    mask = sources.masks[a].to(device=device, dtype=dt)
    sdf = sources.sdf[a].to(device=device, dtype=dt)
    rnd = {k: v.to(device) for k, v in _randoms(rows["seed"].to_numpy(), size).items()}

    def at(names: list[str]) -> Tensor:
        return torch.as_tensor(np.isin(cond, names), device=device)

    # The surface: A's own pixels well inside its outline, its own patches elsewhere (so no
    # background bleeds in); the background: A's pixels well outside, a smooth fill elsewhere.
    # "Well": `_rim(size)` px from the outline, as an estimated mask may be a pixel or two off
    # and the object's rim must not show round a new outline or under a new surface.
    # Both are per source picture, not per stimulus (a batch holds a few sources many times).
    rim = _rim(size)
    uniq, inv = torch.unique(a, return_inverse=True)
    inv = inv.to(device)
    u_sdf = sources.sdf[uniq].to(device=device, dtype=dt)
    core = core_masks(sdf)
    own_side = _own_patch(core_masks(u_sdf), size)[inv]
    own = _by_patch(img, core, own_side, rnd["u"], rnd["offset"], size)
    base_surface = ops.surface_layer(img, ops.alpha_from_sdf(sdf + rim), own)
    surface = base_surface.clone()
    u_img = sources.images[uniq].to(device=device, dtype=dt) / 255
    background = ops.background_layer(u_img, ops.alpha_from_sdf(u_sdf - rim), size / 8)[inv]

    # Outline changes: shape-warped rows warp, stretch and smooth; shape-morph rows move
    # towards the partner's outline, centred on A's.
    outline = sdf.clone()
    warp = at(["shape-warped"]).nonzero().squeeze(1)
    if len(warp):
        field = ops.elastic_field(
            rnd["field"][warp], col("shape_warp_scale")[warp], col("shape_warp")[warp], (size, size)
        )
        moved = ops.warp_sdf(sdf[warp], field, col("shape_aspect")[warp], centroid(mask[warp]))
        outline[warp] = ops.smooth_sdf(moved, col("shape_smooth")[warp])
    smorph = at(["shape-morph"]).nonzero().squeeze(1)
    if len(smorph):
        p = idx("partner")[smorph.cpu()]
        other_mask = sources.masks[p].to(device=device, dtype=dt)
        shift = centroid(mask[smorph]) - centroid(other_mask)
        field = shift[:, None, None, :].expand(-1, size, size, -1)
        other = ops.warp_sdf(
            sources.sdf[p].to(device=device, dtype=dt),
            field,
            torch.zeros(len(p), device=device),
            shift,
        )
        outline[smorph] = ops.morph_sdf(sdf[smorph], other, col("morph_level")[smorph])
    alpha = ops.alpha_from_sdf(outline)

    # Surface changes.
    patch = col("texture_patch").to(torch.int64)
    weak = at(["texture-weakened"]).nonzero().squeeze(1)
    if len(weak):
        shuffled = weak[patch[weak] > 0]
        if len(shuffled):
            surface[shuffled] = _by_patch(
                img[shuffled],
                core[shuffled],
                patch[shuffled],
                rnd["u"][shuffled],
                rnd["offset"][shuffled],
                size,
            )
        surface[weak] = ops.gaussian_blur(surface[weak], col("texture_lowpass")[weak])
    # Another picture's surface: in patches (texture_patch > 0), or as its amplitude
    # spectrum under A's phase (texture_patch == 0: whole pictures, which have no core to cut
    # patches from). A texture morph takes a growing share of it.
    given = at(["cue-conflict", "texture-morph"])
    share = torch.where(
        at(["texture-morph"]), col("morph_level").nan_to_num(1.0), torch.ones_like(given, dtype=dt)
    )
    partner = torch.as_tensor(np.where(cond == "cue-conflict", rows["donor"], rows["partner"]))
    donated = (given & (patch > 0)).nonzero().squeeze(1)
    if len(donated):
        d = partner[donated.cpu()]
        tmorph = at(["texture-morph"])[donated]
        offset = torch.where(
            tmorph[:, None], torch.zeros_like(rnd["offset"][donated]), rnd["offset"][donated]
        )
        theirs = _by_patch(
            sources.images[d].to(device=device, dtype=dt) / 255,
            core_masks(sources.sdf[d].to(device=device, dtype=dt)),
            patch[donated],
            rnd["u"][donated],
            offset,
            size,
        )
        surface[donated] = theirs
        for side in torch.unique(patch[donated[tmorph]]).tolist():
            same = (tmorph & (patch[donated] == side)).nonzero().squeeze(1)
            g = math.ceil(size / side)
            u = rnd["mix"][donated[same], : g * g].reshape(-1, g, g)
            surface[donated[same]] = ops.patch_mix(
                base_surface[donated[same]], theirs[same], share[donated[same]], u, int(side)
            )
    spectral = (given & (patch == 0)).nonzero().squeeze(1)
    if len(spectral):
        theirs = sources.images[partner[spectral.cpu()]].to(device=device, dtype=dt) / 255
        surface[spectral] = ops.spectrum_mix(img[spectral], theirs, share[spectral])
    out = ops.composite(surface, background, alpha)

    # Pose, light and camera on the whole picture.
    nuis = at(["cue-conflict", "nuisance-varied"]).nonzero().squeeze(1)
    if len(nuis):
        shift = torch.stack((col("shift_x")[nuis], col("shift_y")[nuis]), dim=1)
        moved = ops.geometric(out[nuis], col("rotation")[nuis], col("scale")[nuis], shift)
        out[nuis] = ops.photometric(
            moved,
            col("brightness")[nuis],
            col("contrast")[nuis],
            col("colour_temp")[nuis],
            col("blur")[nuis],
            col("noise")[nuis],
            rnd["noise"][nuis],
        )
    pictures = (out.clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    standard = torch.as_tensor(cond == "standard")
    pictures[standard] = sources.images[a[standard]]  # the source picture itself
    return pictures


def _rim(size: int) -> int:
    """Width of the band round an outline taken from neither the object nor the scene, px."""
    return 1 + round(size / 100)


def _own_patch(masks: Tensor, size: int) -> Tensor:
    """Per row, the side of the patches that fill around its own object: the default
    (an eighth of the picture) or the largest smaller one that fits the object."""
    sizes = patch_candidates(size)
    fits = patch_fits(masks, sizes) & (sizes <= max(SMALLEST_PATCH, round(size / 8)))[None]
    side = np.where(fits.any(axis=1), (sizes[None] * fits).max(axis=1), SMALLEST_PATCH)
    return torch.as_tensor(side, dtype=torch.int64, device=masks.device)


def render_plan(
    sources: SourceImages,
    plan: pd.DataFrame,
    device: torch.device,
    on_progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> Iterator[tuple[pd.DataFrame, Tensor]]:
    """Yield ``(rows, pictures)`` batch by batch over `plan`."""
    for start in range(0, len(plan), batch):
        rows = plan.iloc[start : start + batch]
        pictures = render_rows(sources, rows, device)
        if on_progress is not None:
            on_progress(len(rows))
        yield rows, pictures
