"""The demo's network: a 10-layer ResNet, as in Xu et al. (arXiv 1811.07807).

torchvision's `ResNet` with `BasicBlock` and one block per stage has a stem convolution,
four stages of two convolutions and the final linear layer: ten weight layers. Load it in a
study config with `arch = "reportgen.demo.resnet10:resnet10"`.
"""

from __future__ import annotations

from torchvision.models.resnet import BasicBlock, ResNet


def resnet10(num_classes: int = 8) -> ResNet:
    """A ResNet-10 (one BasicBlock per stage) with `num_classes` outputs, randomly initialised."""
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
