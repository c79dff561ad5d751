"""Properties of the built-in parts generator (reportgen.inputs.parts)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reportgen.inputs import parts

SIZE = 64
ALL_FACTORS = [name for group in parts.FACTOR_GROUPS.values() for name in group]


def base_factors(n: int = 1) -> dict[str, torch.Tensor]:
    """A pose and part where every factor is visible: notch, bolt holes, grain, scratches..."""
    values = {name: (lo + hi) / 2 for name, (lo, hi) in parts.FACTOR_RANGES.items()}
    values.update(
        shape_h2c=0.12,
        shape_h3s=0.06,
        shape_bore=0.25,
        shape_bolt_r=0.1,
        shape_bolt_n=4.5,  # fractional: the fifth hole is half grown, so the count shows
        shape_bolt_ring=0.7,
        shape_notch_depth=0.3,
        shape_notch_angle=60.0,
        texture_scratch=0.5,
        texture_stain=0.5,
        texture_aniso=0.5,
        rotation=20.0,
        scale=1.0,
        shift_x=0.0,
        shift_y=0.0,
        light_strength=0.0,
    )
    return {k: torch.full((n,), float(v), dtype=torch.float64) for k, v in values.items()}


def with_value(factors: dict[str, torch.Tensor], name: str, value: float) -> dict:
    changed = dict(factors)
    changed[name] = torch.full_like(factors[name], value)
    return changed


def perturbed_value(name: str, base: float) -> float:
    """A value a quarter of the factor's range away from ``base``, still inside the range."""
    lo, hi = parts.FACTOR_RANGES[name]
    step = 0.25 * (hi - lo)
    return base + step if base + step <= hi else base - step


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("condition", parts.CONDITIONS)
def test_same_seed_gives_bit_identical_table_and_images(condition: str) -> None:
    a = parts.generate(24, condition, seed=7)
    b = parts.generate(24, condition, seed=7)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert torch.equal(a.images, b.images)


def test_different_seeds_give_different_factors_and_images() -> None:
    a = parts.generate(16, seed=1)
    b = parts.generate(16, seed=2)
    assert not np.allclose(a.table[ALL_FACTORS].to_numpy(), b.table[ALL_FACTORS].to_numpy())
    # every image differs, not just some: the nuisance draws alone move every part
    assert all(not torch.equal(x, y) for x, y in zip(a.images, b.images, strict=True))


def test_rendering_the_table_reproduces_the_images_bit_for_bit() -> None:
    batch = parts.generate(20, "cue-conflict", seed=3)
    again = parts.to_uint8(parts.render(batch.table, SIZE))
    assert torch.equal(again, batch.images)


# ------------------------------------------------------------------------ table contents


@pytest.mark.parametrize("condition", parts.CONDITIONS)
def test_every_column_is_present_and_every_factor_lies_in_its_range(condition: str) -> None:
    batch = parts.generate(40, condition, seed=0, size=SIZE)
    table = batch.table
    base = ["id", "image", "label", "condition", "shape_type", "texture_type", "morph_level"]
    assert set(base + ALL_FACTORS) <= set(table.columns)
    assert batch.images.shape == (40, 3, SIZE, SIZE) and batch.images.dtype == torch.uint8
    assert table["id"].is_unique and (table["condition"] == condition).all()
    assert (table["image"] == table["id"] + ".png").all()
    assert set(table["label"]) <= set(parts.CLASS_NAMES)
    for name in ALL_FACTORS:
        lo, hi = parts.FACTOR_RANGES[name]
        col = table[name]
        assert col.dtype == np.float64, name
        assert col.between(lo, hi).all(), name


def test_nuisance_factors_cover_their_ranges() -> None:
    # Uniform draws: with n = 400 the sample min/max fall within 3 % of the ends of the range
    # except with probability 2 * 0.97**400 < 1e-5 per factor.
    table = parts.generate(400, seed=5, size=16).table
    for name in parts.FACTOR_GROUPS["nuisance"]:
        lo, hi = parts.FACTOR_RANGES[name]
        assert table[name].min() < lo + 0.03 * (hi - lo), name
        assert table[name].max() > hi - 0.03 * (hi - lo), name


