"""Training crops for the person detector, cut from ``posecli synth`` renders (exact 2D of every person).

The crops are the squares the tracker runs the detector on (``detect.detector``: the letterboxed frame, the
level-1 tiles, the level-2 grid), jittered, plus random squares of any size, so that people appear at every
scale the tracker meets.  Each crop keeps, per person in it, the few points the detector's targets are made of.

Targets keep the meaning of BlazePose's detector outputs, because everything downstream (the ROI, the landmark
model, NMS) is built on it.  Measured with the original detector on training renders (people it found, hip
centre within a quarter of the body radius R = largest distance from the hip centre to any of the 17 joints):
its scale point sits 1.10 R from the hip centre (median; quartiles 0.98-1.21) along hip -> shoulder centre
(angle median 0.005 rad), its upper-body point 1.22 Ru from the shoulder centre (Ru: the same radius over the
head and arms), and its box is a square of side 0.67 R centred 0.10 R below the centre of the five head points.
The anchors that fire are those of the stride-8 and stride-16 grids near that box centre; the stride-32 grid
never fired (0 of 2,126 people found).  See ``train.detector`` for the assignment.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detect.anchors import INPUT_SIZE
from ..detect.detector import tile_rois
from ..detect.roi import Roi, apply_affine, letterbox_roi, warp_crop
from ..errors import InputError

SCALE_POINT = 1.10  # x R from the hip centre
UPPER_POINT = 1.22  # x Ru from the shoulder centre
BOX_SIDE = 0.67  # x R
BOX_DROP = 0.10  # x R below the head centre, toward the hips
MIN_VISIBLE = 5  # of 17 joints visible and inside the crop, for a person to be a positive (as bench/track_mot.py)

# columns of a crop's person rows: hip (2), shoulder centre (2), head centre (2), R, Ru, visible joints in crop,
# then the person's joint box in the crop (4)
PERSON_COLUMNS = 13


@dataclass
class CropSet:
    """Crops (N, 224, 224, 3) uint8 RGB and, per crop, an (M, PERSON_COLUMNS) array of the people in it."""

    images: np.ndarray
    persons: list[np.ndarray]
    clip: np.ndarray  # (N,) index of the clip the crop came from (for splitting by clip)

    def subset(self, keep: np.ndarray) -> CropSet:
        idx = np.flatnonzero(keep)
        return CropSet(self.images[idx], [self.persons[i] for i in idx], self.clip[idx])


def person_rows(uv: np.ndarray, visible: np.ndarray, to_crop: np.ndarray) -> np.ndarray:
    """COCO-17 image points (17, 2) and visibility (17,) bool of one person -> their row in a crop's coordinates
    (``to_crop``: 2x3 image -> crop matrix), or an empty row set when the points are not all known."""
    if not np.isfinite(uv).all():
        return np.zeros((0, PERSON_COLUMNS))
    p = apply_affine(to_crop, uv)
    hip, shoulder, head = p[[11, 12]].mean(0), p[[5, 6]].mean(0), p[:5].mean(0)
    radius = float(np.linalg.norm(p - hip, axis=1).max())
    upper = float(np.linalg.norm(p[:11] - shoulder, axis=1).max())
    inside = ((p >= 0) & (p < INPUT_SIZE)).all(1)
    return np.array([[*hip, *shoulder, *head, radius, upper, int((visible & inside).sum()),
                      *p.min(0), *p.max(0)]])


def targets_of(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One person row -> (box centre (2,), the 12 regression targets in crop pixels, absolute: box centre x y,
    w h, then hip centre, scale point, shoulder centre, upper-body point)."""
    hip, shoulder, head, radius, upper = row[0:2], row[2:4], row[4:6], row[6], row[7]
    up = shoulder - hip
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    centre = head - BOX_DROP * radius * up
    side = BOX_SIDE * radius
    values = np.array([*centre, side, side, *hip, *(hip + SCALE_POINT * radius * up), *shoulder,
                       *(shoulder + UPPER_POINT * upper * up)])
    return centre, values


