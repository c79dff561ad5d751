"""Object masks: the automatic foreground estimate and the outline's signed distance map.

Without a mask from the user, the object is estimated as follows (documented in the README):
the picture is turned to grey and smoothed with a Gaussian of 1 % of its side (so a fine
texture does not split the object), Otsu's threshold splits the grey levels in two, and the
side that touches less of the picture's border is the object (the background usually frames
it). Gaps narrower than 3 % of the side are closed (dark parts of a pattern at the rim),
only the largest connected piece is kept, and its holes are filled. A mask covering less
than `MIN_COVER` or more than `MAX_COVER` of the picture is suspect and gets a warning.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from reportgen.variants.ops import gaussian_blur

__all__ = [
    "MAX_COVER",
    "MIN_COVER",
    "centroid",
    "estimate_mask",
    "otsu_threshold",
    "signed_distance",
]

#: Masks covering less or more than this share of the picture are reported as suspect.
MIN_COVER = 0.05
MAX_COVER = 0.95


def otsu_threshold(grey: Tensor, bins: int = 256) -> Tensor:
    """Otsu's threshold of each picture of `grey` (``[n, H, W]``, values in [0, 1]): the grey
    level that maximises the between-class variance of the two sides. Returns ``[n]``."""
    n = grey.shape[0]
    idx = (grey.reshape(n, -1).clamp(0, 1) * (bins - 1)).round().to(torch.int64)
    hist = torch.zeros(n, bins, device=grey.device, dtype=torch.float64)
    hist.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))
    p = hist / hist.sum(dim=1, keepdim=True)
    levels = torch.arange(bins, device=grey.device, dtype=torch.float64) / (bins - 1)
    w0 = p.cumsum(dim=1)
    m = (p * levels).cumsum(dim=1)
    total = m[:, -1:]
    between = (total * w0 - m) ** 2 / (w0 * (1 - w0)).clamp_min(1e-12)
    between = torch.where((w0 > 0) & (w0 < 1), between, torch.zeros_like(between))
    best = between.argmax(dim=1)
    return levels[best].to(grey.dtype)


def _largest_piece_filled(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    # closing with a disc of 3 % of the side: dark parts of a surface pattern that touch the
    # outline would otherwise bite notches into it
    r = max(1, round(0.03 * max(mask.shape)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = yy**2 + xx**2 <= r * r
    mask = ndimage.binary_closing(np.pad(mask, r), structure=disc)[r:-r, r:-r]
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def estimate_mask(image: Tensor) -> Tensor:
    """The automatic foreground estimate of each picture (``[n, 3, H, W]`` in [0, 1]) as a
    float mask ``[n, 1, H, W]`` of 0 and 1 (see the module docstring)."""
    n, _, h, w = image.shape
    weights = torch.tensor([0.299, 0.587, 0.114], device=image.device, dtype=image.dtype)
    grey = (image * weights[:, None, None]).sum(dim=1, keepdim=True)
    sigma = torch.full((n,), max(h, w) * 0.01, device=image.device, dtype=image.dtype)
    grey = gaussian_blur(grey, sigma)[:, 0]
    above = grey > otsu_threshold(grey)[:, None, None]
    border = torch.cat(
        (above[:, 0, :], above[:, -1, :], above[:, :, 0], above[:, :, -1]), dim=1
    ).to(image.dtype)
    # the side that touches less of the border is the object
    fg = torch.where(border.mean(dim=1)[:, None, None] <= 0.5, above, ~above)
    out = np.stack([_largest_piece_filled(m) for m in fg.cpu().numpy()])
    return torch.from_numpy(out).to(device=image.device, dtype=image.dtype)[:, None]


def signed_distance(mask: Tensor) -> Tensor:
    """Signed distance to the outline in px (negative inside), ``[n, 1, H, W]``, from a 0/1
    mask. The picture's border counts as outside, so an object filling the whole picture has
    its outline at the border. The level 0.5 px away either side of a pixel edge makes
    ``alpha_from_sdf`` give back the mask exactly."""
    from scipy import ndimage

    out = []
    for m in mask[:, 0].cpu().numpy() > 0.5:
        padded = np.pad(m, 1)
        inside = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
        outside = ndimage.distance_transform_edt(~padded)[1:-1, 1:-1]
        out.append(np.where(m, 0.5 - inside, outside - 0.5))
    return torch.from_numpy(np.stack(out)).to(device=mask.device, dtype=mask.dtype)[:, None]


def centroid(mask: Tensor) -> Tensor:
    """Centre of each mask's area in px, ``[n, 2]`` (x, y); the picture's centre if empty."""
    n, _, h, w = mask.shape
    ys = torch.arange(h, device=mask.device, dtype=mask.dtype) + 0.5
    xs = torch.arange(w, device=mask.device, dtype=mask.dtype) + 0.5
    area = mask.sum(dim=(1, 2, 3))
    cx = (mask[:, 0] * xs[None, None, :]).sum(dim=(1, 2)) / area.clamp_min(1e-12)
    cy = (mask[:, 0] * ys[None, :, None]).sum(dim=(1, 2)) / area.clamp_min(1e-12)
    empty = area <= 0
    cx = torch.where(empty, torch.full_like(cx, w / 2), cx)
    cy = torch.where(empty, torch.full_like(cy, h / 2), cy)
    return torch.stack((cx, cy), dim=1)
