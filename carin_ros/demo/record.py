"""What the demo viewer saw (results, switches, hog) and the figures drawn from it. ROS-free."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ResultSeen:
    """One result message as received."""

    received: float      # time.time() at the viewer
    stamp: float         # the input's header stamp
    design: str
    processor: str
    label: str
    latency_ms: float


@dataclass(frozen=True)
class TaskSummary:
    task: str
    results: int
    designs: tuple[str, ...]          # in the order they served
    p50_latency_ms: float | None      # the node's inference latency (pipeline call)
    p90_latency_ms: float | None
    end_to_end_p50_ms: float | None   # input stamp -> result received
    max_gap_s: float | None           # longest interval between consecutive results
    max_gap_around_switch_s: float | None  # the same, within 2 s of a design change
    slo_met_fraction: float | None
    # Longest gap in steady state: more than 2 s from a design change and outside the hog
    # period (plus 2 s): the jitter of the graph itself, the floor for the two above.
    max_gap_steady_s: float | None = None
    switch_build_ms: tuple[float, ...] = ()  # build time of each switch (0: warm standby)


@dataclass(frozen=True)
class DemoSummary:
    tasks: tuple[TaskSummary, ...]
    switches: int
    hog_start: float | None
    hog_task: str | None
    hog_core: int | None
    decision_s: float | None   # hog start -> manager requests a switch of the hogged task
    reaction_s: float | None   # hog start -> first result on another processor
    returned_s: float | None   # hog end -> first result back on the pre-hog processor
    hog_processor: str | None = None  # the processor the hogged task ran on at hog start

    def lines(self) -> list[str]:
        out = [f'switch requests: {self.switches}']
        if self.hog_start is not None:
            out.append(f'hog on core {self.hog_core} against {self.hog_task}: decision '
                       f'{_s(self.decision_s)}, first result elsewhere {_s(self.reaction_s)}, '
                       f'back after hog ended {_s(self.returned_s)}')
        for t in self.tasks:
            gap = None if t.max_gap_s is None else t.max_gap_s * 1e3
            around = None if t.max_gap_around_switch_s is None else \
                t.max_gap_around_switch_s * 1e3
            steady = None if t.max_gap_steady_s is None else t.max_gap_steady_s * 1e3
            out.append(f'{t.task}: {t.results} results, designs {" -> ".join(t.designs)}, '
                       f'p90 {_ms(t.p90_latency_ms)}, end-to-end p50 {_ms(t.end_to_end_p50_ms)}'
                       f', longest gap {_ms(gap)} (around switches {_ms(around)}, steady '
                       f'state {_ms(steady)}), '
                       f'SLO met in {_pct(t.slo_met_fraction)} of status updates')
        return out


def _s(v: float | None) -> str:
    return 'n/a' if v is None else f'{v:.2f} s'


def _ms(v: float | None) -> str:
    return 'n/a' if v is None else f'{v:.1f} ms'


def _pct(v: float | None) -> str:
    return 'n/a' if v is None else f'{100 * v:.0f}%'


@dataclass
class Recorder:
    """Accumulates what the viewer receives; every ``on_*`` takes the raw JSON text."""

    tasks: tuple[str, ...]
    results: dict[str, list[ResultSeen]] = field(default_factory=dict)
    switch_log: list[dict] = field(default_factory=list)
    slo_status: list[dict] = field(default_factory=list)
    active: dict | None = None
    events: list[str] = field(default_factory=list)
    dropped: int = 0
    hog_start: float | None = None
    hog_end: float | None = None
    hog_task: str | None = None
    hog_core: int | None = None
    hog_processor: str | None = None

    def on_result(self, task: str, text: str, now: float) -> None:
        try:
            d = json.loads(text)
            stamp = d['stamp']['sec'] + d['stamp']['nanosec'] * 1e-9
            seen = ResultSeen(now, float(stamp), str(d['design']), str(d['processor']),
                              str(d['label']), float(d['latency_ms']))
        except (ValueError, KeyError, TypeError):
            self.dropped += 1
            return
        self.results.setdefault(task, []).append(seen)

    def on_switch(self, text: str) -> None:
        try:
            self.switch_log.append(json.loads(text))
        except ValueError:
            self.dropped += 1

    def on_status(self, text: str) -> None:
        try:
            self.slo_status.append(json.loads(text))
        except ValueError:
            self.dropped += 1

    def on_active(self, text: str) -> None:
        try:
            self.active = json.loads(text)
        except ValueError:
            self.dropped += 1

    def on_events(self, text: str) -> None:
        try:
            self.events = list(json.loads(text)['events'])
        except (ValueError, KeyError, TypeError):
            self.dropped += 1

    # -- live view -----------------------------------------------------------------------------
    def row(self, task: str, now: float, window_s: float = 2.0) -> list:
        seen = [r for r in self.results.get(task, []) if r.received >= now - window_s]
        last = self.results.get(task, [])[-1:] or [None]
        design = last[0].design if last[0] else '-'
        lat = [r.latency_ms for r in seen]
        p90 = f'{np.percentile(lat, 90):.1f}' if lat else '-'
        fps = f'{len(seen) / window_s:.1f}'
        met = '-'
        if self.slo_status:
            t = self.slo_status[-1].get('tasks', {}).get(task)
            if t is not None:
                met = 'yes' if t.get('met') else 'NO'
        return [task, design, p90, fps, met]

    # -- summary -------------------------------------------------------------------------------
    def summary(self) -> DemoSummary:
        tasks = []
        for task in self.tasks:
            seen = self.results.get(task, [])
            designs: list[str] = []
            for r in seen:
                if not designs or designs[-1] != r.design:
                    designs.append(r.design)
            recv = np.array([r.received for r in seen])
            gaps = np.diff(recv) if recv.size > 1 else np.array([])
            change_times = [b.received for a, b in zip(seen, seen[1:], strict=False)
                            if a.design != b.design]
            around = [g for g, t in zip(gaps, recv[1:], strict=False)
                      if any(abs(t - c) <= 2.0 for c in change_times)]
            hog = (self.hog_start, (self.hog_end or math.inf) + 2.0) \
                if self.hog_start is not None else None
            steady = [g for g, t in zip(gaps, recv[1:], strict=False)
                      if all(abs(t - c) > 2.0 for c in change_times)
                      and (hog is None or not hog[0] <= t <= hog[1])]
            builds = tuple(float(e['build_ms']) for e in self.switch_log
                           if e.get('kind') == 'switch_done' and e.get('task') == task
                           and e.get('status') == 'switched' and e.get('build_ms') is not None)
            met = [s['tasks'][task]['met'] for s in self.slo_status
                   if task in s.get('tasks', {}) and s['tasks'][task].get('checks')]
            lat = [r.latency_ms for r in seen]
            tasks.append(TaskSummary(
                task, len(seen), tuple(designs),
                float(np.percentile(lat, 50)) if seen else None,
                float(np.percentile(lat, 90)) if seen else None,
                float(np.percentile([(r.received - r.stamp) * 1e3 for r in seen], 50))
                if seen else None,
                float(gaps.max()) if gaps.size else None,
                float(max(around)) if around else None,
                float(np.mean(met)) if met else None,
                float(max(steady)) if steady else None, builds))
        requests = [e for e in self.switch_log if e.get('kind') == 'switch_requested']
        decision = reaction = returned = None
        if self.hog_start is not None and self.hog_task is not None:
            after = [e for e in requests if e.get('task') == self.hog_task
                     and e['stamp'] >= self.hog_start]
            if after:
                decision = after[0]['stamp'] - self.hog_start
            seen = self.results.get(self.hog_task, [])
            moved = [r for r in seen if r.received >= self.hog_start
                     and r.processor != self.hog_processor]
            if moved:
                reaction = moved[0].received - self.hog_start
            if self.hog_end is not None and reaction is not None:
                back = [r for r in seen if r.received >= self.hog_end
                        and r.processor == self.hog_processor]
                if back:
                    returned = back[0].received - self.hog_end
        return DemoSummary(tuple(tasks), len(requests), self.hog_start, self.hog_task,
                           self.hog_core, decision, reaction, returned, self.hog_processor)
