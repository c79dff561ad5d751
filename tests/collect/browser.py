"""Real-browser helpers: the system's Chromium driven by Playwright, and `reportgen collect`
run as its own process (so a test can kill it the way a crash or a power cut would).

Chromium comes from the system (Debian: ``apt-get install chromium``), never from
``playwright install``: CI installs it in ``.ci/run``, and a developer without it is told what
to install instead of seeing the browser tests pass without running.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: Headless Chromium without the sandbox (CI runs as root), the GPU, or any call home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """The Chromium executable, or a test failure that says how to install it."""
    if CHROMIUM.is_file():
        return str(CHROMIUM)
    if os.environ.get("CI"):
        pytest.fail(
            f"{CHROMIUM} is missing on CI: .ci/run installs it with apt-get install chromium"
        )
    pytest.fail(
        f"the real-browser tests of `reportgen collect` need Chromium at {CHROMIUM}: install it "
        "with `sudo apt-get install chromium` (Debian/Ubuntu), then run the tests again"
    )


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectServer:
    """`reportgen collect CONFIG --port PORT` in a child process."""

    def __init__(self, config: Path, port: int) -> None:
        self.config, self.port = config, port
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> str:
        command = [sys.executable, "-m", "reportgen", "collect", str(self.config)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()  # "Open URL" once it listens
        if not line.startswith("Open ") or time.monotonic() > deadline:
            self.process.kill()
            raise AssertionError(f"collect did not start: {line!r} {self.process.stderr.read()}")
        self.url = line.split(" ", 1)[1].strip()
        return self.url

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no flush: what a crash leaves."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Session:
    """What an observer saw and did, as the test recorded it."""

    trials: list[tuple[str, str, bool]] = field(default_factory=list)  # stimulus, answer, practice
    panels: list[str] = field(default_factory=list)  # intro, practice-done, break, end, ...


def answer_until(
    page,
    answer: Callable[[str], str],
    classes: tuple[str, ...],
    *,
    session: Session | None = None,
    stop_after: int | None = None,
    wait_ms: int = 0,
    keys: Callable[[int], bool] = lambda n: False,
) -> Session:
    """Go through the page as a person would until the end page (or `stop_after` answers
    given): press the panels' buttons, answer each trial with `answer(stimulus id)` after
    `wait_ms`, by a key press where `keys(n)` is true for the n-th answer, else a click."""
    session = session or Session()
    given = 0
    while stop_after is None or given < stop_after:
        page.wait_for_selector("#choices:not([hidden]), #message:not([hidden])")
        message = page.locator("#message")
        if message.is_visible():
            view = message.get_attribute("data-view")
            session.panels.append(view)
            if view == "end":
                return session
            if view in ("lost", "rejected"):
                raise AssertionError(f"the page says {message.inner_text()!r}")
            if view == "break":  # a key press here, clicks on the other panels
                page.keyboard.press("Enter")
            else:
                page.click("#go")
            page.wait_for_selector("#message", state="hidden")
            continue
        stimulus = page.get_attribute("#stimulus", "data-stimulus")
        practice = page.locator("#practice-banner").is_visible()
        response = answer(stimulus)
        if wait_ms:
            page.wait_for_timeout(wait_ms)
        if keys(len(session.trials)):
            page.keyboard.press(str(classes.index(response) + 1))
        else:
            page.click(f"#choices button[data-response='{response}']")
        session.trials.append((stimulus, response, practice))
        given += 1
        page.wait_for_selector("#choices", state="hidden")
    return session


def read_trials(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


#: Records, independently of the page's own code, how long each stimulus was in the page:
#: from the change that shows it to the change that hides it (each is painted in the frame
#: whose callback made it, so this is the time on screen to within that frame's drawing).
FLASH_RECORDER = """
window.__flashes = [];
document.addEventListener("DOMContentLoaded", () => {
  const img = document.getElementById("stimulus");
  if (!img) return;
  let on = null;
  new MutationObserver(() => {
    const now = performance.now();
    if (!img.hidden && on === null) on = now;
    else if (img.hidden && on !== null) {
      window.__flashes.push({ stimulus: img.dataset.stimulus, ms: now - on });
      on = null;
    }
  }).observe(img, { attributes: true, attributeFilter: ["hidden"] });
});
"""
