"""The model part of `reportgen validate`: load it as a run would, check its layers, and run
it on a sample of standard stimuli to see whether it works on them at all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import StimulusSet, load_images

#: Standard stimuli a dry run shows the model: enough to tell a working model from one at
#: chance (a 95 % interval about ±6 points wide), few enough to take seconds on a CPU.
SAMPLE = 256
STANDARD = "standard"


@dataclass(frozen=True, slots=True)
class ModelCheck:
    """What the dry run found: the layers a run would analyse and the model's answers on a
    sample of standard stimuli (`n` = 0 when the study has none)."""

    layers: tuple[str, ...]
    n: int
    correct: int
    labels: tuple[int, ...]  # true class codes of the sample (for the chance level)
    answers: tuple[int, ...] = ()  # the model's decisions on the sample, same order

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")


def check_model(config: Config, stimset: StimulusSet | None) -> ModelCheck | None:
    """Load the model exactly as a run would (same trust rules), resolve its layers, and when
    `stimset` is given run it on up to `SAMPLE` standard stimuli, spread evenly over the table.
    None when the class count is unknown (no ``num_classes`` and no readable stimuli): the
    model cannot be built then, and the stimulus problems are the ones to report.

    Raises ReportgenError with every problem found (loading, layers, pictures)."""
    from reportgen.inputs.extract import preprocessor
    from reportgen.inputs.model import load_configured_model

    mc = config.model
    if mc is None:
        raise ValueError("check_model needs a [model] section")
    n_classes = mc.num_classes or (len(stimset.classes) if stimset is not None else 0)
    if not n_classes:
        return None
    model, layers = load_configured_model(mc, n_classes)
    if stimset is None:
        return ModelCheck(tuple(layers), 0, 0, ())
    rows = np.flatnonzero(stimset.table["condition"].to_numpy() == STANDARD)
    if len(rows) > SAMPLE:
        rows = rows[np.linspace(0, len(rows) - 1, SAMPLE).round().astype(int)]
    if not len(rows):
        return ModelCheck(tuple(layers), 0, 0, ())
    labels = stimset.label_codes()[rows]
    device = torch.device(config.analysis.device)
    step = preprocessor(mc.preprocess)
    model = model.to(device).eval()
    decided: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(rows), mc.batch_size):
            batch = rows[start : start + mc.batch_size].tolist()
            images = load_images(stimset, rows=batch, preprocess=mc.preprocess)
            try:
                logits = model(step(images.to(device)))
            except Exception as err:  # the user's model: say what it raised, no traceback
                raise ReportgenError(
                    f"model.arch: the model failed on the stimuli ({type(err).__name__}: {err}); "
                    "check [model.preprocess] (size, grayscale) against what it was trained on"
                ) from None
            decided.append(logits.argmax(dim=1).cpu())
    decisions = torch.cat(decided)
    correct = int((decisions == labels).sum())
    return ModelCheck(
        tuple(layers),
        len(rows),
        correct,
        tuple(int(y) for y in labels),
        tuple(int(d) for d in decisions),
    )
