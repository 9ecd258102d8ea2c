"""BlazePose landmark model: one person's rotated crop -> 33 keypoints (+ 2 auxiliary ROI points).

Re-implements mediapipe 0.10.14's ``PoseLandmarkByRoiCpu`` graph with the "full" model
(``pose_landmark_full.tflite``, = model_complexity 1) on top of LiteRT:

1. ImageToTensor: warp the ROI into a 256x256 crop (replicate border), RGB scaled to [0, 1].
2. Outputs: 195 = 39 points x (x, y, z, visibility, presence) in crop pixels; pose flag (already a
   probability); 256x256 segmentation (unused); 64x64x39 heatmap; 117 = 39 world points x 3.
3. TensorsToLandmarks: x, y, z divided by 256 (z scaled like x); sigmoid on visibility/presence.
4. RefineLandmarksFromHeatmap (kernel 7, min confidence 0.5): x, y replaced by the sigmoid-weighted
   mean heatmap cell around the point.  The legacy API does this too, so we must to match it.
5. Split: points 0-32 are the BlazePose landmarks, 33-34 the auxiliary "body centre" and
   "body scale" points used for the next frame's ROI; world points 0-32 only.
6. Projection back to the image through the ROI; world landmarks rotated by the ROI angle
   (WorldLandmarkProjectionCalculator), so that they are not tied to the crop's orientation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import DEFAULT_THREADS, LANDMARK_FILE, open_runner
from .roi import Roi, apply_affine, check_image, roi_from_points, warp_crop

INPUT_SIZE = 256
NUM_POINTS = 39  # 33 landmarks + 2 auxiliary + 4 unused (hands/face alignment points of older models)
NUM_LANDMARKS = 33
AUX = slice(33, 35)
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
MIN_POSE_SCORE = 0.5  # ThresholdingCalculator on the pose flag


@dataclass
class PersonLandmarks:
    """One person's BlazePose output in image pixels (and metres for ``world``)."""

    keypoints: np.ndarray  # (33, 2) x, y image pixels
    z: np.ndarray  # (33,) depth relative to the hips, in the same pixel scale as x (smaller = nearer)
    visibility: np.ndarray  # (33,) [0, 1]: likely visible (in frame and not occluded)
    presence: np.ndarray  # (33,) [0, 1]: likely inside the frame
    world: np.ndarray  # (33, 3) metres, origin between the hips (mediapipe's world landmarks)
    score: float  # pose flag: probability that the crop holds a person
    aux: np.ndarray  # (2, 2) image px: body centre and body-scale point, for the next ROI
    roi: Roi  # the ROI the model ran on

    @property
    def box(self) -> np.ndarray:
        """xyxy box of the 33 keypoints (image pixels)."""
        return np.concatenate([self.keypoints.min(axis=0), self.keypoints.max(axis=0)])


def roi_from_landmarks(person: PersonLandmarks) -> Roi:
    """The ROI for the next frame, from the auxiliary points (mediapipe's PoseLandmarksToRoi)."""
    return roi_from_points(person.aux[0], person.aux[1])


