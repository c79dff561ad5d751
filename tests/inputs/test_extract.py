"""Streaming extraction: equality with a plain forward pass, batching invariance, projections."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.transforms.functional import to_pil_image

from reportgen.errors import ReportgenError
from reportgen.inputs.extract import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelResponses,
    PooledActivations,
    extract,
    imagenet_preprocess,
)

N_IMAGES = 20


@pytest.fixture(scope="module")
def resnet10() -> ResNet:
    torch.manual_seed(0)
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=8).eval()
    # Random BatchNorm statistics, so that eval-mode BN is not the identity map.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def images() -> Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (N_IMAGES, 3, 32, 32), dtype=torch.uint8, generator=generator)


def _tiny_sequential() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1),  # 0
        nn.ReLU(),  # 1
        nn.MaxPool2d(2),  # 2
        nn.Conv2d(5, 7, 3, padding=1),  # 3
        nn.AdaptiveAvgPool2d(2),  # 4
        nn.Flatten(),  # 5
        nn.Linear(28, 12),  # 6: followed by an in-place ReLU that overwrites its output
        nn.ReLU(inplace=True),  # 7
        nn.Linear(12, 4),  # 8
    ).eval()


def _oracle(model: nn.Module, x: Tensor, layers: list[str], batch: int) -> dict[str, Tensor]:
    """Plain forward passes with the same batches; hooks keep full outputs, pooled afterwards."""
    modules = dict(model.named_modules())
    kept: dict[str, list[Tensor]] = {name: [] for name in layers}
    handles = [
        modules[name].register_forward_hook(
            lambda _m, _a, out, name=name: kept[name].append(out.clone())
        )
        for name in layers
    ]
    logits = []
    with torch.no_grad():
        for chunk in x.split(batch):
            logits.append(model(imagenet_preprocess(chunk)))
    for handle in handles:
        handle.remove()
    full = {name: torch.cat(chunks) for name, chunks in kept.items()}
    pooled = {name: t.mean(dim=(2, 3)) if t.ndim == 4 else t for name, t in full.items()}
    return {"logits": torch.cat(logits), **pooled}


# ------------------------------------------------------------------ equality with a forward pass


def test_resnet_extraction_equals_a_plain_forward_pass(resnet10: ResNet, images: Tensor) -> None:
    layers = ["layer1", "layer2", "layer3", "layer4", "avgpool", "layer2.0.conv1"]
    got = extract(resnet10, images, layers, device="cpu", batch_size=7)
    want = _oracle(resnet10, images, layers, batch=7)
    # Same kernels on the same batches: only the order of float32 additions in the mean may
    # differ, a few ulps of values of order 1, far below 1e-6.
    torch.testing.assert_close(got.logits, want["logits"], rtol=0, atol=1e-6)
    torch.testing.assert_close(got.probabilities, want["logits"].softmax(1), rtol=0, atol=1e-6)
    assert torch.equal(got.decisions, want["logits"].argmax(1))
    assert got.layers == layers
    for name in layers:
        assert got.activations[name].dtype == torch.float32
        torch.testing.assert_close(got.activations[name], want[name], rtol=0, atol=1e-6)
    # layer4 averaged per channel is exactly what avgpool computes.
    torch.testing.assert_close(
        got.activations["layer4"], got.activations["avgpool"], rtol=0, atol=1e-6
    )


def test_sequential_extraction_keeps_values_before_an_in_place_relu(images: Tensor) -> None:
    model = _tiny_sequential()
    layers = ["2", "4", "6"]
    got = extract(model, images, layers, device="cpu", batch_size=6)
    want = _oracle(model, images, layers, batch=6)
    for name in layers:  # tolerance as in the ResNet test
        torch.testing.assert_close(got.activations[name], want[name], rtol=0, atol=1e-6)
    # The oracle cloned layer 6 before the in-place ReLU ran; negative values prove that the
    # extracted copy was not overwritten either.
    assert (got.activations["6"] < 0).any()
    assert got.activations["4"].shape == (N_IMAGES, 7)  # pooled over the 2x2 map


def test_several_small_batches_equal_one_big_batch(resnet10: ResNet, images: Tensor) -> None:
    layers = ["layer1", "layer3", "avgpool"]
    whole = extract(resnet10, images, layers, device="cpu", batch_size=N_IMAGES)
    for batch_size in (1, 3, 8):
        parts = extract(resnet10, images, layers, device="cpu", batch_size=batch_size)
        # Different batch sizes may pick different conv/GEMM blockings on the CPU, which
        # reorders float32 sums over up to 4608 terms: differences of order 1e-6, below 1e-5.
        torch.testing.assert_close(parts.logits, whole.logits, rtol=0, atol=1e-5)
        for name in layers:
            torch.testing.assert_close(
                parts.activations[name], whole.activations[name], rtol=0, atol=1e-5
            )


def test_default_preprocess_is_scaling_then_imagenet_normalisation(images: Tensor) -> None:
    by_hand = torch.empty(images.shape)
    for c in range(3):
        by_hand[:, c] = (images[:, c].double() / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
    # float32 result against a float64 formula: relative error ~1e-7 on values below 3.
    torch.testing.assert_close(imagenet_preprocess(images), by_hand, rtol=0, atol=1e-6)
    floats = by_hand.clone()
    assert imagenet_preprocess(floats) is floats  # float input counts as preprocessed


def test_custom_preprocess_is_applied_to_every_batch(resnet10: ResNet, images: Tensor) -> None:
    def halve_then_default(x: Tensor) -> Tensor:
        return imagenet_preprocess(x) / 2

    got = extract(resnet10, images, ["layer1"], device="cpu", preprocess=halve_then_default)
    floats = imagenet_preprocess(images) / 2
    want = extract(resnet10, floats, ["layer1"], device="cpu")
    assert torch.equal(got.logits, want.logits)  # identical input tensors, identical kernels


# ------------------------------------------------------------------ image sources


class _ImageDataset(Dataset):
    def __init__(self, images: Tensor, as_pil: bool) -> None:
        self.images, self.as_pil = images, as_pil

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = self.images[i]
        return (to_pil_image(image), i) if self.as_pil else image


@pytest.mark.parametrize("source", ["dataset", "pil-dataset", "loader-tuples", "list"])
def test_every_image_source_gives_the_same_responses(
    resnet10: ResNet, images: Tensor, source: str
) -> None:
    want = extract(resnet10, images, ["layer2"], device="cpu", batch_size=5)
    feed = {
        "dataset": lambda: _ImageDataset(images, as_pil=False),
        "pil-dataset": lambda: _ImageDataset(images, as_pil=True),  # PIL round trip is lossless
        "loader-tuples": lambda: DataLoader(
            TensorDataset(images, torch.arange(N_IMAGES)), batch_size=5
        ),
        "list": lambda: list(images.split(5)),
    }[source]()
    got = extract(resnet10, feed, ["layer2"], device="cpu", batch_size=5)
    assert torch.equal(got.logits, want.logits)  # same pixels, same batches
    assert torch.equal(got.activations["layer2"], want.activations["layer2"])


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_model_gives_decisions_without_layers(resnet10: ResNet, images: Tensor) -> None:
    scripted = torch.jit.script(resnet10)
    got = extract(scripted, images, [], device="cpu", batch_size=8)
    want = extract(resnet10, images, [], device="cpu", batch_size=8)
    assert got.activations == {} and torch.equal(got.decisions, want.decisions)
    # TorchScript may fuse ops differently: float32 rounding, far below 1e-5.
    torch.testing.assert_close(got.logits, want.logits, rtol=0, atol=1e-5)


def test_progress_counts_every_image_once(resnet10: ResNet, images: Tensor) -> None:
    seen: list[int] = []
    extract(resnet10, images, ["fc"], device="cpu", batch_size=8, on_progress=seen.append)
    assert seen == [8, 8, 4]


def test_results_are_frozen_ordinary_cpu_tensors(resnet10: ResNet, images: Tensor) -> None:
    got = extract(resnet10, images, ["layer4"], device="cpu")
    assert isinstance(got, ModelResponses) and got.n_stimuli == N_IMAGES and got.n_classes == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.logits = got.logits  # type: ignore[misc]
    for tensor in (got.logits, got.probabilities, got.decisions, got.activations["layer4"]):
        assert tensor.device.type == "cpu" and not tensor.is_inference()
    assert got.decisions.dtype == torch.int64
    # softmax rows sum to 1 up to float32 rounding over 8 terms.
    torch.testing.assert_close(got.probabilities.sum(1), torch.ones(N_IMAGES), atol=1e-6, rtol=0)


def test_channels_last_and_amp_on_cpu_when_asked(resnet10: ResNet, images: Tensor) -> None:
    plain = extract(resnet10, images, ["layer3"], device="cpu")
    cl = extract(resnet10, images, ["layer3"], device="cpu", channels_last=True)
    resnet10.to(memory_format=torch.contiguous_format)  # extract converted it in place
    # Another memory layout reorders float32 sums: differences ~1e-6, below 1e-5.
    torch.testing.assert_close(cl.logits, plain.logits, rtol=0, atol=1e-5)
    amp = extract(resnet10, images, ["layer3"], device="cpu", amp=True)
    assert amp.logits.dtype == torch.float32 and amp.activations["layer3"].dtype == torch.float32
    # bfloat16 keeps 8 significant bits (relative error 0.4% per rounding) through ~10 layers:
    # a few percent of the logit scale.
    scale = plain.logits.abs().max()
    assert (amp.logits - plain.logits).abs().max() < 0.1 * scale


# ------------------------------------------------------------------ the accumulator


def _feature_maps(n: int = 30, c: int = 6, seed: int = 3) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(c, c, generator=generator)
    # Correlated channels with an offset of 5, so PCA has a mean to remove.
    return torch.einsum("nchw,cd->ndhw", torch.randn(n, c, 4, 4, generator=generator), mixing) + 5


@pytest.mark.parametrize(
    ("projection", "dim", "width"), [("none", None, 6), ("random", 3, 3), ("pca", 4, 4)]
)
def test_accumulator_gives_the_same_matrix_for_any_batching(
    projection: str, dim: int | None, width: int
) -> None:
    fmaps = _feature_maps()
    whole = PooledActivations(projection, dim, name="x")  # type: ignore[arg-type]
    whole.update(fmaps)
    pieces = PooledActivations(projection, dim, name="x")  # type: ignore[arg-type]
    for chunk in fmaps.split([1, 7, 2, 20]):
        pieces.update(chunk)
    assert pieces.n == whole.n == 30
    a, b = pieces.compute(), whole.compute()
    assert a.shape == (30, width) and a.dtype == torch.float32
    # PCA moments are float64 (errors ~1e-13) and the float32 output rounds at ~5e-7 relative
    # for values up to ~10; the random projection is float32 matmul over 6 terms.
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_pca_matches_the_svd_of_the_centred_pooled_matrix() -> None:
    fmaps = _feature_maps()
    acc = PooledActivations("pca", 3)
    for chunk in fmaps.split(8):
        acc.update(chunk)
    got = acc.compute().double()
    pooled = fmaps.double().mean(dim=(2, 3))
    u, s, vh = torch.linalg.svd(pooled - pooled.mean(0), full_matrices=False)
    scores = u[:, :3] * s[:3]
    # Fix each component's sign as documented: largest-magnitude loading positive.
    pivots = vh[:3].abs().argmax(dim=1)
    scores = scores * torch.sign(vh[:3][torch.arange(3), pivots])
    # Independent float64 route; the only gap is the float32 output (values up to ~20).
    torch.testing.assert_close(got, scores, rtol=0, atol=2e-5)
    # Principal components are uncorrelated with decreasing variance.
    cov = torch.cov(got.T)
    assert (cov - torch.diag(cov.diag())).abs().max() < 1e-4 * cov.diag().max()
    assert torch.all(cov.diag()[:-1] >= cov.diag()[1:])


def test_random_projection_is_fixed_by_its_seed_and_linear() -> None:
    pooled = torch.randn(10, 16, generator=torch.Generator().manual_seed(4))

    def project(x: Tensor, seed: int) -> Tensor:
        acc = PooledActivations("random", 5, seed=seed)
        acc.update(x)
        return acc.compute()

    first = project(pooled, seed=0)
    assert first.shape == (10, 5)
    assert torch.equal(first, project(pooled, seed=0))  # same seed, bit for bit
    assert not torch.allclose(first, project(pooled, seed=1))
    # A fixed linear map: doubling the input doubles the output (exact in float32).
    assert torch.equal(project(2 * pooled, seed=0), 2 * first)


def test_extract_with_projection_gives_the_requested_width(
    resnet10: ResNet, images: Tensor
) -> None:
    for projection in ("random", "pca"):
        got = extract(
            resnet10, images, ["layer2", "avgpool"], device="cpu", projection=projection, dim=5
        )
        assert {k: tuple(v.shape) for k, v in got.activations.items()} == {
            "layer2": (N_IMAGES, 5),
            "avgpool": (N_IMAGES, 5),
        }


# ------------------------------------------------------------------ errors


def test_extraction_errors_name_the_layer(resnet10: ResNet, images: Tensor) -> None:
    # torchvision's BasicBlock calls its one ReLU module twice per forward pass.
    with pytest.raises(ReportgenError, match="'layer1.0.relu' runs more than once"):
        extract(resnet10, images, ["layer1.0.relu"], device="cpu")
    with pytest.raises(ReportgenError, match="'layr1'.*did you mean layer1"):
        extract(resnet10, images, ["layr1"], device="cpu")
    with pytest.raises(ReportgenError, match="'layer1' has 64 channels, fewer than the 100"):
        extract(resnet10, images, ["layer1"], device="cpu", projection="pca", dim=100)
    with pytest.raises(ReportgenError, match="needs a whole number of components"):
        extract(resnet10, images, ["layer1"], device="cpu", projection="pca")
    with pytest.raises(ReportgenError, match=r"shape \[n, channels, height, width\]"):
        extract(resnet10, images[0], ["layer1"], device="cpu")
    with pytest.raises(ReportgenError, match="no images"):
        extract(resnet10, [], ["layer1"], device="cpu")


def test_unused_module_and_three_d_outputs_are_refused(images: Tensor) -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, 4, 8, stride=8)
            self.spare = nn.Linear(4, 4)  # never called
            self.head = nn.Linear(4, 2)

        def forward(self, x: Tensor) -> Tensor:
            tokens = self.embed(x).flatten(2).transpose(1, 2)  # [b, 16, 4]
            return self.head(tokens.mean(1))

    model = Tokens().eval()
    with pytest.raises(ReportgenError, match="'spare' is not run"):
        extract(model, images, ["spare"], device="cpu")
    flat = nn.Sequential(nn.Flatten(2), nn.Flatten(1), nn.Linear(3 * 32 * 32, 2)).eval()
    with pytest.raises(ReportgenError, match=r"layer '0' outputs shape \[20, 3, 1024\]"):
        extract(flat, images, ["0"], device="cpu", batch_size=N_IMAGES)
