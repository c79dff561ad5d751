"""Convert the published shape–texture cue-conflict tables into reportgen's input formats.

Source data: Geirhos, Rubisch, Michaelis, Bethge, Wichmann & Brendel, "ImageNet-trained CNNs are
biased towards texture; increasing shape bias improves accuracy and robustness", ICLR 2019
(arXiv 1811.12231), raw response tables from the repository rgeirhos/texture-vs-shape, licensed
CC BY 4.0. The expected folder layout is::

    raw_dir/humans_and_caffe_cnns/*.csv   people (subject-01 ...) and the Caffe CNNs
    raw_dir/torchvision_cnns/*.csv        the torchvision CNNs

Each table has one row per trial with (at least) the columns ``subj``, ``trial``,
``object_response``, ``category`` and ``imagename``; ``rt`` is read where present. Image names
look like ``0001_s5n_s01_0_bird_00_bird3-bird2.png``: the last ``_`` field is the image id
``bird3-bird2`` (shape image ``bird3``, texture image ``bird2``; dropping digits gives the shape
and texture categories). That parsing happens here, once, so analyses only ever see columns.

Outputs (see :func:`convert`):

- ``stimuli.csv``: ``id, image, label, condition, shape, texture, shape_image, texture_image``
  with ``label`` = shape category and ``condition`` = ``cue-conflict`` or ``no-conflict``
  (shape and texture category identical);
- ``humans.csv`` and ``models.csv``: tidy trials ``observer, observer_kind, stimulus_id,
  response, rt, trial`` (``models.csv`` without ``rt``). Two files, because a study config
  names people (``[humans]``) and logged model decisions (``[decisions]``) separately. A
  person's ``na`` answer (no answer in time) is written as an empty ``response`` cell, i.e. a
  missing value, never as a class.
  ``rt`` is in seconds (people only); ``trial`` is the presentation order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reportgen.errors import ReportgenError

__all__ = [
    "CATEGORIES",
    "CueConflictTables",
    "EXPECTED_N_IMAGES",
    "convert",
    "parse_image_id",
    "read_raw_tables",
    "write_tables",
]

#: The 16 entry-level classes of the published experiment (its own label space; this
#: converter handles that data set only, so the list belongs here and nowhere else).
CATEGORIES: tuple[str, ...] = (
    "airplane",
    "bear",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "car",
    "cat",
    "chair",
    "clock",
    "dog",
    "elephant",
    "keyboard",
    "knife",
    "oven",
    "truck",
)

#: Number of stimulus images every published table covers.
EXPECTED_N_IMAGES = 1280

#: The folders of the published layout and, per folder, how each table's ``subj`` value maps to
#: an unambiguous observer id. The tables say ``alexnet`` for two different networks (Caffe and
#: torchvision), so the framework is part of every model id. People keep their ``subject-NN``.
_MODEL_IDS: dict[str, dict[str, str]] = {
    "humans_and_caffe_cnns": {
        "alexnet": "alexnet-caffe",
        "googlenet": "googlenet-caffe",
        "vgg": "vgg-caffe",
    },
    "torchvision_cnns": {
        "alexnet": "alexnet-torchvision",
        "vgg16": "vgg16-torchvision",
        "resnet50": "resnet50-torchvision",
        # ResNet-50 trained for 60 epochs on Stylized-ImageNet (the paper's shape-biased model).
        "resnet50-train-60-epochs": "resnet50-sin-torchvision",
    },
}

_REQUIRED_COLUMNS = ("subj", "trial", "object_response", "category", "imagename")
_HUMAN_SUBJ = re.compile(r"^subject-\d{2}$")
# Last "_" field of an image name: <shape><digits>-<texture><digits>.png
_IMAGE_NAME = re.compile(r"_(?P<id>(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+)\.png$")
_IMAGE_ID = re.compile(r"^(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+$")
_MISSING_RESPONSE = "na"
_MAX_LINES_PER_FILE = 10  # problems listed per file before summarising the rest


@dataclass(frozen=True, slots=True)
class CueConflictTables:
    """The converted data: one stimulus table and the tidy trials of people and of models.

    Attributes
    ----------
    stimuli : DataFrame
        One row per image: ``id, image, label, condition, shape, texture, shape_image,
        texture_image`` (shape/texture as categoricals over :data:`CATEGORIES`).
    humans, models : DataFrame
        One row per trial: ``observer, observer_kind, stimulus_id, response, rt, trial``
        (models: no ``rt``); ``response`` is missing (NA) where a person gave no answer; ``rt``
        in seconds; ``trial`` is the presentation order (1-based).
    """

    stimuli: pd.DataFrame
    humans: pd.DataFrame
    models: pd.DataFrame

    @property
    def trials(self) -> pd.DataFrame:
        """People's and models' trials in one table (people first)."""
        return pd.concat([self.humans, self.models], ignore_index=True)


def parse_image_id(image_id: str) -> tuple[str, str, str, str]:
    """Split an image id such as ``bird3-bird2`` into its parts.

    Returns
    -------
    (shape, texture, shape_image, texture_image) : tuple of str
        e.g. ``("bird", "bird", "bird3", "bird2")``.

    Raises
    ------
    ValueError
        If the id is not ``<shape><digits>-<texture><digits>``.
    """
    match = _IMAGE_ID.match(image_id)
    if match is None:
        raise ValueError(f"image id {image_id!r} is not <shape><digits>-<texture><digits>")
    shape_image, texture_image = image_id.split("-")
    return match["shape"], match["texture"], shape_image, texture_image


def read_raw_tables(raw_dir: Path) -> CueConflictTables:
    """Read and check the published tables in ``raw_dir`` and return the converted tables.

    Parameters
    ----------
    raw_dir : Path
        Folder with ``humans_and_caffe_cnns/*.csv`` and ``torchvision_cnns/*.csv``.

    Returns
    -------
    CueConflictTables
        Stimuli (1,280 rows) and trials of every person and model.

    Raises
    ------
    ReportgenError
        One line per problem (file and line number, column or value at fault): a missing
        folder or column, an unknown observer or category, an unparseable image name, a
        duplicate trial, an observer id met twice, or tables that do not cover the same images.
    """
    raw_dir = Path(raw_dir)
    problems: list[str] = []
    frames: list[pd.DataFrame] = []
    for folder, model_ids in _MODEL_IDS.items():
        folder_path = raw_dir / folder
        files = sorted(folder_path.glob("*.csv")) if folder_path.is_dir() else []
        if not files:
            problems.append(f"{folder_path}: no CSV tables found (expected the published layout)")
            continue
        for path in files:
            frame, file_problems = _read_one(path, model_ids)
            problems.extend(file_problems)
            if frame is not None:
                frames.append(frame)
    if not problems:
        problems.extend(_check_across_files(frames))
    if problems:
        raise ReportgenError(problems)

    trials = pd.concat(frames, ignore_index=True)
    stimuli = _stimulus_table(trials["stimulus_id"].unique())
    trials = trials.sort_values(["observer_kind", "observer", "trial"], kind="stable")
    columns = ["observer", "observer_kind", "stimulus_id", "response", "rt", "trial"]
    humans = trials.loc[trials["observer_kind"] == "human", columns].reset_index(drop=True)
    # Models have no response times: their table simply has no rt column.
    model_columns = [c for c in columns if c != "rt"]
    models = trials.loc[trials["observer_kind"] == "model", model_columns].reset_index(drop=True)
    return CueConflictTables(stimuli=stimuli, humans=humans, models=models)


def write_tables(tables: CueConflictTables, out_dir: Path) -> dict[str, Path]:
    """Write ``stimuli.csv``, ``humans.csv`` and ``models.csv`` into ``out_dir``.

    Missing values (no answer, no response time) are written as empty cells.

    Returns
    -------
    dict
        ``{"stimuli": path, "humans": path, "models": path}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.csv" for name in ("stimuli", "humans", "models")}
    tables.stimuli.to_csv(paths["stimuli"], index=False)
    tables.humans.to_csv(paths["humans"], index=False)
    tables.models.to_csv(paths["models"], index=False)
    return paths


def convert(raw_dir: Path, out_dir: Path) -> CueConflictTables:
    """Convert the published tables in ``raw_dir`` and write reportgen's tables to ``out_dir``.

    Parameters
    ----------
    raw_dir : Path
        Folder laid out like the published data (see the module docstring).
    out_dir : Path
        Folder that receives ``stimuli.csv``, ``humans.csv`` and ``models.csv``.

    Returns
    -------
    CueConflictTables
        The converted tables, as written.

    Raises
    ------
    ReportgenError
        See :func:`read_raw_tables`; nothing is written when the input is malformed.
    """
    tables = read_raw_tables(raw_dir)
    write_tables(tables, out_dir)
    return tables


def _read_one(path: Path, model_ids: dict[str, str]) -> tuple[pd.DataFrame | None, list[str]]:
    """Read one published table; return its tidy trials or the problems found in it."""
    try:
        # Read every cell as text: "na" (no answer) and "NaN" (no rt) are handled explicitly
        # below instead of by pandas' guessing.
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        return None, [f"{path}: cannot be read as CSV: {err}"]
    missing = [c for c in _REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        return None, [
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(_REQUIRED_COLUMNS)})"
        ]
    if raw.empty:
        return None, [f"{path}: has no trials"]

    problems: list[str] = []
    lines = raw.index + 2  # line numbers in the file: line 1 is the header

    subjects = raw["subj"].str.strip().unique().tolist()
    if len(subjects) != 1:
        problems.append(f"{path}: column subj must name one observer per file, got {subjects}")
        return None, problems
    subj = subjects[0]
    if _HUMAN_SUBJ.match(subj):
        observer, kind = subj, "human"
    elif subj in model_ids:
        observer, kind = model_ids[subj], "model"
    else:
        known = ", ".join(sorted(model_ids))
        problems.append(
            f"{path}: subj {subj!r} is neither a person (subject-NN) nor a known model of "
            f"{path.parent.name} ({known})"
        )
        return None, problems

    parsed = raw["imagename"].str.extract(_IMAGE_NAME)
    bad_name = parsed["id"].isna()
    problems.extend(
        _limit(
            path,
            [
                f"{path}: line {line}: column imagename: cannot parse {name!r} "
                "(expected ..._<shape><digits>-<texture><digits>.png)"
                for line, name in zip(lines[bad_name], raw.loc[bad_name, "imagename"], strict=True)
            ],
        )
    )
    valid = set(CATEGORIES)
    for cue in ("shape", "texture"):
        values = parsed[cue]
        unknown = ~bad_name & ~values.isin(valid)
        problems.extend(
            _limit(
                path,
                [
                    f"{path}: line {line}: column imagename: unknown {cue} category {value!r}"
                    for line, value in zip(lines[unknown], values[unknown], strict=True)
                ],
            )
        )
    category = raw["category"].str.strip()
    mismatch = ~bad_name & (category != parsed["shape"])
    problems.extend(
        _limit(
            path,
            [
                f"{path}: line {line}: column category: {cat!r} differs from the shape "
                f"category {shape!r} in the image name"
                for line, cat, shape in zip(
                    lines[mismatch], category[mismatch], parsed.loc[mismatch, "shape"], strict=True
                )
            ],
        )
    )
    response = raw["object_response"].str.strip()
    unknown_resp = ~response.isin(valid) & (response != _MISSING_RESPONSE)
    problems.extend(
        _limit(
            path,
            [
                f"{path}: line {line}: column object_response: unknown category {value!r} "
                f"(expected one of the 16 classes or {_MISSING_RESPONSE!r})"
                for line, value in zip(lines[unknown_resp], response[unknown_resp], strict=True)
            ],
        )
    )
    dup = ~bad_name & parsed["id"].duplicated(keep=False)
    dup_lines = {}
    for line, image_id in zip(lines[dup], parsed.loc[dup, "id"], strict=True):
        dup_lines.setdefault(image_id, []).append(str(line))
    problems.extend(
        _limit(
            path,
            [
                f"{path}: lines {', '.join(ls)}: duplicate trial: observer {observer!r} saw image "
                f"{image_id!r} more than once"
                for image_id, ls in dup_lines.items()
            ],
        )
    )
    trial = pd.to_numeric(raw["trial"], errors="coerce")
    bad_trial = trial.isna()
    problems.extend(
        _limit(
            path,
            [
                f"{path}: line {line}: column trial: {value!r} is not a trial number"
                for line, value in zip(lines[bad_trial], raw.loc[bad_trial, "trial"], strict=True)
            ],
        )
    )
    if "rt" in raw.columns:
        rt_text = raw["rt"].str.strip()
        rt = pd.to_numeric(rt_text.replace({"NaN": "", "NA": "", "na": ""}), errors="coerce")
        bad_rt = rt.isna() & ~rt_text.isin(["NaN", "NA", "na", ""])
        problems.extend(
            _limit(
                path,
                [
                    f"{path}: line {line}: column rt: {value!r} is not a number of seconds"
                    for line, value in zip(lines[bad_rt], rt_text[bad_rt], strict=True)
                ],
            )
        )
    else:
        rt = pd.Series(float("nan"), index=raw.index)
    if problems:
        return None, problems

    frame = pd.DataFrame(
        {
            "observer": observer,
            "observer_kind": kind,
            "stimulus_id": parsed["id"],
            # "na" = the person gave no answer in time: a missing response, not a 17th class.
            "response": response.where(response != _MISSING_RESPONSE, pd.NA).astype("string"),
            "rt": rt.astype("float64"),
            "trial": trial.astype("int64"),
        }
    )
    frame.attrs["source"] = str(path)
    return frame, []


def _check_across_files(frames: list[pd.DataFrame]) -> list[str]:
    """Observer ids must be unique and every table must cover the same set of images."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for frame in frames:
        observer, source = frame["observer"].iat[0], frame.attrs["source"]
        if observer in seen:
            problems.append(
                f"{source}: observer id {observer!r} already comes from {seen[observer]}"
            )
        seen[observer] = source
    reference = frames[0]
    ref_ids = set(reference["stimulus_id"])
    for frame in frames:
        ids = set(frame["stimulus_id"])
        source = frame.attrs["source"]
        if len(ids) != EXPECTED_N_IMAGES:
            problems.append(
                f"{source}: covers {len(ids)} distinct images, expected {EXPECTED_N_IMAGES}"
            )
        if frame is not reference and ids != ref_ids:
            absent = sorted(ref_ids - ids)[:5]
            extra = sorted(ids - ref_ids)[:5]
            problems.append(
                f"{source}: its images differ from those of {reference.attrs['source']} "
                f"(absent here, first few: {absent}; only here, first few: {extra})"
            )
    return problems


def _stimulus_table(image_ids: Iterable[str]) -> pd.DataFrame:
    """One row per image id, with its categories parsed into columns."""
    rows = []
    for image_id in sorted(image_ids):
        shape, texture, shape_image, texture_image = parse_image_id(image_id)
        rows.append(
            {
                "id": image_id,
                "image": f"{image_id}.png",
                "label": shape,
                "condition": "no-conflict" if shape == texture else "cue-conflict",
                "shape": shape,
                "texture": texture,
                "shape_image": shape_image,
                "texture_image": texture_image,
            }
        )
    stimuli = pd.DataFrame(rows)
    for column in ("shape", "texture"):
        stimuli[column] = pd.Categorical(stimuli[column], categories=list(CATEGORIES))
    return stimuli


def _limit(path: Path, lines: list[str]) -> list[str]:
    """Keep a file's list of problems readable: the first few, then a count of the rest."""
    if len(lines) <= _MAX_LINES_PER_FILE:
        return lines
    rest = len(lines) - _MAX_LINES_PER_FILE
    return [*lines[:_MAX_LINES_PER_FILE], f"{path}: ... and {rest} more like the above"]
