"""The study configuration: read a TOML file once, check every field, return a frozen `Config`.

Every problem is collected as ``file: section.key: reason`` and raised together in one
`ReportgenError`, so the user fixes all of them in one pass. Code past this edge trusts the
`Config` and never reads the raw TOML again (style habit 8).

Rules beyond the per-field checks
---------------------------------
- A study has exactly one source of model decisions: ``[model]`` (weights; every analysis,
  including the layers) or ``[decisions]`` (logged decisions of one or more models; a
  decision-only study). Both or neither is an error.
- ``[stimuli]`` names a stimulus table (``table``, with ``images`` required when a ``[model]`` is
  given) or a built-in generator (``generator = "parts"`` plus an optional ``[stimuli.params]``
  table handed to the generator unchanged; the generator checks its own parameters and reports
  them as ``stimuli.params.<key>``). Not both.
- Paths are relative to the folder holding the config file; files that must exist are checked.
- Unknown sections and keys are errors, with a "did you mean" suggestion when one is close.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    import torch

__all__ = [
    "AnalysisConfig",
    "CollectConfig",
    "DecisionConfig",
    "DecisionOption",
    "CuesConfig",
    "Config",
    "DecisionsConfig",
    "GeneratorConfig",
    "HumansConfig",
    "ModelConfig",
    "ReportConfig",
    "StimuliConfig",
    "GENERATORS",
    "config_hash",
    "load_config",
    "resolve_device",
]

#: Names accepted by ``[stimuli] generator``.
GENERATORS: tuple[str, ...] = ("parts",)

LANGUAGES = ("en", "ja")
#: What a factor group is to the decision, which the report's lights and wording follow:
#: ``diagnostic`` (the judgement should rest on it), ``incidental`` (tells the classes apart
#: in these images but is not what the judgement should rest on: a shortcut) and
#: ``nuisance`` (should not matter at all: lighting, pose, position).
ROLES = ("diagnostic", "incidental", "nuisance")
#: Groups without a ``[roles]`` entry: these names are taken as nuisance, any other as
#: diagnostic, and the report says the role was assumed.
NUISANCE_NAMES = frozenset(
    {"nuisance", "lighting", "light", "pose", "position", "background", "viewpoint", "camera"}
)
#: What ``[labels.<lang>]`` can give display names for.
LABEL_KINDS = ("groups", "factors", "classes", "conditions", "models", "report")
DEVICES = ("auto", "cpu", "cuda")
REDUCTIONS = ("gap",)
PROJECTIONS = ("none", "pca", "random")

#: Bounds of the Monte Carlo settings: past these, more work buys no visible precision (a
#: p-value resolves to 1/(permutations + 1)) and costs hours; 10**12 would not even fit the
#: null's one float per permutation and test in memory (8 TB).
MAX_PERMUTATIONS = 100_000
MAX_BOOTSTRAP = 10_000
MAX_SEED = 2**63 - 1  # torch.Generator takes 64-bit seeds

#: Settings of the built-in generators: name -> key -> (default, minimum, maximum). A whole
#: number default means the setting must be a whole number; a float one, any number in range.
GENERATOR_PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "parts": {
        # stimuli per condition
        "standard": (480, 0, 50_000),
        "cue_conflict": (960, 0, 50_000),
        "shape_morph": (224, 0, 50_000),
        "texture_morph": (224, 0, 50_000),
        "n_types": (8, 2, 8),  # part types (classes)
        "size": (64, 16, 512),  # image side, pixels
        "seed": (1, 0, 2**32),
        "shape_jitter": (0.5, 0.0, 10.0),
        "texture_jitter": (0.2, 0.0, 10.0),
        "morph_levels": (7, 2, 101),
    }
}
#: Generated images are held in memory as uint8 RGB: at most this many bytes in all.
MAX_GENERATED_BYTES = 4 * 2**30

_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "report": (
        "title",
        "study",
        "period",
        "language",
        "history_db",
        "history",
        "decision",
        "model_card",
    ),
    "report.model_card": ("intended_use", "out_of_scope", "version"),
    "report.decision": ("fit_accuracy", "owner", "due", "options"),
    "report.decision.options": ("name", "cost", "effort", "owner", "due", "benefit", *LANGUAGES),
    "model": (
        "name",
        "arch",
        "weights",
        "num_classes",
        "layers",
        "trust_checkpoint",
        "batch_size",
        "reduction",
        "projection",
        "projection_dim",
        "preprocess",
    ),
    "model.preprocess": ("resize", "center_crop", "mean", "std", "grayscale"),
    "stimuli": ("table", "images", "classes", "categorical", "continuous", "generator", "params"),
    "factors": (),  # free keys: one per factor group
    "humans": ("responses", "simulated"),
    "decisions": ("models",),
    "analysis": (
        "permutations",
        "alpha",
        "device",
        "seed",
        "bootstrap",
        "layer_pcs",
        "conditions",
    ),
    "cues": ("shape", "texture", "morph_from", "morph_to", "morph_level"),
    "roles": (),  # free keys: one per factor group
    "labels": LANGUAGES,
    "collect": (
        "trials",
        "duration_ms",
        "mask_ms",
        "break_every",
        "practice",
        "seed",
        "per_condition",
    ),
    "collect.per_condition": (),  # free keys: one per condition of the stimuli
}
_REQUIRED_SECTIONS = ("report", "stimuli", "factors")


@dataclass(frozen=True, slots=True)
class DecisionOption:
    """One ``[[report.decision.options]]`` entry: a course of action and what only the user
    knows about it (all free text, shown as written). A ``[report.decision.options.<lang>]``
    table under it gives the same texts in that report language."""

    name: str
    cost: str = ""
    effort: str = ""
    owner: str = ""
    due: str = ""
    benefit: str = ""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> key -> text


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """``[report.decision]``: the accuracy on standard stimuli that counts as fit for use, who
    owns the recommended action and by when, and the options with their cost and benefit."""

    fit_accuracy: float | None = None  # None: "fit" means clearly above chance
    owner: str = ""
    due: str = ""
    options: tuple[DecisionOption, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """``[report]``: what the report is called and in which language it is written."""

    title: str
    study: str = ""  # name the history store files runs under; default: the config's folder
    period: str = ""  # e.g. "2026-Q4"; shown on the cover and used by the history store
    language: Literal["en", "ja"] = "en"
    history_db: Path | None = None  # SQLite file of past runs; created on first use
    history: bool = True  # record each run there (false: read it, never write it)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    # [report.model_card]: intended_use, out_of_scope, version (free text, as written)
    model_card: dict[str, str] = field(default_factory=dict)


#: The channel mean and std of ImageNet training images, on the [0, 1] scale: what
#: torchvision's pretrained models expect, and the default of ``[model.preprocess]``.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_IMAGE_SIDE = 8192  # pixels; also the stimulus pictures' limit


@dataclass(frozen=True, slots=True)
class Preprocess:
    """``[model.preprocess]``: how stimulus pictures become the model's input, in order:
    grey (``grayscale``: luminance copied to all three channels), ``resize`` (an int sets the
    shorter side, keeping the aspect ratio; ``(height, width)`` sets both), ``center_crop``,
    then ``(x / 255 - mean) / std`` per channel. The defaults are ImageNet's normalisation
    with no resizing; a model trained on raw [0, 1] inputs uses mean 0 and std 1."""

    resize: int | tuple[int, int] | None = None
    center_crop: int | tuple[int, int] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    grayscale: bool = False

    def describe(self) -> str:
        """One line for people: what is applied, in order."""

        def size(v: int | tuple[int, int]) -> str:
            return f"shorter side {v} px" if isinstance(v, int) else f"{v[0]}x{v[1]} px"

        steps = ["grey (one channel copied to three)"] if self.grayscale else []
        if self.resize is not None:
            steps.append(f"resize to {size(self.resize)}")
        if self.center_crop is not None:
            c = self.center_crop
            steps.append(
                f"centre crop {c}x{c} px" if isinstance(c, int) else f"centre crop {size(c)}"
            )
        named = " (ImageNet)" if (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD) else ""
        steps.append(
            f"scale to [0, 1], subtract mean {list(self.mean)} and divide by std "
            f"{list(self.std)}{named}"
        )
        return ", then ".join(steps)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """``[model]``: the classifier whose decisions and layers are analysed.

    ``arch`` is a torchvision classification architecture name (``"resnet18"``),
    ``"export"`` (``weights`` is then a ``torch.export`` program, ``.pt2``), ``"torchscript"``
    (``weights`` is then a TorchScript file), ``"package.module:callable"``
    or ``"/abs/path/file.py:callable"`` (a function returning an ``nn.Module``; ``weights``
    optional, a state dict when given). Code named here runs: a file is resolved against the
    config's folder, a module is looked up in the config's folder before installed packages.
    """

    arch: str
    weights: Path | None
    num_classes: int | None = None
    layers: Literal["auto"] | tuple[str, ...] = "auto"
    trust_checkpoint: bool = False  # allow full unpickling of the weights file
    batch_size: int = 64
    reduction: Literal["gap"] = "gap"  # per-channel global average pooling of feature maps
    projection: Literal["none", "pca", "random"] = "none"
    projection_dim: int | None = None  # size after projection; required unless "none"
    name: str = ""  # the model's id in the report; default: the weights file's name
    code_dir: Path | None = None  # where 'package.module:callable' is looked up first
    preprocess: Preprocess = field(default_factory=Preprocess)


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """A built-in stimulus generator and the parameters handed to it unchanged."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StimuliConfig:
    """``[stimuli]``: the stimulus table (or generator) and how its columns are read.

    ``classes`` fixes the class set and its order (model output index i is ``classes[i]``);
    when ``None`` the sorted distinct labels of the table are used. ``categorical`` and
    ``continuous`` are column globs that override the automatic factor kind (numbers are
    continuous, anything else categorical), e.g. a part type coded 0..7 is categorical.
    """

    table: Path | None
    images: Path | None = None
    classes: tuple[str, ...] | None = None
    categorical: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    generator: GeneratorConfig | None = None


