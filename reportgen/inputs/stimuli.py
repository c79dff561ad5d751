"""Stimulus sets: the table of stimuli with their true labels, conditions and factor values.

A stimulus table (CSV or Parquet) has one row per stimulus and the columns

- ``id``: unique stimulus id (text);
- ``image``: image file, relative to the image folder (or to the table's folder when there is
  none); optional for decision-only studies, where the images are not needed;
- ``label``: the true class;
- ``condition``: e.g. ``standard``, ``cue-conflict``, ``shape-morph``;
- factor columns, grouped by the config's ``[factors]`` globs (``shape = ["shape_*"]``).

Factor kinds: a column is *continuous* when its values are numbers and *categorical* otherwise
(text, true/false). A text column whose values are mostly numbers is read as continuous, and its
non-numeric cells are reported as mistakes. ``categorical`` / ``continuous`` column globs in the
config override the automatic choice (e.g. a part type coded 0..7 is categorical).

Everything is checked before any compute and every problem is reported at once, naming the file,
line (CSV; the header is line 1) or row (Parquet), id and column.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from reportgen.config import Config, Preprocess
from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "RESERVED_COLUMNS",
    "StimulusSet",
    "build_stimulus_set",
    "cue_columns",
    "check_sample_size",
    "MAX_IMAGE_PIXELS",
    "encode",
    "image_notices",
    "image_problem",
    "load_images",
    "load_stimuli",
    "load_stimuli_from_config",
    "read_table",
    "sample_size_limits",
    "shape_pictures",
    "widest_group",
    "sample_size_problems",
]

RESERVED_COLUMNS: tuple[str, ...] = ("id", "image", "label", "condition")
FactorKind = Literal["continuous", "categorical"]
#: A factor column of whole numbers with at most this many distinct values is read as a
#: categorical code (list it in ``stimuli.continuous`` if it is a count or a measurement).
MAX_CODE_LEVELS = 12

#: Cells read as missing in factor columns (compared case-insensitively).
_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: Lines shown per kind of problem before the rest are summarised in one line.
_SHOW_PER_KIND = 10
#: The largest picture decoded (8192 x 8192, 200 MB as RGB): stimuli are a few hundred pixels
#: wide, and the header is checked before decoding, so a "decompression bomb" never unpacks.
MAX_IMAGE_PIXELS = 8192 * 8192


@dataclass(frozen=True, slots=True)
class StimulusSet:
    """A checked stimulus table.

    Attributes
    ----------
    table : DataFrame
        One row per stimulus: ``id, image (if present), label, condition`` as text, then every
        column of the source table; continuous factor columns are float64, categorical ones
        text. The index is 0..n-1 (the stimulus order used by every tensor downstream).
    image_dir : Path or None
        Folder the ``image`` column is relative to (None: no images, decision-only).
    groups : dict[str, list[str]]
        Factor group -> factor columns, in table column order.
    classes : tuple[str, ...]
        The class set in model-output order (class index i is ``classes[i]``).
    kinds : dict[str, {'continuous', 'categorical'}]
        Kind of every factor column.
    source : str
        Where the table came from (file path or generator name), for messages.
    """

    table: pd.DataFrame
    image_dir: Path | None
    groups: dict[str, list[str]]
    classes: tuple[str, ...]
    kinds: dict[str, FactorKind]
    source: str = ""
    #: Factor columns of whole numbers with few values, taken as categorical codes.
    integer_coded: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.table)

    @property
    def ids(self) -> tuple[str, ...]:
        """Stimulus ids in table order."""
        return tuple(self.table["id"])

    @property
    def factor_columns(self) -> list[str]:
        """Every factor column, group by group."""
        return [c for cols in self.groups.values() for c in cols]

    def label_codes(self) -> Tensor:
        """True labels as class indices, LongTensor of shape (n,)."""
        return encode(self.table["label"], self.classes)[0]

    def factor_tensor(self, column: str, dtype: torch.dtype = torch.float64) -> Tensor:
        """Values of one factor column, shape (n,).

        Continuous factors come back as ``dtype``; categorical ones as LongTensor codes into
        ``encode(table[column])[1]`` (sorted categories).
        """
        if self.kinds[column] == "continuous":
            return torch.as_tensor(
                self.table[column].to_numpy(dtype=np.float64).copy(), dtype=dtype
            )
        return encode(self.table[column])[0]

    def image_paths(self) -> list[Path]:
        """Absolute path of every stimulus image, in table order."""
        if "image" not in self.table.columns:
            raise ReportgenError(f"{self.source}: no 'image' column; this table has no images")
        base = self.image_dir if self.image_dir is not None else Path(".")
        return [_resolve_image(base, v) for v in self.table["image"]]


def encode(
    values: pd.Series | Sequence[object], categories: Sequence[str] | None = None
) -> tuple[Tensor, tuple[str, ...]]:
    """Integer codes for a categorical column.

    Parameters
    ----------
    values : Series or sequence, length n
        Category of each sample; missing values (None/NaN) get code -1.
    categories : sequence of str, optional
        The category list fixing the code order; values not in it get -1. Default: the sorted
        distinct values (numerically sorted when they all look like numbers).

    Returns
    -------
    codes : LongTensor, shape (n,)
    categories : tuple[str, ...]
    """
    texts = [None if _is_missing(v) else str(v) for v in values]
    if categories is None:
        categories = _sorted_levels({t for t in texts if t is not None})
    cats = tuple(str(c) for c in categories)
    index = {c: i for i, c in enumerate(cats)}
    codes = [-1 if t is None else index.get(t, -1) for t in texts]
    return torch.tensor(codes, dtype=torch.long), cats


# --------------------------------------------------------------------------------------------
# Reading and checking


class _Problems:
    """Problem lines grouped by kind; long runs of one kind are cut to a summary line."""

    def __init__(self) -> None:
        self._by_kind: dict[str, list[str]] = {}
        self._extra: dict[str, int] = {}

    def add(self, kind: str, line: str) -> None:
        lines = self._by_kind.setdefault(kind, [])
        if len(lines) < _SHOW_PER_KIND:
            lines.append(line)
        else:
            self._extra[kind] = self._extra.get(kind, 0) + 1

    def lines(self) -> list[str]:
        out: list[str] = []
        for kind, lines in self._by_kind.items():
            out.extend(lines)
            if kind in self._extra:
                out.append(f"... and {self._extra[kind]} more: {kind}")
        return out

    def __bool__(self) -> bool:
        return bool(self._by_kind)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def _as_number(value: object) -> float | None:
    """The value as a float, or None when it is not a number."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _sorted_levels(levels: Iterable[str]) -> tuple[str, ...]:
    """Sort category names; numerically when all look like numbers (so '10' follows '9')."""
    levels = list(levels)
    numbers = [_as_number(v) for v in levels]
    if levels and all(n is not None and math.isfinite(n) for n in numbers):
        return tuple(v for _, v in sorted(zip(numbers, levels, strict=True)))
    return tuple(sorted(levels))


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _resolve_image(base: Path, value: object) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def read_table(path: Path) -> tuple[pd.DataFrame, int | None]:
    """Read a CSV or Parquet table without guessing types.

    CSV cells come back as text (empty cells as NaN) so that the checks, not pandas, decide
    what is a number. Returns the table and the file line of its first data row (2 for CSV,
    None for Parquet, whose rows are counted from 1).
    """
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path), None
        except ImportError:
            raise ReportgenError(
                f"{path}: reading Parquet needs pyarrow; install it (pip install pyarrow) "
                "or save the table as CSV"
            ) from None
        except Exception as err:  # pyarrow raises several types for damaged files
            raise ReportgenError(f"{path}: cannot read the Parquet file ({err})") from None
    if suffix != ".csv":
        raise ReportgenError(f"{path}: expected a .csv or .parquet table, got '{path.suffix}'")
    try:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True
        )
    except FileNotFoundError:
        raise ReportgenError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ReportgenError(f"{path}: cannot read the CSV file ({err})") from None
    except pd.errors.EmptyDataError:
        raise ReportgenError(f"{path}: the file is empty") from None
    return table, 2


