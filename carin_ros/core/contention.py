"""Joint metrics of tasks sharing processors: measured co-run slowdowns or a time-sharing model.

The slowdown of task ``i`` in a joint design is ``s_i = 1 + sum_{j != i} e_ij`` where the
excess ``e_ij`` is ``slowdown_i - 1`` from a measured co-run of the two designs when the
profile database has one, else ``overlap(i, j) * util_j`` with

* ``overlap(i, j) = |R_i & R_j| / |R_i|``: the share of the hardware units of i's processor
  (``Processor.resources``) that j's processor also occupies;
* ``util_j = min(1, rate_j * latency_mean_j / 1000)``: the share of time task j keeps its units
  busy at its input rate (Hz, from the SLO spec), or 1 (saturated) without a rate.

Latency statistics are multiplied by ``s_i``, throughput divided by it; accuracy, memory, size
and energy per inference are unchanged (app memory is the sum over tasks).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from carin_ros.core.profiles import LATENCY_STATS, Metric, Metrics, ProfileDB
from carin_ros.core.slo import APP, aggregate
from carin_ros.core.space import Design, JointDesign, Processor


def overlap(a: Processor, b: Processor, n_cores: int) -> float:
    """Share of ``a``'s hardware units that ``b`` also occupies (0..1)."""
    ra, rb = a.resources(n_cores), b.resources(n_cores)
    return len(ra & rb) / len(ra) if ra else 0.0


def overlap_matrix(processors: Sequence[Processor], n_cores: int) -> np.ndarray:
    """``M[i, j] = overlap(processors[i], processors[j])``."""
    return np.array([[overlap(a, b, n_cores) for b in processors] for a in processors])


def utilisation(metrics: Metrics, rate_hz: float | None) -> float:
    """Share of time a design keeps its processor busy at ``rate_hz`` (1 when saturated)."""
    if rate_hz is None:
        return 1.0
    return min(1.0, rate_hz * metrics.latency_mean_ms / 1000.0)


def scale_latency(metrics: Metrics, factor: float) -> Metrics:
    """``metrics`` with every latency statistic times ``factor`` and throughput divided."""
    if factor == 1.0:
        return metrics
    changes: dict[str, float] = {f'latency_{s}_ms': getattr(metrics, f'latency_{s}_ms') * factor
                                 for s in LATENCY_STATS}
    changes['throughput_fps'] = metrics.throughput_fps / factor
    return dataclasses.replace(metrics, **changes)


@dataclass(frozen=True)
class JointMetrics:
    """Per-task metrics of a joint design (after contention) and each task's slowdown."""

    tasks: tuple[tuple[str, Metrics], ...]
    slowdown: tuple[tuple[str, float], ...]

    def task(self, task: str) -> Metrics:
        return dict(self.tasks)[task]

    def value(self, scope: str, metric: Metric) -> float:
        """``metric`` of a task, or of the app (aggregated, see :func:`slo.aggregate`).

        An energy that was not measured reads as NaN.
        """
        def one(m: Metrics) -> float:
            v = m.get(metric)
            return float('nan') if v is None else float(v)
        if scope == APP:
            return aggregate(metric, [one(m) for _, m in self.tasks])
        return one(self.task(scope))

    def scaled(self, factors: Mapping[str, float]) -> JointMetrics:
        """Latency of each task times ``factors[task]`` (missing: 1)."""
        return JointMetrics(tuple((t, scale_latency(m, factors.get(t, 1.0)))
                                  for t, m in self.tasks), self.slowdown)

    def to_dict(self) -> dict:
        return {t: {**m.to_dict(), 'slowdown': float(s)}
                for (t, m), (_, s) in zip(self.tasks, self.slowdown, strict=True)}

    @classmethod
    def from_dict(cls, data: Mapping) -> JointMetrics:
        tasks, slowdown = [], []
        for t, body in data.items():
            body = dict(body)
            slowdown.append((str(t), float(body.pop('slowdown', 1.0))))
            tasks.append((str(t), Metrics.from_dict(body)))
        return cls(tuple(tasks), tuple(slowdown))


class ContentionModel:
    """Computes joint metrics on one device's profiles, for the tasks' input rates."""

    def __init__(self, db: ProfileDB, rates: Mapping[str, float] | None = None) -> None:
        self.db = db
        self.rates = dict(rates or {})
        self._proc = {p.name: p for p in db.processors}
        self._corun: dict[tuple[Design, Design], float] = {}
        for c in db.coruns:
            self._corun[(c.a, c.b)] = c.slowdown_a
            self._corun[(c.b, c.a)] = c.slowdown_b

    def measured(self, a: Design, b: Design) -> float | None:
        """Measured slowdown of ``a`` while ``b`` runs, if profiled."""
        return self._corun.get((a, b))

    def excess(self, a: Design, b: Design) -> float:
        """Extra slowdown of ``a`` caused by ``b`` (``e_ab`` in the module docstring)."""
        measured = self.measured(a, b)
        if measured is not None:
            return max(0.0, measured - 1.0)
        ov = overlap(self._proc[a.processor], self._proc[b.processor], self.db.n_cores)
        return ov * utilisation(self.db.get(b), self.rates.get(b.task)) if ov else 0.0

    def slowdowns(self, joint: JointDesign) -> dict[str, float]:
        return {d.task: 1.0 + sum(self.excess(d, o) for o in joint.designs if o is not d)
                for d in joint.designs}

    def joint(self, joint: JointDesign) -> JointMetrics:
        """Joint metrics of ``joint`` (plain Python; the solver's vectorised path agrees)."""
        s = self.slowdowns(joint)
        return JointMetrics(tuple((d.task, scale_latency(self.db.get(d), s[d.task]))
                                  for d in joint.designs),
                            tuple((d.task, s[d.task]) for d in joint.designs))

    def excess_matrix(self, a: Sequence[Design], b: Sequence[Design],
                      proc_index: Mapping[str, int], overlaps: np.ndarray) -> np.ndarray:
        """``E[i, k] = excess(a[i], b[k])``, vectorised over the overlap model, measured
        co-runs filled in afterwards."""
        pa = np.array([proc_index[d.processor] for d in a], dtype=np.intp)
        pb = np.array([proc_index[d.processor] for d in b], dtype=np.intp)
        util = np.array([utilisation(self.db.get(d), self.rates.get(d.task)) for d in b])
        out = overlaps[pa[:, None], pb[None, :]] * util[None, :]
        if self._corun:
            ia = {d: i for i, d in enumerate(a)}
            ib = {d: k for k, d in enumerate(b)}
            for (x, y), s in self._corun.items():
                if x in ia and y in ib:
                    out[ia[x], ib[y]] = max(0.0, s - 1.0)
        return out
