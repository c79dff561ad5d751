"""Where each observer stands in their session, and the checks on every answer they send.

The server keeps no state of its own beyond the trials file: an observer's next counted
trial is the first stimulus of their order (`order.observer_plan`) that the file does not
hold, so a reload, a closed tab or a restarted server continues where they stopped. Practice
answers are not written; practice is over once an observer has a counted answer, and a
session that stops during practice starts it again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from reportgen.collect.order import ObserverPlan, observer_plan
from reportgen.collect.pictures import StudyPictures
from reportgen.collect.store import TrialStore, observer_problem
from reportgen.config import CollectConfig


class AnswerRejected(ValueError):
    """An answer the server does not record; the message says why (one line)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status  # 400: malformed; 409: not the trial the observer is on


@dataclass(frozen=True, slots=True)
class NextTrial:
    """The trial an observer is to see next."""

    trial: int  # from 1, within practice or within the counted trials
    stimulus_id: str
    practice: bool


class Sessions:
    """Every observer's session on one server (several observers may run at once)."""

    def __init__(self, pictures: StudyPictures, settings: CollectConfig, store: TrialStore):
        self.pictures = pictures
        self.settings = settings
        self.store = store
        self._plans: dict[str, ObserverPlan] = {}
        self._practised: dict[str, int] = {}  # practice answers given in this server's life
        self._lock = threading.Lock()

    def plan(self, observer: str) -> ObserverPlan:
        """The observer's practice and counted trials (computed once, then kept)."""
        if observer not in self._plans:
            s = self.settings
            self._plans[observer] = observer_plan(
                self.pictures.ids,
                self.pictures.conditions,
                observer,
                seed=s.seed,
                per_condition=s.per_condition,
                practice=s.practice,
            )
        return self._plans[observer]

    def next_trial(self, observer: str) -> NextTrial | None:
        """The observer's next trial, None when they have answered every counted one."""
        plan = self.plan(observer)
        answered = self.store.answers(observer)
        practised = self._practised.get(observer, 0)
        if not answered and practised < len(plan.practice):
            return NextTrial(practised + 1, plan.practice[practised], practice=True)
        for k, stimulus in enumerate(plan.trials):
            if stimulus not in answered:
                return NextTrial(k + 1, stimulus, practice=False)
        return None

    def state(self, observer: str) -> dict[str, Any]:
        """What the page needs: the next trial, progress, whether a break is due."""
        _check_observer(observer)
        with self._lock:
            return self._state(observer)

    def _state(self, observer: str) -> dict[str, Any]:
        plan = self.plan(observer)
        done = sum(1 for s in plan.trials if s in self.store.answers(observer))
        nxt = self.next_trial(observer)
        every = self.settings.break_every
        return {
            "observer": observer,
            "done": done,
            "total": len(plan.trials),
            "practice_total": len(plan.practice),
            "finished": nxt is None,
            "break_before": nxt is not None and not nxt.practice and done > 0 and done % every == 0,
            "next": None
            if nxt is None
            else {"trial": nxt.trial, "stimulus": nxt.stimulus_id, "practice": nxt.practice},
        }

    def answer(self, observer: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Record one answer and return the observer's new state.

        `payload` is the page's JSON: ``trial``, ``stimulus``, ``practice``, ``response``,
        ``rt_ms``. It must be the observer's current trial; the same answer sent again (the
        reply was lost) returns the state without writing anything.
        """
        _check_observer(observer)
        trial, stimulus = payload.get("trial"), payload.get("stimulus")
        practice, response = payload.get("practice"), payload.get("response")
        rt_ms = payload.get("rt_ms")
        if not isinstance(trial, int) or isinstance(trial, bool) or not isinstance(practice, bool):
            raise AnswerRejected("trial must be a whole number and practice true or false")
        if not isinstance(stimulus, str) or stimulus not in self.pictures:
            raise AnswerRejected("not a stimulus of this study")
        if not isinstance(response, str) or response not in self.pictures.classes:
            raise AnswerRejected("not one of the study's classes")
        if isinstance(rt_ms, bool) or not isinstance(rt_ms, int | float):
            raise AnswerRejected("rt_ms must be a number of milliseconds")
        try:
            rt_ms = float(rt_ms)
        except OverflowError:  # a JSON integer too large for a float
            raise AnswerRejected("the response time is out of range") from None
        with self._lock:
            nxt = self.next_trial(observer)
            recorded = self.store.answers(observer).get(stimulus)
            if recorded is not None and not practice and recorded.trial == trial:
                return self._state(observer)  # a repeat of an answer already on disk
            expected = nxt is not None and (nxt.trial, nxt.stimulus_id, nxt.practice) == (
                trial,
                stimulus,
                practice,
            )
            if not expected:
                raise AnswerRejected("this is not the trial this observer is on", status=409)
            if practice:
                self._practised[observer] = self._practised.get(observer, 0) + 1
            else:
                try:
                    self.store.append(observer, stimulus, response, rt_ms, trial)
                except ValueError as err:
                    raise AnswerRejected(str(err)) from None
            return self._state(observer)


def _check_observer(observer: str) -> None:
    if (why := observer_problem(observer)) is not None:
        raise AnswerRejected(why)
