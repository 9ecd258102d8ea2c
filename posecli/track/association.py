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

from ..boxes import box_iou

# Per-joint OKS falloff; 0.1 of the person's scale is the order of COCO's body-joint sigmas (0.07-0.11).
OKS_KAPPA = 0.1
AGE_BONUS, AGE_FRAMES = 0.05, 30


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
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre, pixels per frame
    history: list[tuple[int, Observation]] = field(default_factory=list)

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        # Only the centre moves: extrapolating the box size would shrink or blow up the box whenever arms
        # swing in or out, which broke matches on real clips.
        shift = self.velocity * (frame - self.last)
        return self.box + np.tile(shift, 2), self.keypoints + shift


def oks(kp_a: np.ndarray, conf_a: np.ndarray, kp_b: np.ndarray, conf_b: np.ndarray, scale: float) -> float:
    """Object keypoint similarity over the joints both poses see (0 when they share none)."""
    both = (conf_a > 0.3) & (conf_b > 0.3)
    if not both.any() or scale <= 0:
        return 0.0
    d2 = ((kp_a[both] - kp_b[both]) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * (OKS_KAPPA * scale) ** 2)).mean())


class Tracker:
    """Feed ``update(frame, observations)`` frame by frame; read ``tracks`` at the end."""

    def __init__(self, max_age: int = 30, min_similarity: float = 0.1, iou_weight: float = 0.5,
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
        # On near ties an established track wins over a young one (often a duplicate that lived a few frames).
        maturity = np.array([min(len(t.history), AGE_FRAMES) / AGE_FRAMES for t in self._active])
        return sim + AGE_BONUS * maturity[:, None] * (sim > 0)

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
        v = ((o.box[:2] + o.box[2:]) - (t.box[:2] + t.box[2:])) / 2 / gap
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


def stitch(tracks: list[tuple[int, list[tuple[int, Observation]]]], max_gap: int, fps: float,
           speed: float = 2.0) -> list[tuple[int, list[tuple[int, Observation]]]]:
    """Join a track that ends to one that starts later, offline, when the person could have walked there.

    The frame-to-frame matcher needs overlap or similar limbs, so someone unseen while jumping, turning or
    passing behind an object comes back under a new ID. Whole videos are processed at once, so these pieces
    can be joined afterwards: B may continue A when it starts within ``max_gap`` frames after A ends and its
    first box centre lies within (1 + ``speed`` x gap in seconds) body heights of A's last one. Closest
    pairs (relative to that limit) are joined first; each piece joins at most one before and one after.
    """
    pieces = {tid: list(hist) for tid, hist in tracks}

    def centre_height(o: Observation) -> tuple[np.ndarray, float]:
        return (o.box[:2] + o.box[2:]) / 2, float(o.box[3] - o.box[1])

    candidates = []
    for a, ha in pieces.items():
        end, last = ha[-1]
        ca, h_a = centre_height(last)
        for b, hb in pieces.items():
            start, first = hb[0]
            gap = start - end
            if a == b or not 0 < gap <= max_gap:
                continue
            cb, h_b = centre_height(first)
            limit = max(h_a, h_b) * (1 + speed * gap / fps)
            ratio = float(np.linalg.norm(cb - ca)) / limit
            if ratio <= 1:
                candidates.append((ratio, a, b))
    nxt: dict[int, int] = {}
    prev: dict[int, int] = {}
    for _, a, b in sorted(candidates):
        if a in nxt or b in prev:
            continue
        nxt[a], prev[b] = b, a
    out = []
    for tid in sorted(pieces):
        if tid in prev:
            continue
        hist, cur = list(pieces[tid]), tid
        while cur in nxt:
            cur = nxt[cur]
            hist += pieces[cur]
        out.append((tid, hist))
    return out
