"""Write a study folder of controlled variations: ``images/``, ``stimuli.csv``, a starter
``study.toml`` and ``contact_sheet.png``, staged beside the folder and moved in only when
complete (so a failure writes nothing)."""

from __future__ import annotations

import json
import math
import os
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from analyses.drivers import min_class_trials
from reportgen.errors import ReportgenError
from reportgen.outputs.staging import check_out_dir, staged_output
from reportgen.variants.design import CONDITIONS, FACTORS, NUISANCE, plan_variants
from reportgen.variants.render import core_masks, patch_candidates, patch_fits, render_plan
from reportgen.variants.source import SourceImages, read_sources

__all__ = ["FromImagesResult", "contact_sheet", "stimulus_table", "write_from_images"]

ProgressFn = Callable[[str, int], Callable[[int], None]]
#: Examples per condition on the contact sheet.
SHEET_COLUMNS = 8


@dataclass(frozen=True)
class FromImagesResult:
    """What `write_from_images` wrote."""

    out: Path
    n_sources: int
    classes: tuple[str, ...]
    counts: dict[str, int]
    mask_kind: str
    warnings: tuple[str, ...]
    model_from: Path | None


def stimulus_table(sources: SourceImages, plan: pd.DataFrame) -> pd.DataFrame:
    """The stimulus table of a plan: ``id, image, label, condition, source_image,
    texture_image, shape_class, texture_class, morph_from, morph_to, morph_level`` and every
    factor. ``label`` is the outline's class (for a shape morph, the nearer end; ties go to
    the start), as a person reading the outline would name it."""
    names = np.array(sources.classes, dtype=object)
    src_names = np.array(sources.names, dtype=object)
    cond = plan["condition"].to_numpy()
    a = plan["src"].to_numpy()
    level = plan["morph_level"].to_numpy()
    cls_a = sources.labels.numpy()[a]
    partner = plan["partner"].to_numpy()
    donor = plan["donor"].to_numpy()
    cls_p = np.where(partner >= 0, sources.labels.numpy()[np.maximum(partner, 0)], -1)
    far = level > 0.5  # the partner's end is the nearer one
    shape_cls = np.where((cond == "shape-morph") & far, cls_p, cls_a)
    texture_src = np.where(
        cond == "cue-conflict", donor, np.where(cond == "texture-morph", partner, a)
    )
    texture_cls = np.where(
        cond == "cue-conflict",
        sources.labels.numpy()[np.maximum(donor, 0)],
        np.where((cond == "texture-morph") & far, cls_p, cls_a),
    )
    ids = [f"{c}-{k:05d}" for c, k in zip(cond, plan.groupby("condition").cumcount(), strict=True)]
    morph = np.isin(cond, ["shape-morph", "texture-morph"])
    table = pd.DataFrame(
        {
            "id": ids,
            "image": [f"{i}.png" for i in ids],
            "label": names[shape_cls],
            "condition": cond,
            "source_image": src_names[a],
            "texture_image": src_names[texture_src],
            "shape_class": names[shape_cls],
            "texture_class": names[texture_cls],
            "morph_from": np.where(morph, names[cls_a], ""),
            "morph_to": np.where(morph, names[np.maximum(cls_p, 0)], ""),
            "morph_level": level,
        }
    )
    for f in FACTORS:
        table[f] = plan[f].round(6).to_numpy()
    return table