@dataclass(frozen=True, slots=True)
class HumansConfig:
    """``[humans]``: people's responses (``observer, stimulus_id, response``)."""

    responses: Path
    simulated: bool = False  # the report then labels this panel as simulated everywhere


@dataclass(frozen=True, slots=True)
class DecisionsConfig:
    """``[decisions]``: logged model decisions, one or more trials tables (decision-only)."""

    models: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """``[analysis]``: statistics settings."""

    permutations: int = 1000  # per test (max-statistic null); 100 to MAX_PERMUTATIONS
    alpha: float = 0.05  # family-wise error rate, 0 < alpha < 0.5
    device: str = "auto"  # "auto", "cpu" or "cuda" as read; "cpu"/"cuda:N" once resolved
    seed: int = 0
    bootstrap: int = 200  # resamples for intervals, 0 (off) or 50 to MAX_BOOTSTRAP
    layer_pcs: int = 4  # principal components per layer in multivariate layer analyses
    # Conditions whose stimuli the information analyses (drivers, layers) use; None = all.
    # Use the conditions where the factor groups vary independently (e.g. cue-conflict):
    # where shape and texture always agree, neither can be told apart as the driver.
    conditions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CollectConfig:
    """``[collect]``: how `reportgen collect` runs a forced-choice session in the browser.

    ``trials`` is the append-only trials table it writes (default: ``[humans] responses``,
    else ``<config name>-trials.csv`` beside the config). ``per_condition`` maps a condition
    to the number of its stimuli each observer sees (drawn per observer); a condition not
    listed is shown whole, 0 leaves it out.
    """

    trials: Path
    duration_ms: int = 200  # stimulus on screen, as in the cue-conflict lab protocol
    mask_ms: int = 200  # noise mask after the stimulus
    break_every: int = 100  # counted trials between breaks
    practice: int = 5  # practice trials before the counted ones (never written)
    seed: int = 0  # with the observer id, seeds each observer's order
    per_condition: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CuesConfig:
    """``[cues]``: stimulus-table columns naming the class each cue points to.

    ``shape`` and ``texture`` (class names or class indices) give the shape bias on trials
    where they differ (Geirhos et al. 2019); ``morph_from``, ``morph_to`` and ``morph_level``
    give generalisation curves along ``*-morph`` conditions. A column that is absent from
    the table turns that analysis off.
    """

    shape: str = "shape_class"
    texture: str = "texture_class"
    morph_from: str = "morph_from"
    morph_to: str = "morph_to"
    morph_level: str = "morph_level"


