"""Each factor of `stimuli from-images` changes what it claims and not the others, measured
on image statistics of pictures made from a known object (tests/picture_set.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from reportgen.variants import ops
from reportgen.variants.design import FACTORS, NEUTRAL
from reportgen.variants.masks import centroid, estimate_mask, otsu_threshold, signed_distance
from reportgen.variants.render import render_rows
from reportgen.variants.source import SourceImages
from tests.picture_set import picture

SIZE = 96


def _sources(pairs=((0, 0), (1, 1), (2, 2), (3, 3), (0, 0), (2, 2)), seed: int = 0):
    rng = np.random.default_rng(seed)
    pics, masks = zip(*(picture(s, t, SIZE, rng) for s, t in pairs), strict=True)
    images = torch.from_numpy(np.stack(pics)).permute(0, 3, 1, 2).contiguous()
    m = torch.from_numpy(np.stack(masks)).float()[:, None]
    return SourceImages(
        images=images,
        masks=m,
        sdf=signed_distance(m),
        labels=torch.tensor([s for s, _ in pairs]),
        classes=("cross", "disc", "square", "triangle"),
        names=tuple(f"p{i}.png" for i in range(len(pairs))),
        mask_kind="given",
    )


def _rows(condition: str, n: int, src: int = 0, seed: int = 0, **factors) -> pd.DataFrame:
    base = {f: NEUTRAL[f] for f in FACTORS}
    rows = pd.DataFrame([{**base, **factors}] * n)
    rows["condition"], rows["src"], rows["seed"] = condition, src, np.arange(n) + seed
    rows["donor"] = factors.get("donor", -1)
    rows["partner"] = factors.get("partner", -1)
    rows["morph_level"] = factors.get("morph_level", np.nan)
    return rows


def _render(sources, rows) -> torch.Tensor:
    return render_rows(sources, rows, torch.device("cpu")).float() / 255


def _object(pixels: torch.Tensor) -> torch.Tensor:
    """The object of a rendered picture: everything brighter than the dark background."""
    return (pixels.mean(dim=-3) > 0.3).float()


def _high_frequency(
    pixels: torch.Tensor, centre: torch.Tensor, side: int = 16, share: bool = True
) -> torch.Tensor:
    """The grey power of a Hann-windowed `side` px square at `centre` (x, y; inside the
    object, so the outline adds no power) above a quarter of the Nyquist frequency, as a
    share of all its power (or as it is, with ``share=False``)."""
    x, y = (int(round(float(v))) - side // 2 for v in centre)
    grey = pixels.mean(dim=-3)[..., y : y + side, x : x + side]
    grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
    hann = torch.hann_window(side, periodic=False, dtype=grey.dtype)
    power = torch.fft.fft2(grey * hann[:, None] * hann[None, :]).abs().square()
    f = torch.fft.fftfreq(side)
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt()
    high = (power * (radius > 0.125)).sum(dim=(-2, -1))
    return high / power.sum(dim=(-2, -1)) if share else high


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=(-2, -1)) / ((a + b) > 0).float().sum(dim=(-2, -1))


def test_standard_condition_gives_back_the_source_picture_exactly() -> None:
    src = _sources()
    out = render_rows(src, _rows("standard", 1, src=2), torch.device("cpu"))
    assert torch.equal(out[0], src.images[2])


def test_signed_distance_reproduces_the_mask_through_alpha() -> None:
    src = _sources()
    assert torch.equal(ops.alpha_from_sdf(src.sdf), src.masks)


def test_lowpass_lowers_high_frequencies_inside_the_object_and_keeps_its_outline() -> None:
    src = _sources()
    plain = _render(src, _rows("texture-weakened", 1))
    blurred = _render(src, _rows("texture-weakened", 1, texture_lowpass=3.0))
    mask = src.masks[0, 0]
    c = centroid(src.masks[:1])[0]
    before = _high_frequency(plain[0], c, share=False)
    after = _high_frequency(blurred[0], c, share=False)
    # the stripes (0.156 cycles/px) sit above the cut-off (0.125): a 3 px blur keeps
    # exp(-2 pi^2 9 0.156^2) = 1.3 % of their amplitude, 0.02 % of their power; what is left
    # is the 8-bit rounding of the output (1/255 steps)
    assert after < 0.01 * before
    # the outline is the source's, pixel for pixel: outside the object nothing changed
    outside = (1 - mask).bool()
    assert torch.equal(blurred[0][:, outside], plain[0][:, outside])
    assert _iou(_object(blurred[0]), _object(plain[0])) > 0.97


def test_patch_shuffle_keeps_outline_and_surface_colours() -> None:
    src = _sources()
    plain = _render(src, _rows("texture-weakened", 1))[0]
    shuffled = _render(src, _rows("texture-weakened", 1, texture_patch=12.0))[0]
    mask = src.masks[0, 0].bool()
    outside = ~mask
    assert torch.equal(shuffled[:, outside], plain[:, outside])
    assert not torch.equal(shuffled[:, mask], plain[:, mask])  # the arrangement changed
    # every pixel of the object is one of the object's own colours (patches from inside it)
    own = {tuple(c) for c in (plain[:, mask].T * 255).round().int().tolist()}
    new = {tuple(c) for c in (shuffled[:, mask].T * 255).round().int().tolist()}
    assert len(new - own) <= 0.02 * len(new)


def test_elastic_warp_moves_the_outline_and_keeps_the_texture_spectrum() -> None:
    src = _sources()
    plain = _render(src, _rows("shape-warped", 1))[0]
    warped = _render(
        src, _rows("shape-warped", 4, shape_warp=4.0, shape_warp_scale=10.0)
    )  # four different warps
    a, b = _object(plain), _object(warped)
    iou = _iou(b, a[None])
    assert (iou < 0.93).all() and (iou > 0.6).all()
    # the surface inside the old outline is the source's own pixels: the centre is unchanged
    c = centroid(src.masks[:1])[0]
    hf_plain = _high_frequency(plain, c, share=False)
    hf_warped = torch.stack([_high_frequency(w, c, share=False) for w in warped])
    hf_blurred = _high_frequency(
        _render(src, _rows("texture-weakened", 1, texture_lowpass=1.5))[0], c, share=False
    )
    # a warp keeps the surface's high-frequency power within 5 % (the new outline may reach
    # the edge of the measured square) while a mild 1.5 px blur keeps 38 % of the stripes'
    # amplitude, 15 % of their power
    assert torch.allclose(hf_warped, hf_plain.expand(4), rtol=0.05)
    assert hf_blurred < 0.3 * hf_plain


def test_aspect_stretches_the_outline_by_the_stated_ratio() -> None:
    src = _sources(((1, 1),))  # a disc: its width/height ratio is 1
    out = _render(src, _rows("shape-warped", 1, shape_aspect=0.5))[0]
    m = _object(out)
    ys, xs = torch.nonzero(m, as_tuple=True)
    ratio = xs.float().std() / ys.float().std()
    assert ratio == pytest.approx(2**0.5, rel=0.05)  # width/height = 2 ** aspect
    assert float(m.sum()) == pytest.approx(float(src.masks.sum()), rel=0.05)  # area kept


def test_outline_smoothing_rounds_the_corners_and_keeps_the_area() -> None:
    src = _sources(((0, 0),))  # a cross: eight sharp corners
    plain, smooth = _render(
        src, _rows("shape-warped", 2, shape_smooth=0.0).assign(shape_smooth=[0.0, 6.0])
    )
    a, b = _object(plain), _object(smooth)
    perimeter = lambda m: (m[1:] != m[:-1]).sum() + (m[:, 1:] != m[:, :-1]).sum()  # noqa: E731
    assert perimeter(b) < 0.9 * perimeter(a)
    # blurring the distance map cuts convex corners more than it fills concave ones: the
    # cross's thin arms lose about a tenth of the area, never the bulk of it
    assert float(b.sum()) == pytest.approx(float(a.sum()), rel=0.15)


def test_nuisance_light_and_camera_leave_outline_and_texture_measures() -> None:
    src = _sources()
    plain = _render(src, _rows("nuisance-varied", 1))[0]
    lit = _render(
        src,
        _rows(
            "nuisance-varied",
            1,
            brightness=1.2,
            contrast=0.8,
            colour_temp=0.8,
            blur=0.4,
            noise=0.02,
        ),
    )[0]
    assert _iou(_object(lit), _object(plain)) > 0.97
    c = centroid(src.masks[:1])[0]
    hf_plain, hf_lit = _high_frequency(plain, c), _high_frequency(lit, c)
    # a 0.4 px blur keeps 93 % of the stripes' amplitude; gain, contrast and colour scale
    # every frequency alike, so the share moves by a few per cent at most
    assert float(hf_lit) == pytest.approx(float(hf_plain), rel=0.1)
    # and the light did change: the mean grey moved by the gain
    assert lit.mean() == pytest.approx(float(plain.mean()) * 1.2, rel=0.1)


def _hu1(m: torch.Tensor) -> float:
    """Hu's first moment invariant of a mask: the same after any shift, turn or scaling."""
    ys, xs = torch.nonzero(m, as_tuple=True)
    area = len(xs)
    return float((xs.double().var() + ys.double().var()) / area)


