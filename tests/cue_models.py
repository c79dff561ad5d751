"""Two small classifiers trained by the tests on `picture_set`'s objects: one sees the class
only in the outline (surfaces drawn at random), the other only in the surface (outlines
drawn at random), so each can use one cue alone. Saved as `torch.export` programs, the
format a user without the model's code hands over."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from tests.picture_set import CLASSES, picture


def _net() -> nn.Module:
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    # Pooled to 4 x 4, not to one value: where the edges are is what an outline is.
    return nn.Sequential(
        *block(3, 16),
        *block(16, 32),
        *block(32, 48),
        *block(48, 64),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(64 * 16, len(CLASSES)),
    )


def training_set(cue: str, n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` pictures whose class is given by `cue` ("shape" or "texture") alone."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    labels = rng.integers(0, k, n)
    other = rng.integers(0, k, n)
    # drawn larger and scaled down, as `from-images` fits the source pictures
    pics = [
        picture(*((int(y), int(o)) if cue == "shape" else (int(o), int(y))), size * 3 // 2, rng)[0]
        for y, o in zip(labels, other, strict=True)
    ]
    small = [
        np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.LANCZOS)) for p in pics
    ]
    x = torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2).float() / 255
    return x, torch.from_numpy(labels)


def train_cue_model(
    cue: str, size: int = 64, n: int = 800, epochs: int = 8, seed: int = 0
) -> nn.Module:
    """A network that has learnt the class from `cue` only (a few seconds on 2 cores)."""
    torch.manual_seed(seed)
    x, y = training_set(cue, n, size, seed)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for i in range(0, n, 32):
            b = order[i : i + 32]
            xb = x[b]
            # light, contrast and a little noise, so the net does not lean on exact grey levels
            gain = 0.7 + 0.6 * torch.rand(len(b), 1, 1, 1, generator=g)
            tint = 0.9 + 0.2 * torch.rand(len(b), 3, 1, 1, generator=g)
            sd = 0.05 * torch.rand(len(b), 1, 1, 1, generator=g)
            xb = (xb * gain * tint + sd * torch.randn(xb.shape, generator=g)).clamp(0, 1)
            loss = nn.functional.cross_entropy(net(xb), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def export_model(net: nn.Module, path: Path, size: int) -> Path:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(
        net, (torch.randn(2, 3, size, size),), dynamic_shapes=({0: batch},)
    )
    torch.export.save(program, path)
    return path