@dataclass(frozen=True, slots=True)
class Config:
    """A checked study configuration. Paths are absolute (resolved against the file's folder).

    Exactly one of ``model`` and ``decisions`` is set; ``decision_only`` says which.
    """

    path: Path
    report: ReportConfig
    model: ModelConfig | None
    stimuli: StimuliConfig
    factors: dict[str, tuple[str, ...]]  # group -> column globs, in file order
    humans: HumansConfig | None
    decisions: DecisionsConfig | None
    analysis: AnalysisConfig
    cues: CuesConfig = field(default_factory=CuesConfig)
    roles: dict[str, str] = field(default_factory=dict)  # every factor group -> one of ROLES
    roles_assumed: tuple[str, ...] = ()  # groups whose role came from NUISANCE_NAMES
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # lang->kind->id
    collect: CollectConfig | None = None  # [collect]: `reportgen collect` settings
    canonical: str = field(repr=False, default="")  # sorted-key JSON of the parsed TOML

    @property
    def decision_only(self) -> bool:
        """True when the study has logged decisions but no model weights."""
        return self.model is None

    @property
    def resolved(self) -> bool:
        """True once `with_overrides` has fixed the device (no ``"auto"`` left)."""
        return self.analysis.device != "auto"

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        device: str | None = None,
        language: str | None = None,
    ) -> Config:
        """This config with the command line's overrides applied and the device resolved.

        ``device="auto"`` (or the config's ``auto``) becomes the device the run will use
        (``cuda`` when PyTorch sees a GPU, else ``cpu``); asking for CUDA on a machine
        without one is a `ReportgenError`. The canonical content, and so `config_hash`,
        is that of the resolved config, so a run's hash says what the run actually used.
        Resolving a resolved config without overrides returns an equal config.
        """
        problems = []
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
        ):
            problems.append(f"--seed: must be a whole number from 0 to 2**63 - 1, got {seed!r}")
        if language is not None and language not in LANGUAGES:
            problems.append(f"--lang: must be one of {', '.join(LANGUAGES)}, got {language!r}")
        if problems:
            raise ReportgenError(problems)
        dev = str(resolve_device(device or self.analysis.device))
        analysis = dataclasses.replace(
            self.analysis, seed=self.analysis.seed if seed is None else seed, device=dev
        )
        report = dataclasses.replace(self.report, language=language or self.report.language)
        raw = json.loads(self.canonical) if self.canonical else {}
        raw.setdefault("analysis", {}).update(seed=analysis.seed, device=dev)
        raw.setdefault("report", {})["language"] = report.language
        canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False)
        return dataclasses.replace(self, analysis=analysis, report=report, canonical=canonical)


