"""The trials file: an append-only CSV that `[humans] responses` reads as it is.

Each answer is one line written with a single ``write`` to a file opened for appending, then
``fsync``-ed before the answer is acknowledged, so a killed server or a power cut loses at most
the answer being written. A line cut short by such a crash is the only thing ever removed,
and only from a file whose header says `reportgen collect` wrote it and whose other lines all
check out; any other existing file is refused, never changed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reportgen.errors import ReportgenError

#: The columns, in order. ``rt_ms`` is milliseconds from the answer buttons' onset;
#: ``trial`` the position (from 1) in the observer's order; ``timestamp`` UTC, ISO 8601.
COLUMNS = ("observer", "stimulus_id", "response", "rt_ms", "trial", "timestamp")
HEADER = ",".join(COLUMNS) + "\n"

#: Observer ids: letters, digits and ``- _ .``, starting with a letter or digit, at most 64.
#: They reach a CSV, a URL and a page, so nothing that is markup, a path or a formula passes.
_OBSERVER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The pooled panel's id in results.json; a person may not take it.
RESERVED_OBSERVERS = frozenset({"humans"})
#: Longest response time accepted: an hour (a break is taken between trials, not in one).
MAX_RT_MS = 3_600_000.0


def observer_problem(observer: object) -> str | None:
    """Why `observer` cannot be an observer id (one line), or None when it can."""
    if not isinstance(observer, str) or not _OBSERVER.fullmatch(observer):
        return (
            "an observer id is 1 to 64 letters, digits, '-', '_' or '.', starting with a "
            "letter or digit"
        )
    if observer.lower() in RESERVED_OBSERVERS:
        return f"'{observer}' is reserved for the pooled panel; choose another id"
    return None


def check_trials_file(path: Path) -> None:
    """Refuse, before anything is loaded, an existing file collect did not write."""
    try:
        with open(path, "rb") as f:
            first = f.read(len(HEADER))
    except FileNotFoundError:
        return
    except OSError as err:
        raise ReportgenError(f"{path}: cannot read the trials file ({err})") from None
    if first != HEADER.encode("utf-8"):
        raise ReportgenError(_foreign(path))


def _foreign(path: Path) -> str:
    return (
        f"{path}: exists and was not written by `reportgen collect` (its first line is not "
        f"'{HEADER.strip()}'); it is left as it is: set [collect] trials to a new file"
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """One recorded trial."""

    observer: str
    stimulus_id: str
    response: str
    rt_ms: float
    trial: int
    timestamp: str


class TrialStore:
    """The trials file of one study, opened for appending; what it already holds is read
    once, checked, and kept per observer.

    Parameters
    ----------
    path : Path
        The CSV. Created (with its header) when missing.
    stimulus_ids : collection of str
        The study's stimuli; a line naming another is an error.
    classes : collection of str
        The answers allowed.
    """

    def __init__(self, path: Path, stimulus_ids: Collection[str], classes: Collection[str]):
        self.path = Path(path)
        self._ids = stimulus_ids
        self._classes = classes
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Answer]] = {}
        if self.path.exists():
            self._resume()
            flags = os.O_WRONLY | os.O_APPEND
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        try:
            self._fd = os.open(self.path, flags, 0o666)
        except OSError as err:
            raise ReportgenError(f"{self.path}: cannot open the trials file ({err})") from None
        if flags & os.O_CREAT:
            self._write(HEADER)
            _sync_folder(self.path.parent)  # the new name itself survives a crash

    def close(self) -> None:
        os.close(self._fd)

    def answers(self, observer: str) -> dict[str, Answer]:
        """Stimulus id -> the observer's recorded answer (a copy)."""
        with self._lock:
            return dict(self._answers.get(observer, {}))

    def observers(self) -> tuple[str, ...]:
        """Every observer with a recorded answer, in order of first answer."""
        with self._lock:
            return tuple(self._answers)

    def append(
        self, observer: str, stimulus_id: str, response: str, rt_ms: float, trial: int
    ) -> Answer:
        """Record one answer durably (written and fsync-ed before returning).

        Raises
        ------
        ValueError
            When the answer is not valid (an unknown stimulus or response, a bad observer
            id or time, or a stimulus the observer already answered); nothing is written.
        """
        if (why := observer_problem(observer)) is not None:
            raise ValueError(why)
        if stimulus_id not in self._ids:
            raise ValueError("not a stimulus of this study")
        if response not in self._classes:
            raise ValueError("not one of the study's classes")
        if not (isinstance(rt_ms, int | float) and math.isfinite(rt_ms)):
            raise ValueError("the response time is not a number")
        if not 0 <= rt_ms <= MAX_RT_MS:
            raise ValueError("the response time is out of range")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        answer = Answer(observer, stimulus_id, response, round(float(rt_ms), 1), trial, stamp)
        with self._lock:
            if stimulus_id in self._answers.get(observer, {}):
                raise ValueError("this observer already answered this stimulus")
            self._write(_line(answer))
            self._answers.setdefault(observer, {})[stimulus_id] = answer
        return answer

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            written = os.write(self._fd, data)  # one call: O_APPEND keeps the line whole
            if written != len(data):
                raise OSError(f"only {written} of {len(data)} bytes written")
            os.fsync(self._fd)
        except OSError as err:
            raise ReportgenError(f"{self.path}: cannot write the trials file ({err})") from None

    def _resume(self) -> None:
        """Read what an earlier session wrote. A last line a crash left unfinished is cut,
        and only once every complete line has passed its checks (a file that fails them is
        left exactly as it was); a last line that is whole but lacks its newline is kept."""
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise ReportgenError(f"{self.path}: cannot read the trials file ({err})") from None
        if not data.startswith(HEADER.encode("utf-8")):
            raise ReportgenError(_foreign(self.path))
        end = data.rfind(b"\n") + 1
        try:
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError as err:
            raise ReportgenError(f"{self.path}: not UTF-8 text ({err})") from None
        problems = []
        for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if n == 1:
                continue
            answer, why = self._parse(row)
            if why is not None:
                problems.append(f"{self.path}: line {n}: {why}")
                continue
            self._answers.setdefault(answer.observer, {})[answer.stimulus_id] = answer
        if len(problems) > 10:
            problems = problems[:10] + [f"{self.path}: ... and {len(problems) - 10} more lines"]
        if problems:
            raise ReportgenError(problems)
        if end < len(data):
            self._finish_last_line(data[end:], end)

    def _finish_last_line(self, tail: bytes, end: int) -> None:
        """Keep a whole last line (add its newline); cut one a crash left unfinished (it was
        never acknowledged to the browser, so its trial is shown again)."""
        try:
            row = next(csv.reader(io.StringIO(tail.decode("utf-8"))))
            answer, why = self._parse(row)
            # The time stamp comes last: cut short by a crash, it is not one `append` writes.
            stamp = row[-1]
            if datetime.fromisoformat(stamp).isoformat(timespec="milliseconds") != stamp:
                answer, why = None, "unfinished"
        except (UnicodeDecodeError, StopIteration, csv.Error, ValueError):
            answer, why = None, "unfinished"
        with open(self.path, "r+b") as f:
            if why is None:
                f.seek(0, os.SEEK_END)
                f.write(b"\n")
                self._answers.setdefault(answer.observer, {})[answer.stimulus_id] = answer
            else:
                f.truncate(end)
            f.flush()
            os.fsync(f.fileno())

    def _parse(self, row: list[str]) -> tuple[Answer | None, str | None]:
        """``(answer, None)`` for a valid line of this study, else ``(None, why)``."""
        if len(row) != len(COLUMNS):
            return None, f"expected {len(COLUMNS)} columns, got {len(row)}"
        observer, ident, response, rt, trial, stamp = row
        why = observer_problem(observer)
        if why is None and ident not in self._ids:
            why = f"stimulus {ident!r} is not in this study's stimuli"
        if why is None and response not in self._classes:
            why = f"response {response!r} is not one of the study's classes"
        if why is None and ident in self._answers.get(observer, {}):
            why = f"observer {observer!r} answered {ident!r} twice"
        if why is not None:
            return None, why
        try:
            return Answer(observer, ident, response, float(rt), int(trial), stamp), None
        except ValueError:
            return None, "rt_ms or trial is not a number"


def _line(a: Answer) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [a.observer, a.stimulus_id, a.response, f"{a.rt_ms:.1f}", a.trial, a.timestamp]
    )
    return buffer.getvalue()


def _sync_folder(folder: Path) -> None:
    """fsync a folder so a file just created in it is still there after a crash (POSIX)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every system (Windows); the file's own fsync still ran
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