def test_standard_types_are_balanced_and_label_names_the_shared_type() -> None:
    table = parts.generate(48, seed=0, size=16, n_types=6).table
    assert (table["shape_type"] == table["texture_type"]).all()
    assert table["shape_type"].value_counts().tolist() == [8] * 6
    assert (table["label"] == [parts.CLASS_NAMES[t] for t in table["shape_type"]]).all()


def test_cue_conflict_pairs_two_types_and_label_names_the_shape_type() -> None:
    table = parts.generate(80, "cue-conflict", seed=0, size=16).table
    assert (table["shape_type"] != table["texture_type"]).all()
    assert (table["label"] == [parts.CLASS_NAMES[t] for t in table["shape_type"]]).all()
    # every texture type occurs: the partner is drawn, not fixed
    assert table["texture_type"].nunique() == 8


def test_zero_jitter_reproduces_the_prototypes_exactly() -> None:
    table = parts.generate(16, seed=0, size=16, shape_jitter=0.0, texture_jitter=0.0).table
    protos = parts.prototypes()
    cues = parts.FACTOR_GROUPS["shape"] + parts.FACTOR_GROUPS["texture"]
    expected = protos.iloc[table["shape_type"].to_numpy()][cues].to_numpy()
    np.testing.assert_array_equal(table[cues].to_numpy(), expected)


def test_default_shape_varies_more_within_a_type_than_texture() -> None:
    # Planted truth: within-type sd over between-type sd is about shape_jitter (0.5) for shape
    # and texture_jitter (0.2) for texture; clipping at range ends only lowers some factors.
    table = parts.generate(800, seed=0, size=16).table
    protos = parts.prototypes()

    def median_ratio(group: str) -> float:
        cols = parts.FACTOR_GROUPS[group]
        within = table.groupby("shape_type")[cols].std().mean()
        between = protos[cols].std(ddof=0)
        return float((within / between).median())

    shape, texture = median_ratio("shape"), median_ratio("texture")
    assert 0.35 < shape < 0.6 and 0.12 < texture < 0.25
    assert shape > 1.8 * texture


@pytest.mark.parametrize("condition", ["shape-morph", "texture-morph"])
def test_morphs_interpolate_one_cue_and_hold_the_other_at_the_start_type(condition: str) -> None:
    batch = parts.generate(21, condition, seed=0, size=16, morph_pair=(3, 2), morph_levels=7)
    table = batch.table
    np.testing.assert_array_equal(np.sort(table["morph_level"].unique()), np.arange(7) / 6)
    assert (table["morph_from"] == 3).all() and (table["morph_to"] == 2).all()
    protos = parts.prototypes()
    morphed, held = ("shape", "texture") if condition == "shape-morph" else ("texture", "shape")
    t = table["morph_level"].to_numpy()[:, None]
    start = protos.iloc[3][parts.FACTOR_GROUPS[morphed]].to_numpy()[None, :]
    end = protos.iloc[2][parts.FACTOR_GROUPS[morphed]].to_numpy()[None, :]
    # the table holds exactly the interpolation, evaluated in the same float64 arithmetic
    np.testing.assert_allclose(
        table[parts.FACTOR_GROUPS[morphed]].to_numpy(),
        (1 - t) * start + t * end,
        rtol=0,
        atol=1e-12,
    )
    held_values = table[parts.FACTOR_GROUPS[held]].to_numpy()
    np.testing.assert_array_equal(held_values, np.repeat(held_values[:1], len(table), axis=0))
    # label follows the shape: the nearer end of a shape morph, always the start otherwise
    expected = np.where((t[:, 0] > 0.5) & (condition == "shape-morph"), "sprocket", "bracket")
    assert (table["label"].to_numpy() == expected).all()


def test_morph_pairs_default_to_random_distinct_types() -> None:
    table = parts.generate(60, "shape-morph", seed=0, size=16).table
    assert (table["morph_from"] != table["morph_to"]).all()
    assert table["morph_to"].nunique() > 4
    assert table["morph_level"].min() == 0.0 and table["morph_level"].max() == 1.0


# ------------------------------------------------------- each factor changes what it claims


