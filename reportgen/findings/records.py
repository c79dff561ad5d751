"""Findings: the typed numbers a run produces, and their `results.json` form.

The pipeline builds one `Findings`; `results.json`, `tables/*.csv`, the narrative,
the figures and the history store all read it and nothing else, so they cannot
disagree. Information values are in bits; shares, rates and kappas are unitless.
Schema changes bump `SCHEMA_VERSION` and are listed in the README.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen.caveats import Caveat

__all__ = [
    "Accuracy",
    "DecisionAgreement",
    "Driver",
    "ErrorConsistency",
    "Example",
    "Findings",
    "LayerInfo",
    "MorphPoint",
    "RunInfo",
    "SCHEMA_VERSION",
    "ShapeBias",
    "SharedInformation",
    "Study",
]

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Driver:
    """Information one factor (or a whole factor group) carries about an observer's decisions."""

    name: str  # a factor column, or the group itself for the group's own entry
    group: str
    mi_bits: float  # bias-corrected information about the decisions, bits
    share: float  # fraction of the summed group information (descriptive, methods 4.5)
    p_value: float  # max-statistic FWER-corrected over every factor tested for this observer
    significant: bool
    ci_low: float  # confidence interval for mi_bits, bits
    ci_high: float
    observer: str | None = None  # set when a study has several models, and for people
    estimator: str = ""  # e.g. "gcmi-model-cd", "discrete-plugin"


@dataclass(frozen=True, slots=True)
class ShapeBias:
    """Shape bias on cue-conflict trials (Geirhos et al. 2019): n_shape / (n_shape + n_texture)."""

    observer: str
    shape_bias: float
    n_shape: int
    n_texture: int
    n_other: int  # answers matching neither cue (ignored), missing answers included
    ci_low: float
    ci_high: float
    kind: str = "model"  # "model", "human", or "humans" for all people pooled


@dataclass(frozen=True, slots=True)
class Accuracy:
    observer: str
    condition: str
    accuracy: float  # fraction of trials whose decision is the true label
    n: int
    # 95% interval: Wilson over trials for one observer; for pooled people, a bootstrap
    # that resamples the people (analyses.behaviour.observer_bootstrap_interval)
    ci_low: float = math.nan
    ci_high: float = math.nan
    chance: float = math.nan  # always answering the condition's commonest true class


@dataclass(frozen=True, slots=True)
class MorphPoint:
    """One level of a generalisation curve along a shape- or texture-morph continuum."""

    observer: str
    morph: str  # "shape-morph" or "texture-morph"
    level: float  # 0 = endpoint A, 1 = endpoint B
    p_a: float  # probability of answering endpoint A's class
    p_b: float
    n: int


@dataclass(frozen=True, slots=True)
class ErrorConsistency:
    """Mean Cohen's kappa over correct/incorrect (Geirhos et al. 2020) of a model against people."""

    observer: str  # a model id, or "human-human" for the mean over pairs of people
    kappa: float
    ci_low: float
    ci_high: float
    n_pairs: int


@dataclass(frozen=True, slots=True)
class DecisionAgreement:
    observer: str  # a model id, or "human-human"
    agreement: float  # fraction of trials with the identical response
    chance: float  # expected from the response marginals alone
    # per condition: [agreement, chance, trials compared] (a pooled rate mixes images made
    # to conflict with standard ones; the report shows them apart)
    by_condition: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SharedInformation:
    """Redundancy about a factor group between two decision makers (e.g. people and a model)."""

    observer: str  # the model
    group: str
    redundancy_bits: float  # the same information about the group both decisions carry, bits
    p_value: float
    significant: bool
    measure: str  # redundancy function of redundancy_bits: "ccs", or "none" (not measured)
    redundancy_mmi_bits: float = math.nan  # min of the two informations: the upper bracket
    coinformation_bits: float = math.nan  # lower bracket when synergy >= 0; + = redundancy


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """Per layer and factor group: what the layer holds about the factor, and what of it
    reaches the decision."""

    layer: str
    depth: int  # 0 = first analysed layer
    group: str
    mi_bits: float  # multivariate information between the layer's leading PCs and the factor group
    mi_p_value: float
    mi_significant: bool
    n_units: int
    n_significant_units: int  # units with FWER-significant per-unit information
    max_unit_bits: float
    median_unit_bits: float
    redundancy_bits: float  # the same information about the group in the layer and the decision
    redundancy_p_value: float
    redundancy_significant: bool
    measure: str  # redundancy function of redundancy_bits: "ccs", or "none" (not measured)
    # min(I(F;H), I(F;D)): the upper bracket, with I(F;H) from the redundancy's own model
    # (class mixture; the linear mi_bits can be lower) and I(F;D) as the drivers report it
    redundancy_mmi_bits: float = math.nan
    coinformation_bits: float = math.nan  # I(F;H) - I(F;H|D): lower bracket when synergy >= 0


@dataclass(frozen=True, slots=True)
class Example:
    """A stimulus shown in the report's example montages (the picture, not a statistic)."""

    role: str  # "standard", "cue-conflict" or "disagreement"
    stimulus_id: str
    image: str  # path of the picture, relative to the output folder
    label: str  # true class
    shape: str = ""  # class the shape points to ("" if unknown)
    texture: str = ""  # class the texture points to
    model_answer: str = ""  # the (first) model's answer
    people_answer: str = ""  # the most frequent answer of the people
    people_agree: float = math.nan  # fraction of people giving that answer


