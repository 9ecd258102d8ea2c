"""BlazePose person detector: whole image -> scored person boxes with 4 alignment keypoints.

Re-implements mediapipe 0.10.14's ``PoseDetectionCpu`` graph (options read from the graph embedded
in the wheel) on top of LiteRT:

1. ImageToTensor: letterbox the image into a centred square (zero border), resize to 224x224,
   scale RGB to [-1, 1].
2. TensorsToDetections: 2254 anchors x 12 values.  Values are in pixels of the 224 input and
   relative to the anchor centre, in (x, y) order: box centre, box w/h, then 4 keypoints.  Scores
   are logits, clipped to +-100, sigmoid, kept when >= 0.5.
3. NonMaxSuppression: *weighted* NMS, IoU > 0.3 groups boxes; a group's box and keypoints are the
   score-weighted mean, its score the best member's.
4. DetectionLetterboxRemoval: undo the padding (here: map straight to image pixels).

Keypoint 0 is the hip centre, keypoint 1 a point on the circle enclosing the whole body (it gives
the ROI scale and rotation), keypoints 2-3 the same pair for the upper body (unused by BlazePose).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boxes import box_iou
from .anchors import INPUT_SIZE, NUM_ANCHORS, generate_anchors
from .models import (DEFAULT_THREADS, DETECTOR_FILE, LiteRtRunner, TorchRunner, check_litert_device,
                     fine_tuned_detector, model_path, open_runner)
from .roi import Roi, apply_affine, check_image, letterbox_roi, warp_crop

SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass
class Detection:
    """One detected person, in image pixels."""

    score: float
    box: np.ndarray  # (4,) x1, y1, x2, y2
    keypoints: np.ndarray  # (4, 2): hip centre, full-body scale point, shoulder centre, upper-body scale point

    # Note: ``box`` is the detector's own box, which surrounds the *head*, not the body (the
    # detector descends from the BlazeFace face detector); use ``body_box`` for the whole person.

    @property
    def body_box(self) -> np.ndarray:
        """xyxy box of the circle around the hip centre that encloses the whole body."""
        r = float(np.linalg.norm(self.keypoints[1] - self.keypoints[0]))
        cx, cy = self.keypoints[0]
        return np.array([cx - r, cy - r, cx + r, cy + r])


def decode(raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray, min_score: float = MIN_SCORE):
    """Raw model outputs -> (scores (K,), boxes (K, 4) xyxy, keypoints (K, 4, 2)), normalised to the 224 input."""
    # float64: exp(100) overflows float32 (mediapipe gets inf -> score 0, same result, no warning here)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    raw = raw.reshape(-1, 12)[keep].astype(np.float64) / INPUT_SIZE
    anc = anchors[keep].astype(np.float64)
    # fixed_anchor_size: anchor w = h = 1, so offsets are added to the anchor centre unscaled.
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:12].reshape(-1, 4, 2) + anc[:, None, :]
    return scores[keep], boxes, kps


def weighted_nms(scores, boxes, keypoints, iou_threshold: float = NMS_IOU):
    """Mediapipe's WEIGHTED non-max suppression; returns a list of (score, box, keypoints)."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out = []
    while remaining.size:
        top = remaining[0]
        iou = box_iou(boxes[top], boxes[remaining])[0]
        group = remaining[iou > iou_threshold]  # includes ``top`` itself (IoU 1)
        if group.size == 0:  # degenerate (zero-area) top box: keep it alone
            group = remaining[:1]
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(axis=0) / w.sum()
        kps = (keypoints[group] * w[:, :, None]).sum(axis=0) / w.sum()
        out.append((float(scores[top]), box, kps))
        remaining = remaining[~np.isin(remaining, group)]
    return out


def tile_rois(width: int, height: int, level: int = 1) -> list[Roi]:
    """Overlapping square tiles: level 1 along the image's long side, level 2 a grid at half that side, level 3
    (``track --pyramid-levels 3``) a grid at a quarter of it (for people under ~15 % of the frame height).

    The letterboxed whole image shrinks people a lot (a 1920 px side becomes 224), and the detector
    then misses small or far people and scores a second person low.  Level-1 tiles (side min(W, H)) see
    them at up to 1.8x the resolution; near-square images get none (nothing gained).  Level-2 tiles (side
    min(W, H) / 2, in both directions) see people at twice that again: on the synth tracking scenes
    (bench/track_mot.py, 960x540, people 15-60 % of the frame height) the detector found 20 % of the people
    on the whole image, 58 % with level 1 and 92 % with level 2.  Tile count ceil(L / T) + 1 per direction
    keeps overlaps large enough that a person cut by one tile's edge is whole in a neighbour.
    """
    side, long_side = min(width, height), max(width, height)
    if level >= 2:
        side = side / 2 ** (level - 1)
        xs = np.linspace(side / 2, width - side / 2, int(np.ceil(width / side)) + 1)
        ys = np.linspace(side / 2, height - side / 2, int(np.ceil(height / side)) + 1)
        return [Roi(float(x), float(y), float(side)) for y in ys for x in xs]
    if long_side - side < 0.25 * side:
        return []
    centres = np.linspace(side / 2, long_side - side / 2, int(np.ceil(long_side / side)) + 1)
    if width >= height:
        return [Roi(float(c), height / 2, float(side)) for c in centres]
    return [Roi(width / 2, float(c), float(side)) for c in centres]


