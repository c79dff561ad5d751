"""How cost grows with the study: time per stage and peak memory of whole runs, and the growth
exponent of each stage, from one invocation.

Run with `make bench` or `python bench/scale.py [--model-sizes 1000 2000 4000 8000]
[--decision-sizes 10000 50000 200000]`; never collected by pytest. Each size runs in a fresh
process (so peak memory is that run's own) through `reportgen.runner.run_study`, report
included, on two kinds of study:

- a model study: stimuli from the parts generator (a third standard, two thirds cue-conflict,
  no morphs), the demo network of `sample_data/parts`, 1000 permutations and 200 resamples as
  in the demo, no people;
- a decision-only study of the shape the scale targets are stated for: 30 continuous factors
  in 4 groups, 10 classes, 2 logged models and 3 people, 100 permutations, no bootstrap. The
  models decide by the first group, the people by the second, each with noise.

The growth exponent of a stage between the smallest and the largest size is
log(t2 / t1) / log(n2 / n1): 1 is linear, 2 quadratic. Targets (issue "One config object…"):
every stage at most linear, peak memory bounded by a chunk size rather than n.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

GROUPS = {"g0": 8, "g1": 8, "g2": 7, "g3": 7}  # 30 factor columns
CLASSES = [f"c{k}" for k in range(10)]
MODELS, PEOPLE = ("model-a", "model-b"), ("person-1", "person-2", "person-3")
DECISION_PERMUTATIONS = 100


def _write_study(folder: Path, n: int, permutations: int) -> Path:
    rng = np.random.default_rng(0)
    columns = {f"{g}_{i}": rng.normal(size=n) for g, k in GROUPS.items() for i in range(k)}
    table = pd.DataFrame(
        {"id": [f"s{i:06d}" for i in range(n)], "condition": "standard", **columns}
    )
    w = rng.normal(size=(8, len(CLASSES)))

    def decide(group: str) -> np.ndarray:
        x = table[[f"{group}_{i}" for i in range(8)]].to_numpy()
        return (x @ w + rng.normal(scale=2.0, size=(n, len(CLASSES)))).argmax(1)

    table["label"] = [CLASSES[c] for c in decide("g0")]
    table.to_csv(folder / "stimuli.csv", index=False)

    def trials(observers: tuple[str, ...], group: str) -> pd.DataFrame:
        return pd.concat(
            pd.DataFrame(
                {
                    "observer": o,
                    "stimulus_id": table["id"],
                    "response": [CLASSES[c] for c in decide(group)],
                }
            )
            for o in observers
        )

    trials(MODELS, "g0").to_csv(folder / "models.csv", index=False)
    trials(PEOPLE, "g1").to_csv(folder / "humans.csv", index=False)
    factors = "\n".join(f'{g} = ["{g}_*"]' for g in GROUPS)
    classes = ", ".join(f'"{c}"' for c in CLASSES)
    (folder / "study.toml").write_text(
        f"""[report]
title = "scale {n}"
[decisions]
models = ["models.csv"]
[stimuli]
table = "stimuli.csv"
classes = [{classes}]
[factors]
{factors}
[humans]
responses = "humans.csv"
[analysis]
permutations = {permutations}
bootstrap = 0
device = "cpu"
""",
        encoding="utf-8",
    )
    return folder / "study.toml"


def _write_model_study(folder: Path, n: int) -> Path:
    demo = ROOT / "sample_data" / "parts"
    (folder / "model.pt").write_bytes((demo / "model.pt").read_bytes())
    config = (demo / "study.toml").read_text(encoding="utf-8")
    head, rest = config.split("[stimuli.params]", 1)
    params = rest.split("\n[", 1)[1]  # from the table after [stimuli.params] on
    standard = n // 3
    counts = (
        f"standard = {standard}\ncue_conflict = {n - standard}\n"
        "shape_morph = 0\ntexture_morph = 0\nseed = 1\n"
    )
    config = f"{head}[stimuli.params]\n{counts}\n[{params}"
    # No people: the demo's panel answered the demo's own stimuli.
    humans = config.index("[humans]")
    config = config[:humans] + config[config.index("[analysis]") :]
    (folder / "study.toml").write_text(config + 'device = "cpu"\n', encoding="utf-8")
    return folder / "study.toml"


def _one(kind: str, n: int) -> dict[str, float]:
    """One run in this process: stage timings (s) and peak resident memory (GiB)."""
    import time

    from reportgen.config import load_config
    from reportgen.runner import run_study

    with tempfile.TemporaryDirectory() as tmp:
        if kind == "model":
            study = _write_model_study(Path(tmp), n)
        else:
            study = _write_study(Path(tmp), n, DECISION_PERMUTATIONS)
        t = time.perf_counter()
        result = run_study(
            load_config(study), Path(tmp) / "out", history_db=Path(tmp) / "history.sqlite"
        )
        total = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {**result.findings.run.timings_s, "total": total, "peak_gib": peak_gib}


def _table(title: str, kind: str, sizes: list[int]) -> None:
    rows = {}
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", kind, str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows[n] = json.loads(out.stdout.strip().splitlines()[-1])
    stages = [k for k in rows[sizes[0]] if k != "peak_gib"]
    print(title)
    print(f"{'stage':<14}" + "".join(f"{n:>10}" for n in sizes) + "   growth exponent")
    for stage in [*stages, "peak_gib"]:
        values = [rows[n].get(stage, math.nan) for n in sizes]
        a, b = sizes[0], sizes[-1]
        va, vb = values[0], values[-1]
        grows = a != b and va > 0 and vb > 0
        growth = math.log(vb / va) / math.log(b / a) if grows else math.nan
        unit = " GiB" if stage == "peak_gib" else " s"
        print(f"{stage:<14}" + "".join(f"{v:>10.2f}" for v in values) + f"   {growth:.2f}{unit}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-sizes", type=int, nargs="*", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--decision-sizes", type=int, nargs="*", default=[10000, 50000, 200000])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]))))
        return
    if args.model_sizes:
        _table(
            "model study: parts generator (1/3 standard, 2/3 cue-conflict), the demo network, "
            "1000 permutations, 200 resamples, no people (stimuli; seconds)",
            "model",
            args.model_sizes,
        )
    if args.decision_sizes:
        _table(
            "decision-only study: 30 factors in 4 groups, 10 classes, 2 models + 3 people, "
            f"{DECISION_PERMUTATIONS} permutations, no bootstrap (stimuli; seconds)",
            "decision",
            args.decision_sizes,
        )


if __name__ == "__main__":
    main()
