"""The recipe that trains the demo network (``sample_data/parts/model.pt``) on generated parts.

What it does, in order:

1. **Data.** Every epoch draws a *fresh* set of ``standard`` parts stimuli from the built-in
   generator (:func:`reportgen.inputs.parts.generate`,
   seed ``TRAIN_SEED_BASE + 1000 * seed + epoch``),
   balanced over the eight part types. Fresh stimuli cost a few seconds per epoch and mean the
   network never sees the same image twice, so it cannot memorise a fixed set. The generator's
   default jitters (shape 0.5, texture 0.2, the study defaults of
   :data:`reportgen.inputs.generated.PARTS_DEFAULTS`) make texture the more reliable cue: a part's
   outline varies more within its type than its surface does, as Xu et al. (arXiv 1811.07807)
   found for faces. The label is the part type (shape and texture agree on ``standard``).
2. **No augmentation.** The generator already varies pose (rotation, scale, shift) and lighting
   for every image; any further pixel augmentation (blur, colour jitter, crops) would erode the
   surface texture, which is exactly the cue the demo wants the network free to use.
3. **Preprocessing** is :func:`reportgen.inputs.extract.imagenet_preprocess`, the function the
   extraction step applies later, so the analysed network sees exactly what it was trained on.
4. **Network and optimiser.** :func:`reportgen.demo.resnet10.resnet10` with 8 outputs, AdamW with a
   one-cycle learning-rate schedule, cross-entropy, on the CPU with 2 threads.
5. **Evaluation** on fresh stimuli with their own seeds (never the training seeds, nor the
   demo study's seeds ``16 * study_seed + 0..3``): accuracy on ``standard`` stimuli and, on
   ``cue-conflict`` stimuli (outline of type i, surface of type j != i), the fraction of answers
   naming the texture's class, the shape's class or another class.
6. **Checkpoint.** The state dict is saved in half precision (``model.pt``); it is loaded back
   through :func:`reportgen.inputs.model.load_model` (``weights_only=True``, which casts into
   the fp32 network) and *that* network is evaluated, so the figures in ``model.json`` describe the
   shipped file. The fp32 accuracy before rounding is recorded beside it.

Reproducible: the same arguments on the same machine and torch version give the same
checkpoint (CPU kernels are deterministic for a fixed thread count).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn

from reportgen.inputs import parts
from reportgen.inputs.extract import imagenet_preprocess
from reportgen.inputs.generated import PARTS_DEFAULTS

__all__ = [
    "ARCH",
    "MODEL_JSON_KEYS",
    "NUM_CLASSES",
    "choice_rates",
    "evaluate",
    "predict",
    "train_sample",
]

ARCH = "reportgen.demo.resnet10:resnet10"
NUM_CLASSES = len(parts.CLASS_NAMES)
# Seed offsets keep training, test and cue-conflict stimuli apart from each other and from the
# demo study, whose generator seeds are 16 * seed + 0..3 (reportgen.inputs.generated).
TRAIN_SEED_BASE = 100_000
TEST_SEED_BASE = 200_000
CONFLICT_SEED_BASE = 300_000
#: Top-level keys of ``model.json``.
MODEL_JSON_KEYS: tuple[str, ...] = (
    "description",
    "model",
    "recipe",
    "generator",
    "seeds",
    "evaluation",
    "training",
    "software",
)

ProgressCallback = Callable[[int, int, float], None]


def predict(model: nn.Module, images: Tensor, *, batch_size: int = 256) -> Tensor:
    """Decisions (argmax class index) of ``model`` on uint8 images.

    Parameters
    ----------
    model : classifier in eval mode, on the CPU.
    images : Tensor, uint8, shape (n, 3, H, W); preprocessed with ``imagenet_preprocess``.

    Returns
    -------
    decisions : Tensor, int64, shape (n,).
    """
    out = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            logits = model(imagenet_preprocess(images[start : start + batch_size]))
            out.append(logits.argmax(dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def choice_rates(decisions: Tensor, shape_class: Tensor, texture_class: Tensor) -> dict[str, float]:
    """Fractions of cue-conflict answers naming the texture's, the shape's or another class.

    Parameters
    ----------
    decisions, shape_class, texture_class : Tensor, int64, shape (n,); class indices, with
        ``shape_class != texture_class`` on every trial.

    Returns
    -------
    dict with ``texture``, ``shape``, ``other`` (fractions of all n trials, summing to 1) and
    ``shape_bias`` = shape / (shape + texture) (Geirhos et al. 2019; NaN when neither occurs).
    """
    n = decisions.numel()
    shape = (decisions == shape_class).sum().item() / n
    texture = (decisions == texture_class).sum().item() / n
    cue = shape + texture
    return {
        "texture": texture,
        "shape": shape,
        "other": 1.0 - shape - texture,
        "shape_bias": shape / cue if cue > 0 else math.nan,
    }


def evaluate(
    model: nn.Module,
    *,
    n_standard: int,
    n_conflict: int,
    seed: int = 0,
    size: int = 64,
    shape_jitter: float = PARTS_DEFAULTS["shape_jitter"],
    texture_jitter: float = PARTS_DEFAULTS["texture_jitter"],
) -> dict[str, dict[str, Any]]:
    """Accuracy on fresh ``standard`` stimuli and choice rates on fresh ``cue-conflict`` ones.

    Parameters
    ----------
    model : 8-class classifier in eval mode, on the CPU.
    n_standard, n_conflict : numbers of stimuli (0 skips that part).
    seed : evaluation seed; stimuli come from generator seeds ``TEST_SEED_BASE + seed`` and
        ``CONFLICT_SEED_BASE + seed``.
    size : image side in pixels.

    Returns
    -------
    dict with ``standard``: ``{n, generator_seed, accuracy}`` and ``cue_conflict``:
    ``{n, generator_seed, texture, shape, other, shape_bias}`` (fractions).
    """
    common = {"size": size, "shape_jitter": shape_jitter, "texture_jitter": texture_jitter}
    out: dict[str, dict[str, Any]] = {}
    if n_standard > 0:
        gseed = TEST_SEED_BASE + seed
        batch = parts.generate(n_standard, "standard", seed=gseed, **common)
        truth = torch.as_tensor(batch.table["shape_type"].to_numpy(copy=True))
        hits = (predict(model, batch.images) == truth).sum().item()
        out["standard"] = {"n": n_standard, "generator_seed": gseed, "accuracy": hits / n_standard}
    if n_conflict > 0:
        gseed = CONFLICT_SEED_BASE + seed
        batch = parts.generate(n_conflict, "cue-conflict", seed=gseed, **common)
        shape = torch.as_tensor(batch.table["shape_type"].to_numpy(copy=True))
        texture = torch.as_tensor(batch.table["texture_type"].to_numpy(copy=True))
        rates = choice_rates(predict(model, batch.images), shape, texture)
        out["cue_conflict"] = {"n": n_conflict, "generator_seed": gseed, **rates}
    return out


def _half_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The state dict with floating tensors in float16 (integer counters kept as they are)."""
    return {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).clone()
        for k, v in model.state_dict().items()
    }


