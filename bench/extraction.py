"""Extraction overhead: `extract` against a bare forward pass over the same batches, same run.

Run with `make bench` or `python bench/extraction.py`; never collected by pytest. The model is
the demo's 10-layer ResNet (torchvision `ResNet(BasicBlock, [1, 1, 1, 1])`, 8 classes) with
random weights; the images are 2,000 random uint8 images of 64 px, in batches of 128, with the
`auto` layers (layer1..layer4 and avgpool). Two floors are timed:

- forward: the model on images already converted to normalised floats;
- preprocess + forward: the same, converting each uint8 batch inside the loop as `extract` does.

Each variant is timed `--repeats` times, interleaved, and the fastest is kept, so load from
other processes on a shared machine inflates the figures as little as possible; process CPU
time is printed beside wall-clock time because it suffers less from waiting for a core. Target: the
overhead of `extract` over "preprocess + forward" is at most 15%.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torchvision.models.resnet import BasicBlock, ResNet

from reportgen.inputs.extract import extract, imagenet_preprocess
from reportgen.inputs.model import resolve_layers


def _seconds(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=8).eval().to(device)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8, generator=generator
    )
    batches = images.split(args.batch)
    normalised = [imagenet_preprocess(b) for b in batches]
    layers = resolve_layers(model, "auto")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def forward() -> None:
        with torch.inference_mode():
            for x in normalised:
                model(x.to(device))
        sync()

    def preprocess_forward() -> None:
        with torch.inference_mode():
            for b in batches:
                model(imagenet_preprocess(b.to(device)))
        sync()

    def extraction() -> None:
        # The bare loops above run in plain float32 and contiguous layout, so extract does too.
        extract(
            model, images, layers, device=device, batch_size=args.batch, amp=False,
            channels_last=False,
        )  # fmt: skip
        sync()

    runs = {"forward": forward, "preprocess + forward": preprocess_forward, "extract": extraction}
    for fn in runs.values():  # warm-up: allocator, thread pool, kernel selection
        fn()
    best = dict.fromkeys(runs, float("inf"))
    best_cpu = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeats):
        for name, fn in runs.items():
            wall, cpu = _seconds(fn)
            best[name], best_cpu[name] = min(best[name], wall), min(best_cpu[name], cpu)

    print(
        f"extraction bench: ResNet-10, {args.images} images of {args.size} px, batch "
        f"{args.batch}, {args.threads} threads, {args.device}, layers {', '.join(layers)}; "
        f"best of {args.repeats}"
    )
    for name, seconds in best.items():
        print(
            f"  {name:<22} wall {seconds:7.3f} s ({args.images / seconds:6.0f} images/s)"
            f"  cpu {best_cpu[name]:7.3f} s"
        )
    for label, table in (("wall", best), ("cpu", best_cpu)):
        over_pre = table["extract"] / table["preprocess + forward"] - 1
        over_fwd = table["extract"] / table["forward"] - 1
        verdict = "meets" if over_pre <= 0.15 else "misses"
        print(
            f"  {label} overhead of extract: {over_pre:+.1%} over preprocess + forward "
            f"({verdict} the 15% target), {over_fwd:+.1%} over forward alone"
        )


if __name__ == "__main__":
    main()
