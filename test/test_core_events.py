"""Event effects on processors: how an overloaded core spreads to processors sharing it."""
import pytest

from carin_ros.core.events import EventModel, ProcessorOverloaded
from carin_ros.core.space import Processor

PROCS = (Processor('cpu0', cores=(0,)), Processor('cpu1', cores=(1,)),
         Processor('cpu', threads=2, cores=(0, 1)), Processor('cpu_1t', threads=1))


@pytest.mark.parametrize('multithread_full, expected_cpu', [(True, 2.0), (False, 1.5)])
def test_overloaded_core_slows_multithread_sessions_fully(multithread_full, expected_cpu):
    model = EventModel(overload_latency_factor=2.0, overload_multithread_full=multithread_full)
    effect = model.effect(frozenset({ProcessorOverloaded('cpu0')}), PROCS, 2)
    factors = dict(effect.latency_factor)
    assert factors['cpu0'] == pytest.approx(2.0)
    assert factors.get('cpu1', 1.0) == pytest.approx(1.0)
    assert factors['cpu'] == pytest.approx(expected_cpu)
    # a single-thread unpinned session shares the core half of the time either way
    assert factors['cpu_1t'] == pytest.approx(1.5)


def test_multithread_full_round_trips_through_yaml_dict():
    model = EventModel(overload_multithread_full=False)
    assert EventModel.from_dict(model.to_dict()) == model