def load_stimuli(
    table_path: str | Path,
    image_dir: str | Path | None,
    factor_globs: Mapping[str, Sequence[str]],
    classes: Sequence[str] | None = None,
    *,
    require_images: bool = True,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    cue_columns: Sequence[str] = (),
) -> StimulusSet:
    """Load and check a stimulus table (CSV or Parquet) and its images.

    Parameters
    ----------
    table_path : path
        The stimulus table.
    image_dir : path or None
        Folder the ``image`` column is relative to; None: the table's folder.
    factor_globs : mapping group -> column globs
        From the config's ``[factors]``.
    classes : sequence of str, optional
        The class set in model-output order; default: sorted distinct labels.
    require_images : bool
        Check that every image exists and can be read (needed whenever a model runs).
    categorical, continuous : sequences of column globs
        Override the automatic factor kind.
    cue_columns : columns ``[cues]`` names (the class a cue points to); a glob never sweeps
        them into a factor group (only their exact name does).

    Raises
    ------
    ReportgenError
        Every problem at once, each naming file, line/row, id and column.
    """
    path = Path(table_path)
    table, first_line = read_table(path)
    folder = Path(image_dir) if image_dir is not None else path.parent
    return build_stimulus_set(
        table,
        source=str(path),
        image_dir=folder,
        factor_globs=factor_globs,
        classes=classes,
        require_images=require_images,
        categorical=categorical,
        continuous=continuous,
        cue_columns=cue_columns,
        first_line=first_line,
    )


