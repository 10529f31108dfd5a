"""Text classification pipeline: robot commands of the held-out split get their intent."""
from __future__ import annotations

import pytest
from zoo_fixtures import CPU, built_zoo

from carin_ros.engine.tasks import load_pipeline
from carin_ros.zoo.data import load_intents


def test_held_out_commands_get_the_right_intent() -> None:
    zoo = built_zoo()
    data = load_intents()
    with load_pipeline(zoo, 'text_classification', 'minilm_l6_fp32', CPU) as pipe:
        right = sum(pipe(s).label == intent for s, intent in data.test)
    assert right / len(data.test) >= 0.9, right


@pytest.mark.parametrize('variant', ['minilm_l6_int8_dynamic', 'minilm_l1_fp16'])
def test_plain_commands(variant: str) -> None:
    zoo = built_zoo()
    cases = {'stop right now': 'stop', 'please go to the kitchen': 'navigate_to',
             'what is your battery level': 'report_battery', 'follow me': 'follow_me',
             'take a picture of the red cup': 'take_photo'}
    with load_pipeline(zoo, 'text_classification', variant, CPU) as pipe:
        for text, intent in cases.items():
            pred = pipe(text)
            assert pred.label == intent, (text, pred.top_k)
            assert len(pred.top_k) == 3 and pred.top_k[0][0] == intent
            assert abs(sum(s for _, s in pred.top_k) - 1.0) < 0.5


def test_manifest_records_held_out_accuracy() -> None:
    zoo = built_zoo()
    for v in zoo.variants('text_classification'):
        assert 0.5 < v.params['test_accuracy'] <= 1.0, v.name
        assert v.params['n_test'] == len(load_intents().test)


def test_bad_text_inputs() -> None:
    zoo = built_zoo()
    with load_pipeline(zoo, 'text_classification', 'minilm_l1_fp32', CPU) as pipe:
        with pytest.raises(ValueError, match='expected a str'):
            pipe(42)
        with pytest.raises(ValueError, match='empty'):
            pipe('   ')
        long = ' '.join(['go to the kitchen'] * 100)
        assert pipe(long).label == 'navigate_to'   # truncated to max_length, still runs
