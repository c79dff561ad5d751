"""Pure, batched image operations behind `reportgen stimuli from-images`.

Every stimulus is put together from three layers of a source image, so that each factor
changes one of them and nothing else:

- the **outline**, a signed distance map ``sdf`` in pixels (negative inside the object); the
  shape factors warp, stretch, smooth or morph it, and the object's alpha is
  ``clamp(0.5 - sdf, 0, 1)`` (a one-pixel anti-aliased edge);
- the **surface**, an image that holds the object's own pixels inside its outline and patches
  of its own surface outside it; the texture factors blur it, reshuffle it in patches, or
  replace it by patches of another image's surface;
- the **background**, the image's own pixels outside the object and a smooth fill behind it.

``composite`` lays the surface over the background through the alpha, so a shape change never
touches a surface pixel that was inside the old outline, and a texture change never moves the
outline. The nuisance factors (pose, light, colour, blur, noise) then act on the whole picture.

Conventions: images are float ``[n, 3, H, W]`` in [0, 1]; maps are ``[n, 1, H, W]``; per-image
parameters are float tensors of shape ``[n]``; lengths are in pixels of the output picture.
Everything runs on the device and dtype of its inputs; randomness comes in as tensors drawn by
the caller, so results do not depend on batching.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "alpha_from_sdf",
    "background_layer",
    "box_fraction",
    "composite",
    "elastic_field",
    "gaussian_blur",
    "geometric",
    "morph_sdf",
    "patch_canvas",
    "patch_mix",
    "photometric",
    "smooth_sdf",
    "spectrum_mix",
    "surface_layer",
    "warp_sdf",
]


def _grid(n: int, h: int, w: int, like: Tensor) -> Tensor:
    """Pixel-centre coordinates in grid_sample's normalised units, ``[n, h, w, 2]`` (x, y)."""
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).expand(n, h, w, 2)


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Each image of `x` (``[n, c, H, W]``) blurred by a Gaussian of its own `sigma` (px).

    The image is reflected at its borders before filtering in the Fourier domain, so nothing
    wraps around from the opposite edge; ``sigma == 0`` returns the image unchanged.
    """
    n, _, h, w = x.shape
    pad = int(min(math.ceil(3 * float(sigma.max())) if n else 0, h - 1, w - 1))
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad > 0 else x
    hp, wp = xp.shape[-2:]
    fy = torch.fft.fftfreq(hp, device=x.device, dtype=x.dtype)
    fx = torch.fft.rfftfreq(wp, device=x.device, dtype=x.dtype)
    f2 = fy[:, None] ** 2 + fx[None, :] ** 2
    gain = torch.exp(-2 * math.pi**2 * sigma.to(x.dtype)[:, None, None, None] ** 2 * f2)
    out = torch.fft.irfft2(torch.fft.rfft2(xp) * gain, s=(hp, wp))
    return out[..., pad : pad + h, pad : pad + w]


def box_fraction(mask: Tensor, patch: int) -> Tensor:
    """Share of each ``patch x patch`` window that lies inside `mask` (``[n, 1, H, W]``),
    indexed by the window's top-left pixel: ``[n, H - patch + 1, W - patch + 1]``.

    From a summed-area table, so the cost does not grow with the patch (a pooling window of
    side p costs p² per pixel). Float64 keeps the differences of large sums exact."""
    s = F.pad(mask[:, 0].to(torch.float64).cumsum(-1).cumsum(-2), (1, 0, 1, 0))
    box = (
        s[:, patch:, patch:]
        - s[:, :-patch, patch:]
        - s[:, patch:, :-patch]
        + s[:, :-patch, :-patch]
    )
    return (box / patch**2).to(mask.dtype)


def patch_canvas(
    source: Tensor, valid: Tensor, patch: int, height: int, width: int, u: Tensor, offset: Tensor
) -> Tensor:
    """A picture tiled with square patches cut from `source` at random valid places.

    Parameters
    ----------
    source : Tensor, ``[n, 3, H, W]``
    valid : Tensor, bool, ``[n, H - patch + 1, W - patch + 1]``; top-left corners whose patch
        may be used (every row must have at least one)
    patch : int, side of a patch in px
    height, width : int, size of the canvas
    u : Tensor, ``[n, cells]`` uniform numbers in [0, 1), one per grid cell (row-major over a
        grid of ``ceil(height / patch) + 1`` by ``ceil(width / patch) + 1`` cells)
    offset : Tensor, int64 ``[n, 2]``; shift of the grid (y, x) in [0, patch)

    Returns
    -------
    canvas : Tensor, ``[n, 3, height, width]``
    """
    n, c, h, w = source.shape
    vh, vw = valid.shape[-2:]
    flat = valid.reshape(n, -1)
    counts = flat.sum(dim=1)
    # The k-th valid corner, k uniform: searchsorted on the running count of valid corners.
    cum = flat.to(torch.int64).cumsum(dim=1)
    k = (u * counts[:, None]).floor().to(torch.int64).clamp(max=counts[:, None] - 1) + 1
    corner = torch.searchsorted(cum, k)  # [n, cells]: flat index of a valid corner
    cy, cx = corner // vw, corner % vw
    gw = math.ceil(width / patch) + 1
    yy = torch.arange(height, device=source.device)[None, :] + offset[:, :1]  # [n, height]
    xx = torch.arange(width, device=source.device)[None, :] + offset[:, 1:]
    cell = (yy // patch)[:, :, None] * gw + (xx // patch)[:, None, :]  # [n, height, width]
    sy = cy.gather(1, cell.reshape(n, -1)).reshape(n, height, width) + (yy % patch)[:, :, None]
    sx = cx.gather(1, cell.reshape(n, -1)).reshape(n, height, width) + (xx % patch)[:, None, :]
    index = (sy * w + sx).reshape(n, 1, -1).expand(n, c, -1)
    return source.reshape(n, c, -1).gather(2, index).reshape(n, c, height, width)


def patch_mix(first: Tensor, second: Tensor, share: Tensor, u: Tensor, patch: int) -> Tensor:
    """`first` with a share of its ``patch x patch`` cells taken from `second`.

    A cell comes from `second` when its uniform number in `u` (``[n, rows, cols]`` over the
    cell grid) is below `share` (``[n]``), so the cells taken at a smaller share are always
    among those taken at a larger one: levels of a morph are nested.
    """
    h, w = first.shape[-2:]
    take = (u < share[:, None, None]).to(first.dtype)[:, None]
    take = take.repeat_interleave(patch, dim=-2).repeat_interleave(patch, dim=-1)[..., :h, :w]
    return first * (1 - take) + second * take


def spectrum_mix(phase: Tensor, amplitude: Tensor, share: Tensor) -> Tensor:
    """Pictures with the Fourier phase of `phase` (where its edges and parts are) and an
    amplitude spectrum a `share` (``[n]``, 0..1) of the way from that of `phase` to that of
    `amplitude` (the other picture's surface statistics and colour), per channel; clipped to
    [0, 1]. ``share == 1`` is the phase/amplitude swap of a whole-picture cue conflict."""
    h, w = phase.shape[-2:]
    fa, fb = torch.fft.rfft2(phase), torch.fft.rfft2(amplitude)
    t = share.to(phase.dtype)[:, None, None, None]
    magnitude = (1 - t) * fa.abs() + t * fb.abs()
    return torch.fft.irfft2(torch.polar(magnitude, fa.angle()), s=(h, w)).clamp(0, 1)


def surface_layer(image: Tensor, alpha: Tensor, own_patches: Tensor) -> Tensor:
    """The object's surface: its own pixels inside the outline, patches of itself outside."""
    return alpha * image + (1 - alpha) * own_patches


def background_layer(image: Tensor, alpha: Tensor, sigma: float) -> Tensor:
    """The scene behind the object: the image outside the outline, and inside it a smooth
    fill from the surrounding background (a normalised Gaussian average of width `sigma` px;
    the image's mean colour where no background is near). The fill is that smooth, so it is
    computed at a quarter of the resolution when `sigma` is 8 px or more."""
    n, _, h, w = image.shape
    weight = 1 - alpha
    k = 4 if sigma >= 8 and min(h, w) >= 32 else 1
    both = torch.cat((image * weight, weight), dim=1)
    if k > 1:
        both = F.avg_pool2d(both, k, ceil_mode=True)
    s = torch.full((n,), float(sigma) / k, device=image.device, dtype=image.dtype)
    both = gaussian_blur(both, s)
    if k > 1:
        both = F.interpolate(both, size=(h, w), mode="bilinear", align_corners=False)
    num, den = both[:, :3], both[:, 3:]
    mean = image.mean(dim=(-2, -1), keepdim=True)
    fill = torch.where(den > 1e-3, num / den.clamp_min(1e-3), mean)
    return weight * image + alpha * fill


def composite(surface: Tensor, background: Tensor, alpha: Tensor) -> Tensor:
    """The surface laid over the background through the object's alpha ``[n, 1, H, W]``."""
    return alpha * surface + (1 - alpha) * background


def alpha_from_sdf(sdf: Tensor) -> Tensor:
    """Object coverage of each pixel from a signed distance map (px, negative inside)."""
    return (0.5 - sdf).clamp(0, 1)


def elastic_field(noise: Tensor, scale: Tensor, amplitude: Tensor, size: tuple[int, int]) -> Tensor:
    """A smooth random displacement field in px, ``[n, H, W, 2]`` (x, y).

    `noise` (``[n, 2, H, W]`` standard normal) is low-passed with a Gaussian of `scale` px and
    rescaled so the displacement's root mean square is `amplitude` px.
    """
    h, w = size
    smooth = gaussian_blur(noise, scale)
    rms = smooth.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-12)
    field = smooth / rms * amplitude.to(noise.dtype)[:, None, None, None]
    return field.permute(0, 2, 3, 1)[:, :h, :w]


