"""Streaming extraction: a model's decisions, class probabilities and reduced layer activations.

Feature maps are reduced inside forward hooks, batch by batch (style habit 6), so memory grows
with the number of stimuli times the number of channels, never with the image size:

- 4-D maps ``[batch, C, H, W]`` (and 5-D ``[batch, C, T, H, W]``) are averaged over their spatial
  positions, giving one value per channel (methods.md 4.3);
- 2-D outputs ``[batch, d]`` are kept as they are;
- optionally, the pooled vectors are reduced further to ``dim`` components, either by a fixed
  seeded Gaussian random projection applied to every batch, or by PCA whose mean and covariance
  are accumulated as the batches stream past and which is applied at the end.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from reportgen.config import IMAGENET_MEAN, IMAGENET_STD, Preprocess, resolve_device
from reportgen.errors import ReportgenError
from reportgen.inputs.model import resolve_layers

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelResponses",
    "PooledActivations",
    "Projection",
    "extract",
    "imagenet_preprocess",
    "normalise",
    "preprocessor",
]

Projection = Literal["none", "pca", "random"]


def normalise(
    images: Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Scale uint8 images to [0, 1], then subtract `mean` and divide by `std` per channel.

    Parameters
    ----------
    images : Tensor, shape (batch, 3, H, W)
        uint8 pixel values 0..255. Floating-point images are taken as already preprocessed
        and returned unchanged.
    mean, std : three numbers each, on the [0, 1] scale (red, green, blue).

    Returns
    -------
    images : Tensor, shape (batch, 3, H, W)
        float32 on the device of the input; a new tensor (the input is not modified).
    """
    if images.is_floating_point():
        return images
    m = torch.tensor(tuple(mean), dtype=torch.float64)
    sd = torch.tensor(tuple(std), dtype=torch.float64)
    # (x / 255 - mean) / std folded into one multiply and one subtract per pixel.
    scale = (1.0 / (255.0 * sd)).to(device=images.device, dtype=torch.float32)
    shift = (m / sd).to(device=images.device, dtype=torch.float32)
    out = images.to(torch.float32)  # a new tensor, so the in-place steps leave `images` alone
    return out.mul_(scale[:, None, None]).sub_(shift[:, None, None])


def imagenet_preprocess(images: Tensor) -> Tensor:
    """`normalise` with ImageNet's channel mean and std (torchvision's pretrained models)."""
    return normalise(images, IMAGENET_MEAN, IMAGENET_STD)


def preprocessor(spec: Preprocess) -> Callable[[Tensor], Tensor]:
    """The per-batch step of `spec` (its normalisation); the geometry is applied when the
    pictures are read (`inputs.stimuli.shape_picture`)."""
    return functools.partial(normalise, mean=spec.mean, std=spec.std)