def test_nuisance_pose_moves_the_object_without_changing_its_shape() -> None:
    src = _sources(((0, 0),))  # a cross
    plain = _render(src, _rows("nuisance-varied", 1))[0]
    turned = _render(src, _rows("nuisance-varied", 1, rotation=15.0, scale=1.1, shift_x=0.05))[0]
    a, b = _object(plain), _object(turned)
    assert float(b.sum()) == pytest.approx(float(a.sum()) * 1.1**2, rel=0.05)  # area ∝ scale²
    shift = centroid(b[None, None]) - centroid(a[None, None])
    assert float(shift[0, 0]) == pytest.approx(0.05 * SIZE, abs=1.5)  # 5 % of the width
    assert _hu1(b) == pytest.approx(_hu1(a), rel=0.03)  # the same shape


def test_cue_conflict_keeps_the_outline_and_takes_the_donors_surface() -> None:
    src = _sources()
    rows = _rows("cue-conflict", 1, src=0, donor=1, texture_patch=12.0)
    out = _render(src, rows)[0]
    mask = src.masks[0, 0].bool()
    assert _iou(_object(out), src.masks[0, 0]) > 0.97
    own = src.images[0].float()[:, mask].mean(dim=1) / 255
    donor = src.images[1].float()[:, src.masks[1, 0].bool()].mean(dim=1) / 255
    got = out[:, mask].mean(dim=1)
    assert (got - donor).abs().max() < 0.05 < (got - own).abs().max()