def _fits(detection: Detection, tile: Roi) -> bool:
    """Whether the person's body circle (hip centre to the full-body scale point, the radius the landmark ROI is
    built from) is no larger than ``tile``. Each grid level keeps the people of its own scale, as SNIP does with
    image pyramids: the finest grid is there for small people, and in its tiles a bigger person shows only in
    part, a detection that starts a second skeleton on someone the coarser passes already found."""
    hip, scale_point = detection.keypoints[0], detection.keypoints[1]
    return 2 * float(np.linalg.norm(scale_point - hip)) <= tile.size


class PersonDetector:
    """The BlazePose person detector (``pose_detection.tflite``) run with LiteRT or, ported, with torch
    (``runtime="torch"``, on ``device``); with ``weights`` (from ``posecli train detector``) the same network
    fine-tuned on renders (LiteRT runs them written into the wheel's file: ``detect.tflite_patch``)."""

    def __init__(self, num_threads: int = DEFAULT_THREADS, min_score: float = MIN_SCORE, nms_iou: float = NMS_IOU,
                 runtime: str = "litert", device: str = "cpu", weights: Path | None = None):
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.card = None  # the fine-tuned weights' card, when ``weights`` are given
        if weights is None:
            self._model = open_runner(DETECTOR_FILE, runtime, device, num_threads)
        else:
            module, self.card = fine_tuned_detector(weights)
            if runtime == "torch":
                self._model = TorchRunner(model_path(DETECTOR_FILE), device, module=module)
            else:
                # torch is imported here, not at the top: it is needed only for fine-tuned weights, and importing it
                # is most of posecli's start-up time (1.6 of 2.4 s on the development machine)
                from .tflite_patch import patched_model

                check_litert_device(device)
                self._model = LiteRtRunner(model_path(DETECTOR_FILE), num_threads,
                                           patched_model(model_path(DETECTOR_FILE), module))
        # Tell the two outputs apart by shape, not by order: (2254, 12) boxes, (2254, 1) scores.
        self._boxes = next(n for n, shape in self._model.outputs.items() if shape[-1] == 12)
        self._scores = next(n for n, shape in self._model.outputs.items() if shape[-1] == 1)
        self.anchors = generate_anchors()
        if self.anchors.shape[0] != NUM_ANCHORS:
            raise AssertionError("anchor grid does not match the detector model")

    def detect(self, image: np.ndarray, tiled: bool = False, levels: int = 1) -> list[Detection]:
        """Detect people in an (H, W, 3) RGB uint8 image.

        ``tiled=False`` is exactly mediapipe's single pass over the letterboxed image (best score
        first).  ``tiled=True`` adds passes over :func:`tile_rois` (about 4x the time on a 16:9
        frame): whole-image detections are kept as they are, and a tile detection is added only
        when its box overlaps no detection kept so far (tile detections in score order), so tiling
        only ever adds people.  ``levels=2`` (with ``tiled``) adds the level-2 grid (:func:`tile_rois`; 15
        more passes on a 16:9 frame) the same way, after the level-1 tiles; ``levels=3`` the level-3 grid
        after that (45 more), keeping only people no larger than its tiles (:func:`_fits`).
        """
        image = check_image(image)
        h, w = image.shape[:2]
        found = self._detect_in(image, [letterbox_roi(w, h)])[0]
        if not tiled:
            return found
        for level in range(1, levels + 1):
            tiles = tile_rois(w, h, level)
            extra = [d for tile, found_in in zip(tiles, self._detect_in(image, tiles)) for d in found_in
                     if level < 3 or _fits(d, tile)]
            for det in sorted(extra, key=lambda d: -d.score):
                if not found or box_iou(det.box, np.array([d.box for d in found])).max() <= self.nms_iou:
                    found.append(det)
        return found

    def detect_in(self, image: np.ndarray, region: Roi) -> list[Detection]:
        """One detector pass over a square region of the image (zero outside it), in image pixels."""
        return self._detect_in(check_image(image), [region])[0]

    def _detect_in(self, image: np.ndarray, regions: list[Roi]) -> list[list[Detection]]:
        """One detector pass over each square region (zero outside the image: the letterbox), as one batch."""
        if not regions:  # tile_rois gives none for a near-square image
            return []
        batch = np.stack([warp_crop(image, r, INPUT_SIZE, border="zero") for r in regions])
        out = self._model(batch * np.float32(2.0 / 255.0) - np.float32(1.0))
        results = []
        for region, raw, logits in zip(regions, out[self._boxes], out[self._scores]):
            scores, boxes, kps = decode(raw, logits, self.anchors, self.min_score)
            # Detector coordinates are normalised to the 224 square: map them to image pixels (this
            # also removes the letterbox padding, DetectionLetterboxRemovalCalculator's job).
            to_image = region.crop_to_image(1)
            results.append([Detection(score, apply_affine(to_image, box.reshape(2, 2)).reshape(4),
                                      apply_affine(to_image, kp))
                            for score, box, kp in weighted_nms(scores, boxes, kps, self.nms_iou)])
        return results