def config_hash(config: Config) -> str:
    """SHA-256 (hex) of the config's canonical content, for the run record.

    The canonical content is the parsed TOML serialised as JSON with sorted keys, so comments,
    whitespace and key order do not change the hash, while any value change does; after
    `Config.with_overrides` it includes the overrides and the resolved device. Input files
    are not hashed here (their fingerprints are recorded separately).
    """
    return hashlib.sha256(config.canonical.encode("utf-8")).hexdigest()


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a usable device.

    Parameters
    ----------
    spec : str or torch.device
        ``"auto"`` picks the first CUDA GPU when PyTorch sees one, else the CPU.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ReportgenError
        When CUDA is requested but absent, or the name is not a device reportgen runs on.
    """
    import torch  # here, so that reading a config does not pay for torch

    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", text):
        if not torch.cuda.is_available():
            raise ReportgenError(
                f"device: '{spec}' was requested but PyTorch sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}); use --device cpu or --device auto"
            )
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ReportgenError(
                f"device: '{spec}' does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0"
            )
        return device
    raise ReportgenError(f"device: '{spec}' is not one of auto, cpu, cuda, cuda:N")


# --------------------------------------------------------------------------------------------
# Reading


_MISSING = object()


def _json_default(value: object) -> str:
    if isinstance(value, _dt.date | _dt.time | _dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Reader:
    """Collects problems while reading typed values out of the raw TOML tables."""

    def __init__(self, path: Path) -> None:
        self.file = path
        self.base = path.parent
        self.problems: list[str] = []

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(f"{self.file}: {where}: {reason}")

    def section(
        self, raw: dict[str, Any], name: str, key: str | None = None
    ) -> dict[str, Any] | None:
        """The table `raw[key]` (default: `name`), its keys checked against `name`'s."""
        key = key or name
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, dict):
            self.problem(name, f"must be a [{name}] table, got {_type_name(value)}")
            return None
        allowed = _SECTION_KEYS[name]
        if allowed:
            for key in value:
                if key not in allowed:
                    self.problem(f"{name}.{key}", "unknown key" + _suggest(key, allowed))
        return value

    def get(
        self,
        sec: dict[str, Any],
        name: str,
        key: str,
        check: Callable[[Any], str | None],
        default: Any = _MISSING,
        expect: str = "",
    ) -> Any:
        """Return ``sec[key]`` if ``check`` accepts it; record a problem and the default if not."""
        if key not in sec:
            if default is _MISSING:
                self.problem(f"{name}.{key}", f"missing; {expect}")
                return None
            return default
        value = sec[key]
        reason = check(value)
        if reason is not None:
            self.problem(f"{name}.{key}", f"{reason}, got {value!r}")
            return None if default is _MISSING else default
        return value

    def text(self, sec: dict[str, Any], name: str, key: str, default: Any = _MISSING) -> Any:
        def check(v: Any) -> str | None:
            if not isinstance(v, str):
                return "must be text"
            if not v.strip():
                return "must not be empty"
            return None

        return self.get(sec, name, key, check, default, "expected text")

    def choice(
        self,
        sec: dict[str, Any],
        name: str,
        key: str,
        options: tuple[str, ...],
        default: Any,
        aliases: Mapping[str, str] | None = None,
    ) -> Any:
        listed = ", ".join(f"'{o}'" for o in options)

        def check(v: Any) -> str | None:
            if not isinstance(v, str) or v not in options:
                if isinstance(v, str) and aliases and v.lower() in aliases:
                    hint = f" (did you mean '{aliases[v.lower()]}'?)"
                else:
                    hint = _suggest(v, options) if isinstance(v, str) else ""
                return f"must be one of {listed}{hint}"
            return None

        return self.get(sec, name, key, check, default, f"expected one of {listed}")

    def integer(
        self,
        sec: dict[str, Any],
        name: str,
        key: str,
        default: Any,
        minimum: int,
        maximum: int | None = None,
        extra: Callable[[int], str | None] | None = None,
    ) -> Any:
        bound = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")

        def check(v: Any) -> str | None:
            if isinstance(v, bool) or not isinstance(v, int):
                return f"must be a whole number {bound}"
            if extra is not None and (reason := extra(v)) is not None:
                return reason
            if v < minimum or (maximum is not None and v > maximum):
                return f"must be a whole number {bound}"
            return None

        return self.get(sec, name, key, check, default, f"expected a whole number {bound}")

    def boolean(self, sec: dict[str, Any], name: str, key: str, default: bool) -> Any:
        def check(v: Any) -> str | None:
            return None if isinstance(v, bool) else "must be true or false"

        return self.get(sec, name, key, check, default)

    def path(
        self,
        sec: dict[str, Any],
        name: str,
        key: str,
        default: Any = _MISSING,
        kind: Literal["file", "dir", "any"] = "file",
    ) -> Path | None:
        raw = self.text(sec, name, key, default)
        if raw is None or raw is default:
            return raw
        return self.resolve(raw, f"{name}.{key}", kind)

    def resolve(self, raw: str, where: str, kind: Literal["file", "dir", "any"]) -> Path:
        path = (self.base / Path(raw).expanduser()).resolve()
        if kind == "file" and not path.is_file():
            reason = "is a folder, expected a file" if path.is_dir() else "file not found"
            self.problem(where, f"{reason}: {path}")
        elif kind == "dir" and not path.is_dir():
            reason = "is a file, expected a folder" if path.is_file() else "folder not found"
            self.problem(where, f"{reason}: {path}")
        return path

    def text_list(
        self, sec: dict[str, Any], name: str, key: str, *, allow_single: bool = True
    ) -> tuple[str, ...] | None:
        """A list of non-empty, distinct texts (a single text counts as a one-item list)."""
        if key not in sec:
            return None
        value = sec[key]
        if allow_single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(f"{name}.{key}", f"must be a list of non-empty texts, got {value!r}")
            return None
        if not value:
            self.problem(f"{name}.{key}", "must not be an empty list")
            return None
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            self.problem(f"{name}.{key}", f"lists {', '.join(map(repr, dupes))} more than once")
        return tuple(value)


