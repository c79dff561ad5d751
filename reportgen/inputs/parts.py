"""The built-in ``parts`` stimulus generator: procedural images of machined parts.

A stand-in for the 3D face model of Xu et al. (arXiv 1811.07807): every image is a flat
machined part on a plain background, made from known continuous factors.

Generative model
----------------
* **Part frame.** Pixel centres ``(u, v)`` in ``[-1, 1]`` (``v`` up) are mapped into the part's
  own frame: subtract ``(shift_x, shift_y)``, rotate by ``-rotation`` degrees, divide by
  ``scale * 0.62``. In that frame the nominal outline radius is 1.
* **Shape** (``shape_*``; the silhouette depends on these and on the pose only). The outline is
  ``R(t) = 1 + sum_k c_k cos(k t) + s_k sin(k t)`` for ``k`` in 2, 3, 4, 6 (columns
  ``shape_h{k}c``, ``shape_h{k}s``: the cosine/sine components, i.e. amplitude and phase of each
  harmonic without a wrap-around). A central bore (``shape_bore``, radius), a ring of bolt holes
  (``shape_bolt_r`` radius, ``shape_bolt_n`` count, ``shape_bolt_ring`` centre distance as a
  fraction of the local outline radius) and a straight slot cut in from the rim
  (``shape_notch_depth``, ``shape_notch_angle`` in degrees) are removed. ``shape_bolt_n`` is
  continuous: holes sit at ``360 j / n`` degrees and the last one grows with the fractional
  part, so morphs between types with different counts are smooth. Edges are anti-aliased (a
  one-pixel linear ramp of the signed distance), a narrow chamfer darkens the rims, and the
  outline casts a soft shadow on the table, always down and to the right (so it too depends
  on shape and pose only, never on the light factors).
* **Texture** (``texture_*``; a property of the part's surface, drawn in the part frame, so it
  turns, scales and moves with the part). Grain: eight sinusoids of frequency about
  ``texture_freq`` cycles per outline radius, oriented at ``texture_orient`` degrees and spread
  over ``(1 - texture_aniso) * 180`` degrees (1 = brushed streaks, 0 = isotropic cast grain),
  amplitude ``texture_contrast``; components near the pixel Nyquist limit are faded out.
  ``texture_scratch`` (0..1) sets how many of six bright scratches show, ``texture_stain``
  (0..1) how many of three rust-brown stains, ``texture_tone`` the base grey level and
  ``texture_tint`` the metal colour (-1 blued steel ... +1 brass).
* **Surface details.** Where the grain phases, scratches and stains fall is drawn per stimulus
  from the integer column ``noise_seed`` (a counter-based hash, so one row renders the same
  alone or in any batch). It is not a factor: it changes only the surface pattern.
* **Nuisance.** ``rotation`` (degrees), ``scale``, ``shift_x``/``shift_y`` (half-image units)
  set the pose; the light multiplies the whole image (part and table) by the planar gradient
  ``1 + light_strength * (u cos a + v sin a) / sqrt(2)`` with ``a = light_angle`` degrees.

Each of the ``n_types`` part types has a shape prototype and a texture prototype. A stimulus
draws every factor from a normal around its type's prototype value with standard deviation
``jitter * spread``, where ``spread`` is that factor's standard deviation across the eight
prototypes (so a jitter of 1 makes within-type variation as large as between-type variation),
clipped to the factor's range. By default shape jitters more than texture, which makes texture
the more reliable cue, as the paper found for faces.

Conditions: ``standard`` (shape and texture of one type), ``cue-conflict`` (shape of type i,
texture of type j != i), ``shape-morph`` (shape interpolated from prototype i to prototype j at
``morph_level``, texture fixed at prototype i) and ``texture-morph`` (the reverse). In the morph
conditions both cues are exact prototypes or interpolations (no jitter); the nuisance factors are
drawn as usual. ``label`` always names the class of the shape (for a shape morph, the nearer
endpoint; ties go to the start type i), like the ground truth an inspector reads off a drawing.

Table columns besides the factors: ``id``, ``image`` (file name inside the images folder that
``write_stimuli`` fills), ``label``, ``condition``, ``shape_type`` and ``texture_type`` (type
indices; the nearer endpoint for the morphed cue), ``morph_from``/``morph_to`` (type indices, -1
outside the morph conditions), ``morph_level`` (NaN outside the morph conditions) and
``noise_seed``. Images are bit-identical for the same seed on the same device; float rounding may
differ between CPU and CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "CLASS_NAMES",
    "CONDITIONS",
    "FACTOR_GROUPS",
    "FACTOR_RANGES",
    "PartsBatch",
    "contact_sheet",
    "generate",
    "overview_sheet",
    "prototypes",
    "render",
    "silhouette",
    "to_uint8",
    "write_stimuli",
]

CLASS_NAMES: tuple[str, ...] = (
    "washer",
    "flange",
    "sprocket",
    "bracket",
    "cam",
    "coupling",
    "plate",
    "pulley",
)
CONDITIONS: tuple[str, ...] = ("standard", "cue-conflict", "shape-morph", "texture-morph")
_CONDITION_TAG = {
    "standard": "std",
    "cue-conflict": "cc",
    "shape-morph": "sm",
    "texture-morph": "tm",
}

_HARMONICS = (2, 3, 4, 6)
_SHAPE = [f"shape_h{k}{part}" for k in _HARMONICS for part in ("c", "s")] + [
    "shape_bore",
    "shape_bolt_r",
    "shape_bolt_n",
    "shape_bolt_ring",
    "shape_notch_depth",
    "shape_notch_angle",
]
_TEXTURE = [
    "texture_freq",
    "texture_orient",
    "texture_aniso",
    "texture_contrast",
    "texture_scratch",
    "texture_stain",
    "texture_tone",
    "texture_tint",
]
_NUISANCE = ["rotation", "scale", "shift_x", "shift_y", "light_angle", "light_strength"]
FACTOR_GROUPS: dict[str, list[str]] = {
    "shape": list(_SHAPE),
    "texture": list(_TEXTURE),
    "nuisance": list(_NUISANCE),
}
_FACTORS = _SHAPE + _TEXTURE + _NUISANCE

# Valid range of every factor (inclusive). Angles are in degrees and deliberately not wrapped:
# a jittered orientation of -5 stays -5 so that the column is a plain continuous variable.
FACTOR_RANGES: dict[str, tuple[float, float]] = {
    "shape_h2c": (-0.4, 0.4),
    "shape_h2s": (-0.4, 0.4),
    "shape_h3c": (-0.3, 0.3),
    "shape_h3s": (-0.3, 0.3),
    "shape_h4c": (-0.25, 0.25),
    "shape_h4s": (-0.25, 0.25),
    "shape_h6c": (-0.16, 0.16),
    "shape_h6s": (-0.16, 0.16),
    "shape_bore": (0.06, 0.6),
    "shape_bolt_r": (0.0, 0.16),
    "shape_bolt_n": (2.0, 8.0),
    "shape_bolt_ring": (0.45, 0.85),
    "shape_notch_depth": (0.0, 0.5),
    "shape_notch_angle": (-180.0, 540.0),
    "texture_freq": (1.0, 8.0),
    "texture_orient": (-90.0, 270.0),
    "texture_aniso": (0.0, 1.0),
    "texture_contrast": (0.0, 0.5),
    "texture_scratch": (0.0, 1.0),
    "texture_stain": (0.0, 1.0),
    "texture_tone": (0.25, 0.9),
    "texture_tint": (-1.0, 1.0),
    "rotation": (-180.0, 180.0),
    "scale": (0.85, 1.1),
    "shift_x": (-0.08, 0.08),
    "shift_y": (-0.08, 0.08),
    "light_angle": (-180.0, 180.0),
    "light_strength": (0.0, 0.5),
}


def _harmonic(amp: float, phase_deg: float) -> tuple[float, float]:
    """Cosine and sine components of ``amp * cos(k t - phase)``."""
    ph = math.radians(phase_deg)
    return amp * math.cos(ph), amp * math.sin(ph)


def _shape_proto(
    h2: tuple[float, float],
    h3: tuple[float, float],
    h4: tuple[float, float],
    h6: tuple[float, float],
    bore: float,
    bolt_r: float,
    bolt_n: float,
    ring: float,
    notch_depth: float,
    notch_angle: float,
) -> list[float]:
    comps = [c for h in (h2, h3, h4, h6) for c in _harmonic(*h)]
    return comps + [bore, bolt_r, bolt_n, ring, notch_depth, notch_angle]


# Hand-designed prototypes, one per class name, so the names describe what the parts look like.
_SHAPE_PROTOS = [
    # washer: round, large bore, no bolt holes
    _shape_proto((0.02, 0), (0, 0), (0.01, 0), (0, 0), 0.5, 0.0, 4, 0.75, 0.0, 90),
    # flange: round, six bolt holes
    _shape_proto((0, 0), (0, 0), (0.04, 45), (0, 0), 0.32, 0.1, 6, 0.74, 0.0, 0),
    # sprocket: six lobes, three holes
    _shape_proto((0, 0), (0, 0), (0, 0), (0.13, 0), 0.22, 0.08, 3, 0.55, 0.0, 30),
    # bracket: elongated, a hole at each end, a side slot
    _shape_proto((0.32, 0), (0, 0), (0.07, 0), (0, 0), 0.1, 0.11, 2, 0.78, 0.28, 90),
    # cam: egg-shaped, keyed, no holes
    _shape_proto((0.16, 0), (0.12, 0), (0, 0), (0, 0), 0.16, 0.0, 2, 0.6, 0.22, 180),
    # coupling: three lobes, a hole in each
    _shape_proto((0, 0), (0.2, 0), (0, 0), (0, 0), 0.3, 0.1, 3, 0.72, 0.0, 60),
    # plate: square-ish, four corner holes
    _shape_proto((0.05, 90), (0, 0), (0.15, 0), (0, 0), 0.12, 0.1, 4, 0.74, 0.0, 45),
    # pulley: round, five small holes, a keyway slot
    _shape_proto((0, 0), (0.04, 0), (0, 0), (0.02, 0), 0.38, 0.06, 5, 0.7, 0.35, 36),
]
# freq, orient, aniso, contrast, scratch, stain, tone, tint
_TEXTURE_PROTOS = [
    [5.5, 0, 0.05, 0.12, 0.15, 0.05, 0.74, -0.15],  # washer: bright zinc, fine isotropic
    [2.5, 45, 0.15, 0.26, 0.05, 0.55, 0.42, 0.05],  # flange: dark cast iron, blotchy, stained
    [6.5, 90, 0.85, 0.22, 0.50, 0.10, 0.50, -0.70],  # sprocket: blued steel, scratched
    [4.5, 0, 1.00, 0.28, 0.30, 0.00, 0.72, -0.05],  # bracket: brushed aluminium
    [3.5, 135, 0.50, 0.14, 0.05, 0.30, 0.62, 0.85],  # cam: brass
    [7.0, 60, 0.35, 0.32, 0.80, 0.20, 0.55, 0.30],  # coupling: worn, heavily scratched
    [2.0, 0, 0.75, 0.10, 0.35, 0.75, 0.66, -0.40],  # plate: galvanised, rust stains
    [5.0, 30, 0.60, 0.20, 0.10, 0.40, 0.40, 0.60],  # pulley: dark bronze
]
_SHAPE_TABLE = torch.tensor(_SHAPE_PROTOS, dtype=torch.float64)  # [8, n_shape]
_TEXTURE_TABLE = torch.tensor(_TEXTURE_PROTOS, dtype=torch.float64)  # [8, n_texture]
# Within-type jitter is in units of the between-type standard deviation of each factor.
_SHAPE_SPREAD = _SHAPE_TABLE.std(dim=0, correction=0)
# Each harmonic jitters isotropically in its (cos, sin) plane: the prototypes have no sine
# components for some harmonics, which would otherwise leave those columns constant.
_SHAPE_SPREAD[:8] = _SHAPE_SPREAD[:8].view(4, 2).amax(dim=1, keepdim=True).expand(4, 2).reshape(8)
_TEXTURE_SPREAD = _TEXTURE_TABLE.std(dim=0, correction=0)

_R0 = 0.62  # outline radius at scale 1, in half-image units
_NOTCH_WIDTH = 0.2  # slot width, part units
_CHAMFER = 0.07  # rim chamfer width, part units
_SHADOW_OFFSET = 0.0625  # half-image units, down and right; 1/16 is exact in binary
_SHADOW_BLUR = 0.25  # part units over which the shadow fades in
_SHADOW_DEPTH = 0.5  # fraction of the table's brightness the shadow takes away
_MAX_BOLTS = 8
_N_GRAIN = 8
_N_SCRATCH = 6
_N_STAIN = 3
_BACKGROUND = (0.16, 0.18, 0.21)  # dark slate inspection table
_TINT = (0.14, 0.03, -0.22)  # per-channel albedo change per unit of texture_tint
_RUST = (0.45, 0.62, 0.8)  # per-channel darkening of a stain (brown)


@dataclass(frozen=True)
class PartsBatch:
    """Generated stimuli.

    Attributes
    ----------
    table : DataFrame, one row per stimulus: ``id, image, label, condition, shape_type,
        texture_type, morph_from, morph_to, morph_level, noise_seed`` and every factor column.
    images : Tensor, uint8, shape (n, 3, size, size), row i shows ``table.iloc[i]``.
    """

    table: pd.DataFrame
    images: Tensor


def prototypes(n_types: int = 8) -> pd.DataFrame:
    """Prototype factor values of the part types.

    Returns
    -------
    DataFrame, shape (n_types, n_shape + n_texture), indexed by class name.
    """
    _check_n_types(n_types)
    values = torch.cat([_SHAPE_TABLE, _TEXTURE_TABLE], dim=1)[:n_types].numpy()
    return pd.DataFrame(values, index=list(CLASS_NAMES[:n_types]), columns=_SHAPE + _TEXTURE)


# --------------------------------------------------------------------------------------------
# Counter-based random numbers for the surface details: a 32-bit integer hash (Wellons'
# "lowbias32" constants) evaluated in int64 arithmetic, identical on every device and
# independent of how the rows are batched.
_M32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` without overflowing int64."""
    hi = ((x >> 16) * c) & 0xFFFF
    return ((hi << 16) + (x & 0xFFFF) * c) & _M32