def load_stimuli_from_config(config: Config) -> StimulusSet:
    """Load the stimulus table a `Config` names (images required when it has a model).

    Generated stimuli (``[stimuli] generator``) are made by the generator at run time; pass its
    table to `build_stimulus_set` instead.
    """
    st = config.stimuli
    if st.table is None:
        raise ReportgenError(
            f"{config.path}: stimuli.generator: generated stimuli have no table to load; "
            "the generator builds them at run time"
        )
    return load_stimuli(
        st.table,
        st.images,
        config.factors,
        st.classes,
        require_images=config.model is not None,
        categorical=st.categorical,
        continuous=st.continuous,
        cue_columns=cue_columns(config),
    )


def cue_columns(config: Config) -> tuple[str, ...]:
    """The table columns `[cues]` names (whether the table has them or not)."""
    return tuple(getattr(config.cues, f.name) for f in dataclasses.fields(config.cues))


def build_stimulus_set(
    table: pd.DataFrame,
    *,
    source: str,
    image_dir: Path | None,
    factor_globs: Mapping[str, Sequence[str]],
    classes: Sequence[str] | None = None,
    require_images: bool = True,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    cue_columns: Sequence[str] = (),
    first_line: int | None = None,
) -> StimulusSet:
    """Check an in-memory stimulus table (from a file or a generator) and type its columns.

    Parameters are those of `load_stimuli`; ``source`` names the table in messages and
    ``first_line`` is the file line of the first row (None: rows are counted from 1). The input
    table is not modified.
    """
    problems = _Problems()
    table = table.reset_index(drop=True).copy()
    table.columns = [str(c).strip() for c in table.columns]
    n = len(table)

    def where(i: int, column: str) -> str:
        row = f"line {i + first_line}" if first_line is not None else f"row {i + 1}"
        ident = table.at[i, "id"] if "id" in table.columns else None
        id_text = "" if _is_missing(ident) else f" (id {ident!s})"
        return f"{source}: {row}{id_text}, column '{column}'"

    if n == 0:
        raise ReportgenError(f"{source}: the table has no rows")
    dup_cols = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if dup_cols:
        raise ReportgenError(f"{source}: column names repeated: {', '.join(dup_cols)}")

    required = ["id", "label", "condition"] + (["image"] if require_images else [])
    others = [c for c in table.columns if c not in RESERVED_COLUMNS]
    for col in required:
        if col not in table.columns:
            problems.add(
                "missing column",
                f"{source}: missing required column '{col}'{_suggest(col, others)}",
            )

    # Reserved columns are text; missing cells are mistakes.
    for col in RESERVED_COLUMNS:
        if col not in table.columns:
            continue
        cells = [None if _is_missing(v) else str(v).strip() or None for v in table[col]]
        text = pd.Series(cells, index=table.index, dtype=object)  # keeps None, never NaN
        if col == "image" and not require_images:
            table[col] = text  # decision-only: images are not needed, gaps are fine
            continue
        for i in np.flatnonzero(text.isna().to_numpy()):
            problems.add(f"missing {col}", f"{where(int(i), col)}: missing value")
        table[col] = text

    if "id" in table.columns:
        ids = table["id"]
        dup = ids[ids.duplicated(keep=False) & ids.notna()]
        for ident, rows in dup.groupby(dup, sort=False).groups.items():
            rows = [int(r) for r in rows]
            lines = ", ".join(
                str(r + first_line) if first_line is not None else str(r + 1) for r in rows
            )
            unit = "lines" if first_line is not None else "rows"
            problems.add(
                "duplicate id", f"{source}: column 'id': id {ident!r} repeated on {unit} {lines}"
            )

    # Class set.
    if "label" in table.columns:
        present = {v for v in table["label"] if v is not None}
        if classes is None:
            class_tuple = _sorted_levels(present)
            if len(class_tuple) < 2:
                problems.add(
                    "classes",
                    f"{source}: column 'label': needs at least 2 classes, found "
                    f"{list(class_tuple)!r}",
                )
        else:
            class_tuple = tuple(str(c) for c in classes)
            known = set(class_tuple)
            shown = (
                ", ".join(class_tuple) if len(class_tuple) <= 20 else f"{len(class_tuple)} classes"
            )
            for i, lab in enumerate(table["label"]):
                if lab is not None and lab not in known:
                    problems.add(
                        "label outside class set",
                        f"{where(i, 'label')}: label {lab!r} is not in the class set "
                        f"({shown}){_suggest(lab, class_tuple)}",
                    )
    else:
        class_tuple = tuple(str(c) for c in classes) if classes is not None else ()

    groups = _resolve_groups(table, factor_globs, source, problems, cue_columns)
    factor_cols = [c for cols in groups.values() for c in cols]
    forced = _resolve_kind_overrides(factor_cols, categorical, continuous, source, problems)
    kinds: dict[str, FactorKind] = {}
    coded: list[str] = []
    for col in factor_cols:
        kinds[col] = _check_factor(table, col, forced.get(col), where, source, problems, coded)
    for group, cols in groups.items():
        # A group is one variable: a joint code of categories, or one vector of numbers.
        if len({kinds[c] for c in cols}) > 1:
            listed = ", ".join(f"{c} ({kinds[c]})" for c in cols)
            problems.add(
                "mixed group",
                f"{source}: factors.{group}: mixes continuous and categorical columns "
                f"({listed}); put them in separate groups, or set the kind of a column with "
                "stimuli.continuous / stimuli.categorical",
            )

    image_dir = Path(image_dir) if image_dir is not None else None
    if require_images and "image" in table.columns:
        _check_images(table, image_dir, source, where, problems)

    if problems:
        raise ReportgenError(problems.lines())
    return StimulusSet(
        table=table,
        image_dir=image_dir if "image" in table.columns else None,
        groups=groups,
        classes=class_tuple,
        kinds=kinds,
        source=source,
        integer_coded=tuple(coded),
    )


