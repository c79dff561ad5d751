"""How cost grows with the study: time per stage and peak memory of whole runs, and the growth
exponent of each stage, from one invocation.

Run with `make bench` or `python bench/scale.py [--sizes 1000 2000 4000] [--permutations 100]`;
never collected by pytest. Each size runs in a fresh process (so peak memory is that run's own)
through `reportgen.runner.run_study`, report included, on a synthetic decision-only study of the
shape the scale targets are stated for: 30 continuous factors in 4 groups, 10 classes, 2 logged
models and 3 people, no bootstrap. The models decide by the first group, the people by the
second, each with noise.

The growth exponent of a stage between two sizes is log(t2 / t1) / log(n2 / n1): 1 is linear,
2 quadratic. Targets (issue "One config object…"): every stage at most linear, peak memory
bounded by a chunk size rather than n.
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

GROUPS = {"g0": 8, "g1": 8, "g2": 7, "g3": 7}  # 30 factor columns
CLASSES = [f"c{k}" for k in range(10)]
MODELS, PEOPLE = ("model-a", "model-b"), ("person-1", "person-2", "person-3")


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


def _one(n: int, permutations: int) -> dict[str, float]:
    """One run in this process: stage timings (s) and peak resident memory (GiB)."""
    import time

    from reportgen.config import load_config
    from reportgen.runner import run_study

    with tempfile.TemporaryDirectory() as tmp:
        study = _write_study(Path(tmp), n, permutations)
        t = time.perf_counter()
        result = run_study(
            load_config(study), Path(tmp) / "out", history_db=Path(tmp) / "history.sqlite"
        )
        total = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {**result.findings.run.timings_s, "total": total, "peak_gib": peak_gib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.permutations)))
        return
    rows = {}
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--permutations", str(args.permutations)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows[n] = json.loads(out.stdout.strip().splitlines()[-1])
    stages = [k for k in rows[args.sizes[0]] if k != "peak_gib"]
    print(
        f"decision-only study: 30 factors in 4 groups, 10 classes, 2 models + 3 people, "
        f"{args.permutations} permutations, no bootstrap"
    )
    print(f"{'stage':<14}" + "".join(f"{n:>10}" for n in args.sizes) + "   growth exponent")
    for stage in [*stages, "peak_gib"]:
        values = [rows[n].get(stage, math.nan) for n in args.sizes]
        a, b = args.sizes[0], args.sizes[-1]
        va, vb = values[0], values[-1]
        grows = a != b and va > 0 and vb > 0
        growth = math.log(vb / va) / math.log(b / a) if grows else math.nan
        unit = " GiB" if stage == "peak_gib" else " s"
        print(f"{stage:<14}" + "".join(f"{v:>10.2f}" for v in values) + f"   {growth:.2f}{unit}")


if __name__ == "__main__":
    main()
