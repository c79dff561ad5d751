"""Observers' responses: tidy trials tables for people and for models, checked against the stimuli.

A trials table (CSV or Parquet) has one row per trial:

- ``observer``: who answered (a person's code, or a model id such as ``resnet50``);
- ``stimulus_id``: an ``id`` of the stimulus table;
- ``response``: the chosen class; an empty cell or ``na`` means no answer (a lapse, a timeout);
- optional ``rt`` (seconds), ``confidence`` (a number), ``observer_kind`` (``human`` or
  ``model``; default: ``human`` for ``[humans]`` files and ``model`` for ``[decisions]`` files);
  ``rt_ms`` (milliseconds, as `reportgen collect` writes them) gives ``rt`` when it is absent.

Other columns are kept as they are. Model decisions are exported in the same shape
(`model_decisions_table`), so people and models are compared trial by trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from analyses.drivers import decisions_too_few, min_class_trials
from reportgen.caveats import Caveat
from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.inputs.stimuli import (
    StimulusSet,
    _as_number,
    _is_missing,
    _Problems,
    _suggest,
    load_stimuli_from_config,
    read_table,
    sample_size_limits,
    sample_size_problems,
    widest_group,
)

__all__ = [
    "OBSERVER_KINDS",
    "StudyInputs",
    "Trials",
    "build_trials",
    "combine_trials",
    "decision_matrix",
    "load_study_inputs",
    "load_trials",
    "model_decisions_table",
]

ObserverKind = Literal["human", "model"]
OBSERVER_KINDS: tuple[str, ...] = ("human", "model")
_REQUIRED = ("observer", "stimulus_id", "response")
_NO_ANSWER = frozenset({"", "na", "n/a", "nan", "none"})


@dataclass(frozen=True, slots=True)
class Trials:
    """A checked trials table.

    Attributes
    ----------
    table : DataFrame
        Columns ``observer, stimulus_id, response, observer_kind`` (text; ``response`` is None
        where no answer was given), plus ``rt`` / ``confidence`` (float64) when present and any
        other columns of the source.
    classes : tuple[str, ...]
        The class set responses are coded against (same order as the stimulus set's).
    sources : tuple[str, ...]
        The files (or other origins) the trials came from.
    """

    table: pd.DataFrame
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()

    @property
    def observers(self) -> tuple[str, ...]:
        """Observer ids in order of first appearance."""
        return tuple(pd.unique(self.table["observer"]))

    @property
    def kinds(self) -> dict[str, ObserverKind]:
        """Observer id -> ``'human'`` or ``'model'``."""
        first = self.table.drop_duplicates("observer")
        return dict(zip(first["observer"], first["observer_kind"], strict=True))

    @property
    def humans(self) -> tuple[str, ...]:
        """Ids of the people, in order of first appearance."""
        kinds = self.kinds
        return tuple(o for o in self.observers if kinds[o] == "human")

    @property
    def models(self) -> tuple[str, ...]:
        """Ids of the models, in order of first appearance."""
        kinds = self.kinds
        return tuple(o for o in self.observers if kinds[o] == "model")

    def for_observer(self, observer: str) -> pd.DataFrame:
        """The rows of one observer (a copy)."""
        return self.table[self.table["observer"] == observer].copy()


def load_trials(
    path: str | Path,
    stimset: StimulusSet,
    classes: Sequence[str] | None = None,
    *,
    default_kind: ObserverKind = "human",
) -> Trials:
    """Load and check a trials table against the stimulus set and the class set.

    Parameters
    ----------
    path : path
        CSV or Parquet trials table.
    stimset : StimulusSet
        Every ``stimulus_id`` must be one of its ids.
    classes : sequence of str, optional
        Allowed responses; default ``stimset.classes``.
    default_kind : {'human', 'model'}
        ``observer_kind`` for rows (or tables) that do not give one.

    Raises
    ------
    ReportgenError
        Every problem at once, each naming the file, line/row and column.
    """
    path = Path(path)
    table, first_line = read_table(path)
    return build_trials(
        table,
        stimset,
        classes,
        source=str(path),
        first_line=first_line,
        default_kind=default_kind,
    )


def build_trials(
    table: pd.DataFrame,
    stimset: StimulusSet,
    classes: Sequence[str] | None = None,
    *,
    source: str = "trials",
    first_line: int | None = None,
    default_kind: ObserverKind = "human",
) -> Trials:
    """Check an in-memory trials table; see `load_trials`. The input is not modified."""
    class_tuple = tuple(classes) if classes is not None else stimset.classes
    problems = _Problems()
    table = table.reset_index(drop=True).copy()
    table.columns = [str(c).strip() for c in table.columns]

    def where(i: int, column: str) -> str:
        row = f"line {i + first_line}" if first_line is not None else f"row {i + 1}"
        return f"{source}: {row}, column '{column}'"

    present = list(table.columns)
    missing_cols = [c for c in _REQUIRED if c not in present]
    if missing_cols:
        raise ReportgenError(
            [
                f"{source}: missing required column '{c}'"
                f"{_suggest(c, [p for p in present if p not in _REQUIRED])}"
                for c in missing_cols
            ]
        )
    if len(table) == 0:
        raise ReportgenError(f"{source}: the table has no trials")

    def texts(column: pd.Series) -> pd.Series:
        """Every cell stripped, None where it is missing or empty (object dtype)."""
        stripped = column.astype(str).str.strip().astype(object)
        return stripped.where(~column.isna() & (stripped != ""), None)

    observers = texts(table["observer"])
    for i in np.flatnonzero(observers.isna().to_numpy()):
        problems.add("missing observer", f"{where(int(i), 'observer')}: missing observer id")
    table["observer"] = observers

    ids = texts(table["stimulus_id"])
    unknown = ~ids.isin(set(stimset.table["id"])).to_numpy()
    for i in np.flatnonzero(unknown):
        ident = ids.iloc[i]
        if ident is None:
            problems.add("missing stimulus", f"{where(i, 'stimulus_id')}: missing stimulus id")
        else:
            problems.add(
                "unknown stimulus",
                f"{where(i, 'stimulus_id')}: {ident!r} is not an id of the stimulus table "
                f"{stimset.source}",
            )
    table["stimulus_id"] = ids

    allowed = set(class_tuple)
    shown = ", ".join(class_tuple) if len(class_tuple) <= 20 else f"{len(class_tuple)} classes"
    responses = texts(table["response"])
    no_answer = responses.isna() | responses.str.lower().isin(_NO_ANSWER)
    responses = responses.where(~no_answer, None)
    for i in np.flatnonzero((~no_answer & ~responses.isin(allowed)).to_numpy()):
        r = responses.iloc[i]
        problems.add(
            "response outside class set",
            f"{where(i, 'response')}: {r!r} is not in the class set ({shown})"
            f"{_suggest(r, class_tuple)}; leave the cell empty or write 'na' for no answer",
        )
    table["response"] = responses

    for col in ("rt", "rt_ms", "confidence"):
        if col not in table.columns:
            continue
        values: list[float] = []
        for i, v in enumerate(table[col]):
            if _is_missing(v) or str(v).strip().lower() in _NO_ANSWER:
                values.append(float("nan"))
                continue
            x = _as_number(v)
            if x is None:
                problems.add(f"non-numeric {col}", f"{where(i, col)}: {str(v)!r} is not a number")
                values.append(float("nan"))
            else:
                values.append(x)
        table[col] = np.asarray(values, dtype=np.float64)
    if "rt_ms" in table.columns and "rt" not in table.columns:
        table["rt"] = table["rt_ms"] / 1000.0  # one unit downstream: seconds

    if "observer_kind" in table.columns:
        kinds = texts(table["observer_kind"])
        for i, k in enumerate(kinds):
            if k is not None and k not in OBSERVER_KINDS:
                problems.add(
                    "observer kind",
                    f"{where(i, 'observer_kind')}: must be 'human' or 'model', got {k!r}",
                )
        valid = kinds.where(kinds.isin(OBSERVER_KINDS), None)  # bad ones were reported above
        table["observer_kind"] = valid.fillna(default_kind)
        mixed = table.dropna(subset=["observer"]).groupby("observer")["observer_kind"].nunique()
        for obs in mixed[mixed > 1].index:
            problems.add(
                "observer kind",
                f"{source}: column 'observer_kind': observer {obs!r} is marked both human "
                "and model",
            )
    else:
        table["observer_kind"] = default_kind

    keyed = table.dropna(subset=["observer", "stimulus_id"])
    dup = keyed[keyed.duplicated(["observer", "stimulus_id"], keep=False)]
    for (obs, ident), rows in dup.groupby(["observer", "stimulus_id"], sort=False).groups.items():
        unit, base = ("lines", first_line) if first_line is not None else ("rows", 1)
        lines = ", ".join(str(int(r) + base) for r in rows)
        problems.add(
            "duplicate trial",
            f"{source}: observer {obs!r} answered stimulus {ident!r} more than once ({unit} "
            f"{lines})",
        )

    if problems:
        raise ReportgenError(problems.lines())
    front = ["observer", "stimulus_id", "response", "observer_kind"]
    table = table[front + [c for c in table.columns if c not in front]]
    return Trials(table=table, classes=class_tuple, sources=(source,))


def combine_trials(parts: Sequence[Trials]) -> Trials:
    """Stack trials tables from several files; an observer id may appear in only one of them.

    Observer ids must say which model or person they are (two files both using ``alexnet``
    would otherwise be merged silently), so a repeated id is an error naming both files.
    """
    if not parts:
        raise ValueError("combine_trials needs at least one Trials")
    classes = parts[0].classes
    problems: list[str] = []
    seen: dict[str, str] = {}
    for part in parts:
        if part.classes != classes:
            problems.append(f"{', '.join(part.sources)}: coded against a different class set")
        for obs in part.observers:
            if obs in seen:
                problems.append(
                    f"{', '.join(part.sources)}: column 'observer': observer {obs!r} also "
                    f"appears in {seen[obs]}; give each model and person a unique id"
                )
            else:
                seen[obs] = ", ".join(part.sources)
    if problems:
        raise ReportgenError(problems)
    table = pd.concat([p.table for p in parts], ignore_index=True)
    return Trials(table=table, classes=classes, sources=tuple(s for p in parts for s in p.sources))


def decision_matrix(trials: Trials, stimset: StimulusSet) -> tuple[tuple[str, ...], Tensor]:
    """Every observer's responses as class codes, aligned with the stimulus table.

    Returns
    -------
    observers : tuple[str, ...]
        Row order of ``codes`` (order of first appearance in the trials).
    codes : LongTensor, shape (n_observers, n_stimuli)
        ``codes[o, s]`` is the index into ``trials.classes`` of observer o's response to
        stimulus s (stimulus table order); -1 where o gave no answer or never saw s.
    """
    observers = trials.observers
    obs_index = {o: i for i, o in enumerate(observers)}
    stim_index = {s: i for i, s in enumerate(stimset.table["id"])}
    cls_index = {c: i for i, c in enumerate(trials.classes)}
    codes = np.full((len(observers), len(stim_index)), -1, dtype=np.int64)
    t = trials.table
    rows = t["observer"].map(obs_index).to_numpy()
    cols = t["stimulus_id"].map(stim_index).to_numpy()
    if pd.isna(cols).any():
        raise ValueError("trials name stimuli that are not in this stimulus set")
    vals = t["response"].map(lambda r: -1 if r is None else cls_index.get(r, -1)).to_numpy()
    codes[rows.astype(np.int64), cols.astype(np.int64)] = vals.astype(np.int64)
    return observers, torch.from_numpy(codes)


def model_decisions_table(
    observer_id: str,
    stimulus_ids: Sequence[str],
    decisions: Tensor,
    classes: Sequence[str],
    *,
    confidence: Tensor | None = None,
) -> pd.DataFrame:
    """A model's decisions as a trials table, in the same shape as people's responses.

    Parameters
    ----------
    observer_id : str
        The model's id (e.g. ``"resnet10-demo"``).
    stimulus_ids : sequence of str, length n
    decisions : LongTensor, shape (n,)
        Class index of each decision; -1 for no decision (written as an empty response).
    classes : sequence of str
        Class names in model-output order.
    confidence : Tensor, shape (n,), optional
        E.g. the probability of the chosen class; written as a ``confidence`` column.

    Returns
    -------
    DataFrame with columns ``observer, stimulus_id, response, observer_kind[, confidence]``.
    """
    codes = decisions.detach().to("cpu", torch.long).reshape(-1).tolist()
    if len(codes) != len(stimulus_ids):
        raise ValueError(f"{len(codes)} decisions for {len(stimulus_ids)} stimuli")
    names = list(classes)
    if any(c < -1 or c >= len(names) for c in codes):
        raise ValueError(f"decision codes must lie in -1..{len(names) - 1}")
    out = pd.DataFrame(
        {
            "observer": observer_id,
            "stimulus_id": [str(s) for s in stimulus_ids],
            "response": pd.Series([None if c < 0 else names[c] for c in codes], dtype=object),
            "observer_kind": "model",
        }
    )
    if confidence is not None:
        out["confidence"] = confidence.detach().to("cpu", torch.float64).reshape(-1).numpy()
    return out


# --------------------------------------------------------------------------------------------
# Everything a study reads, checked together


@dataclass(frozen=True, slots=True)
class StudyInputs:
    """The checked inputs of a study: stimuli, people's responses, logged model decisions."""

    config: Config
    stimuli: StimulusSet
    humans: Trials | None
    decisions: Trials | None  # decision-only studies: every model's logged decisions
    warnings: tuple[Caveat, ...] = ()  # not fatal: shown by `validate` and in the report
    left_out: tuple[str, ...] = ()  # people with too few usable answers (`usable_answers`)


def load_study_inputs(config: Config, stimset: StimulusSet | None = None) -> StudyInputs:
    """Load and check the stimulus table and every responses file a config names.

    `stimset` replaces the config's stimulus table when the stimuli were made at run time
    (``[stimuli] generator``).

    Problems are collected across all files and raised together; responses are checked once
    the stimulus table itself is valid (their ids are checked against it). Also checks the
    class count against ``model.num_classes`` and the stimuli per class (`sample_size_limits`).
    """
    if stimset is None:
        stimset = load_stimuli_from_config(config)
    problems: list[str] = []
    warnings: list[Caveat] = []
    cfg = config.path
    if config.model is not None and config.model.num_classes is not None:
        if len(stimset.classes) != config.model.num_classes:
            k = config.model.num_classes
            problems.append(
                f"{cfg}: model.num_classes: is {k} but the stimuli have "
                f"{len(stimset.classes)} classes ({', '.join(stimset.classes[:20])}); list the "
                "model's classes in stimuli.classes" + _labels_out_of_range(stimset, k)
            )
    minimum, recommended = sample_size_limits(stimset)
    problems += sample_size_problems(stimset, minimum, what="the analysis needs")
    counts = stimset.table["label"].value_counts()
    short = counts[(counts >= minimum) & (counts < recommended)]
    if len(short):
        # 10 stimuli per dimension of the widest continuous factor group (methods.md 4.2).
        detail = {"short": len(short), "classes": len(counts), "recommended": recommended}
        detail |= {"fewest": str(short.idxmin()), "count": int(short.min())}
        warnings.append(Caveat("few_per_class", detail))

    humans: Trials | None = None
    if config.humans is not None:
        path = config.humans.responses
        if config.collect is not None and not path.exists():
            # the study collects its panel in the browser and nobody has answered yet
            problems.append(
                f"{path}: no answers yet; run `reportgen collect` on this study first, "
                "or leave [humans] out to analyse the model alone"
            )
        else:
            try:
                humans = load_trials(path, stimset, default_kind="human")
            except ReportgenError as err:
                problems += err.problems
    parts: list[Trials] = []
    unusable: list[str] = []  # readable logs whose decisions cannot be analysed
    if config.decisions is not None:
        need = min_class_trials(widest_group(stimset))
        for path in config.decisions.models:
            try:
                part = load_trials(path, stimset, default_kind="model")
            except ReportgenError as err:
                problems += err.problems
                continue
            parts.append(part)
            # A model is what the study is about: unlike a person, it cannot be left out.
            ids, codes = decision_matrix(part, stimset)
            for model, row in zip(ids, codes, strict=True):
                if part.kinds[model] == "model" and (
                    why := decisions_too_few(row, len(stimset.classes), need)
                ):
                    unusable.append(f"{path}: model {model!r} cannot be analysed: {why}")
    decisions: Trials | None = None
    if parts and not problems:
        everyone = parts + ([humans] if humans is not None else [])
        try:
            combine_trials(everyone)  # observer ids unique across every file
            decisions = combine_trials(parts)
        except ReportgenError as err:
            problems += err.problems
    problems += unusable
    if problems:
        raise ReportgenError(problems)
    left_out: tuple[str, ...] = ()
    if humans is not None:
        ids, codes = decision_matrix(humans, stimset)
        n_classes = len(stimset.classes)
        left_out = tuple(
            o for o, row in zip(ids, codes, strict=True) if not usable_answers(row, n_classes)
        )
        if left_out:
            detail = {"observers": ", ".join(left_out), "count": len(left_out)}
            warnings.append(
                Caveat("observers_left_out", detail | {"minimum": min_answers(n_classes)})
            )
    return StudyInputs(
        config=config,
        stimuli=stimset,
        humans=humans,
        decisions=decisions,
        warnings=tuple(warnings),
        left_out=left_out,
    )


def _labels_out_of_range(stimset: StimulusSet, num_classes: int) -> str:
    """For class indices as labels ('0', '1', ...): the ones a `num_classes`-way model can
    never output, each with the first stimulus carrying it."""
    if not all(c.isdigit() for c in stimset.classes):
        return ""
    table = stimset.table
    beyond = [c for c in stimset.classes if int(c) >= num_classes]
    named = [f"'{c}' (first at id {table['id'][table['label'] == c].iloc[0]})" for c in beyond]
    if not named:
        return ""
    return (
        f"; label {', '.join(named[:10])} cannot be an output of a {num_classes}-class model "
        f"(outputs 0 to {num_classes - 1})"
    )


def min_answers(n_classes: int) -> int:
    """Fewest answers a person must give to be analysed: two per class, at least ten."""
    return max(10, 2 * n_classes)


def usable_answers(codes: Tensor, n_classes: int) -> bool:
    """True when a person's answers (class codes, -1 for none) can be analysed: at least
    `min_answers`, and not all the same class (such decisions carry no information)."""
    given = codes[codes >= 0]
    return given.numel() >= min_answers(n_classes) and bool((given != given[0]).any())
