"""Face analysis: MTCNN face detection, then age and gender networks on aligned face chips."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from carin_ros.core.space import Processor
from carin_ros.engine.tasks.base import Prediction, TaskPipeline, check_image
from carin_ros.zoo.manifest import VariantSpec, ZooError

# dlib's 5-point face template (get_face_chip_details): the outer and inner corners of the
# image-right eye, of the image-left eye, and the base of the nose, in unit chip coordinates.
_DLIB_TEMPLATE = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                           [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                           [0.4901123135679, 0.6277975316475]])
_LEFT_EYE = _DLIB_TEMPLATE[2:4].mean(axis=0)    # image-left eye centre
_RIGHT_EYE = _DLIB_TEMPLATE[0:2].mean(axis=0)   # image-right eye centre
GENDERS = ('female', 'male')
AGE_CLASSES = np.concatenate([[0.25], np.arange(1, 81)]).astype(np.float32)


@dataclass(frozen=True)
class DetectorConfig:
    """MTCNN cascade settings (from the zoo recipe)."""

    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)
    scale_factor: float = 0.709
    max_side: int = 640

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> DetectorConfig:
        try:
            cfg = cls(min_face_size=int(data.get('min_face_size', 40)),
                      thresholds=tuple(float(t) for t in data.get('thresholds',
                                                                  (0.6, 0.7, 0.8))),
                      scale_factor=float(data.get('scale_factor', 0.709)),
                      max_side=int(data.get('max_side', 640)))
        except (TypeError, ValueError) as exc:
            raise ZooError(f'{where}: detector: {exc}') from exc
        if (len(cfg.thresholds) != 3 or cfg.min_face_size < 12
                or not 0.1 < cfg.scale_factor < 0.95 or cfg.max_side < 48):
            raise ZooError(f'{where}: detector needs 3 thresholds, min_face_size >= 12, '
                           f'0.1 < scale_factor < 0.95 and max_side >= 48, got {dict(data)}')
        return cfg


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), score and 5 landmarks (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray   # 5 x 2: left eye, right eye, nose, mouth left, mouth right


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (``mode`` 'union' or 'min')."""
    if len(boxes) == 0:
        return np.empty(0, np.int64)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == 'min' else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool = True) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + (1 if plus_one else 0)
    h = boxes[:, 3] - boxes[:, 1] + (1 if plus_one else 0)
    out[:, 0:4] = boxes[:, 0:4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """N x size x size x 3 float32 crops of the integer boxes, zero outside the image."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw < 2 or bh < 2:
            continue
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
        if sx2 <= sx1 or sy2 <= sy1:
            continue
        patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _mtcnn_input(batch: np.ndarray) -> np.ndarray:
    """Normalise and swap x/y (the MTCNN weights were trained on transposed images)."""
    return np.ascontiguousarray(((batch - 127.5) * 0.0078125).transpose(0, 2, 1, 3),
                                dtype=np.float32)


class Mtcnn:
    """The three-stage MTCNN cascade over pnet/rnet/onet ONNX sessions."""

    def __init__(self, pnet: Any, rnet: Any, onet: Any, config: DetectorConfig) -> None:
        self.pnet, self.rnet, self.onet, self.config = pnet, rnet, onet, config
        self._names = [s.get_inputs()[0].name for s in (pnet, rnet, onet)]
        self.last_best_rejected = 0.0

    def _scales(self, h: int, w: int) -> list[float]:
        m = 12.0 / self.config.min_face_size
        side = min(h, w) * m
        scales = []
        while side >= 12:
            scales.append(m * self.config.scale_factor ** len(scales))
            side *= self.config.scale_factor
        return scales

    def detect(self, img: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, in original image coordinates."""
        h0, w0 = img.shape[:2]
        f = min(1.0, self.config.max_side / max(h0, w0))
        work = img if f == 1.0 else cv2.resize(img, (round(w0 * f), round(h0 * f)),
                                               interpolation=cv2.INTER_AREA)
        faces = self._detect(work)
        if f == 1.0:
            return faces
        return [Face(tuple(v / f for v in face.box), face.score, face.landmarks / f)
                for face in faces]

    def _detect(self, img: np.ndarray) -> list[Face]:
        t1, t2, t3 = self.config.thresholds
        h, w = img.shape[:2]
        self.last_best_rejected = 0.0
        found = []
        for scale in self._scales(h, w):
            sw, sh = int(np.ceil(w * scale)), int(np.ceil(h * scale))
            scaled = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
            reg, prob = self.pnet.run(None, {self._names[0]: _mtcnn_input(scaled[None])})
            reg, prob = reg[0].transpose(1, 0, 2), prob[0].transpose(1, 0, 2)  # -> rows, cols
            rows, cols = np.nonzero(prob[:, :, 1] >= t1)
            if rows.size == 0:
                continue
            score = prob[rows, cols, 1]
            boxes = np.stack([np.fix((2 * cols + 1) / scale), np.fix((2 * rows + 1) / scale),
                              np.fix((2 * cols + 12) / scale), np.fix((2 * rows + 12) / scale)],
                             axis=1)
            keep = _nms(boxes, score, 0.5, 'union')
            found.append(np.hstack([boxes[keep], score[keep, None], reg[rows, cols][keep]]))
        if not found:
            return []
        cand = np.vstack(found)
        cand = cand[_nms(cand[:, :4], cand[:, 4], 0.7, 'union')]
        boxes = np.fix(_square(_regress(cand[:, :4], cand[:, 5:9], plus_one=False)))

        reg, prob = self.rnet.run(None, {self._names[1]: _mtcnn_input(_crops(img, boxes, 24))})
        ok = prob[:, 1] > t2
        if not ok.any():
            self.last_best_rejected = float(prob[:, 1].max())
            return []
        boxes, score, reg = boxes[ok], prob[ok, 1], reg[ok]
        keep = _nms(boxes, score, 0.7, 'union')
        boxes = np.fix(_square(_regress(boxes[keep], reg[keep])))

        reg, points, prob = self.onet.run(None, {self._names[2]: _mtcnn_input(
            _crops(img, boxes, 48))})
        ok = prob[:, 1] > t3
        if not ok.any():
            self.last_best_rejected = float(prob[:, 1].max())
            return []
        boxes, score, reg, points = boxes[ok], prob[ok, 1], reg[ok], points[ok]
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        xs = bw[:, None] * points[:, 0:5] + boxes[:, 0:1] - 1
        ys = bh[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, reg)
        keep = _nms(boxes, score, 0.7, 'min')
        faces = []
        for i in keep:
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            faces.append(Face((max(0.0, x1), max(0.0, y1), min(float(w - 1), x2),
                               min(float(h - 1), y2)), float(score[i]),
                              np.stack([xs[i], ys[i]], axis=1).astype(np.float32)))
        return faces


def align_chips(img: np.ndarray, landmarks: np.ndarray, sizes: Sequence[int],
                padding: float = 0.2) -> list[np.ndarray]:
    """Face chips aligned like dlib's 5-point chips: eyes mapped onto the template's eyes."""
    big = 4 * max(sizes)
    dst = [(padding + p) / (2 * padding + 1) * big for p in (_LEFT_EYE, _RIGHT_EYE)]
    eyes = landmarks[0:2]
    if eyes[0, 0] > eyes[1, 0]:
        eyes = eyes[::-1]
    s0, s1 = complex(*eyes[0]), complex(*eyes[1])
    d0, d1 = complex(*dst[0]), complex(*dst[1])
    if abs(s1 - s0) < 1e-3:
        raise ValueError('face landmarks are degenerate (eyes coincide)')
    a = (d1 - d0) / (s1 - s0)
    b = d0 - a * s0
    m = np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], np.float64)
    chip = cv2.warpAffine(img, m, (big, big), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    return [cv2.resize(chip, (s, s), interpolation=cv2.INTER_AREA) for s in sizes]


def chip_tensor(chips: Sequence[np.ndarray], mean: np.ndarray, scale: float) -> np.ndarray:
    batch = np.stack(chips).astype(np.float32)
    batch -= mean
    batch *= np.float32(scale)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def expected_age(probs: np.ndarray) -> np.ndarray:
    return probs.astype(np.float32) @ AGE_CLASSES


class FaceAnalysisPipeline(TaskPipeline):
    """MTCNN detection -> aligned chips -> gender (32x32) and age (64x64) networks."""

    def __init__(self, spec: VariantSpec, processor: Processor) -> None:
        super().__init__(spec, processor)
        where = f'{spec.task}/{spec.name}'
        self.detector_config = DetectorConfig.from_dict(spec.params.get('detector', {}), where)
        chip = spec.params.get('chip', {})
        self.padding = float(chip.get('padding', 0.2))
        self.mean = np.asarray(chip.get('mean', (122.781998, 117.000999, 104.297997)),
                               np.float32)
        self.scale = float(chip.get('scale', 1 / 256))
        self.detector = Mtcnn(self._session('pnet'), self._session('rnet'),
                              self._session('onet'), self.detector_config)
        self.age_session = self._session('age')
        self.gender_session = self._session('gender')
        self._age_in = self.age_session.get_inputs()[0].name
        self._gender_in = self.gender_session.get_inputs()[0].name

    def analyse_chips(self, chips64: Sequence[np.ndarray],
                      chips32: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(gender probabilities N x 2 [female, male], expected ages N) of aligned chips."""
        if not chips64:
            return np.zeros((0, 2), np.float32), np.zeros(0, np.float32)
        gender = self.gender_session.run(None, {self._gender_in: chip_tensor(
            chips32, self.mean, self.scale)})[0].astype(np.float32)
        age = self.age_session.run(None, {self._age_in: chip_tensor(
            chips64, self.mean, self.scale)})[0]
        return gender, expected_age(age)

    def chips(self, img: np.ndarray, faces: Sequence[Face]) -> tuple[list, list]:
        pairs = [align_chips(img, f.landmarks, (64, 32), self.padding) for f in faces]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def __call__(self, sample: Any) -> Prediction:
        img = check_image(sample, self.task)
        faces = self.detector.detect(img)
        chips64, chips32 = self.chips(img, faces)
        gender, ages = self.analyse_chips(chips64, chips32)
        details = []
        for face, g, age in zip(faces, gender, ages, strict=True):
            gi = int(np.argmax(g))
            details.append({'box': [round(v, 1) for v in face.box], 'score': face.score,
                            'landmarks': np.round(face.landmarks, 1).tolist(),
                            'gender': GENDERS[gi], 'gender_score': float(g[gi]),
                            'age': round(float(age), 1)})
        if faces:
            score = max(f.score for f in faces)
            return Prediction(self.task, 'face', score, (('face', score), ('no_face', 1 - score)),
                              {'faces': details, 'n_faces': len(faces)})
        score = 1.0 - self.detector.last_best_rejected
        return Prediction(self.task, 'no_face', score, (('no_face', score), ('face', 1 - score)),
                          {'faces': [], 'n_faces': 0})

    def example_input(self) -> np.ndarray:
        rng = np.random.default_rng(0)
        return rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
