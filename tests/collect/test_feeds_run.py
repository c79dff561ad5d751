"""What collect writes is what `[humans] responses` reads: a panel collected through the
server's own code path feeds `reportgen run`, and the report names it as real people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.collect.app import create_app
from reportgen.collect.pictures import load_pictures
from reportgen.collect.server import collect_settings
from reportgen.collect.session import Sessions
from reportgen.collect.store import TrialStore
from reportgen.config import load_config
from reportgen.inputs.responses import load_trials
from tests.collect.studies import CLASSES, write_study


def _collect_panel(config_path: Path, observers: dict[str, int]) -> None:
    """Each observer answers every trial through the app: right except on every `k`-th
    stimulus of their order, where they answer the next class."""
    config = load_config(config_path)
    settings = collect_settings(config)
    pictures = load_pictures(config)
    store = TrialStore(settings.trials, set(pictures.ids), set(pictures.classes))
    client = TestClient(create_app(Sessions(pictures, settings, store), lang="en"))
    truth = dict(zip(pictures.ids, pictures.stimset.table["label"], strict=True))
    for observer, k in observers.items():
        state = client.get(f"/api/state?observer={observer}").json()
        while not state["finished"]:
            nxt = state["next"]
            label = truth[nxt["stimulus"]]
            wrong = nxt["trial"] % k == 0 and not nxt["practice"]
            response = CLASSES[(CLASSES.index(label) + wrong) % len(CLASSES)]
            body = dict(nxt, response=response, rt_ms=350.0 + nxt["trial"])
            reply = client.post(f"/api/answer?observer={observer}", json=body)
            assert reply.status_code == 200, reply.text
            state = reply.json()
    store.close()


def test_the_trials_file_loads_as_a_responses_table_with_rt_in_seconds(tmp_path: Path) -> None:
    config_path = write_study(tmp_path / "s", humans=True)
    _collect_panel(config_path, {"p1": 3})
    config = load_config(config_path)
    trials = load_trials(config.humans.responses, load_pictures(config).stimset)
    table = trials.table
    assert trials.humans == ("p1",) and len(table) == 6
    assert list(table.columns[:4]) == ["observer", "stimulus_id", "response", "observer_kind"]
    assert table["rt"].tolist() == pytest.approx((table["rt_ms"] / 1000).tolist())
    assert table["rt"].min() == pytest.approx(0.351)


@pytest.mark.slow
def test_a_collected_panel_feeds_run_and_the_report_calls_it_real_people(tmp_path: Path) -> None:
    config_path = write_study(
        tmp_path / "s",
        per_class=24,
        humans=True,
        extra='[analysis]\npermutations = 100\nbootstrap = 0\ndevice = "cpu"\n',
    )
    _collect_panel(config_path, {"p1": 4, "p2": 5})
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(config_path), "--out", str(out), "--no-history"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["study"]["humans"] == ["p1", "p2"]
    assert doc["study"]["humans_simulated"] is False
    assert not [w for w in doc["warnings"] if w["code"] == "simulated_panel"]
    accuracy = {
        (a["observer"], a["condition"]): a["accuracy"] for a in doc["behaviour"]["accuracy"]
    }
    # p1 errs on every 4th trial of 72, p2 on every 5th: the report computes it from the file
    p1 = [v for (o, _), v in accuracy.items() if o == "p1"]
    assert p1 and all(0.6 < v < 0.9 for v in p1)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "2 people" in html and "2. Model versus people" in html
    assert "simulated" not in html.lower()