def refine_with_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """Mediapipe's RefineLandmarksFromHeatMap on normalised crop coords ``xy`` (N, 2).

    ``heatmap`` is (H, W, N) logits.  Reproduced detail for detail, quirks included: the centre cell
    is truncated toward zero, the bounds test checks the column twice (never the row's upper
    bound), and the refined value is ``mean cell index / size`` with no half-cell offset.
    """
    hm_h, hm_w, n = heatmap.shape
    off = (kernel - 1) // 2
    col = np.trunc(xy[:, 0] * hm_w).astype(np.int64)  # C++ float->int cast truncates toward zero
    row = np.trunc(xy[:, 1] * hm_h).astype(np.int64)
    ok = (col >= 0) & (col < hm_w) & (row >= 0) & (col < hm_h)  # sic: the row's upper bound is never tested
    # Gather every point's kernel window at once: (n, k, k); cells outside the heatmap weigh 0.
    steps = np.arange(-off, off + 1)
    rows = row[:, None] + steps  # (n, k)
    cols = col[:, None] + steps
    inside = ((rows >= 0) & (rows < hm_h))[:, :, None] & ((cols >= 0) & (cols < hm_w))[:, None, :]
    window = heatmap[np.clip(rows, 0, hm_h - 1)[:, :, None], np.clip(cols, 0, hm_w - 1)[:, None, :],
                     np.arange(n)[:, None, None]].astype(np.float64)
    conf = np.where(inside, 1.0 / (1.0 + np.exp(-window)), 0.0)
    total = conf.sum(axis=(1, 2))
    refine = ok & (total > 0) & (conf.max(axis=(1, 2)) >= min_confidence)
    safe = np.where(total > 0, total, 1.0)
    out = xy.copy()
    out[refine, 0] = ((conf.sum(axis=1) * cols).sum(axis=1) / hm_w / safe)[refine]
    out[refine, 1] = ((conf.sum(axis=2) * rows).sum(axis=1) / hm_h / safe)[refine]
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class LandmarkModel:
    """BlazePose "full" landmark model run on rotated ROI crops with LiteRT or, ported, with torch
    (``runtime="torch"``, on ``device``; all of a frame's people in one batch)."""

    def __init__(self, num_threads: int = DEFAULT_THREADS, min_score: float = MIN_POSE_SCORE,
                 runtime: str = "litert", device: str = "cpu"):
        self.min_score = min_score
        self._model = open_runner(LANDMARK_FILE, runtime, device, num_threads)
        # Identify outputs by size rather than order (order is not part of the model's contract); the
        # segmentation mask is not used (neither runtime computes it: about 40 % of the model's time).
        by_size = {int(np.prod(shape)): name for name, shape in self._model.outputs.items()}
        self._landmarks = by_size[NUM_POINTS * 5]
        self._flag = by_size[1]
        self._heatmap = by_size[64 * 64 * NUM_POINTS]
        self._world = by_size[NUM_POINTS * 3]
        self._model.select([self._landmarks, self._flag, self._heatmap, self._world])

    def run(self, image: np.ndarray, roi: Roi) -> PersonLandmarks | None:
        """Landmarks of the person in ``roi`` of an (H, W, 3) RGB uint8 image; None if no pose there."""
        return self.run_many(image, [roi])[0]

    def run_many(self, image: np.ndarray, rois: list[Roi]) -> list[PersonLandmarks | None]:
        """:meth:`run` for several ROIs of one image, as one batch; result ``i`` belongs to ``rois[i]``."""
        image = check_image(image)
        # A degenerate ROI cannot hold a person (and would make a singular warp).
        todo = [i for i, roi in enumerate(rois) if roi.size > 1]
        results: list[PersonLandmarks | None] = [None] * len(rois)
        if not todo:  # nobody followed yet, or only degenerate ROIs
            return results
        batch = np.stack([warp_crop(image, rois[i], INPUT_SIZE, border="replicate") for i in todo])
        out = self._model(batch * np.float32(1.0 / 255.0))
        for k, i in enumerate(todo):
            results[i] = self._person(rois[i], float(out[self._flag][k].reshape(-1)[0]), out[self._landmarks][k],
                                      out[self._heatmap][k], out[self._world][k])
        return results

    def _person(self, roi: Roi, score: float, raw: np.ndarray, heatmap: np.ndarray,
                world: np.ndarray) -> PersonLandmarks | None:
        if score < self.min_score:
            return None
        raw = raw.reshape(NUM_POINTS, 5).astype(np.float64)
        world = world.reshape(NUM_POINTS, 3)[:NUM_LANDMARKS].astype(np.float64)
        xy = refine_with_heatmap(raw[:, :2] / INPUT_SIZE, heatmap)
        points = apply_affine(roi.crop_to_image(1), xy)  # normalised crop -> image pixels
        c, s = np.cos(roi.angle), np.sin(roi.angle)
        world_xy = world[:, :2] @ np.array([[c, s], [-s, c]])  # rotate (x, y) by +angle
        return PersonLandmarks(
            keypoints=points[:NUM_LANDMARKS],
            z=raw[:NUM_LANDMARKS, 2] / INPUT_SIZE * roi.size,
            visibility=_sigmoid(raw[:NUM_LANDMARKS, 3]),
            presence=_sigmoid(raw[:NUM_LANDMARKS, 4]),
            world=np.column_stack([world_xy, world[:, 2]]),
            score=score,
            aux=points[AUX],
            roi=roi,
        )