def _hash32(x: Tensor) -> Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _uniforms(noise_seed: Tensor, count: int) -> Tensor:
    """Uniform numbers in [0, 1), float32, shape (len(noise_seed), count)."""
    k = torch.arange(1, count + 1, device=noise_seed.device, dtype=torch.int64)
    x = (_hash32(noise_seed & _M32)[:, None] + _mul32(k, 0x9E3779B9)[None, :]) & _M32
    return (_hash32(x) >> 8).to(torch.float32) * (1.0 / (1 << 24))


# --------------------------------------------------------------------------------------------
# Rendering


def _as_columns(
    factors: Mapping[str, Tensor] | pd.DataFrame, device: torch.device | str | None
) -> tuple[dict[str, Tensor], Tensor | None, int]:
    """Factor columns as float32 tensors of shape (n,), plus the optional noise seeds."""
    missing = [name for name in _FACTORS if name not in factors]
    if missing:
        raise ValueError(f"render: missing factor columns: {', '.join(missing)}")
    cols: dict[str, Tensor] = {}
    for name in _FACTORS:
        raw = factors[name]
        if isinstance(raw, pd.Series):
            raw = raw.to_numpy(copy=True)
        t = torch.as_tensor(raw)
        if device is None and isinstance(raw, Tensor):
            device = raw.device
        cols[name] = t.reshape(-1)
    n = cols[_FACTORS[0]].numel()
    if any(t.numel() != n for t in cols.values()):
        raise ValueError("render: every factor column must have the same length")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cols = {k: v.to(device=dev, dtype=torch.float32) for k, v in cols.items()}
    seeds = None
    if "noise_seed" in factors:
        raw = factors["noise_seed"]
        if isinstance(raw, pd.Series):
            raw = raw.to_numpy(copy=True)
        seeds = torch.as_tensor(raw).reshape(-1).to(device=dev, dtype=torch.int64)
        if seeds.numel() != n:
            raise ValueError("render: noise_seed must have one value per row")
    return cols, seeds, n