@pytest.mark.parametrize("name", parts.FACTOR_GROUPS["texture"])
def test_texture_factor_changes_the_surface_and_never_the_silhouette(name: str) -> None:
    base = base_factors()
    changed = with_value(base, name, perturbed_value(name, float(base[name][0])))
    assert torch.equal(parts.silhouette(base, SIZE), parts.silhouette(changed, SIZE))
    alpha = parts.silhouette(base, SIZE)[0]
    a, b = parts.render(base, SIZE), parts.render(changed, SIZE)
    outside = alpha == 0
    assert torch.equal(a[0][:, outside], b[0][:, outside])  # the table does not see the texture
    inside = alpha == 1
    diff = (a[0][:, inside] - b[0][:, inside]).abs().amax(dim=0)
    # "genuinely changes": at least 2 % of the part's pixels move by at least one grey level
    assert (diff > 1 / 255).float().mean() > 0.02, name


@pytest.mark.parametrize("name", parts.FACTOR_GROUPS["shape"])
def test_shape_factor_changes_the_silhouette_and_the_surface_only_near_it(name: str) -> None:
    base = base_factors()
    changed = with_value(base, name, perturbed_value(name, float(base[name][0])))
    alpha_a, alpha_b = parts.silhouette(base, SIZE)[0], parts.silhouette(changed, SIZE)[0]
    moved = (alpha_a - alpha_b).abs() > 1e-6
    assert moved.sum() >= 3, name  # at least a few pixels of outline or holes move
    # Away from the moved pixels the surface is the same: texture lives in the part frame and
    # the shape only adds a chamfer within _CHAMFER (about 1.4 px here), so 3 px of margin.
    near = F.max_pool2d(moved[None, None].float(), kernel_size=7, stride=1, padding=3)[0, 0] > 0
    interior = (alpha_a == 1) & (alpha_b == 1) & ~near
    assert interior.sum() > 150  # of about 980 fully covered pixels
    a, b = parts.render(base, SIZE)[0], parts.render(changed, SIZE)[0]
    assert torch.equal(a[:, interior], b[:, interior])


def test_light_multiplies_the_image_by_the_documented_gradient_and_leaves_the_mask() -> None:
    base = with_value(base_factors(), "light_strength", 0.2)
    lit = with_value(with_value(base, "light_strength", 0.45), "light_angle", 130.0)
    assert torch.equal(parts.silhouette(base, SIZE), parts.silhouette(lit, SIZE))
    a, b = parts.render(base, SIZE)[0], parts.render(lit, SIZE)[0]

    # Independent oracle: the gradient written in the module docstring, in float64.
    grid = (torch.arange(SIZE, dtype=torch.float64) + 0.5) * 2 / SIZE - 1
    u, v = grid.view(1, SIZE), -grid.view(SIZE, 1)

    def gradient(strength: float, angle: float) -> torch.Tensor:
        rad = math.radians(angle)
        return 1 + strength * (u * math.cos(rad) + v * math.sin(rad)) / math.sqrt(2)

    ratio = gradient(0.45, 130.0) / gradient(0.2, float(base["light_angle"][0]))
    unclipped = (a < 1).all(dim=0) & (b < 1).all(dim=0)
    assert unclipped.float().mean() > 0.9
    # float32 rendering: relative error a few 1e-7 per factor, so 1e-5 is generous
    torch.testing.assert_close(
        b[:, unclipped].double(), (a.double() * ratio)[:, unclipped], rtol=1e-5, atol=1e-6
    )


def test_integer_pixel_shift_translates_the_whole_image_exactly() -> None:
    # Two pixels is 4/SIZE in half-image units: exact in binary, so every coordinate the
    # renderer computes at a shifted pixel is bit-identical to the original one.
    base = base_factors()
    shifted = with_value(with_value(base, "shift_x", 4 / SIZE), "shift_y", -4 / SIZE)
    a, b = parts.render(base, SIZE)[0], parts.render(shifted, SIZE)[0]
    assert torch.equal(b[:, 2:, 2:], a[:, :-2, :-2])  # right and down by two pixels


def test_texture_turns_with_the_part_under_a_quarter_turn() -> None:
    base = with_value(base_factors(), "rotation", 10.0)
    turned = with_value(base, "rotation", 100.0)
    alpha_a, alpha_b = parts.silhouette(base, SIZE)[0], parts.silhouette(turned, SIZE)[0]
    # counter-clockwise on screen is rot90 from the column axis towards the row axis
    rot = torch.rot90(alpha_a, k=1, dims=(0, 1))
    # float32 coordinates differ by ~1e-7 after rotation; the 1-px ramp turns that into <1e-5
    torch.testing.assert_close(alpha_b, rot, rtol=0, atol=1e-4)
    a, b = parts.render(base, SIZE)[0], parts.render(turned, SIZE)[0]
    inside = (alpha_b == 1) & (rot == 1)
    # the shadow stays down-right (it is on the table), so compare the part's own pixels; the
    # grain phase error is 2*pi*freq*1e-7 rad, far below 1e-4 of intensity
    torch.testing.assert_close(
        b[:, inside], torch.rot90(a, 1, (1, 2))[:, inside], atol=1e-4, rtol=0
    )