def sample_regions(rng: np.random.Generator, width: int, height: int, count: int) -> list[Roi]:
    """``count`` squares of one frame: a jittered tracker square (letterbox, level-1 tile or level-2 tile) first,
    then random squares with sides from a quarter to the whole of the short side."""
    short = min(width, height)
    pool = [letterbox_roi(width, height)] + tile_rois(width, height, 1) + tile_rois(width, height, 2)
    out = []
    for k in range(count):
        if k == 0 or rng.random() < 0.5:
            base = pool[rng.integers(len(pool))]
            scale = rng.uniform(0.85, 1.15)
            shift = rng.uniform(-0.1, 0.1, 2) * base.size
            out.append(Roi(base.cx + shift[0], base.cy + shift[1], base.size * scale))
        else:
            side = short * rng.uniform(0.25, 1.0)
            out.append(Roi(rng.uniform(side * 0.3, width - side * 0.3), rng.uniform(side * 0.3, height - side * 0.3),
                           side))
    return out


def synth_views(folder: Path) -> list[tuple[int, Path, Path]]:
    """(clip index, video, truth) of every view of a ``posecli synth`` dataset (one clear line if it is not one)."""
    from ..synth.detections import load_manifest

    folder = Path(folder)
    return [(k, folder / v["video"], folder / v["poses"]) for k, c in enumerate(load_manifest(folder)["clips"])
            for v in c["views"]]


def countable(row: np.ndarray, min_radius: float) -> bool:
    """Whether a person (a crop row) is one the detector must find: enough joints visible in the crop, the head
    inside it (the detector's box is around the head), and not too small to resolve."""
    head_inside = bool(((row[4:6] >= 0) & (row[4:6] < INPUT_SIZE)).all())
    return row[8] >= MIN_VISIBLE and head_inside and row[6] >= min_radius


def build_crops(folders: list[Path], crops_per_frame: int = 3, every: int = 1, seed: int = 0,
                advance=lambda n=1: None) -> CropSet:
    """Cut ``crops_per_frame`` squares from every ``every``-th frame of every view of the synth datasets."""
    from ..formats import read_poses
    from ..poses import KEYPOINTS_2D
    from ..video import read_frames

    rng = np.random.default_rng(seed)
    images, persons, clips = [], [], []
    clip_offset = 0
    for folder in folders:
        views = synth_views(folder)
        for clip, video, truth_path in views:
            truth = read_poses(truth_path)
            per_frame: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
            for tr in truth.tracks:
                uv, state = tr.keypoints[KEYPOINTS_2D].points, tr.arrays["visibility_coco17"]
                for i, f in enumerate(tr.frames):
                    per_frame.setdefault(int(f), []).append((uv[i], state[i] == 2))
            for frame in read_frames(video, every=every):
                h, w = frame.image.shape[:2]
                for roi in sample_regions(rng, w, h, crops_per_frame):
                    to_crop = roi.image_to_crop(INPUT_SIZE)
                    rows = [person_rows(uv, vis, to_crop) for uv, vis in per_frame.get(frame.index, [])]
                    # uint8 (warp_crop's float32 holds the same whole values): 150 kB a crop, not 600
                    images.append(warp_crop(frame.image, roi, INPUT_SIZE, border="zero").astype(np.uint8))
                    persons.append(np.concatenate(rows) if rows else np.zeros((0, PERSON_COLUMNS)))
                    clips.append(clip_offset + clip)
                advance()
        clip_offset += 1 + max((c for c, _, _ in views), default=0)
    if not images:
        raise InputError("the synth datasets hold no frames", "render some with `posecli synth`", folders[0])
    return CropSet(np.stack(images), persons, np.array(clips))


def count_frames(folders: list[Path], every: int = 1) -> int:
    """Frames :func:`build_crops` will read (for the progress bar)."""
    from ..synth.detections import load_manifest

    total = 0
    for folder in folders:
        manifest = load_manifest(folder)
        frames = int(manifest["options"].get("frames", 0))  # frames rendered per view (whatever --step was)
        total += sum(len(c["views"]) for c in manifest["clips"]) * -(-max(frames, 1) // every)
    return total