def _ramp(x: Tensor) -> Tensor:
    """Pixel coverage of a signed distance measured in pixels (one-pixel linear ramp)."""
    return (x + 0.5).clamp_(0.0, 1.0)


def _outline_radius(f: dict[str, Tensor], cos_t: Tensor, sin_t: Tensor) -> tuple[Tensor, Tensor]:
    """Outline radius R(t) and dR/dt for directions given by cos/sin; broadcasts."""
    radius = torch.ones_like(cos_t)
    d_radius = torch.zeros_like(cos_t)
    # cos(kt), sin(kt) as powers of the unit complex number (cos t, sin t): no trig per pixel.
    powers = {1: (cos_t, sin_t)}
    for k in range(2, max(_HARMONICS) + 1):
        ck, sk = powers[k - 1]
        powers[k] = (ck * cos_t - sk * sin_t, sk * cos_t + ck * sin_t)
    for k in _HARMONICS:
        ck, sk = powers[k]
        a, b = f[f"shape_h{k}c"], f[f"shape_h{k}s"]
        radius = radius + a * ck + b * sk
        d_radius = d_radius + k * (b * ck - a * sk)
    # Extreme harmonic settings could fold the outline through the centre; keep it a shape.
    return radius.clamp(min=0.25), d_radius


def _part_frame(f: dict[str, Tensor], size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Part-frame coordinates (B, H, W) of every pixel centre, and the pixel size (B, 1, 1)."""
    dev = f["scale"].device
    grid = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    u = grid.view(1, 1, size)
    v = -grid.view(1, size, 1)  # rows run downwards, v runs up
    rot = torch.deg2rad(f["rotation"])
    inv = 1.0 / (f["scale"] * _R0)
    cr, sr = (torch.cos(rot) * inv).view(-1, 1, 1), (torch.sin(rot) * inv).view(-1, 1, 1)
    x0 = u - f["shift_x"].view(-1, 1, 1)
    y0 = v - f["shift_y"].view(-1, 1, 1)
    px = cr * x0 + sr * y0
    py = cr * y0 - sr * x0
    pix = ((2.0 / size) * inv).view(-1, 1, 1)
    return px, py, pix


def _geometry(f: dict[str, Tensor], size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Coverage alpha and the inner distance to the nearest rim (part units), (B, H, W) each.

    Also returns the part-frame coordinates and pixel size for the surface.
    """
    px, py, pix = _part_frame(f, size)
    col = {k: v.view(-1, 1, 1) for k, v in f.items()}
    rho = torch.hypot(px, py)
    inv_rho = 1.0 / rho.clamp(min=1e-6)
    radius, d_radius = _outline_radius(col, px * inv_rho, py * inv_rho)
    # Radial gap divided by the gradient norm of rho - R(t): a first-order signed distance.
    # rho is floored at 0.3 because only points near the rim (rho close to R) need accuracy.
    grad = torch.sqrt(1.0 + (d_radius / rho.clamp(min=0.3)) ** 2)
    dist = (radius - rho) / grad  # > 0 inside the outline
    alpha = _ramp(dist / pix)
    rim = dist.clone()

    def cut(hole_dist: Tensor, presence: Tensor) -> None:
        # hole_dist > 0 inside the hole; presence in [0, 1] fades a hole in from nothing.
        # In-place arithmetic on fresh temporaries: these loops dominate the rendering time.
        nonlocal rim
        rim = torch.minimum(rim, (_CHAMFER * (1.0 - presence)) - hole_dist)
        keep = hole_dist.div_(pix).add_(0.5).clamp_(0.0, 1.0).mul_(presence).neg_().add_(1.0)
        alpha.mul_(keep)

    bore = col["shape_bore"]
    cut(bore - rho, (bore / pix).clamp(0.0, 1.0))

    n_bolts = f["shape_bolt_n"]
    n_loop = min(_MAX_BOLTS, int(math.ceil(float(n_bolts.max()))) if n_bolts.numel() else 0)
    for j in range(n_loop):
        ang = (2.0 * math.pi * j) / n_bolts
        ca, sa = torch.cos(ang), torch.sin(ang)
        r_here, _ = _outline_radius(f, ca, sa)
        centre = f["shape_bolt_ring"] * r_here
        r_j = f["shape_bolt_r"] * (n_bolts - j).clamp(0.0, 1.0)
        cx, cy, rj = (centre * ca).view(-1, 1, 1), (centre * sa).view(-1, 1, 1), r_j.view(-1, 1, 1)
        cut(rj - torch.hypot(px - cx, py - cy), (rj / pix).clamp(0.0, 1.0))

    na = torch.deg2rad(f["shape_notch_angle"])
    cn, sn = torch.cos(na), torch.sin(na)
    r_notch, _ = _outline_radius(f, cn, sn)
    depth = f["shape_notch_depth"]
    cn, sn = cn.view(-1, 1, 1), sn.view(-1, 1, 1)
    qx = px * cn + py * sn
    qy = py * cn - px * sn
    floor = (r_notch - depth).view(-1, 1, 1)
    slot = torch.minimum(_NOTCH_WIDTH / 2 - qy.abs(), qx - floor)
    cut(slot, (depth.view(-1, 1, 1) / pix).clamp(0.0, 1.0))
    return alpha, rim, px, py, pix


def _shadow(f: dict[str, Tensor], size: int) -> Tensor:
    """Soft drop shadow of the outline on the table, offset down and right, (B, H, W)."""
    moved = dict(f)
    moved["shift_x"] = f["shift_x"] + _SHADOW_OFFSET
    moved["shift_y"] = f["shift_y"] - _SHADOW_OFFSET
    px, py, _ = _part_frame(moved, size)
    col = {k: v.view(-1, 1, 1) for k, v in moved.items()}
    rho = torch.hypot(px, py)
    inv_rho = 1.0 / rho.clamp(min=1e-6)
    radius, _ = _outline_radius(col, px * inv_rho, py * inv_rho)
    return (_SHADOW_DEPTH * ((radius - rho) / _SHADOW_BLUR + 0.5)).clamp_(0.0, _SHADOW_DEPTH)


def _surface(f: dict[str, Tensor], seeds: Tensor, px: Tensor, py: Tensor, pix: Tensor) -> Tensor:
    """Albedo of the part's surface in the part frame, float32 (B, 3, H, W)."""
    n_u = 3 * _N_GRAIN + 5 * _N_SCRATCH + 3 * _N_STAIN
    uni = _uniforms(seeds, n_u)
    col = {k: v.view(-1, 1, 1) for k, v in f.items()}

    # Grain: sum of oriented sinusoids with random phases; unit variance before the contrast.
    g_ang, g_freq, g_phase = (
        uni[:, :_N_GRAIN],
        uni[:, _N_GRAIN : 2 * _N_GRAIN],
        uni[:, 2 * _N_GRAIN : 3 * _N_GRAIN],
    )
    theta = torch.deg2rad(f["texture_orient"])[:, None] + (
        1.0 - f["texture_aniso"][:, None]
    ) * math.pi * (g_ang - 0.5)
    freq = f["texture_freq"][:, None] * (0.6 + 0.8 * g_freq)  # cycles per part unit
    # Fade components out as they approach the Nyquist limit (0.5 cycles per pixel).
    cyc_per_pix = freq * pix.view(-1, 1)
    gain = ((0.45 - cyc_per_pix) / 0.15).clamp(0.0, 1.0)
    kx = (2.0 * math.pi) * freq * torch.cos(theta)
    ky = (2.0 * math.pi) * freq * torch.sin(theta)
    phase = (2.0 * math.pi) * g_phase
    grain = torch.zeros_like(px)
    for m in range(_N_GRAIN):
        arg = torch.addcmul(phase[:, m].view(-1, 1, 1), px, kx[:, m].view(-1, 1, 1))
        arg.addcmul_(py, ky[:, m].view(-1, 1, 1)).cos_()
        grain.addcmul_(arg, gain[:, m].view(-1, 1, 1))
    shade = 1.0 + col["texture_contrast"] * grain * math.sqrt(2.0 / _N_GRAIN)

    # Scratches: thin bright segments; texture_scratch * 6 of them show (the last one partly).
    scratch = torch.zeros_like(px)
    base = 3 * _N_GRAIN
    for j in range(_N_SCRATCH):
        sx, sy, sa, sl, sw = (uni[:, base + 5 * j + i].view(-1, 1, 1) for i in range(5))
        vis = (col["texture_scratch"] * _N_SCRATCH - j).clamp(0.0, 1.0)
        cx, cy = 1.6 * sx - 0.8, 1.6 * sy - 0.8
        ang = math.pi * sa
        ca, sa_ = torch.cos(ang), torch.sin(ang)
        dx, dy = px - cx, py - cy
        along = torch.addcmul(dx * ca, dy, sa_)
        across = (dy * ca).sub_(dx.mul_(sa_)).abs_()
        half_len = 0.2 + 0.4 * sl
        width = 0.015 + 0.02 * sw
        reach = torch.maximum(width, pix)  # never thinner than a pixel, dimmer instead
        line = across.mul_(-1.0 / reach).add_(1.0).clamp_(min=0.0)
        taper = along.abs_().mul_(-10.0).add_(10.0 * half_len).clamp_(0.0, 1.0)  # 0.1 fade
        scratch.addcmul_(line, taper.mul_(vis * (width / reach)))
    scratch = 0.45 * scratch.clamp(max=1.0)

    # Stains: soft rust-brown blobs; texture_stain * 3 of them show.
    stain = torch.zeros_like(px)
    base = 3 * _N_GRAIN + 5 * _N_SCRATCH
    for j in range(_N_STAIN):
        sx, sy, sr = (uni[:, base + 3 * j + i].view(-1, 1, 1) for i in range(3))
        vis = (col["texture_stain"] * _N_STAIN - j).clamp(0.0, 1.0)
        r2 = (0.25 + 0.3 * sr) ** 2
        d2 = (px - (1.4 * sx - 0.7)) ** 2 + (py - (1.4 * sy - 0.7)) ** 2
        stain = stain + vis * torch.exp(-d2 / r2)
    stain = 0.75 * stain.clamp(max=1.0)

    tone = col["texture_tone"] * shade
    chans = []
    for c in range(3):
        tint = 1.0 + _TINT[c] * col["texture_tint"]
        chans.append(tone * tint * (1.0 - _RUST[c] * stain) + scratch)
    return torch.stack(chans, dim=1)


def silhouette(
    factors: Mapping[str, Tensor] | pd.DataFrame,
    size: int = 64,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Coverage of each pixel by the part, from the shape and pose factors only.

    Parameters
    ----------
    factors : mapping or DataFrame with every factor column (``FACTOR_GROUPS``), n values each.
    size : image side in pixels.

    Returns
    -------
    alpha : Tensor, float32, shape (n, size, size), in [0, 1] (fractional on anti-aliased edges).
    """
    cols, _, n = _as_columns(factors, device)
    out = []
    for start in range(0, n, _chunk_rows(size)):
        part = {k: v[start : start + _chunk_rows(size)] for k, v in cols.items()}
        out.append(_geometry(part, size)[0])
    return torch.cat(out) if out else torch.zeros(0, size, size, device=cols["scale"].device)


def _chunk_rows(size: int) -> int:
    # About 256 k pixels per chunk keeps each temporary near 1 MB (cache-sized) on CPU.
    return max(1, (1 << 18) // (size * size))


def render(
    factors: Mapping[str, Tensor] | pd.DataFrame,
    size: int = 64,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Render parts from factor values.

    Parameters
    ----------
    factors : mapping or DataFrame holding every factor column (``FACTOR_GROUPS``), n values
        each, in the units of ``FACTOR_RANGES``; an optional integer ``noise_seed`` column places
        the surface details per row.
    size : image side in pixels.
    seed : surface-detail seed used for every row when ``factors`` has no ``noise_seed``.
    device : where to render; default the device of the factor tensors (CPU for arrays).

    Returns
    -------
    images : Tensor, float32, shape (n, 3, size, size), linear values in [0, 1].
    """
    _check_size(size)
    cols, seeds, n = _as_columns(factors, device)
    dev = cols["scale"].device
    if seeds is None:
        seeds = torch.full((n,), int(seed), dtype=torch.int64, device=dev)
    bg = torch.tensor(_BACKGROUND, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    grid = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    u, v = grid.view(1, 1, size), -grid.view(1, size, 1)
    step = _chunk_rows(size)
    out = torch.empty(n, 3, size, size, dtype=torch.float32, device=dev)
    for start in range(0, n, step):
        stop = min(n, start + step)
        part = {k: val[start:stop] for k, val in cols.items()}
        alpha, rim, px, py, pix = _geometry(part, size)
        shadow = _shadow(part, size)
        albedo = _surface(part, seeds[start:stop], px, py, pix)
        # Chamfer: the rim catches less light; geometry-only shading, same for every texture.
        chamfer = (1.0 - rim / _CHAMFER).clamp(0.0, 1.0) ** 2
        albedo = albedo * (1.0 - 0.4 * chamfer).unsqueeze(1)
        a = alpha.unsqueeze(1)
        table = bg * (1.0 - shadow).unsqueeze(1)
        # Written as a weighted sum so that a fully covered pixel is exactly the albedo.
        img = a * albedo + (1.0 - a) * table
        la = torch.deg2rad(part["light_angle"]).view(-1, 1, 1)
        light = 1.0 + part["light_strength"].view(-1, 1, 1) * (
            u * torch.cos(la) + v * torch.sin(la)
        ) * (1.0 / math.sqrt(2.0))
        out[start:stop] = (img * light.unsqueeze(1)).clamp_(0.0, 1.0)
    return out


def to_uint8(images: Tensor) -> Tensor:
    """Quantise float images in [0, 1] to uint8 (round half up), same shape."""
    return (images * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------------------------
# Sampling


def _check_n_types(n_types: int) -> None:
    if not isinstance(n_types, int) or isinstance(n_types, bool):
        raise ValueError(f"n_types must be an integer, got {n_types!r}")
    if not 2 <= n_types <= len(CLASS_NAMES):
        raise ValueError(f"n_types must be between 2 and {len(CLASS_NAMES)}, got {n_types}")


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 512:
        raise ValueError(f"size must be an integer number of pixels in 16..512, got {size!r}")


def _check_args(
    n: int,
    condition: str,
    n_types: int,
    size: int,
    seed: int,
    shape_jitter: float,
    texture_jitter: float,
    morph_pair: tuple[int, int] | None,
    morph_levels: int,
) -> None:
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _check_n_types(n_types)
    _check_size(size)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("shape_jitter", shape_jitter), ("texture_jitter", texture_jitter)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not isinstance(morph_levels, int) or isinstance(morph_levels, bool) or morph_levels < 2:
        raise ValueError(f"morph_levels must be an integer >= 2, got {morph_levels!r}")
    if morph_pair is not None:
        if not condition.endswith("-morph"):
            raise ValueError(f"morph_pair applies only to the morph conditions, not {condition!r}")
        if (
            len(morph_pair) != 2
            or not all(isinstance(t, int) and 0 <= t < n_types for t in morph_pair)
            or morph_pair[0] == morph_pair[1]
        ):
            raise ValueError(
                f"morph_pair must be two different type indices in 0..{n_types - 1}, "
                f"got {morph_pair!r}"
            )


def _jittered(proto: Tensor, spread: Tensor, jitter: float, z: Tensor, names: list[str]) -> Tensor:
    low = torch.tensor([FACTOR_RANGES[k][0] for k in names], dtype=torch.float64)
    high = torch.tensor([FACTOR_RANGES[k][1] for k in names], dtype=torch.float64)
    return torch.maximum(torch.minimum(proto + jitter * spread * z, high), low)


def generate(
    n: int,
    condition: str = "standard",
    *,
    n_types: int = 8,
    size: int = 64,
    seed: int = 0,
    shape_jitter: float = 0.5,
    texture_jitter: float = 0.2,
    morph_pair: tuple[int, int] | None = None,
    morph_levels: int = 7,
    device: torch.device | str | None = None,
) -> PartsBatch:
    """Draw and render ``n`` part stimuli of one condition.

    Parameters
    ----------
    n : number of stimuli.
    condition : ``standard``, ``cue-conflict``, ``shape-morph`` or ``texture-morph``.
    n_types : number of part types (classes), 2..8; the first ``n_types`` of ``CLASS_NAMES``.
    size : image side in pixels (64..128 intended; 16..512 accepted).
    seed : seed of every random draw; the same seed gives bit-identical tables and images on the
        same device.
    shape_jitter, texture_jitter : within-type standard deviation of each shape / texture
        factor, in units of that factor's standard deviation across the prototypes.
    morph_pair : (i, j) type indices of the morph continuum; default a random ordered pair
        per stimulus. Only for the morph conditions.
    morph_levels : number of evenly spaced levels from 0 to 1; stimulus k gets level
        ``(k % morph_levels) / (morph_levels - 1)``.
    device : where to render (default CPU); images always come back on the CPU.

    Returns
    -------
    PartsBatch with ``table`` (n rows) and ``images`` (uint8, shape (n, 3, size, size)).
    """
    _check_args(
        n, condition, n_types, size, seed, shape_jitter, texture_jitter, morph_pair, morph_levels
    )
    gen = torch.Generator().manual_seed(seed)
    # Every draw happens in a fixed order whatever the condition, so the stream is stable.
    base_type = torch.arange(n) % n_types
    other = (base_type + 1 + torch.randint(0, n_types - 1, (n,), generator=gen)) % n_types
    z_shape = torch.randn(n, len(_SHAPE), generator=gen, dtype=torch.float64)
    z_texture = torch.randn(n, len(_TEXTURE), generator=gen, dtype=torch.float64)
    unit = torch.rand(n, len(_NUISANCE), generator=gen, dtype=torch.float64)
    noise_seed = torch.randint(0, 2**31 - 1, (n,), generator=gen)

    lows = torch.tensor([FACTOR_RANGES[k][0] for k in _NUISANCE], dtype=torch.float64)
    highs = torch.tensor([FACTOR_RANGES[k][1] for k in _NUISANCE], dtype=torch.float64)
    nuisance = lows + unit * (highs - lows)

    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    none = torch.full((n,), -1, dtype=torch.int64)
    if condition in ("standard", "cue-conflict"):
        tex_type = base_type if condition == "standard" else other
        shape = _jittered(_SHAPE_TABLE[base_type], _SHAPE_SPREAD, shape_jitter, z_shape, _SHAPE)
        texture = _jittered(
            _TEXTURE_TABLE[tex_type], _TEXTURE_SPREAD, texture_jitter, z_texture, _TEXTURE
        )
        shape_type, morph_from, morph_to, level = base_type, none, none, nan
    else:
        if morph_pair is None:
            start, end = base_type, other
        else:
            start = torch.full((n,), morph_pair[0], dtype=torch.int64)
            end = torch.full((n,), morph_pair[1], dtype=torch.int64)
        # (k mod L) / (L - 1), correctly rounded, so level 0.5 is exactly 0.5 when it exists
        level = (torch.arange(n) % morph_levels).to(torch.float64) / (morph_levels - 1)
        t = level[:, None]
        if condition == "shape-morph":
            shape = (1.0 - t) * _SHAPE_TABLE[start] + t * _SHAPE_TABLE[end]
            texture = _TEXTURE_TABLE[start]
            shape_type, tex_type = torch.where(level > 0.5, end, start), start
        else:
            shape = _SHAPE_TABLE[start]
            texture = (1.0 - t) * _TEXTURE_TABLE[start] + t * _TEXTURE_TABLE[end]
            shape_type, tex_type = start, torch.where(level > 0.5, end, start)
        morph_from, morph_to = start, end

    width = max(5, len(str(n - 1)))
    ids = [f"{_CONDITION_TAG[condition]}-s{seed}-{i:0{width}d}" for i in range(n)]
    table = pd.DataFrame(
        {
            "id": ids,
            "image": [f"{i}.png" for i in ids],
            "label": [CLASS_NAMES[k] for k in shape_type.tolist()],
            "condition": condition,
            "shape_type": shape_type.numpy(),
            "texture_type": tex_type.numpy(),
            "morph_from": morph_from.numpy(),
            "morph_to": morph_to.numpy(),
            "morph_level": level.numpy(),
            "noise_seed": noise_seed.numpy(),
        }
    )
    values = torch.cat([shape, texture, nuisance], dim=1).numpy()
    factor_frame = pd.DataFrame(values, columns=_FACTORS)
    table = pd.concat([table, factor_frame], axis=1)
    images = to_uint8(render(table, size, device=device)).cpu()
    return PartsBatch(table=table, images=images)


# --------------------------------------------------------------------------------------------
# Output


def write_stimuli(batch: PartsBatch, out_dir: Path) -> Path:
    """Write ``images/<id>.png`` and ``stimuli.csv`` under ``out_dir``.

    The ``image`` column holds each file's name relative to the ``images`` folder.

    Returns
    -------
    Path of the written ``stimuli.csv``.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    if len(batch.table) != batch.images.shape[0]:
        raise ValueError("batch.table and batch.images have different numbers of rows")
    for name, img in zip(batch.table["image"], batch.images, strict=True):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(image_dir / name, compress_level=6)
    csv_path = out_dir / "stimuli.csv"
    batch.table.to_csv(csv_path, index=False)
    return csv_path


def contact_sheet(batch: PartsBatch, ncols: int = 8, pad: int = 2) -> Tensor:
    """Tile a batch's images row by row into one image.

    Returns
    -------
    sheet : Tensor, uint8, shape (3, H, W) with ``H = rows * (size + pad) + pad`` and
        ``W = ncols * (size + pad) + pad``; light grey between tiles.
    """
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    images = batch.images
    n, _, size, _ = images.shape
    rows = max(1, math.ceil(n / ncols))
    cell = size + pad
    sheet = torch.full((3, rows * cell + pad, ncols * cell + pad), 230, dtype=torch.uint8)
    for k in range(n):
        r, c = divmod(k, ncols)
        sheet[:, pad + r * cell : pad + r * cell + size, pad + c * cell : pad + c * cell + size] = (
            images[k]
        )
    return sheet


def overview_sheet(size: int = 64, seed: int = 0, ncols: int = 8) -> Tensor:
    """The documentation contact sheet, with a caption column.

    One row of ``standard`` examples per type, then two ``cue-conflict`` rows, then a
    ``shape-morph`` and a ``texture-morph`` row (bracket to sprocket, levels 0 to 1).

    Returns
    -------
    sheet : Tensor, uint8, shape (3, H, W).
    """
    from PIL import Image, ImageDraw

    std = generate(ncols * len(CLASS_NAMES), "standard", size=size, seed=seed)
    order = np.argsort(std.table["shape_type"].to_numpy(), kind="stable")
    rows: list[tuple[str, Tensor]] = []
    for t, name in enumerate(CLASS_NAMES):
        idx = torch.as_tensor(order[t * ncols : (t + 1) * ncols])
        rows.append((name, std.images[idx]))
    cc = generate(2 * ncols, "cue-conflict", size=size, seed=seed)
    rows.append(("cue-conflict\n(shape/texture)", cc.images[:ncols]))
    rows.append(("", cc.images[ncols:]))
    captions = [
        f"{CLASS_NAMES[s][:5]}/{CLASS_NAMES[t][:5]}"
        for s, t in zip(cc.table["shape_type"], cc.table["texture_type"], strict=True)
    ]
    for cond in ("shape-morph", "texture-morph"):
        m = generate(ncols, cond, size=size, seed=seed, morph_pair=(3, 2), morph_levels=ncols)
        rows.append((f"{cond}\nbracket->sprocket", m.images))

    pad, label_w, cap_h = 2, 118, 10
    cell = size + pad
    heights = [cell + (cap_h if 8 <= k < 10 else 0) for k in range(len(rows))]
    canvas = Image.new("RGB", (label_w + ncols * cell + pad, sum(heights) + pad), (235, 235, 235))
    draw = ImageDraw.Draw(canvas)
    y = pad
    for k, (name, imgs) in enumerate(rows):
        draw.multiline_text((4, y + size // 2 - 10), name, fill=(30, 30, 30), spacing=2)
        for c in range(imgs.shape[0]):
            tile = Image.fromarray(imgs[c].permute(1, 2, 0).numpy())
            canvas.paste(tile, (label_w + c * cell, y))
            if 8 <= k < 10:
                cap = captions[(k - 8) * ncols + c]
                draw.text((label_w + c * cell, y + size), cap, fill=(60, 60, 60))
        y += heights[k]
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).contiguous()
