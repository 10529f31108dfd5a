"""Real offline inputs: packaged sample images, augmentations, face pictures, the intents set."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import cv2
import numpy as np
import yaml

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'models')
INTENTS_PATH = os.path.join(MODELS_DIR, 'data', 'robot_commands.yaml')

# skimage.data pictures that ship inside the wheel (no pooch download needed).
SKIMAGE_PICTURES = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field',
                    'immunohistochemistry', 'retina', 'colorwheel', 'camera', 'clock', 'coins',
                    'brick', 'grass', 'gravel', 'moon', 'page', 'text', 'logo')
# Pictures with a frontal face: skimage's astronaut (Eileen Collins) and matplotlib's
# Grace Hopper sample picture.
FACE_PICTURES = ('astronaut', 'grace_hopper')


def to_rgb(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB from grey, RGBA, bool or RGB arrays."""
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    with matplotlib.cbook.get_sample_data('grace_hopper.jpg') as f:
        data = np.frombuffer(f.read(), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError('matplotlib sample grace_hopper.jpg cannot be decoded')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def picture(name: str) -> np.ndarray:
    """One named packaged picture as HxWx3 uint8 RGB."""
    if name == 'grace_hopper':
        return _grace_hopper()
    if name.startswith('sklearn_'):
        from sklearn.datasets import load_sample_images
        data = load_sample_images()
        for fname, img in zip(data.filenames, data.images, strict=True):
            if os.path.splitext(os.path.basename(fname))[0] == name[len('sklearn_'):]:
                return to_rgb(img)
        raise KeyError(name)
    import skimage.data
    return to_rgb(getattr(skimage.data, name)())


@functools.cache
def base_pictures() -> tuple[tuple[str, np.ndarray], ...]:
    """Every packaged picture available here (skimage, matplotlib, sklearn when present)."""
    names = list(SKIMAGE_PICTURES) + ['grace_hopper']
    try:
        import sklearn.datasets  # noqa: F401
        names += ['sklearn_china', 'sklearn_flower']
    except ImportError:
        pass
    out = []
    for n in names:
        img = picture(n)
        img.setflags(write=False)
        out.append((n, img))
    return tuple(out)


def augment(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random crop (scale 35-100 %), flip, rotation, colour, gamma and blur/noise change."""
    h, w = img.shape[:2]
    scale = rng.uniform(0.35 + 0.5 * (1 - strength), 1.0)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(scale * h * w / ratio))))
    cw = int(min(w, round(np.sqrt(scale * h * w * ratio))))
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    out = img[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    angle = rng.uniform(-15, 15) * strength
    if abs(angle) > 1:
        m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.0)
        out = cv2.warpAffine(np.ascontiguousarray(out), m, (cw, ch),
                             borderMode=cv2.BORDER_REFLECT_101)
    f = out.astype(np.float32)
    f = f * rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength, size=3).astype(np.float32)
    f = f + rng.uniform(-25, 25) * strength
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(1 - 0.4 * strength, 1 + 0.4 * strength)
    f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25)
    choice = rng.random()
    if choice < 0.25:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.5))
    elif choice < 0.5:
        f = f + rng.normal(0, 6 * strength, f.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(f, 0, 255).astype(np.uint8))


def image_set(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` real RGB images: every packaged picture, then seeded augmentations of them."""
    if n < 0:
        raise ValueError(f'image_set: n must be >= 0, got {n}')
    bases = [img for _, img in base_pictures()]
    rng = np.random.default_rng(seed)
    out = list(bases[:n])
    while len(out) < n:
        out.append(augment(bases[len(out) % len(bases)], rng))
    return out


def face_picture_set(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` pictures with one face: the packaged portraits and mild augmentations of them."""
    bases = [picture(name) for name in FACE_PICTURES]
    rng = np.random.default_rng(seed)
    out = list(bases[:n])
    while len(out) < n:
        img = bases[len(out) % len(bases)]
        out.append(_face_augment(img, rng))
    return out


def _face_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep the face in view: small crop, flip, rotation, colour and resolution changes."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.8, 1.1))
    m[:, 2] += rng.uniform(-0.06, 0.06, size=2) * (w, h)
    out = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.4:
        s = rng.uniform(0.4, 0.8)
        small = cv2.resize(out, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    f = out.astype(np.float32) * rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    f = f + rng.uniform(-20, 20)
    if rng.random() < 0.3:
        f = f + rng.normal(0, 5, f.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(f, 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class IntentSet:
    """The labelled robot-command set: intents and fixed train/test splits."""

    intents: tuple[str, ...]
    train: tuple[tuple[str, str], ...]   # (sentence, intent)
    test: tuple[tuple[str, str], ...]

    def xy(self, split: str) -> tuple[list[str], np.ndarray]:
        rows = {'train': self.train, 'test': self.test}[split]
        index = {name: i for i, name in enumerate(self.intents)}
        return [s for s, _ in rows], np.array([index[i] for _, i in rows], dtype=np.int64)


def load_intents(path: str = INTENTS_PATH) -> IntentSet:
    """Read and check the intents data set (clear error naming the file and field)."""
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ValueError(f'{path}: cannot read intents data set: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ValueError(f'{path}: malformed YAML: {exc}') from exc
    if not isinstance(data, dict) or not isinstance(data.get('intents'), dict):
        raise ValueError(f'{path}: needs a mapping "intents": name -> {{train: [...], '
                         f'test: [...]}}')
    intents = tuple(sorted(data['intents']))
    train, test = [], []
    seen: dict[str, str] = {}
    for name in intents:
        entry = data['intents'][name]
        for split, rows in (('train', train), ('test', test)):
            items = entry.get(split) if isinstance(entry, dict) else None
            if not isinstance(items, list) or not items:
                raise ValueError(f'{path}: intents.{name}.{split} must be a non-empty list')
            for i, s in enumerate(items):
                if not isinstance(s, str) or not s.strip():
                    raise ValueError(f'{path}: intents.{name}.{split}[{i}] must be a sentence')
                key = ' '.join(s.lower().split())
                if key in seen:
                    raise ValueError(f'{path}: intents.{name}.{split}[{i}] {s!r} repeats a '
                                     f'sentence of {seen[key]}')
                seen[key] = f'{name}.{split}'
                rows.append((s.strip(), name))
    return IntentSet(intents, tuple(train), tuple(test))

