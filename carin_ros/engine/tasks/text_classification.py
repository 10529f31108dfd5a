"""Text classification: WordPiece tokens -> encoder + intent head (one ONNX graph) -> intent."""
from __future__ import annotations

from typing import Any

import numpy as np
from tokenizers import Tokenizer

from carin_ros.core.space import Processor
from carin_ros.engine.tasks.base import Prediction, TaskPipeline, read_labels, top_k
from carin_ros.zoo.manifest import VariantSpec, ZooError, verify_file


def load_tokenizer(path: str, max_length: int) -> Tokenizer:
    try:
        tok = Tokenizer.from_file(path)
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise ZooError(f'{path}: not a valid tokenizer.json: {exc}') from exc
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    return tok


def encode(tok: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """Token ids, attention mask and type ids of ``texts``, padded to the longest."""
    encs = tok.encode_batch(texts)
    n = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), n), np.int64)
    mask = np.zeros((len(encs), n), np.int64)
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = e.ids
        mask[i, :len(e.ids)] = 1
    return {'input_ids': ids, 'attention_mask': mask, 'token_type_ids': np.zeros_like(ids)}


class TextClassificationPipeline(TaskPipeline):
    """Sentence encoder with the classification head inside the ONNX graph."""

    def __init__(self, spec: VariantSpec, processor: Processor) -> None:
        super().__init__(spec, processor)
        self.max_length = int(spec.input.get('max_length', 32))
        self.k = int(spec.params.get('top_k', 3))
        tok_file = spec.file('tokenizer')
        verify_file(tok_file)
        self.tokenizer = load_tokenizer(tok_file.path, self.max_length)
        self.labels = read_labels(spec.files['labels'])
        self.session = self._session('model')
        self._inputs = {i.name for i in self.session.get_inputs()}

    def probabilities(self, texts: list[str]) -> np.ndarray:
        feed = {k: v for k, v in encode(self.tokenizer, texts).items() if k in self._inputs}
        probs = self.session.run(None, feed)[0].astype(np.float32)
        if probs.shape != (len(texts), len(self.labels)):
            raise ZooError(f'{self.spec.files["model"]}: returned shape {probs.shape}, expected '
                           f'({len(texts)}, {len(self.labels)}) intents')
        return probs

    def __call__(self, sample: Any) -> Prediction:
        if not isinstance(sample, str):
            raise ValueError(f'{self.task}: expected a str, got {type(sample).__name__}')
        if not sample.strip():
            raise ValueError(f'{self.task}: empty text')
        probs = self.probabilities([sample])[0]
        ranked = top_k(probs, self.labels, self.k)
        return Prediction(self.task, ranked[0][0], ranked[0][1], ranked, {})

    def example_input(self) -> str:
        return 'please go to the kitchen and wait there'