class PooledActivations:
    """One layer's outputs, reduced batch by batch to an ``[n_stimuli, d]`` matrix.

    ``update`` pools each batch as it arrives; ``compute`` returns the matrix on the CPU in
    float32. Reduced batches stay on the device they arrived on until ``compute``.

    Parameters
    ----------
    projection : {"none", "random", "pca"}
        ``"none"``: d = channels (4-D maps, spatially averaged) or features (2-D outputs).
        ``"random"``: d = ``dim``; the pooled vectors times a fixed Gaussian matrix with
        entries N(0, 1/dim) drawn from ``seed``, applied to every batch (distances are kept
        approximately, Johnson-Lindenstrauss).
        ``"pca"``: d = ``dim``; the pooled vectors centred and projected on the ``dim``
        leading eigenvectors of their covariance over all stimuli (no whitening). The mean and
        second moments are accumulated in float64 while streaming and the projection happens in
        ``compute``, so PCA acts on pooled channel vectors, never on raw feature maps (a
        ``[C*H*W]`` covariance would not fit in memory); it needs ``dim`` ≤ channels. Each
        component's sign is fixed so that its largest-magnitude loading is positive.
    dim : int or None
        Number of components; required for ``"random"`` and ``"pca"``.
    seed : int
        Seed of the random projection matrix.
    name : str
        The layer's module name, used in error messages.
    """

    def __init__(
        self,
        projection: Projection = "none",
        dim: int | None = None,
        *,
        seed: int = 0,
        name: str = "",
    ) -> None:
        if projection not in ("none", "random", "pca"):
            raise ReportgenError(
                f"model.projection: '{projection}' is not one of none, pca, random"
            )
        if projection != "none" and (not isinstance(dim, int) or dim < 1):
            raise ReportgenError(
                f"model.projection_dim: projection '{projection}' needs a whole number of "
                f"components ≥ 1, got {dim!r}"
            )
        self.projection = projection
        self.dim = dim
        self.seed = seed
        self.name = name
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far (the random matrix is kept: it depends on the seed)."""
        self._chunks: list[Tensor] = []
        self._n = 0
        self._width: int | None = None  # features per stimulus before any projection
        self._matrix: Tensor | None = getattr(self, "_matrix", None)
        # PCA moments about a shift (the first batch's mean), which keeps the float64
        # "sum of squares minus square of sums" free of cancellation when the mean is large.
        self._shift: Tensor | None = None
        self._sum: Tensor | None = None
        self._cross: Tensor | None = None

    @property
    def n(self) -> int:
        """Number of stimuli seen so far."""
        return self._n

    def pool(self, output: Any) -> Tensor:
        """Reduce one batch of layer outputs to ``[batch, features]`` float32 (a new tensor).

        Parameters
        ----------
        output : Tensor, shape (batch, C, H, W), (batch, C, T, H, W) or (batch, d)

        Returns
        -------
        pooled : Tensor, shape (batch, C) or (batch, d); float32, on the input's device
        """
        where = f"layer '{self.name}'" if self.name else "layer"
        if not isinstance(output, Tensor):
            raise ReportgenError(
                f"model.layers: {where} returns a {type(output).__name__}, not a tensor; "
                "choose a module whose output is a tensor"
            )
        if output.ndim in (4, 5):  # [batch, channels, *spatial]: one mean per channel
            return output.mean(dim=tuple(range(2, output.ndim)), dtype=torch.float32)
        if output.ndim == 2:
            # A copy, because later modules (an in-place ReLU) may overwrite this very tensor.
            return output.to(torch.float32, copy=True)
        raise ReportgenError(
            f"model.layers: {where} outputs shape {list(output.shape)}; reportgen averages 4-D "
            "[batch, channels, height, width] maps and keeps 2-D [batch, features] outputs, "
            "so choose a layer with one of those shapes"
        )

    def update(self, output: Tensor) -> None:
        """Pool one batch of the layer's outputs and add it to the state.

        Parameters
        ----------
        output : Tensor, shape (batch, C, H, W), (batch, C, T, H, W) or (batch, d)
        """
        pooled = self.pool(output)
        width = pooled.shape[1]
        if self._width is not None and width != self._width:
            raise ReportgenError(
                f"model.layers: layer '{self.name}' gave {width} features for one batch and "
                f"{self._width} for an earlier one"
            )
        self._width = width
        if self.projection == "random":
            pooled = pooled @ self._random_matrix(width, pooled.device)
        elif self.projection == "pca":
            self._accumulate_moments(pooled)
        self._chunks.append(pooled)
        self._n += pooled.shape[0]

    def compute(self) -> Tensor:
        """The reduced activations of every stimulus seen, in the order they arrived.

        Returns
        -------
        activations : Tensor, shape (n_stimuli, d)
            float32 on the CPU; d = channels, features or ``dim``.
        """
        if not self._chunks:
            raise ValueError(f"PooledActivations '{self.name}': compute() before any update()")
        pooled = torch.cat(self._chunks)
        if self.projection == "pca":
            pooled = self._pca_project(pooled)
        return pooled.to(device="cpu", dtype=torch.float32)

    def _random_matrix(self, width: int, device: torch.device) -> Tensor:
        if self._matrix is None or self._matrix.shape[0] != width:
            generator = torch.Generator().manual_seed(self.seed)
            assert self.dim is not None  # checked in __init__
            matrix = torch.randn(width, self.dim, generator=generator, dtype=torch.float32)
            self._matrix = matrix / math.sqrt(self.dim)
        if self._matrix.device != device:
            self._matrix = self._matrix.to(device)
        return self._matrix

    def _accumulate_moments(self, pooled: Tensor) -> None:
        x = pooled.to(torch.float64)
        if self._shift is None:
            assert self.dim is not None  # checked in __init__
            if self.dim > x.shape[1]:
                raise ReportgenError(
                    f"model.projection_dim: layer '{self.name}' has {x.shape[1]} channels, "
                    f"fewer than the {self.dim} PCA components requested"
                )
            self._shift = x.mean(dim=0)
            self._sum = torch.zeros_like(self._shift)
            self._cross = torch.zeros(x.shape[1], x.shape[1], dtype=x.dtype, device=x.device)
        assert self._sum is not None and self._cross is not None
        centred = x - self._shift
        self._sum = self._sum + centred.sum(dim=0)
        self._cross = self._cross + centred.T @ centred

    def _pca_project(self, pooled: Tensor) -> Tensor:
        assert self._shift is not None and self._sum is not None and self._cross is not None
        if self._n < 2:
            raise ReportgenError(
                f"model.projection: PCA of layer '{self.name}' needs at least 2 stimuli"
            )
        offset = self._sum / self._n
        cov = self._cross / self._n - torch.outer(offset, offset)
        cov = (cov + cov.T) / 2  # exact symmetry for eigh
        _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
        components = vectors[:, -self.dim :].flip(-1)  # [C, dim], leading component first
        pivot = components.abs().argmax(dim=0)
        signs = torch.sign(components[pivot, torch.arange(components.shape[1])])
        components = components * torch.where(signs == 0, 1.0, signs)
        mean = self._shift + offset
        return (pooled.to(torch.float64) - mean) @ components


@dataclass(frozen=True, slots=True)
class ModelResponses:
    """A model's responses to n stimuli, in stimulus order; all tensors on the CPU.

    Attributes
    ----------
    decisions : LongTensor, shape (n,)
        Argmax class index of the logits.
    probabilities : Tensor, shape (n, n_classes)
        Softmax of the logits, float32; rows sum to 1.
    logits : Tensor, shape (n, n_classes)
        The model's outputs, float32.
    activations : dict of str to Tensor, shape (n, d_layer)
        Reduced activations per layer name, float32.
    """

    decisions: Tensor
    probabilities: Tensor
    logits: Tensor
    activations: dict[str, Tensor]

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli."""
        return int(self.decisions.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of model outputs."""
        return int(self.logits.shape[1])

    @property
    def layers(self) -> list[str]:
        """Layer names, in the order they were requested."""
        return list(self.activations)


ImageSource = Tensor | Dataset | Iterable[Any]


def extract(
    model: nn.Module,
    images: ImageSource,
    layers: str | Sequence[str],
    *,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    amp: bool | None = None,
    channels_last: bool | None = None,
    preprocess: Callable[[Tensor], Tensor] = imagenet_preprocess,
    projection: Projection = "none",
    dim: int | None = None,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> ModelResponses:
    """Run the model over the images once and collect its responses.

    Parameters
    ----------
    model : nn.Module
        Put in eval mode and moved to ``device`` (in place, as ``nn.Module.to`` does; also to
        channels-last memory format when that is on).
    images : Tensor, Dataset or iterable of batches
        A tensor of shape (n, 3, H, W), split into ``batch_size`` batches; a ``Dataset`` whose
        items are images (tensors of shape (3, H, W), PIL images, or tuples whose first element
        is one), batched with ``batch_size``; or an iterable of batches of shape (b, 3, H, W)
        (e.g. a ``DataLoader``; a tuple batch counts by its first element).
    layers : str or sequence of str
        Module names, or ``"auto"`` (see :func:`reportgen.inputs.model.resolve_layers`).
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    batch_size : int
        Used for tensors and datasets; an iterable of batches keeps its own batching.
    amp : bool or None
        Autocast (float16 on CUDA, bfloat16 on CPU). Default: on for CUDA, off for the CPU.
        Reduced precision can flip decisions between near-tied classes.
    channels_last : bool or None
        Channels-last memory format. Default: on for CUDA, off for the CPU.
    preprocess : callable
        Applied to every batch on the device; the default scales uint8 to [0, 1] and
        normalises with the ImageNet mean and std, and passes float batches through.
    projection, dim, seed
        Optional fixed reduction of every layer, see :class:`PooledActivations`.
    on_progress : callable or None
        Called with the number of images after each batch.

    Returns
    -------
    responses : ModelResponses
        Decisions (n,), probabilities and logits (n, n_classes), activations (n, d) per layer.

    Raises
    ------
    ReportgenError
        Bad layer names or layer outputs, images of the wrong shape, no images, or a model
        whose output is not a (batch, n_classes) tensor.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ReportgenError(f"batch_size: must be a whole number ≥ 1, got {batch_size!r}")
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    on_cuda = device.type == "cuda"
    amp = on_cuda if amp is None else amp
    channels_last = on_cuda if channels_last is None else channels_last
    names = resolve_layers(model, layers if isinstance(layers, str) else list(layers))
    accumulators = {
        name: PooledActivations(projection, dim, seed=seed, name=name) for name in names
    }
    modules = dict(model.named_modules())

    model.eval()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    calls = dict.fromkeys(names, 0)

    def make_hook(name: str) -> Callable[..., None]:
        accumulator = accumulators[name]

        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            calls[name] += 1
            if calls[name] > 1:  # a reused module would add several rows per stimulus
                raise ReportgenError(
                    f"model.layers: module '{name}' runs more than once per forward pass (it "
                    "is reused), so its output per stimulus is ambiguous; choose another layer"
                )
            accumulator.update(output)

        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in names]
    autocast: Any = (
        torch.autocast(device.type, dtype=torch.float16 if on_cuda else torch.bfloat16)
        if amp
        else contextlib.nullcontext()
    )
    logits_chunks: list[Tensor] = []
    try:
        with torch.inference_mode():
            for batch in _batches(images, batch_size, pin=on_cuda):
                x = preprocess(batch.to(device, non_blocking=True))
                if channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                for name in names:
                    calls[name] = 0
                with autocast:
                    output = model(x)
                logits_chunks.append(_check_logits(output, x.shape[0], logits_chunks))
                silent = [name for name in names if calls[name] == 0]
                if silent:
                    raise ReportgenError(
                        [
                            f"model.layers: module '{name}' is not run by the model's forward "
                            "pass; choose another layer"
                            for name in silent
                        ]
                    )
                if on_progress is not None:
                    on_progress(int(x.shape[0]))
    finally:
        for handle in handles:
            handle.remove()

    if not logits_chunks:
        raise ReportgenError("stimuli: there are no images to run the model on")
    # Outside inference mode, so the results are ordinary tensors callers may modify.
    logits = torch.cat(logits_chunks).to(device="cpu", dtype=torch.float32)
    return ModelResponses(
        decisions=logits.argmax(dim=1),
        probabilities=logits.softmax(dim=1),
        logits=logits,
        activations={name: acc.compute() for name, acc in accumulators.items()},
    )