def warp_sdf(sdf: Tensor, field: Tensor, aspect: Tensor, centre: Tensor) -> Tensor:
    """The outline moved by a displacement `field` (px, ``[n, H, W, 2]``) and stretched about
    `centre` (``[n, 2]``, x and y in px) by ``2 ** (aspect / 2)`` across and
    ``2 ** (-aspect / 2)`` down (area kept). Outside the picture the distance grows linearly."""
    n, _, h, w = sdf.shape
    px = _grid(n, h, w, sdf).clone()
    px[..., 0] = (px[..., 0] + 1) * w / 2  # normalised -> px
    px[..., 1] = (px[..., 1] + 1) * h / 2
    sx = torch.exp2(aspect.to(sdf.dtype) / 2)[:, None, None]
    c = centre.to(sdf.dtype)[:, None, None, :]
    src = px - field
    src = torch.stack(
        ((src[..., 0] - c[..., 0]) / sx + c[..., 0], (src[..., 1] - c[..., 1]) * sx + c[..., 1]),
        dim=-1,
    )
    norm = torch.stack((src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1), dim=-1)
    out = F.grid_sample(sdf, norm, mode="bilinear", padding_mode="border", align_corners=False)
    # past the border the object cannot continue: add the distance travelled outside
    over_x = (src[..., 0] - w).clamp_min(0) + (-src[..., 0]).clamp_min(0)
    over_y = (src[..., 1] - h).clamp_min(0) + (-src[..., 1]).clamp_min(0)
    out = out + (over_x + over_y)[:, None]
    return out


