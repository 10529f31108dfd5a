"""Scores of designs: min-max normalisation over the feasible set and distance to the ideal.

For objectives ``k`` with value ``v_k``, direction and weight ``w_k``, and ``lo_k``/``hi_k`` the
smallest/largest value over the feasible designs (of the event set being solved):

    n_k = (v_k - lo_k) / (hi_k - lo_k)   (max),   (hi_k - v_k) / (hi_k - lo_k)   (min)

clipped to [0, 1] (``n_k = 1`` when ``hi_k == lo_k``), and

    score = 1 - sqrt( sum_k w_k (1 - n_k)^2 / sum_k w_k )

i.e. one minus the weighted RMS distance to the ideal point (all ``n_k = 1``). A design that is
best on one objective and worst on another scores ``1 - sqrt(1/2) = 0.29`` with equal weights,
one at the middle of both ``0.5``: the score rewards being good on all objectives. Infeasible
designs score 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from carin_ros.core.slo import Direction, Objective


@dataclass(frozen=True)
class Normalisation:
    """Per-objective ``lo``/``hi`` over a feasible set, and the effective weights."""

    objectives: tuple[Objective, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    weights: tuple[float, ...]

    @classmethod
    def fit(cls, objectives: Sequence[Objective], values: np.ndarray,
            weights: Sequence[float] | None = None) -> Normalisation:
        """Bounds from ``values`` (feasible designs x objectives); no rows: all bounds 0."""
        values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
        if len(values):
            lo, hi = values.min(axis=0), values.max(axis=0)
        else:
            lo = hi = np.zeros(len(objectives))
        w = tuple(float(x) for x in (weights if weights is not None
                                     else [o.weight for o in objectives]))
        return cls(tuple(objectives), tuple(float(x) for x in lo),
                   tuple(float(x) for x in hi), w)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        lo, hi = np.array(self.lo), np.array(self.hi)
        span = hi - lo
        safe = np.where(span > 0, span, 1.0)
        up = np.array([o.direction is Direction.MAX for o in self.objectives])
        n = np.where(up, (values - lo) / safe, (hi - values) / safe)
        n = np.where(span > 0, n, 1.0)
        return np.clip(n, 0.0, 1.0)

    def score(self, values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
        """Scores of rows of ``values`` (designs x objectives); 0 where not ``feasible``."""
        values = np.asarray(values, dtype=float)
        n = self.normalise(values)
        w = np.array(self.weights)
        dist = np.sqrt(((1.0 - n) ** 2 @ w) / w.sum())
        s = 1.0 - dist
        if feasible is not None:
            s = np.where(feasible, s, 0.0)
        return np.where(np.isnan(s), 0.0, s)

    def score_one(self, values: Sequence[float], feasible: bool = True) -> float:
        """Score of one design (same formula, plain floats)."""
        if not feasible:
            return 0.0
        return float(self.score(np.asarray(values, dtype=float)[None, :])[0])

    def to_dict(self) -> dict:
        return {o.name: {'lo': lo, 'hi': hi, 'weight': w}
                for o, lo, hi, w in zip(self.objectives, self.lo, self.hi, self.weights,
                                        strict=True)}
