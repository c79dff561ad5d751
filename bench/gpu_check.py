"""CPU against CUDA: every analysis of the embedded demos, compared number by number and timed.

Run with `make bench` or `python bench/gpu_check.py [--demo parts|cue-conflict|all]`; never
collected by pytest. On a machine without a CUDA GPU it says so and exits 0.

For each demo the stimuli, the model's responses and the people's answers are loaded on the
CPU and moved to CUDA, and the whole analysis stage runs on each device with the same seed (the
permutations are drawn on the CPU for both, so the nulls are the same). The model's own run on
CUDA is timed and its decisions compared with the CPU's. Every number of the two Findings is
compared: information values (fields ending in ``_bits``) must agree to 1e-4 bits, and every
other float (shares, rates, kappas, interval ends) to 1e-4, except p-values, which may differ
by two steps of the permutation grid (2 / (permutations + 1)) where an observed statistic lies
within float round-off of a null value. Exit status 1 on any disagreement, with the fields named.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time

import torch

from reportgen.config import load_config
from reportgen.findings.build import analyse
from reportgen.inputs.study_data import load_study_data
from reportgen.runner import DEMOS, demo_config_path

BITS_TOL = 1e-4
OTHER_TOL = 1e-4
# Fields that depend on the machine or the clock, not on the data.
IGNORED = {"device", "timings_s", "started_at", "config_hash", "versions"}


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of a Findings value, keyed by its path (``drivers[3].mi_bits``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, object] = {}
        for f in dataclasses.fields(value):
            if f.name not in IGNORED:
                out |= _flatten(getattr(value, f.name), f"{prefix}.{f.name}" if prefix else f.name)
        return out
    if isinstance(value, list | tuple):
        out = {}
        for i, item in enumerate(value):
            out |= _flatten(item, f"{prefix}[{i}]")
        return out
    if isinstance(value, dict):
        out = {}
        for k, item in value.items():
            out |= _flatten(item, f"{prefix}[{k!r}]")
        return out
    return {prefix: value}


def _disagreements(cpu: object, gpu: object, permutations: int) -> list[str]:
    a, b = _flatten(cpu), _flatten(gpu)
    if a.keys() != b.keys():
        return [f"different fields: {sorted(a.keys() ^ b.keys())[:5]}"]
    bad = []
    for key, x in a.items():
        y = b[key]
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) and math.isnan(y):
                continue
            last = key.rsplit(".", 1)[-1]
            tol = BITS_TOL if last.endswith("_bits") else OTHER_TOL
            if "p_value" in last:
                tol = max(tol, 2.0 / (permutations + 1))
            if not abs(x - y) <= tol:
                bad.append(f"{key}: cpu {x:.6g}, cuda {y:.6g} (|diff| {abs(x - y):.2g} > {tol:g})")
        elif x != y:
            bad.append(f"{key}: cpu {x!r}, cuda {y!r}")
    return bad


def _timed(fn, cuda: bool) -> tuple[object, float]:
    t = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def _check(name: str) -> bool:
    """Compare and time one demo; True when CPU and CUDA agree."""
    base = load_config(demo_config_path(name))
    on_cpu, on_gpu = base.with_overrides(device="cpu"), base.with_overrides(device="cuda")
    data_cpu, load_cpu = _timed(lambda: load_study_data(on_cpu), False)
    data_gpu_model, load_gpu = _timed(lambda: load_study_data(on_gpu), True)
    # The analyses are compared on identical inputs: the CPU's study data, moved. The model's
    # own run on CUDA (autocast float16) is compared separately, by its decisions.
    data_gpu = data_cpu.to("cuda")
    analyse(data_gpu, on_gpu)  # warm-up: kernels, cuBLAS handles
    cpu, an_cpu = _timed(lambda: analyse(data_cpu, on_cpu), False)
    gpu, an_gpu = _timed(lambda: analyse(data_gpu, on_gpu), True)
    bad = _disagreements(cpu, gpu, base.analysis.permutations)
    same = (data_gpu_model.decisions.cpu() == data_cpu.decisions).double().mean().item()
    print(
        f"{name}: inputs+model cpu {load_cpu:.2f} s, cuda {load_gpu:.2f} s "
        f"({load_cpu / load_gpu:.1f}x), decisions identical {same:.2%} | analyses cpu "
        f"{an_cpu:.2f} s, cuda {an_gpu:.2f} s ({an_cpu / an_gpu:.1f}x) | "
        f"{len(_flatten(cpu))} numbers compared, {len(bad)} disagree"
    )
    for line in bad[:40]:
        print(f"  {line}")
    return not bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", choices=[*DEMOS, "all"], default="all")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: PyTorch sees no CUDA GPU on this machine; nothing to compare")
        return 0
    print(f"gpu_check on {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    ok = [_check(name) for name in (DEMOS if args.demo == "all" else [args.demo])]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
