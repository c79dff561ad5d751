"""The model adapter: load a classifier, choose its device, fingerprint it, pick its layers.

Four ways to name a model (the `[model] arch` field of the config):

- a torchvision classification architecture (``"resnet18"``): built with random weights and
  ``num_classes`` outputs, then filled from a state dict loaded with ``weights_only=True``;
- ``"export"``: a ``torch.export`` program written by ``torch.export.save`` (``.pt2``, with a
  dynamic batch dimension), loaded as tensors only and unflattened so its layers can be hooked;
- ``"torchscript"``: a file written by ``torch.jit.save``;
- ``"package.module:callable"`` or ``"path/to/file.py:callable"``: user code that returns an
  ``nn.Module`` (called with ``num_classes=`` when it accepts it), then filled from a state dict.

Checkpoints that need full unpickling (a whole pickled ``nn.Module``, custom classes) run
arbitrary code when loaded, so they are refused unless the config sets
``[model] trust_checkpoint = true``.
Every user mistake becomes a :class:`~reportgen.errors.ReportgenError` naming the file and what
is wrong, never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import io
import logging
import pickle
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torchvision.models
from torch import nn

from reportgen.config import ModelConfig
from reportgen.errors import ReportgenError

__all__ = [
    "EXPORT",
    "TORCHSCRIPT",
    "classification_architectures",
    "load_configured_model",
    "load_model",
    "model_fingerprint",
    "resolve_layers",
]

TORCHSCRIPT = "torchscript"
EXPORT = "export"  # a torch.export program saved with torch.export.save (.pt2)

# Keys under which training scripts commonly nest the state dict inside a checkpoint dict.
_NESTED_STATE_KEYS = ("state_dict", "model", "model_state_dict")
# Prefixes that wrappers add to every key: DataParallel/DDP and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_PASS_THROUGH = (nn.Dropout, nn.Identity)
_SHOW_KEYS = 5  # how many offending keys an error message lists


# --------------------------------------------------------------------------- device


# --------------------------------------------------------------------------- loading


def classification_architectures() -> list[str]:
    """Names of torchvision's image-classification architectures (``resnet18``, ``vgg11``...)."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def load_model(
    arch: str,
    weights: Path | str | None,
    num_classes: int,
    *,
    trust_checkpoint: bool = False,
    code_dir: Path | None = None,
) -> nn.Module:
    """Build or load a classifier and return it on the CPU in eval mode.

    Parameters
    ----------
    arch : str
        A torchvision classification architecture name, ``"torchscript"``, or
        ``"module:callable"`` / ``"path/to/file.py:callable"``.
    weights : Path or None
        The checkpoint: a state dict (possibly nested under ``state_dict``/``model``, possibly
        with a DataParallel ``module.`` prefix) or, for ``"torchscript"``, the archive itself.
        ``None`` keeps the random (or callable-provided) weights.
    num_classes : int
        Number of classes the study expects; checked against the final layer.
    trust_checkpoint : bool
        Allow full unpickling (``weights_only=False``), which can run code stored in the file.
    code_dir : Path or None
        Where a ``module:callable`` is looked up before installed packages (the config's
        folder); a relative ``file.py`` is resolved against it too.

    Returns
    -------
    model : nn.Module
        In eval mode, parameters on the CPU.

    Raises
    ------
    ReportgenError
        Unknown architecture, missing or unreadable file, pickled objects without trust,
        a ``num_classes`` mismatch, or missing/unexpected/misshapen keys.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ReportgenError(f"model.num_classes: must be a whole number ≥ 1, got {num_classes!r}")
    weights_path = Path(weights) if weights is not None else None

    if arch == TORCHSCRIPT:
        model = _load_torchscript(weights_path, num_classes)
        return model.eval()
    if arch == EXPORT:
        return _load_exported(weights_path, num_classes, trust_checkpoint)

    if ":" in arch:
        model = _build_from_callable(arch, num_classes, code_dir)
        source = f"the model built by '{arch}'"
    else:
        model = _build_torchvision(arch, num_classes)
        source = f"torchvision '{arch}'"

    if weights_path is None:
        _check_final_layer(model.state_dict(), num_classes, f"{source} (no weights file)")
    else:
        state = _read_state_dict(weights_path, trust_checkpoint)
        _load_into(model, state, weights_path, num_classes, source)
    return model.eval()


def load_configured_model(mc: ModelConfig, num_classes: int) -> tuple[nn.Module, list[str]]:
    """The model a `[model]` section names, loaded as every run loads it (same trust rules),
    and the layers to analyse (``auto`` resolved, names checked)."""
    model = load_model(
        mc.arch,
        mc.weights,
        num_classes,
        trust_checkpoint=mc.trust_checkpoint,
        code_dir=mc.code_dir,
    )
    return model, resolve_layers(model, "auto" if mc.layers == "auto" else list(mc.layers))


def _build_torchvision(arch: str, num_classes: int) -> nn.Module:
    names = classification_architectures()
    if arch not in names:
        close = difflib.get_close_matches(arch.lower(), [*names, TORCHSCRIPT], n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ReportgenError(
            f"model.arch: unknown architecture '{arch}'{hint} Use a torchvision classification "
            f"model name (e.g. resnet18, vgg11), '{TORCHSCRIPT}', or 'module:callable'"
        )
    builder = torchvision.models.get_model_builder(arch)
    try:
        return builder(weights=None, num_classes=num_classes)
    except (TypeError, ValueError) as err:  # e.g. an architecture with a fixed class count
        raise ReportgenError(
            f"model.arch: torchvision '{arch}' cannot be built with num_classes={num_classes}: "
            f"{err}"
        ) from None


def _build_from_callable(arch: str, num_classes: int, code_dir: Path | None) -> nn.Module:
    target, _, attr = arch.rpartition(":")
    if not target or not attr:
        raise ReportgenError(
            f"model.arch: '{arch}' should read 'package.module:callable' or 'file.py:callable'"
        )
    with _without_stdin():
        module = _import_target(target, arch, code_dir)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(module) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ReportgenError(f"model.arch: '{target}' has no attribute '{attr}'{hint}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ReportgenError(f"model.arch: '{arch}' is not callable")
    kwargs = {"num_classes": num_classes} if _accepts_num_classes(obj) else {}
    try:
        with _without_stdin():
            model = obj(**kwargs)
    except SystemExit as err:
        raise _exited(arch, err) from None
    except Exception as err:  # user code: report what it raised, without our traceback
        raise ReportgenError(
            f"model.arch: calling '{arch}' failed: {type(err).__name__}: {err}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ReportgenError(
            f"model.arch: '{arch}' returned a {type(model).__name__}, not a torch nn.Module"
        )
    return model


@contextmanager
def _without_stdin() -> Iterator[None]:
    """Run the config's code with an empty standard input: a run is not interactive, so code
    that prompts (input(), code.interact) reads end-of-file instead of the user's terminal."""
    saved, sys.stdin = sys.stdin, io.StringIO()
    try:
        yield
    finally:
        sys.stdin = saved