def test_morph_levels_are_nested_and_end_at_each_picture() -> None:
    src = _sources()
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    shape = _rows("shape-morph", 5, src=0, partner=1).assign(morph_level=levels, seed=7)
    outs = _render(src, shape)
    objs = _object(outs)
    # level 0 is A as every variant that keeps its outline and surface shows it
    assert torch.equal(outs[0], _render(src, _rows("texture-weakened", 1, seed=7))[0])
    assert _iou(objs[0], src.masks[0, 0]) > 0.97
    # the outline moves from the cross to the (centred) disc: overlap with the disc grows
    disc = ops.alpha_from_sdf(src.sdf[1])[0]
    shifted = torch.roll(
        disc,
        shifts=tuple(
            (centroid(src.masks[:1]) - centroid(src.masks[1:2])).round().int()[0].flip(0).tolist()
        ),
        dims=(0, 1),
    )
    overlap = _iou(objs, shifted[None])
    assert (overlap[1:] >= overlap[:-1] - 0.01).all() and overlap[-1] > 0.9
    texture = _rows("texture-morph", 5, src=0, partner=1, texture_patch=12.0).assign(
        morph_level=levels, seed=7
    )
    t = _render(src, texture)
    # A's own pixels are kept from a few pixels inside its outline (render._rim)
    mask = (src.sdf[0, 0] < -3).bool()
    a_pixels = (src.images[0].float() / 255)[:, mask]
    same = (t[:, :, mask] - a_pixels[None]).abs().sum(dim=1) < 1e-6  # [5, pixels]
    # a pixel replaced at one level stays replaced at every higher one
    assert (same[1:] <= same[:-1]).all()
    assert same[0].all() and same[-1].float().mean() < 0.2


