"""The simulated inspector panel (reportgen.demo.panel) and the demo study config that ships it."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.config import load_config
from reportgen.demo.panel import (
    observer_parameters,
    outline_typicality,
    simulate_panel,
)
from reportgen.errors import ReportgenError
from reportgen.inputs import parts
from reportgen.inputs.generated import generate_stimuli

DEMO = Path(__file__).resolve().parents[2] / "sample_data" / "parts"
CLASSES = list(parts.CLASS_NAMES)
INDEX = {c: i for i, c in enumerate(CLASSES)}


@pytest.fixture(scope="module")
def demo_table() -> pd.DataFrame:
    """Exactly the stimuli the demo study generates at run time (its [stimuli.params])."""
    with (DEMO / "study.toml").open("rb") as handle:
        params = tomllib.load(handle)["stimuli"]["params"]
    table, _ = generate_stimuli("parts", params)
    return table


def _joined(panel: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "id",
        "condition",
        "shape_type",
        "texture_type",
        "morph_from",
        "morph_to",
        "morph_level",
    ]
    out = panel.merge(table[cols], left_on="stimulus_id", right_on="id", validate="many_to_one")
    out["answer"] = out["response"].map(INDEX)
    return out


def _noiseless(w_shape: float = 0.85, w_texture: float = 0.15, lapse: float = 0.0, n: int = 1):
    """Planted observers: no evidence noise (sigma tiny), a chosen lapse rate."""
    return pd.DataFrame(
        {"w_shape": w_shape, "w_texture": w_texture, "sigma": 1e-9, "lapse": lapse},
        index=[f"sim-inspector-{i + 1}" for i in range(n)],
    )


def test_demo_config_loads_and_marks_the_panel_simulated() -> None:
    config = load_config(DEMO / "study.toml")
    assert config.humans is not None and config.humans.simulated
    assert config.humans.responses == (DEMO / "panel_simulated.csv").resolve()
    assert config.stimuli.classes == parts.CLASS_NAMES
    assert config.cues.shape == "shape_type" and config.cues.texture == "texture_type"


def test_demo_factor_globs_match_exactly_the_generator_groups(demo_table: pd.DataFrame) -> None:
    # Independent oracle: parts.FACTOR_GROUPS; shape_type / texture_type must stay out.
    from reportgen.inputs.stimuli import build_stimulus_set

    config = load_config(DEMO / "study.toml")
    stimset = build_stimulus_set(
        demo_table,
        source="demo",
        image_dir=None,
        factor_globs=config.factors,
        classes=config.stimuli.classes,
        require_images=False,
    )
    assert stimset.groups == parts.FACTOR_GROUPS


def test_shipped_panel_equals_a_fresh_simulation(demo_table: pd.DataFrame) -> None:
    shipped = pd.read_csv(DEMO / "panel_simulated.csv", keep_default_na=False)
    fresh = simulate_panel(demo_table, CLASSES, n_observers=6, seed=0)
    pd.testing.assert_frame_equal(shipped, fresh)
    assert set(shipped["stimulus_id"]) == set(demo_table["id"])
    assert shipped["simulated"].all() and (shipped["observer_kind"] == "human").all()
    assert sorted(shipped["observer"].unique()) == [f"sim-inspector-{i}" for i in range(1, 7)]


def test_cli_regenerates_the_shipped_panel_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "panel.csv"
    result = CliRunner().invoke(
        app, ["simulate-panel", str(DEMO / "study.toml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (DEMO / "panel_simulated.csv").read_bytes()


def test_panel_is_shape_biased_and_accurate(demo_table: pd.DataFrame) -> None:
    joined = _joined(simulate_panel(demo_table, CLASSES, seed=0), demo_table)
    for observer, rows in joined.groupby("observer"):
        std = rows[rows["condition"] == "standard"]
        cc = rows[rows["condition"] == "cue-conflict"]
        shape = (cc["answer"] == cc["shape_type"]).sum()
        texture = (cc["answer"] == cc["texture_type"]).sum()
        # The documented model gives ~0.97 shape bias and ~0.97 accuracy; 0.8 / 0.9 leave room
        # for 480 / 960 trials of binomial noise (sd < 0.02) and every observer's parameters.
        assert shape / (shape + texture) > 0.8, observer
        assert (std["answer"] == std["shape_type"]).mean() > 0.9, observer
        # Noise and lapses exist: a panel that never errs would be an implausible human panel.
        assert (std["answer"] != std["shape_type"]).sum() > 0, observer


def test_noiseless_observer_follows_the_closed_form(demo_table: pd.DataFrame) -> None:
    # Independent oracle: without noise or lapses the answer is the argmax of the cue formula.
    w_s, w_t = 0.85, 0.15
    j = _joined(simulate_panel(demo_table, CLASSES, observers=_noiseless(w_s, w_t)), demo_table)
    std = j[j["condition"].isin(["standard", "cue-conflict"])]
    assert (std["answer"] == std["shape_type"]).all()  # w_shape * q > w_texture on every outline
    for condition, morphed in (("shape-morph", w_s), ("texture-morph", w_t)):
        rows = j[j["condition"] == condition]
        level = rows["morph_level"].to_numpy()
        # morph_to wins iff morphed * level > morphed * (1 - level) + fixed cue weight
        fixed = w_t if condition == "shape-morph" else w_s
        expect_to = morphed * level > morphed * (1 - level) + fixed
        expected = np.where(expect_to, rows["morph_to"], rows["morph_from"])
        np.testing.assert_array_equal(rows["answer"].to_numpy(), expected)


def test_planted_lapse_rate_is_recovered(demo_table: pd.DataFrame) -> None:
    lapse, n_obs = 0.3, 4
    j = _joined(
        simulate_panel(demo_table, CLASSES, observers=_noiseless(lapse=lapse, n=n_obs), seed=3),
        demo_table,
    )
    std = j[j["condition"] == "standard"]
    # A lapse answers uniformly at random, so it is wrong with probability 7/8.
    p = lapse * 7 / 8
    n = len(std)
    err = (std["answer"] != std["shape_type"]).mean()
    assert abs(err - p) < 4 * math.sqrt(p * (1 - p) / n)  # 4 sd of a binomial proportion
    # Lapsing observers always answering: every class appears and nothing is empty.
    assert std["response"].notna().all() and set(std["response"]) == set(CLASSES)


def test_lapses_answer_uniformly(demo_table: pd.DataFrame) -> None:
    panel = simulate_panel(demo_table, CLASSES, observers=_noiseless(lapse=1.0, n=2), seed=5)
    counts = panel["response"].value_counts().reindex(CLASSES).to_numpy()
    expected = len(panel) / len(CLASSES)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 24.3  # 99.9 % quantile of chi-square with 7 degrees of freedom


def test_same_seed_same_panel_other_seed_other_panel(demo_table: pd.DataFrame) -> None:
    a = simulate_panel(demo_table, CLASSES, seed=11)
    b = simulate_panel(demo_table, CLASSES, seed=11)
    c = simulate_panel(demo_table, CLASSES, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert (a["response"] != c["response"]).any()
    pd.testing.assert_frame_equal(observer_parameters(6, 11), observer_parameters(6, 11))


def test_observer_parameters_stay_in_their_documented_ranges() -> None:
    p = observer_parameters(200, seed=1)
    assert p["w_shape"].between(0.6, 1.0).all() and p["w_texture"].between(0.02, 0.4).all()
    assert p["sigma"].between(0.12, 0.24).all() and p["lapse"].between(0.01, 0.05).all()
    # Means near the documented centres (sd of a mean of 200 draws < 0.004 for each).
    assert abs(p["w_shape"].mean() - 0.85) < 0.02 and abs(p["w_texture"].mean() - 0.15) < 0.02
    assert abs(p["lapse"].mean() - 0.03) < 0.005


def test_typicality_closed_form_at_and_off_the_prototype() -> None:
    protos = parts.prototypes()
    table = protos.reset_index(drop=True)
    cue = np.eye(len(CLASSES))
    np.testing.assert_allclose(outline_typicality(table, cue, CLASSES), 1.0)
    shifted = table.copy()
    lo, hi = parts.FACTOR_RANGES["shape_bore"]
    shifted["shape_bore"] += (hi - lo) / 4  # one unit on one of the 14 shape factors
    d = 1 / len(parts.FACTOR_GROUPS["shape"])
    np.testing.assert_allclose(outline_typicality(shifted, cue, CLASSES), math.exp(-d / 0.5))
    # Without the parts shape columns the outline carries no extra information.
    bare = pd.DataFrame({"id": ["a"], "condition": ["standard"]})
    np.testing.assert_array_equal(outline_typicality(bare, cue[:1], CLASSES), [1.0])


def test_bad_inputs_name_the_problem(demo_table: pd.DataFrame) -> None:
    with pytest.raises(ReportgenError, match="no column 'shape_type'"):
        simulate_panel(demo_table.drop(columns="shape_type"), CLASSES)
    bad = demo_table.head(3).copy()
    bad.loc[1, "texture_type"] = 9
    with pytest.raises(ReportgenError, match="texture_type', row 2"):
        simulate_panel(bad, CLASSES)
    with pytest.raises(ReportgenError, match="lack parameter"):
        simulate_panel(demo_table, CLASSES, observers=pd.DataFrame({"w_shape": [1.0]}))