def _exited(arch: str, err: SystemExit) -> ReportgenError:
    return ReportgenError(
        f"model.arch: '{arch}' ended the process (SystemExit {err.code!r}) instead of "
        "returning a torch nn.Module; name a function that builds the model"
    )


def _import_target(target: str, arch: str, code_dir: Path | None) -> Any:
    as_file = target.endswith(".py") or "/" in target or "\\" in target
    if as_file:
        path = (Path(code_dir or ".") / Path(target).expanduser()).resolve()
        if not path.is_file():
            raise ReportgenError(f"model.arch: file '{target}' (from '{arch}') does not exist")
        # A name unique to this file, registered before execution so that classes defined in it
        # can be pickled and dataclasses resolve their module.
        name = "reportgen_user_model_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        search = path.parent  # so the file can import its sibling modules
    else:
        name, search = target, Path(code_dir) if code_dir is not None else None
    if search is not None:
        sys.path.insert(0, str(search))
    try:
        if not as_file:
            return importlib.import_module(name)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ReportgenError(f"model.arch: cannot import '{target}' as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    except ReportgenError:
        raise
    except SystemExit as err:
        raise _exited(arch, err) from None
    except Exception as err:  # ImportError, SyntaxError, or anything the module raised
        raise ReportgenError(
            f"model.arch: importing '{target}' (from '{arch}') failed: {type(err).__name__}: {err}"
        ) from None
    finally:
        if search is not None:
            sys.path.remove(str(search))


def _accepts_num_classes(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(p.name == "num_classes" or p.kind is p.VAR_KEYWORD for p in params)


def _load_torchscript(path: Path | None, num_classes: int) -> nn.Module:
    if path is None:
        raise ReportgenError(
            "model.weights: arch 'torchscript' needs the file written by torch.jit.save"
        )
    _check_readable(path)
    try:
        # TorchScript archives hold TorchScript code and tensors, not arbitrary pickled Python,
        # so they load without the trust switch.
        with warnings.catch_warnings():  # TorchScript's deprecation notice is not for users
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise ReportgenError(
            f"{path}: not a TorchScript archive ({type(err).__name__}: {_first_line(err)}); "
            "save it with torch.jit.save, or give the architecture name and a state dict"
        ) from None
    _check_final_layer(model.state_dict(), num_classes, f"{path} (TorchScript)")
    return model


@contextmanager
def _tensors_only() -> Iterator[None]:
    """While a .pt2 archive loads: every torch.load reads tensors only and nothing else is
    unpickled. torch.export.load unpickles weights and constants marked `use_pickle`,
    'opaque' constants (pickle.loads), custom objects, and falls back to a full torch.load
    when a tensors-only one fails: each of those can run code stored in the file."""
    real_load = torch.load
    # torch.export logs each refused load with a traceback; the user gets our one line
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.CRITICAL)

    def tensors_only(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return real_load(*args, **kwargs)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("the archive holds a pickled Python object")

    saved = (torch.load, pickle.loads, pickle.load, torch._C._pickle_load_obj)
    torch.load, pickle.loads, pickle.load = tensors_only, refuse, refuse  # type: ignore[assignment]
    torch._C._pickle_load_obj = refuse
    try:
        yield
    finally:
        torch.load, pickle.loads, pickle.load, torch._C._pickle_load_obj = saved  # type: ignore[assignment]
        log.setLevel(level)


def _load_exported(path: Path | None, num_classes: int, trust: bool) -> nn.Module:
    if path is None:
        raise ReportgenError(
            "model.weights: arch 'export' needs the .pt2 file written by torch.export.save"
        )
    _check_readable(path)
    try:
        with warnings.catch_warnings(), nullcontext() if trust else _tensors_only():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
            # unflatten restores the module tree (layer1, layer2, ...), so forward hooks and
            # the automatic layer choice work as on the eager model
            model = torch.export.unflatten(program)
    except pickle.UnpicklingError:
        raise ReportgenError(
            f"{path}: the exported program contains pickled Python objects. Loading them can "
            "run arbitrary code stored in the file, so reportgen loads tensors only; export the "
            "model without custom objects, or set trust_checkpoint = true in [model] if you "
            "trust where the file came from"
        ) from None
    except Exception as err:  # not a zip, not a PT2 archive, a newer format version
        raise ReportgenError(
            f"{path}: not a torch.export archive ({type(err).__name__}: {_first_line(err)}); "
            "save the model with torch.export.save(torch.export.export(model, (example,), "
            "dynamic_shapes=...), path)"
        ) from None
    _check_final_layer(model.state_dict(), num_classes, f"{path} (exported program)")
    return model.eval() if hasattr(model, "eval") else model


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ReportgenError(f"{path}: model weights file does not exist")
    if not path.is_file():
        raise ReportgenError(f"{path}: model weights path is not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        raise ReportgenError(f"{path}: cannot read model weights ({err.strerror})") from None


def _read_state_dict(path: Path, trust: bool) -> dict[str, torch.Tensor]:
    _check_readable(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        if trust:
            raise ReportgenError(
                f"{path}: cannot unpickle checkpoint: {_first_line(err)}"
            ) from None
        found = re.search(r"GLOBAL (\S+)", str(err))
        what = f" (it references {found.group(1)})" if found else ""
        raise ReportgenError(
            f"{path}: the checkpoint contains pickled Python objects{what}. Loading them needs "
            "full unpickling, which can run arbitrary code stored in the file, so reportgen "
            "loads weights only. Re-save just the state dict (torch.save(model.state_dict(), "
            "path)), or set trust_checkpoint = true in [model] if you trust where the file "
            "came from"
        ) from None
    except Exception as err:  # corrupt zip, truncated file, not a torch file at all
        raise ReportgenError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {_first_line(err)})"
        ) from None
    return _unwrap_state_dict(obj, path)


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):  # only reachable with trust: a whole pickled model
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in _NESTED_STATE_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ReportgenError(
            f"{path}: expected a state dict (a mapping of parameter names to tensors), found "
            f"{'an empty mapping' if isinstance(obj, Mapping) else type(obj).__name__}"
        )
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ReportgenError(
            f"{path}: expected a state dict of tensors, but {len(bad)} entries are not tensors "
            f"({_few(bad)}); nest the weights under a 'state_dict' key"
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _final_layer_key(state: Mapping[str, torch.Tensor]) -> str | None:
    """The classifier's weight: the last matrix (or 1x1-conv) weight in state-dict order."""
    last = None
    for key, value in state.items():
        if key.endswith("weight") and value.ndim in (2, 4):
            last = key
    return last


def _check_final_layer(state: Mapping[str, torch.Tensor], num_classes: int, source: str) -> None:
    key = _final_layer_key(state)
    if key is not None and state[key].shape[0] != num_classes:
        raise ReportgenError(
            f"model.num_classes: {source} has {state[key].shape[0]} outputs in its final layer "
            f"'{key}' but the config says num_classes = {num_classes}; set [model] "
            f"num_classes = {state[key].shape[0]} (and list that many stimuli.classes)"
        )


def _load_into(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    num_classes: int,
    source: str,
) -> None:
    expected = model.state_dict()
    problems: list[str] = []

    final = _final_layer_key(expected)
    head: set[str] = set()  # the final layer's entries, when they disagree on the class count
    if final is not None and final in state and state[final].shape[0] != expected[final].shape[0]:
        problems.append(
            f"{path}: the checkpoint's final layer '{final}' has {state[final].shape[0]} outputs "
            f"but the config says num_classes = {num_classes}; fix that first: set [model] "
            f"num_classes = {state[final].shape[0]} (the other mismatches below may follow "
            "from it)"
        )
        module = final.rpartition(".")[0]
        head = {k for k in expected if k.rpartition(".")[0] == module}
    # BatchNorm fills a missing step counter itself; old checkpoints often lack it.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and k not in head and state[k].shape != expected[k].shape
    ]
    if missing:
        problems.append(
            f"{path}: {len(missing)} weights that {source} needs are missing from the checkpoint: "
            f"{_few(missing)}"
        )
    if unexpected:
        problems.append(
            f"{path}: {len(unexpected)} checkpoint entries do not belong to {source}: "
            f"{_few(unexpected)}"
        )
    if misshapen:
        problems.append(
            f"{path}: {len(misshapen)} weights have another shape in the checkpoint than in "
            f"{source} (checkpoint vs model): {_few(misshapen)}"
        )
    if missing or unexpected:
        problems.append(
            f"{path}: the checkpoint was probably saved from another architecture than {source}"
        )
    if problems:
        raise ReportgenError(problems)
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise ReportgenError(f"{path}: cannot load weights: {_first_line(err)}") from None


def _few(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW_KEYS])
    return shown + (f", … ({len(items) - _SHOW_KEYS} more)" if len(items) > _SHOW_KEYS else "")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --------------------------------------------------------------------------- fingerprint


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's weights, for the history store.

    Hashes, for every state-dict entry in key order, its name, dtype, shape and raw bytes, so
    the same weights give the same digest on any device and any change of a weight changes it.

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    digest : str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        tensor = value.detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- layers