def contact_sheet(examples: dict[str, list[tuple[Tensor, str]]], tile: int) -> Tensor:
    """One row of example pictures per condition (`examples`: row title -> pictures with
    captions, shown in the order of `CONDITIONS`), captioned; uint8 ``[3, H, W]``."""
    from PIL import Image, ImageDraw

    label_w, pad, cap = 150, 3, 12
    rows = sorted(examples, key=lambda t: CONDITIONS.index(t.split("\n")[0]))
    cell = tile + pad
    height = len(rows) * (cell + cap) + pad
    canvas = Image.new("RGB", (label_w + SHEET_COLUMNS * cell + pad, height), (240, 240, 240))
    draw = ImageDraw.Draw(canvas)
    for r, title in enumerate(rows):
        y = pad + r * (cell + cap)
        draw.multiline_text((6, y + tile // 2 - 10), title, fill=(20, 20, 20), spacing=3)
        for c, (picture, caption) in enumerate(examples[title][:SHEET_COLUMNS]):
            img = Image.fromarray(picture.permute(1, 2, 0).numpy())
            if img.size[0] != tile:
                img = img.resize((tile, tile), Image.Resampling.LANCZOS)
            canvas.paste(img, (label_w + c * cell, y))
            draw.text((label_w + c * cell, y + tile + 1), caption[: tile // 6], fill=(70, 70, 70))
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1)


def _title_and_caption(row: pd.Series) -> tuple[str, str]:
    """The contact sheet's row title and the caption under one picture."""
    cond = row["condition"]
    if cond == "cue-conflict":
        return f"{cond}\n(shape/surface)", f"{row['shape_class']}/{row['texture_class']}"
    if cond.endswith("morph"):
        return f"{cond}\n{row['morph_from']} > {row['morph_to']}", f"{row['morph_level']:.2f}"
    return cond, str(row["label"])


def _wanted_examples(table: pd.DataFrame) -> dict[int, int]:
    """Rows shown on the contact sheet, with their place in their row: for morphs one whole
    continuum, for standard one picture per class first, elsewhere different source
    pictures where possible."""
    picked: dict[int, int] = {}
    for cond, rows in table.groupby("condition", sort=False):
        if str(cond).endswith("morph"):
            chosen = list(rows.index[rows["source_image"] == rows["source_image"].iloc[0]])
        else:
            key = "label" if cond == "standard" else "source_image"
            chosen = list(dict.fromkeys([*rows.drop_duplicates(key).index, *rows.index]))
        picked |= {int(i): place for place, i in enumerate(chosen[:SHEET_COLUMNS])}
    return picked


# -- the starter config ------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise ReportgenError(f"cannot copy the value {value!r} into the new study.toml")


def _toml_table(name: str, table: dict[str, Any]) -> str:
    """A TOML table with its sub-tables and arrays of tables, as text."""
    lines = [f"[{name}]"]
    later: list[str] = []
    for key, value in table.items():
        k = key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
        if isinstance(value, dict):
            later.append(_toml_table(f"{name}.{k}", value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                later.append(
                    _toml_table(f"{name}.{k}", item).replace(f"[{name}.{k}]", f"[[{name}.{k}]]", 1)
                )
        else:
            lines.append(f"{k} = {_toml_value(value)}")
    return "\n".join(lines) + "\n" + "".join("\n" + t for t in later)


def _moved(path: str, old_dir: Path, new_dir: Path) -> str:
    """A path relative to `old_dir`, rewritten relative to `new_dir` (absolute stays)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    return os.path.relpath((old_dir / p).resolve(), new_dir.resolve())


def _read_config_from(
    path: Path, out_dir: Path, classes: tuple[str, ...]
) -> tuple[dict, dict, tuple[str, ...] | None]:
    """The ``[report]`` and ``[model]`` tables of another study config, with paths rewritten
    for `out_dir`, and its class order if it gives one (checked against the pictures')."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ReportgenError(f"{path}: cannot read the config ({err})") from None
    model = raw.get("model")
    if not isinstance(model, dict):
        raise ReportgenError(f"{path}: has no [model] table to copy; --config-from needs one")
    model = dict(model)
    base = path.parent
    if isinstance(model.get("weights"), str):
        model["weights"] = _moved(model["weights"], base, out_dir)
    arch = model.get("arch")
    if isinstance(arch, str) and ".py:" in arch:
        file, _, attr = arch.rpartition(":")
        model["arch"] = f"{_moved(file, base, out_dir)}:{attr}"
    report = raw.get("report") if isinstance(raw.get("report"), dict) else {}
    report = {k: v for k, v in report.items() if k != "history_db"}
    given = (
        (raw.get("stimuli") or {}).get("classes") if isinstance(raw.get("stimuli"), dict) else None
    )
    order: tuple[str, ...] | None = None
    if isinstance(given, str):
        try:
            lines = (base / given).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ReportgenError(f"{path}: stimuli.classes: cannot read {given} ({err})") from None
        order = tuple(line.strip() for line in lines if line.strip())
    elif isinstance(given, list):
        order = tuple(str(c) for c in given)
    if order is not None:
        missing = [c for c in classes if c not in order]
        if missing:
            raise ReportgenError(
                f"{path}: stimuli.classes does not list the picture class(es) "
                f"{', '.join(missing)}; the model's output order must name every class"
            )
    return report, model, order


def _starter_study(
    *,
    src: Path,
    sources: SourceImages,
    n_stimuli: int,
    size: int,
    seed: int,
    report: dict,
    model: dict | None,
    classes: tuple[str, ...],
    classes_from: Path | None,
) -> str:
    template = (Path(__file__).parent / "study.toml.in").read_text(encoding="utf-8")
    # The default title in Japanese too; a title copied with --config-from is the user's own.
    ja_title = (
        ""
        if "title" in report
        else "\n[labels.ja.report]\ntitle = "
        + _toml_value(f"{src.name}：モデルの判断を左右するもの")
        + "\n"
    )
    report = {
        "title": f"{src.name}: what drives the model's judgments",
        "period": date.today().strftime("%Y-%m"),
        "language": "en",
        **report,
    }
    report_text = _toml_table("report", report).split("\n", 1)[1]
    if model is None:
        model_text = (
            "\n[model]                         # yours: fill in, or write this file again with\n"
            "#                               # --config-from YOUR_STUDY.toml to copy your [model]\n"
            'arch = "resnet18"               # a torchvision name, "export" (.pt2),\n'
            '#                               # "torchscript" or "package.module:function"\n'
            'weights = "model.pt"            # yours: torch.save(model.state_dict(), "model.pt")\n'
            f"num_classes = {len(classes)}\n"
            'layers = "auto"\n\n'
        )
    else:
        model_text = "\n" + _toml_table("model", model) + "\n"
    note = (
        f"From {classes_from.name}."
        if classes_from is not None
        else "The folder names in sorted order, as torchvision's ImageFolder\n"
        "# numbers them; change the order if your model's differs."
    )
    return string.Template(template).substitute(
        source=str(src),
        n_sources=len(sources),
        n_classes=len(sources.classes),
        n_stimuli=n_stimuli,
        size=size,
        seed=seed,
        mask_kind=sources.mask_kind,
        report=report_text.rstrip("\n") + "\n",
        model=model_text,
        classes_note=note,
        classes=_toml_value(list(classes)),
        ja_report=ja_title,
        nuisance=", ".join(json.dumps(f) for f in NUISANCE),
    )


def write_from_images(
    src: Path,
    out: Path,
    *,
    size: int = 224,
    per_image: int = 4,
    morph_levels: int = 5,
    seed: int = 0,
    whole_image: bool = False,
    config_from: Path | None = None,
    device: torch.device | None = None,
    progress: ProgressFn | None = None,
) -> FromImagesResult:
    """Read the pictures of `src`, make their controlled variations and write the study
    folder `out` (replaced whole only if an earlier reportgen command wrote it)."""
    device = device or torch.device("cpu")
    inputs = [src] + ([config_from] if config_from is not None else [])
    out_abs = check_out_dir(out, inputs=inputs)
    tick = progress or (lambda description, total: lambda n: None)

    sources = read_sources(src, size, whole_image=whole_image, progress=tick)
    report, model, order = {}, None, None
    if config_from is not None:
        report, model, order = _read_config_from(config_from, out_abs, sources.classes)
    classes = order or sources.classes

    sizes = patch_candidates(size)
    fits = patch_fits(core_masks(sources.sdf), sizes)
    too_small = [sources.names[i] for i in np.flatnonzero(~fits.any(axis=1))]
    if too_small:
        raise ReportgenError(
            [
                f"{src}: {n}: the object holds no {sizes[0]}x{sizes[0]} px patch of its surface; "
                "give a larger --size or a larger mask"
                for n in too_small[:10]
            ]
        )
    plan = plan_variants(
        sources.labels.numpy(),
        len(sources.classes),
        size=size,
        per_image=per_image,
        morph_levels=morph_levels,
        seed=seed,
        patch_sizes=sizes,
        patch_fits=fits,
    )
    if whole_image:
        # the outline is the frame: nothing to warp or morph; and the other picture's surface
        # comes as its amplitude spectrum under A's phase rather than in patches
        plan = plan[~plan["condition"].isin(["shape-warped", "shape-morph"])]
        plan = plan.reset_index(drop=True)
        given = plan["condition"].isin(["cue-conflict", "texture-morph"])
        plan.loc[given, "texture_patch"] = 0.0
    table = stimulus_table(sources, plan)
    shown = _wanted_examples(table)
    examples: dict[str, list[tuple[int, Tensor, str]]] = {}
    with staged_output(out_abs) as staged:
        images_dir = staged.stage / "images"
        images_dir.mkdir()
        step = tick("making variants", len(plan))
        from PIL import Image

        for rows, pictures in render_plan(sources, plan, device, on_progress=step):
            for k, i in enumerate(rows.index):
                row = table.loc[i]
                pixels = pictures[k]
                Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(
                    images_dir / row["image"], compress_level=1
                )
                if i in shown:
                    title, caption = _title_and_caption(row)
                    examples.setdefault(title, []).append((shown[i], pixels, caption))
        table.to_csv(staged.stage / "stimuli.csv", index=False)
        ordered = {
            t: [(p, c) for _, p, c in sorted(v, key=lambda e: e[0])] for t, v in examples.items()
        }
        sheet = contact_sheet(ordered, tile=min(size, 112))
        Image.fromarray(sheet.permute(1, 2, 0).numpy()).save(staged.stage / "contact_sheet.png")
        text = _starter_study(
            src=src,
            sources=sources,
            n_stimuli=len(table),
            size=size,
            seed=seed,
            report=report,
            model=model,
            classes=classes,
            classes_from=config_from if order is not None else None,
        )
        (staged.stage / "study.toml").write_text(text, encoding="utf-8")
    counts = {
        c: int((table["condition"] == c).sum())
        for c in CONDITIONS
        if (table["condition"] == c).any()
    }
    return FromImagesResult(
        out=out_abs,
        n_sources=len(sources),
        classes=classes,
        counts=counts,
        mask_kind=sources.mask_kind,
        warnings=sources.warnings + _too_few_conflicts(counts, len(classes), per_image),
        model_from=config_from,
    )


def _too_few_conflicts(counts: dict[str, int], n_classes: int, per_image: int) -> tuple[str, ...]:
    """A warning when the cue-conflict images, which the starter config's information
    analyses use, are too few for a model whose answers spread evenly over the classes."""
    need = min_class_trials(len(NUISANCE))  # the nuisance group is the widest factor group
    have, enough = counts.get("cue-conflict", 0), need * n_classes
    if have == 0 or have >= enough:
        return ()
    more = math.ceil(per_image * enough / have)
    return (
        f"the information analyses use the {have} cue-conflict images (analysis.conditions "
        f"in study.toml) and need about {need} of the model's decisions in each of at least "
        f"two classes: {enough} for {n_classes} classes if its answers spread evenly. "
        f"--per-image {more} (or more pictures) makes enough",
    )
