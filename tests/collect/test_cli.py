"""`reportgen collect` at the command line: one red line for each mistake a user can make,
and an exposed address that warns and needs its token."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from tests.collect.browser import free_port
from tests.collect.studies import write_study


def _run(*args: str):
    return CliRunner().invoke(app, ["collect", *args])


def test_help_lists_the_options() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for option in ("--port", "--host", "--observer", "--lang"):
        assert option in result.output


@pytest.mark.parametrize("observer", ["../x", "<script>", "humans"])
def test_a_bad_observer_id_is_one_line_and_exit_2(study: Path, observer: str) -> None:
    result = _run(str(study), "--observer", observer)
    assert result.exit_code == 2
    assert result.output.startswith("error: --observer: ") and result.output.count("\n") == 1


def test_a_busy_port_is_one_line_naming_it(study: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(str(study), "--port", str(port))
    assert result.exit_code == 2
    assert f"--port: cannot listen on 127.0.0.1:{port}" in result.output


def test_a_subset_the_stimuli_cannot_give_is_named(tmp_path: Path) -> None:
    config = write_study(tmp_path / "s", collect="[collect.per_condition]\nstandard = 9\n")
    result = _run(str(config), "--port", "0")
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "collect.per_condition.standard: 9 stimuli asked, the condition has 3" in said


def test_a_trials_file_of_someone_else_is_refused_and_kept(tmp_path: Path) -> None:
    config = write_study(tmp_path / "s")
    theirs = tmp_path / "s" / "panel.csv"
    theirs.write_text("observer,stimulus_id,response\nx,nut-00,nut\n", encoding="utf-8")
    result = _run(str(config), "--port", "0")
    assert result.exit_code == 2 and "was not written by `reportgen collect`" in result.output
    assert theirs.read_text(encoding="utf-8") == "observer,stimulus_id,response\nx,nut-00,nut\n"


@pytest.mark.slow
def test_an_exposed_address_warns_and_needs_the_token_in_the_url(tmp_path: Path) -> None:
    # in Japanese, with the class names the study gives for Japanese reports
    study = write_study(tmp_path / "s", extra='[labels.ja.classes]\nnut = "ナット"\n')
    port = free_port()
    command = [sys.executable, "-m", "reportgen", "collect", str(study), "--host", "0.0.0.0"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--observer", "p1", "--lang", "ja"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith(f"Open http://0.0.0.0:{port}/?observer=p1&token="), line
        url = line.split(" ", 1)[1].strip().replace("0.0.0.0", "127.0.0.1")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
            text = page.read().decode("utf-8")
        setup = json.loads(text.split('id="setup">', 1)[1].split("</script>", 1)[0])
        assert '<html lang="ja">' in text and setup["strings"]["title"] == "どのクラスですか？"
        # a Japanese name where the study gives one, else the class id
        assert [c["name"] for c in setup["classes"]] == ["bolt", "ナット", "pin"]
        bare = url.split("&token=")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=10)
        assert refused.value.code == 403
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    said = " ".join(err.split())
    assert "warning: listening on 0.0.0.0: other machines can reach this server" in said