def load_config(path: str | Path) -> Config:
    """Read and check a study config (TOML); every problem is reported at once.

    Parameters
    ----------
    path : str or Path
        The TOML file. Relative paths inside it are resolved against its folder.

    Returns
    -------
    Config
        Frozen and typed; every path in it is absolute and every required file exists.

    Raises
    ------
    ReportgenError
        One line per problem, ``file: section.key: reason``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportgenError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ReportgenError(f"{path}: cannot read the config file ({err})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:  # the message carries line and column
        raise ReportgenError(f"{path}: not valid TOML: {err}") from None

    r = _Reader(path.resolve())
    r.file = path  # messages name the file the way the user wrote it
    for name in raw:
        if name not in _SECTION_KEYS:
            r.problem(name, "unknown section" + _suggest(name, tuple(_SECTION_KEYS)))
    for name in _REQUIRED_SECTIONS:
        if name not in raw:
            r.problem(name, f"missing section [{name}]")

    report = _read_report(r, raw)
    model = _read_model(r, raw)
    decisions = _read_decisions(r, raw)
    if "model" in raw and "decisions" in raw:
        r.problem(
            "decisions",
            "give either [model] (weights) or [decisions] (logged decisions, a decision-only "
            "study), not both",
        )
    elif "model" not in raw and "decisions" not in raw:
        r.problem(
            "model",
            "missing; give [model] (the classifier's weights) or [decisions] (logged decisions "
            "of one or more models, for a decision-only study)",
        )
    stimuli = _read_stimuli(r, raw, needs_images="model" in raw)
    factors = _read_factors(r, raw)
    humans = _read_humans(r, raw, collecting="collect" in raw)
    collect = _read_collect(r, raw, humans)
    analysis = _read_analysis(r, raw)
    cues = _read_cues(r, raw)
    roles, assumed = _read_roles(r, raw, factors or {})
    labels = _read_labels(r, raw, factors or {}, stimuli.classes if stimuli else None)

    if (
        model is not None
        and stimuli is not None
        and model.num_classes is not None
        and stimuli.classes is not None
        and len(stimuli.classes) != model.num_classes
    ):
        r.problem(
            "model.num_classes",
            f"is {model.num_classes} but stimuli.classes lists {len(stimuli.classes)} classes",
        )

    if r.problems:
        raise ReportgenError(r.problems)
    # no problems means every part was read
    assert report is not None and stimuli is not None and factors is not None
    assert analysis is not None
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=_json_default)
    return Config(
        path=path.resolve(),
        report=report,
        model=model,
        stimuli=stimuli,
        factors=factors,
        humans=humans,
        decisions=decisions,
        analysis=analysis,
        cues=cues,
        roles=roles,
        roles_assumed=assumed,
        labels=labels,
        collect=collect,
        canonical=canonical,
    )


def _read_report(r: _Reader, raw: dict[str, Any]) -> ReportConfig | None:
    sec = r.section(raw, "report")
    if sec is None:
        return None
    title = r.text(sec, "report", "title")
    study = r.text(sec, "report", "study", default=r.base.name)
    period = r.text(sec, "report", "period", default="")
    language = r.choice(sec, "report", "language", LANGUAGES, "en")
    history = r.path(sec, "report", "history_db", default=None, kind="any")
    if history is not None and history.is_dir():
        r.problem("report.history_db", f"is a folder, expected a database file: {history}")
    return ReportConfig(
        title=title,
        study=study,
        period=period,
        language=language,
        history_db=history,
        history=bool(r.boolean(sec, "report", "history", True)),
        decision=_read_decision(r, sec),
        model_card=_read_model_card(r, sec),
    )


def _read_model_card(r: _Reader, report: dict[str, Any]) -> dict[str, str]:
    sec = r.section(report, "report.model_card", "model_card")
    if sec is None:
        return {}
    keys = _SECTION_KEYS["report.model_card"]
    texts = {k: r.text(sec, "report.model_card", k, default="") for k in keys}
    return {k: v for k, v in texts.items() if v}


def _read_decision(r: _Reader, report: dict[str, Any]) -> DecisionConfig:
    sec = r.section(report, "report.decision", "decision")
    if sec is None:
        return DecisionConfig()
    name = "report.decision"

    def fraction(v: Any) -> str | None:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1
        return None if ok else "must be a fraction in (0, 1], e.g. 0.95 for 95%"

    fit = r.get(sec, name, "fit_accuracy", fraction, None)
    options = []
    raw_options = sec.get("options", [])
    if not isinstance(raw_options, list) or not all(isinstance(o, dict) for o in raw_options):
        r.problem(f"{name}.options", "must be [[report.decision.options]] tables")
        raw_options = []
    for i, o in enumerate(raw_options):
        where = f"{name}.options[{i}]"
        for key in o:
            if key not in _SECTION_KEYS["report.decision.options"]:
                keys = _SECTION_KEYS["report.decision.options"]
                r.problem(f"{where}.{key}", "unknown key" + _suggest(key, keys))
        title = r.text(o, where, "name")
        keys = ("cost", "effort", "owner", "due", "benefit")
        texts = {k: r.text(o, where, k, default="") or "" for k in keys}
        translations = {}
        for lang in LANGUAGES:
            if lang not in o:
                continue
            if not isinstance(o[lang], dict):
                r.problem(
                    f"{where}.{lang}", "must be a table of the option's texts in that language"
                )
                continue
            for key in o[lang]:
                if key not in ("name", *keys):
                    r.problem(
                        f"{where}.{lang}.{key}", "unknown key" + _suggest(key, ("name", *keys))
                    )
            given = {k: r.text(o[lang], f"{where}.{lang}", k, default="") for k in ("name", *keys)}
            translations[lang] = {k: v for k, v in given.items() if v}
        if title is not None:
            options.append(DecisionOption(title, translations=translations, **texts))
    return DecisionConfig(
        fit_accuracy=None if fit is None else float(fit),
        owner=r.text(sec, name, "owner", default=""),
        due=r.text(sec, name, "due", default=""),
        options=tuple(options),
    )


_CALLABLE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
# 'path/to/file.py:callable': any path ending in .py, then the callable's name.
_FILE_CALLABLE = re.compile(r"(?P<file>.+\.py):(?P<attr>[A-Za-z_]\w*)")


def _torchvision_archs() -> list[str]:
    import torchvision.models  # here, not at import time: only model studies pay for it

    return list(torchvision.models.list_models(module=torchvision.models))


def _read_model(r: _Reader, raw: dict[str, Any]) -> ModelConfig | None:
    sec = r.section(raw, "model")
    if sec is None:
        return None
    arch = r.text(sec, "model", "arch")
    route = None
    if isinstance(arch, str):
        if arch in ("torchscript", "export"):
            route = arch
        elif (m := _FILE_CALLABLE.fullmatch(arch)) is not None:
            # Code named by the config is looked up next to the config, never in the folder
            # the command happens to run from.
            route = "callable"
            arch = f"{r.resolve(m['file'], 'model.arch', 'file')}:{m['attr']}"
        elif ":" in arch:
            route = "callable"
            if not _CALLABLE.fullmatch(arch):
                r.problem(
                    "model.arch",
                    f"expected 'package.module:function' or 'file.py:function', got {arch!r}",
                )
        else:
            route = "torchvision"
            names = _torchvision_archs()
            if arch not in names:
                r.problem(
                    "model.arch",
                    f"unknown torchvision architecture {arch!r}{_suggest(arch, names)}; "
                    "or use 'export', 'torchscript' or 'package.module:function'",
                )
    weights = r.path(sec, "model", "weights", default=None)
    if (
        weights is None
        and "weights" not in sec
        and route in ("torchvision", "torchscript", "export")
    ):
        what = {
            "torchscript": "a TorchScript file",
            "export": "a .pt2 file written by torch.export.save",
        }.get(route, "a state dict (.pt)")
        r.problem("model.weights", f"missing; expected {what}")
    num_classes = r.integer(sec, "model", "num_classes", None, minimum=2)
    if num_classes is None and "num_classes" not in sec and route == "torchvision":
        r.problem("model.num_classes", "missing; a torchvision architecture needs the class count")

    layers: Any = "auto"
    if "layers" in sec:
        value = sec["layers"]
        if value != "auto":
            if isinstance(value, str):
                r.problem(
                    "model.layers", f'must be "auto" or a list of module names, got {value!r}'
                )
            elif value == []:
                layers = ()  # decisions only: a model format without hookable layers
            else:
                layers = r.text_list(sec, "model", "layers", allow_single=False) or "auto"
    trust = r.boolean(sec, "model", "trust_checkpoint", False)
    batch_size = r.integer(sec, "model", "batch_size", 64, minimum=1, maximum=65536)
    reduction = r.choice(sec, "model", "reduction", REDUCTIONS, "gap")
    projection = r.choice(sec, "model", "projection", PROJECTIONS, "none")
    projection_dim = r.integer(sec, "model", "projection_dim", None, minimum=1)
    if projection in ("pca", "random") and "projection_dim" not in sec:
        r.problem("model.projection_dim", f"missing; projection = '{projection}' needs a size")
    if projection == "none" and "projection_dim" in sec:
        r.problem(
            "model.projection_dim", "only used with projection = 'pca' or 'random'; remove it"
        )
    return ModelConfig(
        arch=arch,
        weights=weights,
        num_classes=num_classes,
        layers=layers,
        trust_checkpoint=trust,
        batch_size=batch_size,
        reduction=reduction,
        projection=projection,
        projection_dim=projection_dim,
        name=r.text(sec, "model", "name", default=""),
        code_dir=r.base.resolve(),
        preprocess=_read_preprocess(r, sec),
    )


def _read_preprocess(r: _Reader, model: dict[str, Any]) -> Preprocess:
    sec = r.section(model, "model.preprocess", key="preprocess")
    if sec is None:
        return Preprocess()
    where = "model.preprocess"

    def size_check(v: Any) -> str | None:
        sides = v if isinstance(v, list) else [v]
        ok = len(sides) in (1, 2) if isinstance(v, list) else True
        if not ok or not all(
            isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= MAX_IMAGE_SIDE
            for x in sides
        ):
            return (
                f"must be a whole number of pixels (the shorter side) or [height, width], "
                f"each 1 to {MAX_IMAGE_SIDE}"
            )
        return None

    def size(key: str) -> int | tuple[int, int] | None:
        v = r.get(sec, where, key, size_check, None)
        if isinstance(v, list):
            return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])
        return v

    def triple(what: str, low: float, high: float, open_low: bool) -> Callable[[Any], str | None]:
        def check(v: Any) -> str | None:
            numbers = isinstance(v, list) and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v
            )
            if not numbers or len(v) != 3:
                return f"must be three numbers (one per channel: red, green, blue), {what}"
            if any(not (low < x if open_low else low <= x) or x > high for x in v):
                return f"must be three numbers {what}"
            return None

        return check

    mean = r.get(
        sec,
        where,
        "mean",
        triple("from 0 to 1, on the [0, 1] pixel scale", 0, 1, False),
        list(IMAGENET_MEAN),
    )
    std = r.get(
        sec,
        where,
        "std",
        triple("above 0 and at most 1, on the [0, 1] pixel scale", 0, 1, True),
        list(IMAGENET_STD),
    )
    return Preprocess(
        resize=size("resize"),
        center_crop=size("center_crop"),
        mean=tuple(float(x) for x in mean),  # type: ignore[arg-type]
        std=tuple(float(x) for x in std),  # type: ignore[arg-type]
        grayscale=bool(r.boolean(sec, where, "grayscale", False)),
    )


def _read_generator_params(r: _Reader, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The generator's settings, each checked against `GENERATOR_PARAMS` like any config field."""
    spec = GENERATOR_PARAMS[name]
    out: dict[str, Any] = {}
    for key in params:
        if key not in spec:
            r.problem(f"stimuli.params.{key}", f"unknown setting{_suggest(key, list(spec))}")
    for key, (default, low, high) in spec.items():
        if isinstance(default, int):
            out[key] = r.integer(params, "stimuli.params", key, default, int(low), int(high))
        else:
            out[key] = r.get(params, "stimuli.params", key, _number_in(low, high), default)
    conditions = ("standard", "cue_conflict", "shape_morph", "texture_morph")
    counts, size = sum(out[k] for k in conditions), out["size"]
    if counts * size * size * 3 > MAX_GENERATED_BYTES:
        r.problem(
            "stimuli.params",
            f"{counts:,} images of {size}x{size} pixels need {counts * size * size * 3 / 2**30:.1f}"
            f" GiB of memory; at most {MAX_GENERATED_BYTES / 2**30:.0f} GiB: fewer or smaller ones",
        )
    return out


