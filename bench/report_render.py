"""Benchmark of `reportgen render` against the run it renders, run by ``make bench``.

For each embedded demo (parts, cue-conflict) it runs the study once in English
(``reportgen demo NAME --lang en``), then renders the Japanese report of that run
(``reportgen render RUN --lang ja``) a few times, each in a fresh process and a fresh output
folder, and prints the run's wall time, each render's, and the median render as a share of
the run (the target: under 10 %). It also checks that rendering left `results.json` byte
for byte as the run wrote it. Nothing is recorded in a history store.

Both are whole commands as a user types them (interpreter start, imports and exit
included), on the same machine in the same invocation.

Usage: ``python bench/report_render.py [--demos parts,cue-conflict] [--renders 3]``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTGEN = [sys.executable, "-m", "reportgen"]


def _timed(args: list[str]) -> float:
    """Wall seconds of one reportgen command in its own process; stops on failure."""
    start = time.perf_counter()
    done = subprocess.run(REPORTGEN + args, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"reportgen {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", default="parts,cue-conflict")
    parser.add_argument("--renders", type=int, default=3)
    args = parser.parse_args()

    print("demo          run (en)   render --lang ja, each      median   share of the run")
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
        for demo in args.demos.split(","):
            run_dir = Path(tmp) / demo
            run_s = _timed(["demo", demo, "--out", str(run_dir), "--lang", "en", "-q"])
            results = run_dir / "results.json"
            before = _sha256(results)
            renders = [
                _timed(
                    ["render", str(run_dir), "--lang", "ja", "--out", str(run_dir / f"ja{i}"), "-q"]
                )
                for i in range(args.renders)
            ]
            if _sha256(results) != before:
                sys.exit(f"{demo}: rendering changed results.json")
            median = statistics.median(renders)
            each = ", ".join(f"{s:.2f}" for s in renders)
            print(
                f"{demo:<13} {run_s:7.1f} s   {each:<24} {median:5.2f} s   "
                f"{100 * median / run_s:5.1f} %"
            )
    print("results.json unchanged by every render.")


if __name__ == "__main__":
    main()