def resolve_layers(model: nn.Module, spec: str | list[str]) -> list[str]:
    """Turn the config's layer choice into checked module names of ``model``.

    Parameters
    ----------
    model : nn.Module
    spec : str or list of str
        ``"auto"`` picks the main stages: for ResNets ``layer1``..``layer4`` plus the pooled
        penultimate features ``avgpool``; for VGG/AlexNet the pooling layers in ``features`` plus
        the classifier layer feeding the last Linear; otherwise the top-level modules (one level
        into a ``Sequential``) that change the spatial resolution in a dry run on a small input,
        plus the module feeding the last Linear. Any other string is one module name; an empty
        list asks for no layers (decisions only).

    Returns
    -------
    names : list of str
        Module names, as in ``dict(model.named_modules())``, without duplicates.

    Raises
    ------
    ReportgenError
        One line per name that is not a module, with close-name suggestions; any layer of a
        TorchScript model (hooks cannot be attached to it).
    """
    if isinstance(spec, str):
        spec = ["auto"] if spec.strip().lower() == "auto" else [spec]
    names = list(dict.fromkeys(spec))  # drop repeats, keep order
    if not names:
        return []  # decisions only
    if isinstance(model, torch.jit.ScriptModule):
        raise ReportgenError(
            "model.layers: a TorchScript model cannot expose its layers (PyTorch allows no "
            "forward hooks on a loaded ScriptModule); set layers = [] in [model] to analyse its "
            "decisions only, or save the model with torch.export.save and use arch = 'export' "
            "(or an architecture name or 'module:callable' with a state dict) to analyse them"
        )
    if names == ["auto"]:
        return _auto_layers(model)
    modules = [n for n, _ in model.named_modules() if n]
    known = set(modules)
    problems = []
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, modules, n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {', '.join(close)}?"
        else:
            top = [n for n, _ in model.named_children()]
            hint = f"top-level modules are {_few(top)}"
        problems.append(f"model.layers: '{name}' is not a module of the model; {hint}")
    if problems:
        raise ReportgenError(problems)
    return names