def smooth_sdf(sdf: Tensor, sigma: Tensor) -> Tensor:
    """The outline smoothed: small bumps and dents (below about `sigma` px) are rounded off."""
    return gaussian_blur(sdf, sigma)


def morph_sdf(first: Tensor, second: Tensor, level: Tensor) -> Tensor:
    """The outline a share `level` (``[n]``, 0..1) of the way from `first` to `second`."""
    t = level.to(first.dtype)[:, None, None, None]
    return (1 - t) * first + t * second


def geometric(image: Tensor, rotation: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """Turn (degrees, counter-clockwise), scale and shift (``[n, 2]``, x and y as fractions
    of the picture's width and height, y down) each whole picture about its centre; what
    comes in from outside mirrors the picture's edge (a plain colour would frame the old
    picture with a visible edge)."""
    n, _, h, w = image.shape
    a = torch.deg2rad(rotation.to(image.dtype))
    cos, sin = torch.cos(a), torch.sin(a)
    s = scale.to(image.dtype)
    # grid_sample maps output to input: the inverse of "rotate, scale, then shift"
    theta = torch.zeros(n, 2, 3, device=image.device, dtype=image.dtype)
    aspect = w / h
    theta[:, 0, 0] = cos / s
    theta[:, 0, 1] = -sin / s / aspect
    theta[:, 1, 0] = sin / s * aspect
    theta[:, 1, 1] = cos / s
    d = shift.to(image.dtype) * 2
    theta[:, :, 2] = -(theta[:, :, :2] @ d[:, :, None]).squeeze(-1)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(
        image, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def photometric(
    image: Tensor,
    brightness: Tensor,
    contrast: Tensor,
    colour_temp: Tensor,
    blur: Tensor,
    noise_sd: Tensor,
    noise: Tensor,
) -> Tensor:
    """Light and camera on a whole picture: a Gaussian blur of `blur` px, the gain
    `brightness`, the `contrast` about the picture's mean grey, a colour temperature shift
    (``colour_temp`` in -1..1: red gain ``1 + 0.1 t``, blue gain ``1 - 0.1 t``), then sensor
    noise of standard deviation `noise_sd` (`noise` is standard normal, shaped like `image`);
    clipped to [0, 1]."""
    col = lambda v: v.to(image.dtype)[:, None, None, None]  # noqa: E731
    out = gaussian_blur(image, blur)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (mean + (out - mean) * col(contrast)) * col(brightness)
    t = col(colour_temp)
    gains = torch.cat((1 + 0.1 * t, torch.ones_like(t), 1 - 0.1 * t), dim=1)
    out = out * gains + noise * col(noise_sd)
    return out.clamp(0, 1)