def test_scale_grows_the_silhouette_area_quadratically() -> None:
    small = with_value(base_factors(), "scale", 0.85)
    large = with_value(small, "scale", 1.1)
    ratio = parts.silhouette(large, SIZE).sum() / parts.silhouette(small, SIZE).sum()
    # anti-aliased coverage sums estimate area to about one pixel per unit of perimeter;
    # over ~500 px of area that is within 2 %
    assert ratio.item() == pytest.approx((1.1 / 0.85) ** 2, rel=0.02)


def test_noise_seed_moves_the_surface_details_but_not_the_silhouette() -> None:
    base = base_factors()
    a = parts.render(base, SIZE, seed=1)[0]
    b = parts.render(base, SIZE, seed=2)[0]
    alpha = parts.silhouette(base, SIZE)[0]
    assert torch.equal(a[:, alpha == 0], b[:, alpha == 0])
    assert not torch.equal(a[:, alpha == 1], b[:, alpha == 1])


def test_one_row_renders_the_same_alone_or_in_a_batch() -> None:
    batch = parts.generate(12, seed=4)
    alone = parts.to_uint8(parts.render(batch.table.iloc[[5]], SIZE))
    assert torch.equal(alone[0], batch.images[5])


# ------------------------------------------------------------------------------ output


@pytest.mark.parametrize("condition", ["standard", "texture-morph"])
def test_write_stimuli_round_trips_the_table_and_the_pixels(tmp_path: Path, condition: str) -> None:
    batch = parts.generate(6, condition, seed=9, morph_levels=3)
    csv = parts.write_stimuli(batch, tmp_path / "out")
    assert csv == tmp_path / "out" / "stimuli.csv"
    table = pd.read_csv(csv)
    # pandas writes floats round-trippably; NaN morph levels (non-morph rows) come back as NaN
    pd.testing.assert_frame_equal(table, batch.table)
    for name, img in zip(table["image"], batch.images, strict=True):
        with Image.open(tmp_path / "out" / "images" / name) as png:
            pixels = torch.from_numpy(np.array(png.convert("RGB"))).permute(2, 0, 1)
        assert torch.equal(pixels, img)  # PNG is lossless


def test_contact_sheet_tiles_every_image_in_row_order() -> None:
    batch = parts.generate(10, seed=0)
    sheet = parts.contact_sheet(batch, ncols=4, pad=2)
    cell = SIZE + 2
    assert sheet.shape == (3, 3 * cell + 2, 4 * cell + 2) and sheet.dtype == torch.uint8
    r, c = divmod(9, 4)
    tile = sheet[:, 2 + r * cell : 2 + r * cell + SIZE, 2 + c * cell : 2 + c * cell + SIZE]
    assert torch.equal(tile, batch.images[9])


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 4, "condition": "mixed"}, "unknown condition"),
        ({"n": 0}, "n must be"),
        ({"n": 4, "n_types": 1}, "n_types"),
        ({"n": 4, "n_types": 9}, "n_types"),
        ({"n": 4, "size": 8}, "size"),
        ({"n": 4, "seed": -1}, "seed"),
        ({"n": 4, "shape_jitter": -0.1}, "shape_jitter"),
        ({"n": 4, "texture_jitter": float("nan")}, "texture_jitter"),
        ({"n": 4, "condition": "shape-morph", "morph_levels": 1}, "morph_levels"),
        ({"n": 4, "condition": "shape-morph", "morph_pair": (2, 2)}, "morph_pair"),
        ({"n": 4, "condition": "texture-morph", "morph_pair": (0, 8)}, "morph_pair"),
        ({"n": 4, "condition": "standard", "morph_pair": (0, 1)}, "morph_pair"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parts.generate(**kwargs)


def test_render_names_the_missing_factor_columns() -> None:
    factors = base_factors()
    del factors["texture_tint"]
    with pytest.raises(ValueError, match="texture_tint"):
        parts.render(factors, SIZE)