def _auto_layers(model: nn.Module) -> list[str]:
    children = dict(model.named_children())
    stages = sorted((n for n in children if re.fullmatch(r"layer\d+", n)), key=lambda n: int(n[5:]))
    if stages and "avgpool" in children and _is_linear(children.get("fc")):
        return [*stages, "avgpool"]  # ResNet family (incl. ResNeXt, wide ResNet)

    features, classifier = children.get("features"), children.get("classifier")
    if isinstance(features, nn.Sequential) and isinstance(classifier, nn.Sequential):
        pools = [f"features.{n}" for n, m in features.named_children() if isinstance(m, _POOLING)]
        linears = [i for i, m in enumerate(classifier) if isinstance(m, nn.Linear)]
        if len(pools) >= 2 and linears:  # VGG and AlexNet
            feeding = [
                f"classifier.{i}"
                for i in range(linears[-1] - 1, -1, -1)
                if not isinstance(classifier[i], _PASS_THROUGH)
            ]
            if feeding:
                return [*pools, feeding[0]]
            return [*pools, "avgpool"] if "avgpool" in children else pools

    chosen = _dry_run_layers(model)
    if not chosen:
        raise ReportgenError(
            "model.layers: could not choose layers automatically for this model; list module "
            f"names instead (top-level modules: {_few(list(children))})"
        )
    return chosen