def train_sample(
    out_dir: Path,
    *,
    seed: int = 0,
    epochs: int = 4,
    n_train: int = 2560,
    size: int = 64,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    n_test: int = 2048,
    n_conflict: int = 2048,
    threads: int = 2,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Train the demo ResNet-10 on generated parts, evaluate it, write the checkpoint and recipe.

    Parameters
    ----------
    out_dir : folder that receives ``model.pt`` (fp16 state dict) and ``model.json``.
    seed : seed of the weight initialisation, the batch order and every stimulus draw.
    epochs : passes, each over ``n_train`` freshly generated ``standard`` stimuli.
    n_train : stimuli per epoch (a multiple of 8 keeps the part types exactly balanced).
    size : image side in pixels (the demo study uses 64).
    batch_size, lr, weight_decay : optimiser settings (AdamW, one-cycle schedule peaking at lr).
    n_test, n_conflict : evaluation set sizes (standard, cue-conflict).
    threads : CPU threads used for training (restored afterwards).
    on_progress : called after every optimiser step as ``on_progress(step, total_steps, loss)``
        with the batch's cross-entropy loss in nats.

    Returns
    -------
    dict : the content written to ``model.json`` (keys ``MODEL_JSON_KEYS``).
    """
    if epochs < 1 or n_train < 1 or batch_size < 1:
        raise ValueError("epochs, n_train and batch_size must be positive")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jitter = {
        "shape_jitter": float(PARTS_DEFAULTS["shape_jitter"]),
        "texture_jitter": float(PARTS_DEFAULTS["texture_jitter"]),
    }
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        order_gen = torch.Generator().manual_seed(seed)
        from reportgen.demo.resnet10 import resnet10

        model = resnet10(NUM_CLASSES)
        steps_per_epoch = math.ceil(n_train / batch_size)
        total = epochs * steps_per_epoch
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
        loss_fn = nn.CrossEntropyLoss()

        started = time.perf_counter()
        step, last_losses = 0, []
        train_seeds = [TRAIN_SEED_BASE + 1000 * seed + e for e in range(epochs)]
        for epoch in range(epochs):
            batch = parts.generate(
                n_train, "standard", seed=train_seeds[epoch], size=size, **jitter
            )
            labels = torch.as_tensor(batch.table["shape_type"].to_numpy(copy=True))
            perm = torch.randperm(n_train, generator=order_gen)
            model.train()
            for start in range(0, n_train, batch_size):
                idx = perm[start : start + batch_size]
                x = imagenet_preprocess(batch.images[idx])
                loss = loss_fn(model(x), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                value = float(loss.item())
                if epoch == epochs - 1:
                    last_losses.append(value)
                if on_progress is not None:
                    on_progress(step, total, value)
        train_seconds = time.perf_counter() - started
        model.eval()

        eval_args = {"n_conflict": 0, "seed": seed, "size": size, **jitter}
        fp32 = evaluate(model, n_standard=n_test, **eval_args)
        weights = out_dir / "model.pt"
        torch.save(_half_state_dict(model), weights)

        # Evaluate the shipped file as the analysis will load it.
        from reportgen.inputs.model import load_model

        shipped = load_model(ARCH, weights, NUM_CLASSES)
        fp16 = evaluate(
            shipped,
            n_standard=n_test,
            n_conflict=n_conflict,
            seed=seed,
            size=size,
            **jitter,
        )
        total_seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(previous_threads)

    data = weights.read_bytes()
    n_params = sum(p.numel() for p in model.parameters())
    record: dict[str, Any] = {
        "description": (
            "Demo parts-inspection network for reportgen, trained by `reportgen train-sample` "
            "(reportgen/train_sample.py) on procedurally generated parts; not a real inspection "
            "model. Figures below are for the float16 file as loaded by reportgen."
        ),
        "model": {
            "arch": ARCH,
            "num_classes": NUM_CLASSES,
            "classes": list(parts.CLASS_NAMES),
            "weights": weights.name,
            "dtype": "float16",
            "parameters": n_params,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "preprocess": (
                "reportgen.inputs.extract.imagenet_preprocess (uint8 RGB, ImageNet mean/std)"
            ),
            "input_size": [3, size, size],
        },
        "recipe": {
            "epochs": epochs,
            "n_train_per_epoch": n_train,
            "fresh_stimuli_each_epoch": True,
            "images_seen": epochs * n_train,
            "batch_size": batch_size,
            "optimizer": "AdamW",
            "lr_max": lr,
            "lr_schedule": "OneCycleLR (cosine, 30% warm-up)",
            "weight_decay": weight_decay,
            "loss": "cross-entropy on the part type",
            "augmentation": "none (the generator varies pose and lighting per image)",
            "threads": threads,
            "device": "cpu",
        },
        "generator": {
            "name": "parts",
            "condition": "standard",
            "n_types": NUM_CLASSES,
            "size": size,
            **jitter,
        },
        "seeds": {
            "seed": seed,
            "torch_manual_seed": seed,
            "train_generator_seeds": train_seeds,
            "test_generator_seed": fp16["standard"]["generator_seed"],
            "conflict_generator_seed": fp16["cue_conflict"]["generator_seed"],
        },
        "evaluation": {
            "standard": {**fp16["standard"], "accuracy_fp32": fp32["standard"]["accuracy"]},
            "cue_conflict": fp16["cue_conflict"],
        },
        "training": {
            "train_seconds": round(train_seconds, 1),
            "total_seconds": round(total_seconds, 1),
            "final_epoch_mean_loss": sum(last_losses) / len(last_losses),
        },
        "software": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    (out_dir / "model.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
