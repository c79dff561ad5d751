"""`stimuli from-images` throughput: variants per minute at 224 px, against the floor of
writing the same number of PNG files, same run.

Run with `make bench` or `python bench/from_images.py`; never collected by pytest. The source
set is the tests' picture set (4 classes of flat objects, 160 px, masks estimated) with
`--per-image` variants per picture and condition and 5-step morphs. Timed, each `--repeats`
times and the fastest kept (other processes on a shared machine inflate it the least):

- making: `render_plan` over the whole plan (every condition, on the CPU);
- PNG floor: encoding the made pictures with PIL at the same compression, which the command
  must do for each variant anyway;
- end to end: the command's `write_from_images`, reading and masking included.

Target (issue 15): thousands of 224 px variants per minute on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen.variants.design import plan_variants  # noqa: E402
from reportgen.variants.folder import write_from_images  # noqa: E402
from reportgen.variants.render import core_masks, patch_candidates, patch_fits, render_plan  # noqa: E402
from reportgen.variants.source import read_sources  # noqa: E402
from tests.picture_set import write_picture_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--per-image", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        src = write_picture_set(Path(tmp) / "pictures", per_class=args.per_class, size=320)
        sources = read_sources(src, args.size)
        sizes = patch_candidates(args.size)
        plan = plan_variants(
            sources.labels.numpy(),
            len(sources.classes),
            size=args.size,
            per_image=args.per_image,
            morph_levels=5,
            seed=0,
            patch_sizes=sizes,
            patch_fits=patch_fits(core_masks(sources.sdf), sizes),
        )
        n = len(plan)
        pictures: list[torch.Tensor] = []

        def make() -> None:
            pictures.clear()
            for _, batch in render_plan(sources, plan, torch.device("cpu")):
                pictures.append(batch)

        def encode() -> None:
            for batch in pictures:
                for p in batch:
                    Image.fromarray(p.permute(1, 2, 0).numpy()).save(
                        io.BytesIO(), format="PNG", compress_level=1
                    )

        def command(k: int) -> None:
            write_from_images(
                src, Path(tmp) / f"out{k}", size=args.size, per_image=args.per_image, seed=0
            )

        best = {"make": np.inf, "png": np.inf, "command": np.inf}
        for k in range(args.repeats):
            for name, fn, arg in (
                ("make", make, ()),
                ("png", encode, ()),
                ("command", command, (k,)),
            ):
                t = time.perf_counter()
                fn(*arg)
                best[name] = min(best[name], time.perf_counter() - t)
    print(f"{len(sources)} source pictures, {n} variants of {args.size} px, 2 threads")
    for name, label in (
        ("make", "making the pictures"),
        ("png", "PNG floor (encoding them)"),
        ("command", "from-images end to end"),
    ):
        print(f"{label:30s} {best[name]:6.2f} s  {60 * n / best[name]:8.0f} variants/min")
    print(f"ratio end to end / PNG floor: {best['command'] / best['png']:.2f}")


if __name__ == "__main__":
    main()
