"""Throughput of the built-in parts generator (images per second); not collected by pytest.

Usage: OMP_NUM_THREADS=2 python bench/parts_render.py [--n 4096] [--sheet docs/contact_sheet.png]

Times ``generate`` (sampling + batched rendering + uint8 quantisation) at 64 and 128 px, the
rendering alone, and PNG writing, each best of three in this run. With ``--sheet`` it also
writes the documentation contact sheet (``overview_sheet``), palette-quantised to stay small.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from reportgen.inputs import parts


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Shortest wall-clock time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="stimuli per timed call")
    parser.add_argument("--sheet", type=Path, default=None, help="write the contact sheet here")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, n = {args.n}")
    parts.generate(64, seed=0)  # warm-up: first-call allocations and kernel dispatch
    table = parts.generate(args.n, size=16, seed=1).table  # the factors generate(seed=1) draws
    for size in (64, 128):
        t_gen = best_of(3, lambda size=size: parts.generate(args.n, size=size, seed=1))
        t_render = best_of(3, lambda size=size: parts.render(table, size))
        print(
            f"{size:>3} px  generate {args.n / t_gen:8.0f} images/s ({t_gen:.3f} s)"
            f" | render only {args.n / t_render:8.0f} images/s ({t_render:.3f} s)"
        )
    batch = parts.generate(min(args.n, 1024), seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        t_png = best_of(1, lambda: parts.write_stimuli(batch, Path(tmp)))
    print(f" 64 px  write_stimuli (PNG + CSV) {len(batch.table) / t_png:8.0f} images/s")

    if args.sheet is not None:
        from PIL import Image

        sheet = parts.overview_sheet(size=64, seed=0)
        image = Image.fromarray(sheet.permute(1, 2, 0).numpy())
        # A 256-colour palette keeps the README image small; the parts are nearly grey.
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.sheet, optimize=True)
        print(f"wrote {args.sheet} ({args.sheet.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
