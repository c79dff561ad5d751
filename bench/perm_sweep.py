"""Benchmark of the batched permutation sweeps, run by ``make bench``.

Case: n = 2000 trials, 512 units x 8 univariate factors, 1000 permutations, float32, CPU,
2 threads (``perm_sweep_cc``); the same with 8 discrete 10-class targets
(``perm_sweep_cd``). For each case it prints, from one run:

- our time (best of a few repeats) and peak memory;
- frites doing the same computation, two ways, both extrapolated from a few
  permutations because they are slow: composed (copula-normalise once, then per
  permutation ``mi_nd_gg`` / ``mi_model_nd_gd`` per factor on float32 scores, its
  fastest way; with our permutations, so the nulls are cross-checked) and through its
  GCMI wrappers ``gcmi_nd_cc`` / ``gcmi_model_nd_cd`` (re-normalising on every call);
- the bare matmul ``[u, n] @ [n, f (K+1)]`` (the hardware floor of the cc
  sweep); for cd also ``[u, n] @ [n, k C (K+1)]``, the class-sum product a GEMM
  formulation of the cd sweep would need;
- ratios ours / matmul (from calls alternating with the matmul in one process, so that a
  slow spell of a shared machine hits both) and frites / ours, and composed frites /
  matmul: the largest speed-up over frites that any implementation could show here;
- the same on CUDA when a GPU is present.

Each measurement runs in its own subprocess so that its peak resident memory (the
kernel's peak-RSS mark, reset just before the computation, minus the RSS at that
moment; ``getrusage`` max RSS where the mark cannot be reset) is its own; torch
allocations are invisible to tracemalloc. On CUDA, peak memory is
``torch.cuda.max_memory_allocated`` above the memory held before the call.

Usage: ``python bench/perm_sweep.py [--repeats 5] [--frites-perms-cc 6]
[--frites-perms-cd 20] [--device auto|cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

N, UNITS, FACTORS, N_PERM, N_CLASSES, THREADS, SEED = 2000, 512, 8, 1000, 10, 2, 0
N_NAIVE = 4  # permutations timed for frites' copnorm-every-call wrappers (slowest path)
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------
# worker side: one measurement per process
# ---------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) so import-time peaks do not count."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass  # then the lifetime peak from getrusage is used: an upper bound


def _peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _data(device):
    import torch

    gen = torch.Generator().manual_seed(SEED)
    a = torch.randn(N, UNITS, generator=gen)
    b = 0.3 * a[:, :FACTORS] + torch.randn(N, FACTORS, generator=gen)
    y = torch.randint(0, N_CLASSES, (N, FACTORS), generator=gen)
    return a.to(device), b.to(device), y.to(device)


def _timed(fn, repeats: int, device) -> tuple[float, int]:
    """Best wall time of `repeats` calls and the peak extra memory (bytes) they needed."""
    import torch

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        _reset_peak_rss()
        base = _rss_bytes()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        del out
    peak = torch.cuda.max_memory_allocated() - base if cuda else _peak_rss_bytes() - base
    return best, max(peak, 0)


def _alternating(fn_a, fn_b, repeats: int, device) -> tuple[float, float]:
    """Best wall times of `fn_a` and `fn_b`, called alternately `repeats` times each."""
    import torch

    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            t0 = time.perf_counter()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[i] = min(best[i], time.perf_counter() - t0)
            del out
    return best[0], best[1]


def _worker(case: str, device_name: str, repeats: int, frites_perms: int) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    device = torch.device(device_name)
    a, b, y = _data(device)
    if case.startswith("ours"):
        from analyses.stats import perm_sweep_cc, perm_sweep_cd

        if device.type == "cuda":  # first call pays CUDA/cuBLAS initialisation
            perm_sweep_cc(a[:, :8], b, 8, SEED)
            perm_sweep_cd(a[:, :8], y, N_CLASSES, 8, SEED)
        if case == "ours_cc":
            fn = lambda: perm_sweep_cc(a, b, N_PERM, SEED)  # noqa: E731
        else:
            fn = lambda: perm_sweep_cd(a, y, N_CLASSES, N_PERM, SEED)  # noqa: E731
        t, mem = _timed(fn, repeats, device)
        # The ratio to the floor comes from runs that alternate with the bare matmul in this
        # process: a slow spell of a shared machine then hits both sides of the ratio.
        left = torch.randn(UNITS, N, device=device)
        right = torch.randn(N, FACTORS * (N_PERM + 1), device=device)
        paired, floor = _alternating(fn, lambda: left @ right, repeats, device)
        return {"time_s": min(t, paired), "peak_bytes": mem, "paired_s": paired, "floor_s": floor}
    if case.startswith("matmul"):
        width = FACTORS * (N_PERM + 1) * (1 if case == "matmul_cc" else N_CLASSES)
        left = torch.randn(UNITS, N, device=device)
        right = torch.randn(N, width, device=device)
        (left @ right[:, :64]).sum().item()  # warm-up (threads, cuBLAS handle)
        t, mem = _timed(lambda: left @ right, repeats, device)
        return {"time_s": t, "peak_bytes": mem, "width": width}
    return _frites(case, a, b, y, frites_perms)


def _frites(case: str, a, b, y, n_sub: int) -> dict:
    """frites on the same data and the same first `n_sub` permutations; extrapolated.

    Composed path, frites' fastest that we found: copula-normalise once with
    ``copnorm_nd``, cast the scores to float32 (its copnorm returns float64; float32 is
    1.4-3x faster and the case is float32), then per permutation one ``mi_nd_gg`` /
    ``mi_model_nd_gd`` call per factor with the units batched along the first axis.
    Tiling every unit-factor pair into one call is 3-8x slower, so it is not used.
    Wrapper path: ``gcmi_nd_cc`` / ``gcmi_model_nd_cd`` per factor, as the functions are
    documented to be called; they copula-normalise the units again on every call.
    """
    import numpy as np
    from frites.core.gcmi_nd import (
        copnorm_nd,
        gcmi_model_nd_cd,
        gcmi_nd_cc,
        mi_model_nd_gd,
        mi_nd_gg,
    )

    from analyses.stats import perm_sweep_cc, perm_sweep_cd, permutation_indices

    perms = permutation_indices(N, n_sub, SEED).numpy()
    # frites puts trials on the last axis: x (units, 1, n).
    x_np = np.ascontiguousarray(a.numpy().T[:, None, :])
    kw = {"mvaxis": -2, "traxis": -1, "shape_checking": False}
    t0 = time.perf_counter()
    cx = copnorm_nd(x_np, axis=-1).astype(np.float32)
    if case == "frites_cc":
        y_raw = np.ascontiguousarray(b.numpy().T[:, None, :])  # (factors, 1, n)
        cy = copnorm_nd(y_raw, axis=-1).astype(np.float32)
        t_norm = time.perf_counter() - t0

        def composed(p):
            return [
                mi_nd_gg(cx, np.broadcast_to(cy[j][:, p], cx.shape), demeaned=True, **kw)
                for j in range(FACTORS)
            ]

        def wrapper(p):
            for j in range(FACTORS):
                gcmi_nd_cc(x_np, np.broadcast_to(y_raw[j][:, p], x_np.shape), **kw)

        ours = perm_sweep_cc(a.double(), b.double(), n_sub, SEED)[1].numpy()
    else:
        t_norm = time.perf_counter() - t0
        labels = y.numpy()

        def composed(p):
            return [mi_model_nd_gd(cx, labels[p, j], demeaned=True, **kw) for j in range(FACTORS)]

        def wrapper(p):
            for j in range(FACTORS):
                gcmi_model_nd_cd(x_np, labels[p, j], **kw)

        ours = perm_sweep_cd(a.double(), y, N_CLASSES, n_sub, SEED)[1].numpy()
    t0 = time.perf_counter()
    null = [np.stack(composed(p), axis=-1).reshape(UNITS, FACTORS) for p in perms]
    t_perm = (time.perf_counter() - t0) / n_sub
    t0 = time.perf_counter()
    for p in perms[:N_NAIVE]:
        wrapper(p)
    t_naive = (time.perf_counter() - t0) / N_NAIVE
    diff = float(np.abs(np.stack(null) - ours).max())
    return {
        "time_s": t_norm + t_perm * (N_PERM + 1),  # observed + K permutations
        "per_perm_s": t_perm,
        "naive_time_s": t_naive * (N_PERM + 1),
        "naive_per_perm_s": t_naive,
        "n_sub": n_sub,
        "max_abs_diff_bits": diff,
    }


# ---------------------------------------------------------------------------------------
# driver side
# ---------------------------------------------------------------------------------------


def _run(case: str, device: str, args: argparse.Namespace) -> dict:
    n_sub = args.frites_perms_cc if case == "frites_cc" else args.frites_perms_cd
    cmd = [sys.executable, __file__, "--worker", case, "--device", device]
    cmd += ["--repeats", str(args.repeats), "--frites-sub", str(n_sub)]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark worker {case} on {device} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:7.1f} MiB"


def _report(device: str, args: argparse.Namespace, frites_cache: dict) -> None:
    # The floor: [u, n] @ [n, f (K+1)], for both sweeps. For cd also the
    # product with a class-indicator matrix, which a GEMM formulation would need.
    floor = _run("matmul_cc", device, args)
    for kind, what in (("cc", "perm_sweep_cc"), ("cd", "perm_sweep_cd")):
        ours = _run(f"ours_{kind}", device, args)
        if kind not in frites_cache:  # frites is CPU-only: measured once, reused on CUDA
            frites_cache[kind] = _run(f"frites_{kind}", "cpu", args)
        frites = frites_cache[kind]
        target = f"{FACTORS} factors" if kind == "cc" else f"{FACTORS} x {N_CLASSES}-class targets"
        print(
            f"\n[{device}] {what}: n={N}, {UNITS} units x {target}, {N_PERM} permutations, "
            f"float32, {THREADS} threads"
        )
        print(f"  ours                  {ours['time_s']:9.3f} s   peak +{_mb(ours['peak_bytes'])}")
        # Best of every timing of the bare matmul in this run (its own process and the
        # calls alternating with ours): the fastest floor is the one to compare against.
        bare = dict(floor, time_s=min(floor["time_s"], ours["floor_s"]))
        floors = [("bare matmul", bare)]
        if kind == "cd":
            floors.append(("indicator matmul", _run("matmul_cd", device, args)))
        for name, f in floors:
            print(
                f"  {name:<21} {f['time_s']:9.3f} s   peak +{_mb(f['peak_bytes'])}"
                f"   [{UNITS}, {N}] @ [{N}, {f['width']}]"
            )
        print(
            f"  frites, composed      {frites['time_s']:9.3f} s   EXTRAPOLATED from "
            f"{frites['n_sub']} permutations ({frites['per_perm_s'] * 1e3:.1f} ms each); "
            f"max |frites - ours| = {frites['max_abs_diff_bits']:.1e} bits"
        )
        wrapper = "gcmi_nd_cc" if kind == "cc" else "gcmi_model_nd_cd"
        print(
            f"  frites, {wrapper:<13} {frites['naive_time_s']:9.3f} s   EXTRAPOLATED from "
            f"{N_NAIVE} permutations ({frites['naive_per_perm_s']:.2f} s each)"
        )
        paired = ours["paired_s"] / ours["floor_s"]
        extra = ""
        if kind == "cd":
            extra = f"  ours / indicator matmul = {ours['time_s'] / floors[1][1]['time_s']:.2f}x"
        print(
            f"  ours / bare matmul = {paired:.2f}x, timed alternately in one process "
            f"({ours['paired_s']:.3f} s / {ours['floor_s']:.3f} s){extra}   (target <= 2)"
        )
        print(
            f"  frites / ours = {frites['time_s'] / ours['time_s']:.0f}x composed, "
            f"{frites['naive_time_s'] / ours['time_s']:.0f}x wrapper (target >= 1000); "
            f"composed frites / bare matmul = {frites['time_s'] / bare['time_s']:.0f}x, "
            "the most any implementation could show here"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frites-perms-cc", type=int, default=6)
    parser.add_argument("--frites-perms-cd", type=int, default=20)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--frites-sub", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = _worker(args.worker, args.device, args.repeats, args.frites_sub)
        print(json.dumps(result))
        return

    import torch

    devices = ["cpu"]
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices = ["cpu", "cuda"] if args.device == "auto" else ["cuda"]
    t0 = time.perf_counter()
    print(
        f"torch {torch.__version__}; peak memory = max RSS (CUDA: allocator peak) above "
        "the footprint before the call; times are best of "
        f"{args.repeats} unless marked EXTRAPOLATED"
    )
    frites_cache: dict = {}
    for device in devices:
        _report(device, args, frites_cache)
    print(f"\nbenchmark wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