def _resolve_groups(
    table: pd.DataFrame,
    factor_globs: Mapping[str, Sequence[str]],
    source: str,
    problems: _Problems,
    cue_columns: Sequence[str] = (),
) -> dict[str, list[str]]:
    """Group -> factor columns in table order; globs never match the reserved columns, nor
    the cue columns (``shape = ["shape_*"]`` must not catch ``shape_class``) unless named."""
    candidates = [c for c in table.columns if c not in RESERVED_COLUMNS]
    cues = set(cue_columns)
    owner: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for group, globs in factor_globs.items():
        matched: set[str] = set()
        for glob in globs:
            hits = {
                c
                for c in candidates
                if fnmatch.fnmatchcase(c, glob) and (c not in cues or c == glob)
            }
            if not hits:
                if glob in RESERVED_COLUMNS:
                    reason = (
                        f"'{glob}' is a reserved column, not a factor; copy it into a factor "
                        "column to analyse it"
                    )
                else:
                    reason = f"'{glob}' matches no column of the table{_suggest(glob, candidates)}"
                problems.add("factor glob", f"{source}: factors.{group}: {reason}")
            matched |= hits
        cols = [c for c in candidates if c in matched]
        for col in cols:
            if col in owner:
                problems.add(
                    "factor in two groups",
                    f"{source}: column '{col}' is in two factor groups, "
                    f"factors.{owner[col]} and factors.{group}; give it to one",
                )
            else:
                owner[col] = group
        groups[group] = [c for c in cols if owner.get(c) == group]
    return groups