def _check_logits(output: Any, batch: int, earlier: list[Tensor]) -> Tensor:
    if not isinstance(output, Tensor) or output.ndim != 2 or output.shape[0] != batch:
        shape = list(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ReportgenError(
            f"model: its output is {shape}, not class scores of shape [batch={batch}, n_classes]"
        )
    if earlier and output.shape[1] != earlier[0].shape[1]:
        raise ReportgenError(
            f"model: gave {output.shape[1]} class scores for one batch and "
            f"{earlier[0].shape[1]} for an earlier one"
        )
    return output.to(torch.float32)


def _batches(images: ImageSource, batch_size: int, *, pin: bool) -> Iterator[Tensor]:
    """Yield image batches of shape (b, C, H, W) from any accepted image source."""
    if isinstance(images, Tensor):
        if images.ndim != 4:
            raise ReportgenError(
                f"stimuli: images must be a tensor of shape [n, channels, height, width], got "
                f"{list(images.shape)}"
            )
        yield from images.split(batch_size)
        return
    if isinstance(images, Dataset):
        loader = DataLoader(
            images, batch_size=batch_size, shuffle=False, collate_fn=_collate, pin_memory=pin
        )
        yield from loader
        return
    if not isinstance(images, Iterable):
        raise ReportgenError(
            f"stimuli: cannot read images from a {type(images).__name__}; give a tensor, a "
            "Dataset or an iterable of batches"
        )
    for item in images:
        batch = item[0] if isinstance(item, tuple | list) else item
        if not isinstance(batch, Tensor) or batch.ndim != 4:
            shape = list(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
            raise ReportgenError(
                f"stimuli: each batch must be a tensor [batch, channels, height, width], got "
                f"{shape}; pass a Dataset to have single images batched"
            )
        yield batch


def _collate(items: list[Any]) -> Tensor:
    images = [_as_image(item) for item in items]
    sizes = {tuple(image.shape) for image in images}
    if len(sizes) > 1:
        raise ReportgenError(
            f"stimuli: images in one batch have different shapes {sorted(sizes)}; resize them "
            "to one size"
        )
    return torch.stack(images)


def _as_image(item: Any) -> Tensor:
    if isinstance(item, tuple | list):
        item = item[0]
    if isinstance(item, Tensor):
        if item.ndim != 3:
            raise ReportgenError(
                f"stimuli: each image must be [channels, height, width], got {list(item.shape)}"
            )
        return item
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with torchvision
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(item, Image.Image):
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(item.convert("RGB"))  # uint8 [3, H, W]
    raise ReportgenError(
        f"stimuli: the dataset gave a {type(item).__name__}, not an image tensor or PIL image"
    )
