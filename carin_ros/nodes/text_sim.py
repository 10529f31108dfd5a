"""text_sim node: publishes robot-command sentences (std_msgs/String) at a rate."""
from __future__ import annotations

import csv
import json
import os
import random
import sys
from collections.abc import Sequence

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from std_msgs.msg import String

from carin_ros.nodes.common import RELIABLE_QOS, float_param, run, text_param, until_shutdown

TEXT_FIELDS = ('text', 'sentence', 'utterance')


def load_sentences(path: str) -> list[str]:
    """Sentences of a data set file: ``.txt`` (one a line), ``.jsonl``, ``.csv``/``.tsv``.

    The zoo's intents file (``models/data/robot_commands.yaml``) gives its test split. Other
    structured files take the first of the columns/keys ``text``, ``sentence``, ``utterance``;
    ``.yaml`` files take a list of strings or of mappings with one of those keys (optionally
    under a top-level ``items``/``sentences``/``examples`` key).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'sentences file not found: {path}')
    ext = os.path.splitext(path)[1].lower()
    with open(path, encoding='utf-8') as f:
        if ext in ('.csv', '.tsv'):
            rows = list(csv.DictReader(f, delimiter='\t' if ext == '.tsv' else ','))
            items: list = rows
        elif ext == '.jsonl':
            items = [json.loads(line) for line in f if line.strip()]
        elif ext in ('.yaml', '.yml', '.json'):
            import yaml
            data = yaml.safe_load(f)
            if isinstance(data, dict) and 'intents' in data:
                # The zoo's labelled robot-command set: its held-out test sentences.
                from carin_ros.zoo.data import load_intents
                return [sentence for sentence, _ in load_intents(path).test]
            if isinstance(data, dict):
                data = next((data[k] for k in ('items', 'sentences', 'examples') if k in data),
                            None)
            if not isinstance(data, list):
                raise ValueError(f'{path}: expected a list of sentences')
            items = data
        else:
            items = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            key = next((k for k in TEXT_FIELDS if k in item), None)
            if key is None:
                raise ValueError(f'{path}: item {i} has none of the keys {TEXT_FIELDS}')
            item = item[key]
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f'{path}: item {i} is not a non-empty sentence: {item!r}')
        out.append(item.strip())
    if not out:
        raise ValueError(f'{path}: no sentences')
    return out


def default_sentences_file() -> str:
    """The zoo's committed robot-command data set (``models/data/``), or '' when absent."""
    from carin_ros.nodes.paths import project_file
    return project_file(os.path.join('models', 'data', 'robot_commands.yaml'))


class TextSim(Node):
    """Publishes ``sentences`` (or those of ``sentences_file``) on ``text`` at ``rate_hz``."""

    def __init__(self) -> None:
        super().__init__('text_sim')
        rate = self.declare_parameter('rate_hz', 2.0, float_param(
            'sentences per second', 0.01, 1000.0, read_only=True)).value
        given = self.declare_parameter('sentences', [''], ParameterDescriptor(
            type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True,
            description='sentences to publish in turn (empty: read sentences_file)')).value
        path = self.declare_parameter('sentences_file', '', text_param(
            'data set file with sentences (empty: the zoo data set under models/data)',
            read_only=True)).value
        shuffle = self.declare_parameter('shuffle', False, ParameterDescriptor(
            description='publish in a seeded random order', read_only=True)).value
        sentences = [s for s in given if s.strip()]
        if not sentences:
            path = path or default_sentences_file()
            if not path:
                raise ValueError('text_sim: no "sentences" given and no data set under '
                                 'models/data (set "sentences_file")')
            sentences = load_sentences(path)
        if shuffle:
            random.Random(0).shuffle(sentences)
        self._sentences = sentences
        self._count = 0
        self._pub = self.create_publisher(String, 'text', RELIABLE_QOS)
        self._timer = self.create_timer(1.0 / rate, until_shutdown(self, self._tick))
        self.get_logger().info(f'publishing {len(sentences)} sentences at {rate:g} Hz')

    def _tick(self) -> None:
        self._pub.publish(String(data=self._sentences[self._count % len(self._sentences)]))
        self._count += 1


def main(args: Sequence[str] | None = None) -> int:
    return run(TextSim, args)


if __name__ == '__main__':
    sys.exit(main())