def test_spectrum_mix_keeps_one_pictures_phase_and_takes_the_others_amplitude() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 3, 32, 32, generator=g, dtype=torch.float64) * 0.5 + 0.25
    swap = torch.fft.irfft2(
        torch.polar(torch.fft.rfft2(b).abs(), torch.fft.rfft2(a).angle()), s=(32, 32)
    )
    out = ops.spectrum_mix(a, b, torch.tensor([1.0], dtype=torch.float64))
    assert torch.allclose(out, swap.clamp(0, 1))  # what the swap gives, only clipped
    inside = (swap > 0) & (swap < 1)
    assert inside.float().mean() > 0.95
    fo, fa, fb = (torch.fft.rfft2(x) for x in (swap, a, b))
    assert torch.allclose(fo.abs(), fb.abs(), atol=1e-9)  # B's amplitude
    big = fa.abs() > 1e-6
    assert torch.allclose(fo.angle()[big].cos(), fa.angle()[big].cos(), atol=1e-6)  # A's phase
    same = ops.spectrum_mix(a, b, torch.tensor([0.0], dtype=torch.float64))
    assert torch.allclose(same, a, atol=1e-12)  # share 0 is A itself


def test_pictures_do_not_depend_on_the_batch_they_are_made_in() -> None:
    src = _sources()
    rows = pd.concat(
        [
            _rows("cue-conflict", 3, src=2, donor=3, texture_patch=12.0, rotation=10.0, noise=0.03),
            _rows("shape-warped", 3, src=1, seed=10, shape_warp=3.0, shape_warp_scale=8.0),
        ],
        ignore_index=True,
    )
    together = render_rows(src, rows, torch.device("cpu"))
    alone = torch.cat([render_rows(src, rows.iloc[[i]], torch.device("cpu")) for i in range(6)])
    assert torch.equal(together, alone)


def test_otsu_threshold_splits_two_grey_levels_between_them() -> None:
    grey = torch.cat((torch.full((1, 8, 4), 0.2), torch.full((1, 8, 4), 0.7)), dim=2)
    assert 0.2 <= float(otsu_threshold(grey)[0]) < 0.7


def test_estimated_mask_finds_the_object() -> None:
    src = _sources()
    est = estimate_mask(src.images.float() / 255)
    # the smoothing before the threshold (sigma 1 px) moves the outline by about a pixel;
    # a one-pixel band round these objects is 8-11 % of their area
    assert (_iou(est[:, 0], src.masks[:, 0]) > 0.88).all()


def test_gaussian_blur_matches_the_closed_form_variance() -> None:
    x = torch.zeros(1, 1, 65, 65, dtype=torch.float64)
    x[..., 32, 32] = 1
    out = ops.gaussian_blur(x, torch.tensor([2.5], dtype=torch.float64))[0, 0]
    ys = torch.arange(65, dtype=torch.float64) - 32
    var_y = (out.sum(dim=1) * ys**2).sum() / out.sum()
    assert out.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(var_y) == pytest.approx(2.5**2, rel=1e-3)
