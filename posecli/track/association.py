"""Identity across frames: Hungarian assignment of people to tracks on box IoU and keypoint similarity,
with constant-velocity motion prediction and a maximum age so IDs survive short occlusions.

This is the SORT recipe (Bewley et al. 2016) with OKS added to the cost, because two people crossing have
overlapping boxes but distinct limbs. Written here (about 100 lines over scipy's linear_sum_assignment)
rather than taken from a tracking package: the PyPI trackers (deep_sort_realtime, bytetrack forks) track
boxes only, bring appearance models or torchvision pins, and cannot use keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

# Per-joint OKS falloff; 0.1 of the person's scale is the order of COCO's body-joint sigmas (0.07-0.11).
OKS_KAPPA = 0.1


@dataclass
class Observation:
    """One person in one frame, as any backend reports it."""

    box: np.ndarray  # (4,) xyxy pixels
    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    payload: Any = None  # backend-specific extras carried to the output


@dataclass
class _Track:
    id: int
    box: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    last: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    history: list[tuple[int, Observation]] = field(default_factory=list)

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        shift = self.velocity * (frame - self.last)
        centre_shift = (shift[:2] + shift[2:]) / 2
        return self.box + shift, self.keypoints + centre_shift


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) xyxy boxes."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def oks(kp_a: np.ndarray, conf_a: np.ndarray, kp_b: np.ndarray, conf_b: np.ndarray, scale: float) -> float:
    """Object keypoint similarity over the joints both poses see (0 when they share none)."""
    both = (conf_a > 0.3) & (conf_b > 0.3)
    if not both.any() or scale <= 0:
        return 0.0
    d2 = ((kp_a[both] - kp_b[both]) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * (OKS_KAPPA * scale) ** 2)).mean())


class Tracker:
    """Feed ``update(frame, observations)`` frame by frame; read ``tracks`` at the end."""

    def __init__(self, max_age: int = 30, min_similarity: float = 0.2, iou_weight: float = 0.5,
                 velocity_smoothing: float = 0.5):
        self.max_age = max_age
        self.min_similarity = min_similarity
        self.iou_weight = iou_weight
        self.velocity_smoothing = velocity_smoothing
        self._active: list[_Track] = []
        self._done: list[_Track] = []
        self._next_id = 1

    def similarity(self, frame: int, observations: list[Observation]) -> np.ndarray:
        sim = np.zeros((len(self._active), len(observations)))
        if not sim.size:
            return sim
        preds = [t.predicted(frame) for t in self._active]
        iou = box_iou(np.stack([p[0] for p in preds]), np.stack([o.box for o in observations]))
        for i, (t, (box, kps)) in enumerate(zip(self._active, preds)):
            scale = float(np.sqrt(max(np.prod(box[2:] - box[:2]), 1.0)))
            for j, o in enumerate(observations):
                sim[i, j] = self.iou_weight * iou[i, j] + (1 - self.iou_weight) * oks(
                    kps, t.confidence, o.keypoints, o.confidence, scale)
        return sim

    def update(self, frame: int, observations: list[Observation]) -> list[int]:
        """Assign each observation a track id (new ids for unmatched ones); returns the ids in order."""
        self._retire(frame)
        sim = self.similarity(frame, observations)
        ids = [0] * len(observations)
        matched_obs: set[int] = set()
        if sim.size:
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.min_similarity:
                    self._extend(self._active[r], frame, observations[c])
                    ids[c] = self._active[r].id
                    matched_obs.add(c)
        for j, o in enumerate(observations):
            if j not in matched_obs:
                t = _Track(self._next_id, o.box.astype(float), o.keypoints.astype(float), o.confidence, frame,
                           history=[(frame, o)])
                self._next_id += 1
                self._active.append(t)
                ids[j] = t.id
        return ids

    def _extend(self, t: _Track, frame: int, o: Observation) -> None:
        gap = max(frame - t.last, 1)
        v = (o.box - t.box) / gap
        t.velocity = self.velocity_smoothing * t.velocity + (1 - self.velocity_smoothing) * v
        t.box, t.keypoints, t.confidence, t.last = o.box.astype(float), o.keypoints.astype(float), o.confidence, frame
        t.history.append((frame, o))

    def _retire(self, frame: int) -> None:
        keep = []
        for t in self._active:
            (keep if frame - t.last <= self.max_age else self._done).append(t)
        self._active = keep

    @property
    def tracks(self) -> list[tuple[int, list[tuple[int, Observation]]]]:
        """(id, [(frame, observation), ...]) for every track ever started, in id order."""
        return [(t.id, t.history) for t in sorted(self._done + self._active, key=lambda t: t.id)]