def _number_in(low: float, high: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= high
        return None if ok else f"must be a number from {low:g} to {high:g}"

    return check


def _read_classes(r: _Reader, sec: dict[str, Any]) -> tuple[str, ...] | None:
    """``classes``: a list of names, or a text file with one class name per line."""
    if "classes" not in sec:
        return None
    value = sec["classes"]
    if isinstance(value, str):
        path = r.resolve(value, "stimuli.classes", "file")
        if not path.is_file():
            return None
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            r.problem("stimuli.classes", f"cannot read {path}: {err}")
            return None
        names = [line.strip() for line in lines if line.strip()]
        where = f"stimuli.classes ({path})"
        if len(names) < 2:
            r.problem(where, f"needs at least 2 class names, one per line; found {len(names)}")
            return None
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            r.problem(where, f"lists {', '.join(map(repr, dupes))} more than once")
        return tuple(names)
    names = r.text_list(sec, "stimuli", "classes", allow_single=False)
    if names is not None and len(names) < 2:
        r.problem("stimuli.classes", f"needs at least 2 classes, got {list(names)!r}")
    return names


def _read_stimuli(r: _Reader, raw: dict[str, Any], *, needs_images: bool) -> StimuliConfig | None:
    sec = r.section(raw, "stimuli")
    if sec is None:
        return None
    generator = None
    if "generator" in sec:
        name = r.choice(sec, "stimuli", "generator", GENERATORS, None)
        params = sec.get("params", {})
        if not isinstance(params, dict):
            r.problem("stimuli.params", f"must be a table of generator settings, got {params!r}")
            params = {}
        given = [key for key in ("table", "images") if key in sec]
        if given:
            r.problem(
                f"stimuli.{given[0]}",
                "give either stimuli.table (and images) or stimuli.generator, not both",
            )
        if name is not None:
            generator = GeneratorConfig(name=name, params=_read_generator_params(r, name, params))
        table = images = None
    else:
        if "params" in sec:
            r.problem("stimuli.params", "only used with stimuli.generator; remove it")
        table = r.path(sec, "stimuli", "table")
        if table is not None and table.suffix.lower() not in (".csv", ".parquet", ".pq"):
            r.problem("stimuli.table", f"must be a .csv or .parquet file, got {table.name!r}")
        if needs_images and "images" not in sec:
            r.problem(
                "stimuli.images", "missing; a [model] study needs the image folder to run the model"
            )
        images = r.path(sec, "stimuli", "images", default=None, kind="dir")
    return StimuliConfig(
        table=table,
        images=images,
        classes=_read_classes(r, sec),
        categorical=r.text_list(sec, "stimuli", "categorical") or (),
        continuous=r.text_list(sec, "stimuli", "continuous") or (),
        generator=generator,
    )


def _read_factors(r: _Reader, raw: dict[str, Any]) -> dict[str, tuple[str, ...]] | None:
    sec = r.section(raw, "factors")
    if sec is None:
        return None
    if not sec:
        r.problem("factors", 'needs at least one factor group, e.g. shape = ["shape_*"]')
    groups: dict[str, tuple[str, ...]] = {}
    for group in sec:
        if not group.strip():
            r.problem("factors", "a factor group needs a name")
            continue
        globs = r.text_list(sec, "factors", group)
        if globs is not None:
            groups[group] = globs
    return groups


def _read_roles(
    r: _Reader, raw: dict[str, Any], factors: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """``[roles]``: one of ROLES per factor group; groups left out get a role from their name
    (NUISANCE_NAMES) and are returned as assumed."""
    sec = r.section(raw, "roles") or {}
    for group in sec:
        if group not in factors:
            r.problem(f"roles.{group}", "not a factor group" + _suggest(group, tuple(factors)))
    roles: dict[str, str] = {}
    assumed = []
    for group in factors:
        if group in sec:
            roles[group] = r.choice(sec, "roles", group, ROLES, "diagnostic")
        else:
            roles[group] = "nuisance" if group.lower() in NUISANCE_NAMES else "diagnostic"
            assumed.append(group)
    return roles, tuple(assumed)


def _read_labels(
    r: _Reader,
    raw: dict[str, Any],
    factors: Mapping[str, tuple[str, ...]],
    classes: tuple[str, ...] | None,
) -> dict[str, dict[str, dict[str, str]]]:
    """``[labels.<lang>.<kind>]``: display names (id = "name") of groups, factors, classes,
    conditions and models in one report language, and its ``report.title``. Ids of groups
    and of listed classes are checked here; the others exist only once the stimuli are
    read, and an unknown one is simply never shown."""
    sec = r.section(raw, "labels") or {}
    known: dict[str, tuple[str, ...] | None] = {
        "groups": tuple(factors),
        "classes": classes,
        # the report's title, the model card's texts and the decision's owner and due date
        # in that language
        "report": ("title", "intended_use", "out_of_scope", "owner", "due"),
    }
    out: dict[str, dict[str, dict[str, str]]] = {}
    for lang, kinds in sec.items():
        if not isinstance(kinds, dict):
            r.problem(f"labels.{lang}", f"must be a table, got {_type_name(kinds)}")
            continue
        for kind, names in kinds.items():
            where = f"labels.{lang}.{kind}"
            if kind not in LABEL_KINDS:
                r.problem(where, "unknown kind" + _suggest(kind, LABEL_KINDS))
                continue
            if not isinstance(names, dict):
                r.problem(where, f'must be a table of id = "display name", got {_type_name(names)}')
                continue
            ids = known.get(kind)
            for key, name in names.items():
                if not isinstance(name, str) or not name.strip():
                    r.problem(f"{where}.{key}", f"must be non-empty text, got {name!r}")
                elif ids is not None and key not in ids:
                    hint = _suggest(key, ids)
                    r.problem(f"{where}.{key}", f"not one of the study's {kind}{hint}")
                else:
                    out.setdefault(lang, {}).setdefault(kind, {})[key] = name.strip()
    return out


def _read_humans(r: _Reader, raw: dict[str, Any], *, collecting: bool) -> HumansConfig | None:
    sec = r.section(raw, "humans")
    if sec is None:
        return None
    # `reportgen collect` writes the responses file, so a study with [collect] may name one
    # that does not exist yet (`run` then says it is missing).
    responses = r.path(sec, "humans", "responses", kind="any" if collecting else "file")
    if collecting and responses is not None and responses.is_dir():
        r.problem("humans.responses", f"is a folder, expected a file: {responses}")
    simulated = r.boolean(sec, "humans", "simulated", False)
    return None if responses is None else HumansConfig(responses=responses, simulated=simulated)


def _read_collect(
    r: _Reader, raw: dict[str, Any], humans: HumansConfig | None
) -> CollectConfig | None:
    sec = r.section(raw, "collect")
    if sec is None:
        return None
    name = "collect"
    trials = r.path(sec, name, "trials", default=None, kind="any")
    if trials is None:
        trials = humans.responses if humans is not None else r.base / f"{r.file.stem}-trials.csv"
    elif trials.is_dir():
        r.problem("collect.trials", f"is a folder, expected a file: {trials}")
    if trials.suffix.lower() != ".csv":
        r.problem("collect.trials", f"must be a .csv file (an append-only table), got {trials}")
    counts: dict[str, int] = {}
    subset = r.section(sec, "collect.per_condition", key="per_condition")
    for condition in subset or {}:
        counts[condition] = r.integer(subset, "collect.per_condition", condition, 0, minimum=0)
    return CollectConfig(
        trials=trials,
        duration_ms=r.integer(sec, name, "duration_ms", 200, minimum=10, maximum=10_000),
        mask_ms=r.integer(sec, name, "mask_ms", 200, minimum=0, maximum=10_000),
        break_every=r.integer(sec, name, "break_every", 100, minimum=1, maximum=100_000),
        practice=r.integer(sec, name, "practice", 5, minimum=0, maximum=100),
        seed=r.integer(sec, name, "seed", 0, minimum=0, maximum=MAX_SEED),
        per_condition=counts,
    )


def _read_decisions(r: _Reader, raw: dict[str, Any]) -> DecisionsConfig | None:
    sec = r.section(raw, "decisions")
    if sec is None:
        return None
    if "models" not in sec:
        r.problem("decisions.models", "missing; expected a list of trials tables")
        return None
    names = r.text_list(sec, "decisions", "models")
    if names is None:
        return None
    paths = tuple(r.resolve(n, f"decisions.models[{i}]", "file") for i, n in enumerate(names))
    return DecisionsConfig(models=paths)


def _read_analysis(r: _Reader, raw: dict[str, Any]) -> AnalysisConfig | None:
    sec = r.section(raw, "analysis")
    if sec is None:
        return AnalysisConfig()

    def alpha_check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 0.5:
            return "must be a number between 0 and 0.5 (exclusive)"
        return None

    def bootstrap_rule(v: int) -> str | None:
        if v > MAX_BOOTSTRAP:
            return (
                f"must be at most {MAX_BOOTSTRAP:,} (interval ends move by less than their Monte "
                "Carlo error beyond that, and each resample costs a full analysis)"
            )
        return None if v == 0 or v >= 50 else "must be 0 (no intervals) or at least 50"

    def permutations_rule(v: int) -> str | None:
        if v > MAX_PERMUTATIONS:
            return (
                f"must be at most {MAX_PERMUTATIONS:,} (that many already resolve p-values to "
                f"{1 / (MAX_PERMUTATIONS + 1):.0e}, and each permutation costs about one full "
                "test: hours at that count on a large study)"
            )
        return None

    return AnalysisConfig(
        permutations=r.integer(
            sec, "analysis", "permutations", 1000, minimum=100, extra=permutations_rule
        ),
        alpha=float(r.get(sec, "analysis", "alpha", alpha_check, 0.05)),
        device=r.choice(sec, "analysis", "device", DEVICES, "auto", aliases={"gpu": "cuda"}),
        seed=r.integer(sec, "analysis", "seed", 0, minimum=0, maximum=MAX_SEED),
        bootstrap=r.integer(sec, "analysis", "bootstrap", 200, minimum=0, extra=bootstrap_rule),
        layer_pcs=r.integer(sec, "analysis", "layer_pcs", 4, minimum=1, maximum=256),
        conditions=r.text_list(sec, "analysis", "conditions"),
    )


def _read_cues(r: _Reader, raw: dict[str, Any]) -> CuesConfig:
    sec = r.section(raw, "cues")
    if sec is None:
        return CuesConfig()
    defaults = CuesConfig()
    return CuesConfig(
        **{
            key: r.text(sec, "cues", key, default=getattr(defaults, key))
            for key in _SECTION_KEYS["cues"]
        }
    )