def _resolve_kind_overrides(
    factor_cols: list[str],
    categorical: Sequence[str],
    continuous: Sequence[str],
    source: str,
    problems: _Problems,
) -> dict[str, FactorKind]:
    forced: dict[str, FactorKind] = {}
    specs: tuple[tuple[str, Sequence[str], FactorKind], ...] = (
        ("categorical", categorical, "categorical"),
        ("continuous", continuous, "continuous"),
    )
    for key, globs, kind in specs:
        for glob in globs:
            hits = [c for c in factor_cols if fnmatch.fnmatchcase(c, glob)]
            if not hits:
                problems.add(
                    "kind glob",
                    f"{source}: stimuli.{key}: '{glob}' matches no factor column"
                    f"{_suggest(glob, factor_cols)}",
                )
            for col in hits:
                if forced.get(col, kind) != kind:
                    problems.add(
                        "kind conflict",
                        f"{source}: column '{col}' is in both stimuli.categorical and "
                        "stimuli.continuous",
                    )
                forced[col] = kind
    return forced


def _parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: missing (`_is_missing` or a missing token), the number (`_as_number`; NaN
    where none) and whether it is one. Vectorised; cells pandas cannot parse go through
    `_as_number` one by one, so both agree on every cell."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(numbers)
        return missing, numbers, ~missing
    text = values.astype(str).str.strip()
    missing = values.isna().to_numpy() | text.str.lower().isin(_MISSING_TOKENS).to_numpy()
    parsed = pd.to_numeric(text, errors="coerce")
    numbers = np.array(parsed.to_numpy(dtype="float64", na_value=np.nan))  # writable
    numeric = ~np.isnan(numbers)
    objects = values.to_numpy(dtype=object)
    for i in np.flatnonzero(~missing & ~numeric):  # e.g. '1_000', or True (never a number)
        x = _as_number(objects[i])
        numbers[i] = np.nan if x is None else x
        numeric[i] = x is not None
    numeric &= ~missing
    return missing, numbers, numeric


def _check_factor(
    table: pd.DataFrame,
    col: str,
    forced: FactorKind | None,
    where: Callable[[int, str], str],
    source: str,
    problems: _Problems,
    coded: list[str] | None = None,
) -> FactorKind:
    """Decide the column's kind, convert it in place, and record its problems. A column of
    whole numbers with at most `MAX_CODE_LEVELS` values is a code (a part type 0..7), not a
    measurement: categorical unless `forced`; its name is appended to `coded`."""
    values = table[col]
    missing, numbers, numeric = _parse_numbers(values)
    present = int((~missing).sum())
    n_numeric = int(numeric.sum())
    given = numbers[numeric & ~missing]
    is_code = (
        present > 0
        and n_numeric == present
        and bool(np.all(np.isfinite(given)))
        and bool(np.all(given == np.round(given)))
        and 1 < len(np.unique(given)) <= MAX_CODE_LEVELS
    )
    if forced is not None:
        kind: FactorKind = forced
    elif pd.api.types.is_bool_dtype(values):
        kind = "categorical"
    elif is_code:
        kind = "categorical"
        if coded is not None:
            coded.append(col)
        # '3', not '3.0', whether pandas read the column as integers or floats
        values = pd.Series(
            [None if m else str(int(x)) for m, x in zip(missing, numbers, strict=True)],
            index=table.index,
            dtype=object,
        )
    else:
        # Mostly numbers means a continuous factor with typos, not a categorical one.
        kind = "continuous" if present and n_numeric * 2 > present else "categorical"

    for i in np.flatnonzero(missing):
        problems.add(f"missing in {col}", f"{where(int(i), col)}: missing value (NaN)")
    if kind == "continuous":
        for i in np.flatnonzero(~missing & (~numeric | ~np.isfinite(numbers))):
            if not numeric[i]:
                problems.add(
                    f"non-numeric in {col}",
                    f"{where(int(i), col)}: {str(values.iloc[i])!r} is not a number "
                    "(continuous factor)",
                )
            else:
                problems.add(
                    f"non-finite in {col}", f"{where(int(i), col)}: {numbers[i]} is not finite"
                )
        converted = pd.Series(np.where(numeric, numbers, np.nan), index=table.index)
        table[col] = converted
        distinct = converted.dropna().nunique()
    else:
        text = values.astype(str).str.strip()
        table[col] = text.astype(object).where(~missing, None)
        distinct = table[col].dropna().nunique()
    if present and distinct < 2:
        only = table[col].dropna().iloc[0]
        only = only.item() if isinstance(only, np.generic) else only
        problems.add(
            "constant factor",
            f"{source}: column '{col}': constant factor (every value is {only!r}); "
            "it carries no information, remove it from [factors]",
        )
    return kind