def _is_linear(module: nn.Module | None) -> bool:
    """An nn.Linear, or what one becomes in an unflattened exported program (a leaf module
    whose only weight is a matrix)."""
    if isinstance(module, nn.Linear):
        return True
    if module is None or any(True for _ in module.children()):
        return False
    weight = dict(module.named_parameters(recurse=False)).get("weight")
    return weight is not None and weight.ndim == 2


def _dry_run_layers(model: nn.Module) -> list[str]:
    """Generic choice: modules that change the spatial size, plus the input of the last Linear."""
    candidates: list[str] = []
    for name, child in model.named_children():
        candidates.append(name)
        if isinstance(child, nn.Sequential) and len(child) > 1:
            candidates.extend(f"{name}.{sub}" for sub, _ in child.named_children())
    named = dict(model.named_modules())
    linears = [n for n, m in named.items() if isinstance(m, nn.Linear)]

    sizes: dict[str, tuple[Any, Any]] = {}  # name -> (input spatial, output spatial)
    finished: list[tuple[str, int]] = []  # (name, per-sample numel) in the order they finish
    linear_input: dict[str, int] = {}
    finished_before: dict[str, int] = {}

    def spatial(t: Any) -> Any:
        return tuple(t.shape[2:]) if isinstance(t, torch.Tensor) and t.ndim == 4 else None

    def post(name: str) -> Any:
        def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if name in candidates and name not in sizes and args:
                sizes[name] = (spatial(args[0]), spatial(out))
            if isinstance(out, torch.Tensor) and out.ndim >= 1:
                finished.append((name, out[0].numel() if out.shape[0] else 0))

        return hook

    def pre(name: str) -> Any:
        def hook(_m: nn.Module, args: tuple[Any, ...]) -> None:
            if args and isinstance(args[0], torch.Tensor):
                linear_input[name] = args[0][0].numel()
                finished_before[name] = len(finished)

        return hook

    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = first_conv.in_channels if first_conv is not None else 3
    handles = [m.register_forward_hook(post(n)) for n, m in named.items() if n]
    if linears:
        handles.append(named[linears[-1]].register_forward_pre_hook(pre(linears[-1])))
    was_training = model.training
    model.eval()
    errors = []
    try:
        for size in (64, 224):  # 224 for models that only take their native resolution
            for record in (sizes, linear_input, finished_before):
                record.clear()
            finished.clear()
            try:
                with torch.inference_mode():
                    model(torch.zeros(1, channels, size, size, device=device))
                break
            except Exception as err:
                errors.append(f"{size} px: {type(err).__name__}: {_first_line(err)}")
        else:
            raise ReportgenError(
                "model.layers: could not choose layers automatically because a dry run of the "
                f"model failed ({'; '.join(errors)}); list module names instead"
            )
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    chosen = [
        n
        for n in candidates
        if n in sizes and sizes[n][1] is not None and sizes[n][0] != sizes[n][1]
    ]
    # Drop a Sequential when its own children were expanded and some of them were chosen.
    chosen = [n for n in chosen if not any(c.startswith(n + ".") for c in chosen)]
    if linears and linears[-1] in linear_input:
        width = linear_input[linears[-1]]
        for name, numel in reversed(finished[: finished_before[linears[-1]]]):
            if numel == width and not isinstance(named[name], _PASS_THROUGH):
                if name not in chosen:
                    chosen.append(name)
                break
    return chosen
