"""The one way reportgen writes a run's output folder: staged beside it, swapped in whole.

A run writes everything into a hidden staging folder next to ``--out`` and swaps it into
place only when complete; the previous report stays in place until then and is restored if
anything after the swap fails (the history row, for one). A run replaces only a folder an
earlier run wrote: each output folder carries a marker file that only reportgen writes, and
`check_out_dir` refuses every other existing path. Files and folders follow the umask.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen.errors import ReportgenError

#: The marker in every folder reportgen writes; a folder without it is never replaced.
MARKER = ".reportgen-output"
_MARKER_TEXT = (
    "This folder was written by reportgen; the next run with --out here replaces it whole.\n"
)
# Hidden siblings of an output folder while a run is writing it (`partial`) or swapping it
# (`old`): `.<name>.<kind>-<pid>-<random>`. The pid tells a live run's from a killed one's.
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)-[0-9a-f]{8}$")


def is_output_folder(path: Path) -> bool:
    """True when `path` is a folder an earlier reportgen run wrote (it carries the marker)."""
    marker = path / MARKER
    return path.is_dir() and not path.is_symlink() and marker.is_file() and not marker.is_symlink()


def check_out_dir(out_dir: Path, *, inputs: Iterable[Path] = ()) -> Path:
    """The absolute output folder for `out_dir`, or a ReportgenError saying why a run must not
    write there.

    Refused: an existing file; an existing folder with content that no reportgen run wrote;
    ``/``, a mount point, the home folder, the current folder, and any folder that holds
    the current folder or one of `inputs` (the config and the files it reads), since the run
    replaces the folder whole.
    """
    given = Path(out_dir).expanduser()
    out = given.resolve()
    shown = str(given)

    def refuse(why: str) -> ReportgenError:
        return ReportgenError(f"--out {shown}: {why}; choose a new folder (e.g. --out report)")

    if out == Path(out.anchor) or os.path.ismount(out):
        raise refuse("is the root of a file system or a mount point")
    home = Path.home().resolve()
    if out == home or home.is_relative_to(out):
        raise refuse("is your home folder or holds it")
    cwd = Path.cwd().resolve()
    if cwd.is_relative_to(out):
        raise refuse("is the current folder or holds it")
    for path in inputs:
        p = Path(path).resolve()
        if p.is_relative_to(out):
            raise refuse(f"holds {p}, an input of this run, and a run replaces its --out whole")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise refuse("is a file, not a folder")
        if any(out.iterdir()) and not is_output_folder(out):
            raise refuse(
                "is a folder with files that reportgen did not write (it lacks the "
                f"{MARKER} marker a run leaves), and a run replaces its --out whole"
            )
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_siblings(parent: Path) -> list[Path]:
    """Remove the staging folders that killed runs left in `parent` (their process is gone
    and they carry the marker); return what was removed. Anything else is left alone."""
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _SIBLING.match(entry.name)
        if m is None or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        if is_output_folder(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _sibling(out: Path, kind: str) -> Path:
    return out.with_name(f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); OSError with
    ENOSYS/EINVAL/ENOTSUP where the system or file system has no such operation."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a))


_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def _swap(stage: Path, out: Path) -> None:
    """Put `stage` at `out` and the old `out` at `stage`, atomically where the file system
    allows; otherwise by two renames, undoing the first if the second fails."""
    try:
        _exchange(stage, out)
        return
    except OSError as err:
        if err.errno not in _NO_EXCHANGE:
            raise
    hold = _sibling(out, "old")
    out.rename(hold)
    try:
        stage.rename(out)
    except BaseException:
        hold.rename(out)
        raise
    hold.rename(stage)


class StagedOutput:
    """A run's output folder while it is written: `stage` to write into, then `publish`."""

    def __init__(self, out_dir: Path) -> None:
        self.out = out_dir
        self.stage = _sibling(out_dir, "partial")
        self.previous: Path | None = None  # the replaced report, kept until the run succeeds
        self.published = False

    def publish(self) -> None:
        """Move the finished stage to the output folder; the previous report is kept aside
        (restored if the run fails after this) until the run ends."""
        if self.out.is_dir() and is_output_folder(self.out):
            _swap(self.stage, self.out)
            self.previous = self.stage
        else:
            # Absent or an empty folder: rename replaces an empty folder atomically.
            self.stage.rename(self.out)
        self.published = True

    def _restore(self) -> None:
        if self.previous is not None:
            _swap(self.previous, self.out)  # the failed run's report goes to `previous`
        else:
            self.out.rename(self.stage)
        self.published = False


@contextmanager
def staged_output(out_dir: Path) -> Iterator[StagedOutput]:
    """Stage a run's output next to `out_dir` (checked by `check_out_dir`).

    Code in the block writes into ``staged.stage`` and calls ``staged.publish()`` when the
    output is complete; anything the block does after that (recording the history row) can
    still fail, and then the previous report is put back. On any failure, or an interrupt,
    no staging folder is left behind and `out_dir` holds what it held before.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(out_dir.parent)
    staged = StagedOutput(out_dir)
    staged.stage.mkdir()
    try:
        (staged.stage / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
        yield staged
        if not staged.published:
            staged.publish()
    except BaseException:
        if staged.published:
            staged._restore()
        raise
    finally:
        shutil.rmtree(staged.stage, ignore_errors=True)