def _check_images(
    table: pd.DataFrame,
    image_dir: Path | None,
    source: str,
    where: Callable[[int, str], str],
    problems: _Problems,
) -> None:
    """Every image must exist, be within the pixel limit and open as an image (PIL verify
    reads the file, not the pixels)."""
    if image_dir is not None and not image_dir.is_dir():
        problems.add("image folder", f"{source}: image folder not found: {image_dir}")
        return
    base = image_dir if image_dir is not None else Path(".")
    for i, value in enumerate(table["image"]):
        if value is None:
            continue
        path = _resolve_image(base, value)
        if not path.is_file():
            problems.add("image not found", f"{where(i, 'image')}: image not found: {path}")
            continue
        if (why := image_problem(path, verify=True)) is not None:
            problems.add("unreadable image", f"{where(i, 'image')}: {why}")


class _Unreadable(Exception):
    """A picture that cannot be decoded; the message says why, in one line."""


@contextmanager
def _open_image(path: Path) -> Iterator[PILImage]:
    """`path` opened by PIL (header only), or `_Unreadable` for a picture that is not one,
    is damaged, or has more than `MAX_IMAGE_PIXELS` pixels."""
    from PIL import Image

    limit = f"more than {MAX_IMAGE_PIXELS:,} pixels (8192 x 8192), the most reportgen decodes"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit decides
        try:
            img = Image.open(path)
        except Image.DecompressionBombError:
            raise _Unreadable(f"image {path} has {limit}; shrink it") from None
        except (OSError, SyntaxError, ValueError) as err:  # UnidentifiedImageError included
            raise _Unreadable(f"cannot read image {path} ({type(err).__name__}: {err})") from None
        with img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise _Unreadable(
                    f"image {path} is {img.height}x{img.width} px, {limit}; shrink it"
                )
            yield img


def image_problem(path: Path, *, verify: bool = False) -> str | None:
    """Why the picture at `path` cannot be used (one line), or None. Reads the header, and
    with `verify` the whole file (still without decoding the pixels)."""
    try:
        with _open_image(path) as img:
            if verify:
                img.verify()
    except _Unreadable as err:
        return str(err)
    except (OSError, SyntaxError, ValueError) as err:
        return f"cannot read image {path} ({type(err).__name__}: {err})"
    return None


def image_notices(stimset: StimulusSet, study_dir: Path) -> list[str]:
    """What `validate` says about pictures a run does not strictly need (decision-only studies
    use them for the montages only): files that are missing or cannot be read, and files
    outside `study_dir` (allowed, but the reader should know what a config reaches into).
    Long lists are cut after ten per kind."""
    if "image" not in stimset.table.columns or stimset.image_dir is None:
        return []
    home = Path(study_dir).resolve()
    unreadable: list[str] = []
    outside: list[str] = []
    for path in stimset.image_paths():
        if not path.resolve().is_relative_to(home):
            outside.append(str(path))
        if not path.is_file():
            unreadable.append(f"image not found: {path}")
        elif (why := image_problem(path)) is not None:
            unreadable.append(why)
    lines = _first(
        unreadable, "more pictures cannot be read", lambda t: f"{t}; left out of the montages"
    )
    if outside:
        lines += _first(
            outside,
            "more pictures outside the study folder",
            lambda t: f"picture outside the study folder {home}: {t}",
        )
    return lines


def _first(items: list[str], rest: str, line: Callable[[str], str]) -> list[str]:
    shown = [line(t) for t in items[:_SHOW_PER_KIND]]
    if len(items) > _SHOW_PER_KIND:
        shown.append(f"... and {len(items) - _SHOW_PER_KIND} {rest}")
    return shown


# --------------------------------------------------------------------------------------------
# Sample size


def sample_size_limits(stimset: StimulusSet) -> tuple[int, int]:
    """Stimuli per class needed for the analysis: (hard minimum, recommended).

    Class-conditional Gaussian fits (methods.md 4.2) need more samples per class than the
    widest continuous factor group has dimensions d; we require at least max(10, 2 d) and
    recommend 10 d (the methods' rule of thumb).
    """
    d = widest_group(stimset)
    return max(10, 2 * d), max(10, 10 * d)


def widest_group(stimset: StimulusSet) -> int:
    """Dimensions of the widest factor group: its number of continuous columns."""
    widths = [
        sum(stimset.kinds[c] == "continuous" for c in cols) for cols in stimset.groups.values()
    ]
    return max(widths, default=0)


