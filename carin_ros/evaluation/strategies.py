"""Runtime strategies the manager can run: CARIn's lookup, a static design, OODIn re-solving."""
from __future__ import annotations

import enum
import time

from carin_ros.core.events import Event
from carin_ros.core.policy import Decision, EventDetector, LatencyWatch, RuntimePolicy
from carin_ros.core.profiles import ProfileDB
from carin_ros.core.rass import Answer, DesignSet, Solver, resolve


class Strategy(enum.StrEnum):
    """``carin``: design-set lookup; ``static``: the primary design, never switched;
    ``oodin``: a from-scratch solve for the current event set whenever it changes."""

    CARIN = 'carin'
    STATIC = 'static'
    OODIN = 'oodin'

    def __str__(self) -> str:
        return self.value


def parse_strategy(text: str) -> Strategy:
    """The strategy named ``text``; ValueError listing the choices otherwise."""
    try:
        return Strategy(text)
    except ValueError:
        raise ValueError(f'strategy {text!r}: expected one of '
                         f'{[s.value for s in Strategy]}') from None


class StaticPolicy(RuntimePolicy):
    """Detects events (so they can be reported) but always keeps the first primary design,
    also after a new design set (a deployment that never switches)."""

    def __init__(self, design_set: DesignSet, detector: EventDetector | None = None,
                 latency_watch: LatencyWatch | None = None) -> None:
        super().__init__(design_set, detector, latency_watch)
        self._fixed: Answer = design_set.primary

    def decide(self, now: float) -> Decision:
        t0, c0 = time.perf_counter(), time.thread_time()
        events = self.active_events(now)
        previous = self.current.design
        self.current = self._fixed
        self.events = events
        return Decision(now, events, self.current.design, self.current.design != previous,
                        self._fixed.feasible, True, self._fixed.score,
                        time.perf_counter() - t0, self._fixed, time.thread_time() - c0)


class ResolvingPolicy(RuntimePolicy):
    """OODIn-style: no design set at run time; whenever the event set (or the SLOs) change,
    solve from scratch for that event set (:func:`~carin_ros.core.rass.resolve`, building the
    solver too); the decision time is the solve time."""

    def __init__(self, design_set: DesignSet, db: ProfileDB,
                 detector: EventDetector | None = None,
                 latency_watch: LatencyWatch | None = None) -> None:
        super().__init__(design_set, detector, latency_watch)
        self.db = db
        self._solved_for: tuple[frozenset[Event], int] | None = (frozenset(), id(design_set))
        self.solves = 0

    def decide(self, now: float) -> Decision:
        t0, c0 = time.perf_counter(), time.thread_time()
        events = self.active_events(now)
        previous = self.current.design
        key = (events, id(self.design_set))
        answer = self.current
        if key != self._solved_for:
            spec, model = self.design_set.spec, self.design_set.event_model
            answer = resolve(self.db, spec, events, model, Solver(self.db, spec, model))
            self._solved_for = key
            self.solves += 1
            if answer.design is not None:
                self.current = answer
        self.events = events
        return Decision(now, events, self.current.design, self.current.design != previous,
                        answer.feasible, False, answer.score, time.perf_counter() - t0, answer,
                        time.thread_time() - c0)


def make_policy(strategy: Strategy, design_set: DesignSet, db: ProfileDB,
                detector: EventDetector | None = None,
                latency_watch: LatencyWatch | None = None) -> RuntimePolicy:
    """The runtime policy implementing ``strategy``."""
    if strategy is Strategy.STATIC:
        return StaticPolicy(design_set, detector, latency_watch)
    if strategy is Strategy.OODIN:
        return ResolvingPolicy(design_set, db, detector, latency_watch)
    return RuntimePolicy(design_set, detector, latency_watch)
