"""The ASGI app through Starlette's test client: a session from start to end, resuming from
the file, and the server's checks on everything a request carries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from reportgen.collect.app import create_app
from reportgen.collect.pictures import load_pictures
from reportgen.collect.server import collect_settings
from reportgen.collect.session import Sessions
from reportgen.collect.store import TrialStore
from reportgen.config import load_config
from tests.collect.studies import CLASSES, write_study


def _client(config_path: Path, **kwargs) -> tuple[TestClient, TrialStore]:
    config = load_config(config_path)
    settings = collect_settings(config)
    pictures = load_pictures(config)
    store = TrialStore(settings.trials, set(pictures.ids), set(pictures.classes))
    app = create_app(Sessions(pictures, settings, store), lang="en", **kwargs)
    return TestClient(app), store


def _answer(client: TestClient, observer: str, state: dict, response: str = "nut"):
    nxt = state["next"]
    body = {"trial": nxt["trial"], "stimulus": nxt["stimulus"], "practice": nxt["practice"]}
    return client.post(
        f"/api/answer?observer={observer}", json=body | {"response": response, "rt_ms": 420.5}
    )


def test_a_session_runs_practice_then_every_stimulus_once_and_resumes(study: Path) -> None:
    client, store = _client(study)
    state = client.get("/api/state?observer=p1").json()
    assert state["next"] == {"trial": 1, "stimulus": state["next"]["stimulus"], "practice": True}
    state = _answer(client, "p1", state).json()  # the practice trial: not written
    assert state["done"] == 0 and state["next"]["practice"] is False
    seen = []
    for _ in range(3):
        seen.append(state["next"]["stimulus"])
        state = _answer(client, "p1", state).json()
    assert state["done"] == 3 and state["total"] == 6
    store.close()

    # a new server on the same file: p1 goes on at trial 4 with no practice
    client, store = _client(study)
    state = client.get("/api/state?observer=p1").json()
    assert state["next"]["trial"] == 4 and state["next"]["practice"] is False
    while not state["finished"]:
        seen.append(state["next"]["stimulus"])
        state = _answer(client, "p1", state).json()
    store.close()
    rows = list(csv.DictReader(open(study.parent / "panel.csv", encoding="utf-8")))
    assert [r["stimulus_id"] for r in rows] == seen
    assert sorted(seen) == sorted(f"{c}-{i:02d}" for c in CLASSES for i in range(2))
    assert [int(r["trial"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {r["rt_ms"] for r in rows} == {"420.5"}


def test_a_repeated_answer_is_not_written_twice_and_a_wrong_trial_is_refused(
    study: Path,
) -> None:
    client, store = _client(study)
    state = client.get("/api/state?observer=p1").json()
    state = _answer(client, "p1", state).json()  # practice
    first = dict(state)
    after = _answer(client, "p1", first).json()
    again = _answer(client, "p1", first)  # the reply was lost and the page sent it again
    assert again.status_code == 200 and again.json() == after
    assert len(store.answers("p1")) == 1
    skipped = dict(after, next=dict(after["next"], trial=after["next"]["trial"] + 1))
    assert _answer(client, "p1", skipped).status_code == 409
    other = next(s for s in store.answers("p1").keys())  # answered already, other trial no.
    body = {"trial": 5, "stimulus": other, "practice": False, "response": "nut", "rt_ms": 1}
    assert client.post("/api/answer?observer=p1", json=body).status_code == 409
    assert len(store.answers("p1")) == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"stimulus": "../study.toml"}, 400),
        ({"stimulus": "nut-99"}, 400),
        ({"response": "<img src=x onerror=alert(1)>"}, 400),
        ({"response": "bolt "}, 400),
        ({"rt_ms": "fast"}, 400),
        ({"rt_ms": -1}, 400),
        ({"trial": "1"}, 400),
        ({"practice": "no"}, 400),
    ],
)
def test_answers_outside_the_study_are_refused(study: Path, change: dict, status: int) -> None:
    client, store = _client(study)
    state = client.get("/api/state?observer=p1").json()
    state = _answer(client, "p1", state).json()  # past practice: answers would be written
    nxt = state["next"]
    body = {"trial": nxt["trial"], "stimulus": nxt["stimulus"], "practice": False}
    body |= {"response": "nut", "rt_ms": 300} | change
    reply = client.post("/api/answer?observer=p1", json=body)
    assert reply.status_code == status, reply.text
    assert store.answers("p1") == {}
    assert client.post("/api/answer?observer=p1", content=b"not json").status_code == 400


@pytest.mark.parametrize("observer", ["../x", "%3Cscript%3Ealert(1)%3C/script%3E", "a%2Fb"])
def test_bad_observer_ids_are_refused_and_never_echoed(study: Path, observer: str) -> None:
    client, store = _client(study)
    assert client.get(f"/api/state?observer={observer}").status_code == 400
    page = client.get(f"/?observer={observer}")
    assert page.status_code == 400
    assert "<script>alert" not in page.text and "../x" not in page.text
    assert 'id="invalid"' in page.text  # the start page, saying the id is not valid
    assert store.observers() == ()


def test_pictures_are_served_by_study_id_only(study: Path) -> None:
    client, _ = _client(study)
    picture = client.get("/image?id=nut-01")
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    for ident in ["../stimuli.csv", "img/nut-01.png", "nut-01.png", "/etc/passwd"]:
        assert client.get("/image", params={"id": ident}).status_code == 404
    assert client.get("/static/collect.js").status_code == 200
    assert client.get("/static/..%2Fpage.html").status_code == 404
    assert client.get("/static/page.html").status_code == 404


def test_page_settings_cannot_break_out_of_their_script_tag(tmp_path: Path) -> None:
    # Class display names come from the config; one that is markup stays text in the page.
    config = write_study(
        tmp_path / "s", extra='[labels.en.classes]\nnut = "</script><script>alert(1)//"\n'
    )
    client, _ = _client(config, class_names={"nut": "</script><script>alert(1)//"})
    page = client.get("/?observer=p1")
    assert page.status_code == 200
    assert "</script><script>alert" not in page.text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)//" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp


def test_a_token_server_refuses_requests_without_it(study: Path) -> None:
    client, _ = _client(study, token="s3cret-token")
    assert client.get("/?observer=p1").status_code == 403
    assert client.get("/api/state?observer=p1").status_code == 403
    assert client.get("/image?id=nut-01").status_code == 403
    assert client.get("/?observer=p1&token=wrong").status_code == 403
    fresh = TestClient(client.app)
    opened = fresh.get("/?observer=p1&token=s3cret-token")
    assert opened.status_code == 200
    # the page's own requests carry the cookie the first page set
    assert fresh.get("/api/state?observer=p1").status_code == 200
    assert fresh.get("/image?id=nut-01").status_code == 200


def test_a_localhost_server_answers_only_to_localhost_names(study: Path) -> None:
    client, _ = _client(study, allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    assert client.get("http://localhost/?observer=p1").status_code == 200
    assert client.get("http://127.0.0.1:8000/api/state?observer=p1").status_code == 200
    # a page of another site whose name now points at 127.0.0.1 (DNS rebinding)
    assert client.get("http://attacker.example/api/state?observer=p1").status_code == 421


def test_a_response_time_too_large_for_a_number_is_refused(study: Path) -> None:
    client, store = _client(study)
    state = _answer(client, "p1", client.get("/api/state?observer=p1").json()).json()
    nxt = state["next"]
    body = dict(nxt, response="nut")
    for rt in ["1" + "0" * 400, "1e400"]:  # an integer past float range; infinity
        text = json.dumps(body)[:-1] + f', "rt_ms": {rt}}}'
        reply = client.post("/api/answer?observer=p1", content=text.encode())
        assert reply.status_code == 400, reply.text
    assert store.answers("p1") == {}