@dataclass(frozen=True, slots=True)
class RunInfo:
    config_hash: str
    seed: int
    permutations: int
    alpha: float
    n_stimuli: int
    n_trials: int
    device: str
    versions: dict[str, str]
    timings_s: dict[str, float]
    model_fingerprint: str | None = None
    started_at: str = ""  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class Study:
    """What was analysed, for the title page and the Methods section."""

    name: str
    title: str
    period: str
    language: str
    classes: tuple[str, ...]
    groups: dict[str, list[str]]  # factor group -> factor columns
    conditions: dict[str, int]  # condition -> number of stimuli
    models: tuple[str, ...]  # model observer ids
    humans: tuple[str, ...]  # human observer ids
    humans_simulated: bool  # True for the demo's simulated panel: the report must say so
    decision_only: bool  # True when no weights were given: no layer analysis
    attribution: str = ""  # data licence and attribution text, shown in Methods and data
    generator: str = ""  # the built-in generator that made the stimuli, if one did
    roles: dict[str, str] = field(default_factory=dict)  # factor group -> config.ROLES entry
    roles_assumed: tuple[str, ...] = ()  # groups whose role the config did not give
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # lang->kind->id
    # [report.decision] as given: fit_accuracy (fraction or None), owner, due, options (list
    # of {name, cost, effort, owner, due, benefit}); empty when the config has none
    decision: dict[str, Any] = field(default_factory=dict)
    model_card: dict[str, str] = field(default_factory=dict)  # [report.model_card] as given


@dataclass(frozen=True, slots=True)
class Findings:
    study: Study
    run: RunInfo
    drivers: list[Driver]
    shape_bias: list[ShapeBias]
    accuracy: list[Accuracy]
    morph_curves: list[MorphPoint]
    error_consistency: list[ErrorConsistency]
    decision_agreement: list[DecisionAgreement]
    shared_information: list[SharedInformation]
    layers: list[LayerInfo]
    warnings: list[Caveat]
    examples: list[Example] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def to_json_dict(self) -> dict[str, Any]:
        """The `results.json` document (design.md): lists of records plus the keyed views."""
        return {
            "schema_version": self.schema_version,
            "study": _plain(self.study),
            "drivers": [_plain(d) for d in self.drivers],
            "behaviour": {
                "accuracy": [_plain(a) for a in self.accuracy],
                "shape_bias": {s.observer: _finite(s.shape_bias) for s in self.shape_bias},
                "shape_bias_detail": [_plain(s) for s in self.shape_bias],
                "morph_curves": [_plain(m) for m in self.morph_curves],
            },
            "agreement": {
                "error_consistency": {e.observer: _finite(e.kappa) for e in self.error_consistency},
                "error_consistency_detail": [_plain(e) for e in self.error_consistency],
                "decision_agreement": [_plain(a) for a in self.decision_agreement],
                "shared_information": [_plain(s) for s in self.shared_information],
            },
            "layers": [_plain(layer) for layer in self.layers],
            "warnings": [_plain(w) for w in self.warnings],
            "examples": [_plain(e) for e in self.examples],
            "run": _plain(self.run),
        }

    def write_json(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_json_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def from_json_dict(cls, doc: dict[str, Any]) -> Findings:
        """Rebuild Findings from `results.json` (the inverse of `to_json_dict`)."""
        study = dict(doc["study"])
        study["classes"] = tuple(study["classes"])
        study["models"] = tuple(study["models"])
        study["humans"] = tuple(study["humans"])
        study["roles_assumed"] = tuple(study.get("roles_assumed", ()))
        return cls(
            study=Study(**study),
            run=RunInfo(**doc["run"]),
            drivers=[_record(Driver, d) for d in doc["drivers"]],
            shape_bias=[_record(ShapeBias, s) for s in doc["behaviour"]["shape_bias_detail"]],
            accuracy=[_record(Accuracy, a) for a in doc["behaviour"]["accuracy"]],
            morph_curves=[_record(MorphPoint, m) for m in doc["behaviour"]["morph_curves"]],
            error_consistency=[
                _record(ErrorConsistency, e) for e in doc["agreement"]["error_consistency_detail"]
            ],
            decision_agreement=[
                _record(DecisionAgreement, a) for a in doc["agreement"]["decision_agreement"]
            ],
            shared_information=[
                _record(SharedInformation, s) for s in doc["agreement"]["shared_information"]
            ],
            layers=[_record(LayerInfo, layer) for layer in doc["layers"]],
            warnings=[Caveat(**w) for w in doc["warnings"]],
            examples=[_record(Example, e) for e in doc.get("examples", [])],
            schema_version=doc["schema_version"],
        )


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined number (e.g. kappa without shared trials) becomes null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _plain(obj: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value)
        out[f.name] = _finite(value) if isinstance(value, float) else value
    return out


def _record(cls: type, record: dict[str, Any]) -> Any:
    """Inverse of `_plain`: float fields stored as null become NaN again."""
    floats = {f.name for f in dataclasses.fields(cls) if f.type == "float"}
    return cls(**{k: (math.nan if v is None and k in floats else v) for k, v in record.items()})
