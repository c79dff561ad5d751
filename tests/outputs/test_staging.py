"""outputs.staging: a run replaces only what reportgen wrote, and swaps its folder in whole."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.errors import ReportgenError
from reportgen.outputs import staging
from reportgen.outputs.staging import MARKER, check_out_dir, remove_stale_siblings, staged_output


def _report(folder: Path, text: str) -> Path:
    """A finished output folder as a run leaves it, holding `text` in results.json."""
    with staged_output(folder) as staged:
        (staged.stage / "results.json").write_text(text, encoding="utf-8")
    return folder


def _siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ---- what --out may be ------------------------------------------------------------------------


def test_a_folder_with_the_users_files_is_refused_and_kept(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "keepme.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ReportgenError, match="reportgen did not write"):
        check_out_dir(d)
    assert (d / "keepme.txt").read_text(encoding="utf-8") == "mine"


def test_an_existing_file_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    with pytest.raises(ReportgenError, match="is a file"):
        check_out_dir(notes)
    assert notes.read_text(encoding="utf-8") == "mine"


def test_the_current_folder_home_root_and_folders_holding_inputs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = tmp_path / "study"
    (study / "data").mkdir(parents=True)
    config = study / "study.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.chdir(study / "data")
    with pytest.raises(ReportgenError, match="current folder"):
        check_out_dir(Path("."))
    with pytest.raises(ReportgenError, match="current folder"):
        check_out_dir(Path(".."))  # holds the current folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportgenError, match="an input of this run"):
        check_out_dir(study, inputs=[config])
    monkeypatch.setenv("HOME", str(study / "data"))
    with pytest.raises(ReportgenError, match="home folder"):
        check_out_dir(Path("~"))
    with pytest.raises(ReportgenError, match="root of a file system"):
        check_out_dir(Path("/"))
    assert config.exists()


def test_a_new_folder_an_empty_one_and_an_earlier_runs_folder_are_accepted(
    tmp_path: Path,
) -> None:
    assert check_out_dir(tmp_path / "new" / "report") == tmp_path / "new" / "report"
    (tmp_path / "empty").mkdir()
    assert check_out_dir(tmp_path / "empty") == tmp_path / "empty"
    earlier = _report(tmp_path / "earlier", "first")
    assert (earlier / MARKER).is_file()
    assert check_out_dir(earlier) == earlier


# ---- the swap ---------------------------------------------------------------------------------


def test_a_second_run_replaces_the_first_whole_and_leaves_no_sibling(tmp_path: Path) -> None:
    out = _report(tmp_path / "out", "first")
    (out / "only-in-first.txt").write_text("x", encoding="utf-8")
    _report(out, "second")
    assert (out / "results.json").read_text(encoding="utf-8") == "second"
    assert not (out / "only-in-first.txt").exists()
    assert _siblings(tmp_path) == []


@pytest.mark.parametrize("exchange", ["atomic", "two renames"])
def test_a_failure_after_the_swap_puts_the_previous_report_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: str
) -> None:
    if exchange == "two renames":
        no_exchange = OSError(errno.ENOSYS, "no renameat2")
        monkeypatch.setattr(staging, "_exchange", lambda a, b: (_ for _ in ()).throw(no_exchange))
    out = _report(tmp_path / "out", "first")
    with pytest.raises(RuntimeError, match="history"), staged_output(out) as staged:
        (staged.stage / "results.json").write_text("second", encoding="utf-8")
        staged.publish()
        assert (out / "results.json").read_text(encoding="utf-8") == "second"
        raise RuntimeError("the history row could not be written")
    assert (out / "results.json").read_text(encoding="utf-8") == "first"
    assert _siblings(tmp_path) == []


def test_a_failure_between_the_two_renames_leaves_the_previous_report_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an atomic exchange the swap is two renames; the second one fails here."""
    out = _report(tmp_path / "out", "first")
    monkeypatch.setattr(
        staging, "_exchange", lambda a, b: (_ for _ in ()).throw(OSError(errno.EINVAL, "no"))
    )
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if ".partial-" in self.name:  # the new report moving into place
            raise OSError(errno.EIO, "injected I/O error")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="injected"), staged_output(out) as staged:
        (staged.stage / "results.json").write_text("second", encoding="utf-8")
    assert (out / "results.json").read_text(encoding="utf-8") == "first"
    monkeypatch.setattr(Path, "rename", real_rename)
    assert [n for n in _siblings(tmp_path) if ".old-" in n] == []


def test_an_interrupted_run_leaves_the_previous_report_and_no_staging(tmp_path: Path) -> None:
    out = _report(tmp_path / "out", "first")
    with pytest.raises(KeyboardInterrupt), staged_output(out) as staged:
        (staged.stage / "results.json").write_text("half", encoding="utf-8")
        raise KeyboardInterrupt
    assert (out / "results.json").read_text(encoding="utf-8") == "first"
    assert _siblings(tmp_path) == []


def test_staging_left_by_a_killed_run_is_removed_by_the_next_and_nothing_else(
    tmp_path: Path,
) -> None:
    # A process that has exited: its pid is free (reuse within the test is very unlikely).
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    killed = tmp_path / f".out.partial-{pid}-0123abcd"
    killed.mkdir()
    (killed / MARKER).write_text("", encoding="utf-8")
    users = tmp_path / f".notes.partial-{pid}-0123abcd"  # same pattern, but no marker
    users.mkdir()
    live = tmp_path / f".out.partial-{os.getppid()}-0123abcd"  # a run still going
    live.mkdir()
    (live / MARKER).write_text("", encoding="utf-8")
    assert remove_stale_siblings(tmp_path) == [killed]
    assert users.exists() and live.exists()


def test_files_and_folders_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = _report(tmp_path / "out", "x")
        from reportgen.files import atomic_file

        with atomic_file(out / "report.html") as tmp:
            tmp.write_text("<p>", encoding="utf-8")
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o750
    assert ((out / "results.json").stat().st_mode & 0o777) == 0o640
    assert ((out / "report.html").stat().st_mode & 0o777) == 0o640


def test_the_atomic_exchange_swaps_two_folders_on_this_system(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").touch()
    (b / "from-b").touch()
    try:
        staging._exchange(a, b)
    except OSError as err:
        if err.errno in staging._NO_EXCHANGE:
            pytest.skip(f"this file system has no atomic exchange ({err}); the fallback is tested")
        raise
    assert (a / "from-b").exists() and (b / "from-a").exists()


def test_sigterm_during_a_run_leaves_the_previous_report_and_no_staging(tmp_path: Path) -> None:
    import signal

    from reportgen.cli.terminal import cleanup_on_terminate

    out = _report(tmp_path / "out", "first")
    with pytest.raises(SystemExit) as stopped, cleanup_on_terminate(), staged_output(out) as s:
        (s.stage / "results.json").write_text("half", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert (out / "results.json").read_text(encoding="utf-8") == "first"
    assert _siblings(tmp_path) == []