def sample_size_problems(
    stimset: StimulusSet, min_per_class: int, *, what: str = "needed"
) -> list[str]:
    """One line per class with fewer than ``min_per_class`` stimuli.

    Only classes that occur among the labels are counted (a model may know more classes than
    the stimuli show); ``what`` words the limit in the message. Long lists are cut after ten.
    """
    counts = stimset.table["label"].value_counts()
    lines = [
        f"{stimset.source}: column 'label': class {cls!r} has {int(counts[cls])} stimuli, "
        f"fewer than the {min_per_class} per class {what}"
        for cls in stimset.classes
        if cls in counts.index and counts[cls] < min_per_class
    ]
    if len(lines) > _SHOW_PER_KIND:
        rest = len(lines) - _SHOW_PER_KIND
        lines = lines[:_SHOW_PER_KIND] + [f"... and {rest} more classes with too few stimuli"]
    return lines


def check_sample_size(stimset: StimulusSet, min_per_class: int) -> None:
    """Raise `ReportgenError` naming every class with fewer than ``min_per_class`` stimuli."""
    if problems := sample_size_problems(stimset, min_per_class):
        raise ReportgenError(problems)


# --------------------------------------------------------------------------------------------
# Images


def shape_pictures(images: Tensor, spec: Preprocess) -> Tensor:
    """The geometric part of ``[model.preprocess]`` on a uint8 batch ``[n, 3, H, W]``: grey,
    resize (antialiased bilinear, as torchvision's transforms do), centre crop; uint8 out."""
    from torchvision.transforms.v2 import functional as tvf

    out = images
    if spec.grayscale:
        out = tvf.rgb_to_grayscale(out, num_output_channels=3)
    if spec.resize is not None:
        size = [spec.resize] if isinstance(spec.resize, int) else list(spec.resize)
        out = tvf.resize(out, size, antialias=True)
    if spec.center_crop is not None:
        crop = spec.center_crop
        out = tvf.center_crop(out, [crop, crop] if isinstance(crop, int) else list(crop))
    return out


def load_images(
    stimset: StimulusSet,
    size: int | tuple[int, int] | None = None,
    rows: Sequence[int] | None = None,
    preprocess: Preprocess | None = None,
) -> Tensor:
    """Read stimulus images as RGB.

    Parameters
    ----------
    stimset : StimulusSet
    size : int or (height, width), optional
        Resize every image to exactly this size (bilinear).
    rows : sequence of int, optional
        Table rows to read (e.g. one batch); default all, in table order.
    preprocess : Preprocess, optional
        Apply its geometry (`shape_pictures`) to each picture as it is read. Without `size`
        or a resize there, every picture must have the same size.

    Returns
    -------
    images : uint8 Tensor, shape (n, 3, H, W)
    """
    from PIL import Image

    paths = stimset.image_paths()
    picked = range(len(paths)) if rows is None else rows
    target = (size, size) if isinstance(size, int) else size
    pictures: list[Tensor] = []
    first: tuple[int, int] | None = None
    for i in picked:
        path = paths[i]
        try:
            with _open_image(path) as img:
                rgb = img.convert("RGB")
        except _Unreadable as err:
            raise ReportgenError(f"{stimset.source}: {err}") from None
        except (OSError, SyntaxError, ValueError) as err:  # damaged past the header
            raise ReportgenError(
                f"{stimset.source}: cannot read image {path} ({type(err).__name__}: {err})"
            ) from None
        if target is not None:
            rgb = rgb.resize((target[1], target[0]), Image.Resampling.BILINEAR)
        picture = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
        if preprocess is not None:
            picture = shape_pictures(picture[None], preprocess)[0]
        hw = (int(picture.shape[1]), int(picture.shape[2]))
        if first is None:
            first = hw
        elif hw != first:
            fix = (
                "set [model.preprocess] center_crop too"
                if preprocess is not None and preprocess.resize is not None
                else "give a common size, or set [model.preprocess] resize"
            )
            raise ReportgenError(
                f"{stimset.source}: image {path} is {hw[0]}x{hw[1]} px but earlier ones are "
                f"{first[0]}x{first[1]} (after preprocessing); {fix}"
            )
        pictures.append(picture)
    if not pictures:
        h, w = target if target is not None else (0, 0)
        return torch.empty((0, 3, h, w), dtype=torch.uint8)
    return torch.stack(pictures).contiguous()
