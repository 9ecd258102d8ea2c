"""Training clips from ``posecli synth`` renders: the real detector's 2D in, the rendered body's exact 3D out.

Mocap projections (``clips.ClipSampler``) teach the lifter with a *model* of detector noise; these clips pair
what BlazePose really reports on an image of a clothed body (its joint definitions, biases, left/right
confusions, misses) with the truth of that body. A clip is ``length`` consecutive frames of one person in one
view in which the detector found that person on every frame (``synth.detections``); frames without a match
never enter, as ``estimate`` never sees them either (a track has no such frames). Targets are the render's
H36M-17 joints of the Anny body (camera axes, root-relative) and their exact projections, normalised with the
detected 2D's centre and scale exactly as ``estimate`` normalises at run time, and the world's up direction in
the render camera's axes (the target of the lifter's up head: with it the head learns gravity from what the
detector reports on images, not only from modelled 2D). Mirroring (x -> -x, left and
right swapped, in the image and in 3D) doubles the motions as for mocap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import joints
from ..errors import InputError
from ..formats import read_poses
from ..lifting.normalize import normalize_2d
from ..synth.dataset import KEYPOINTS_2D_H36M
from ..synth.detections import detections_path, load_manifest, matched_detections, views
from .clips import mirror


@dataclass
class SynthPerson:
    """One person in one view: detected COCO-17 pixels + confidence, truth H36M-17 3D (camera) and 2D pixels."""
    detected: np.ndarray  # (T, 17, 2)
    confidence: np.ndarray  # (T, 17)
    joints3d: np.ndarray  # (T, 17, 3)
    joints2d: np.ndarray  # (T, 17, 2)
    starts: np.ndarray  # first frames of the windows detected throughout
    up: np.ndarray  # (T, 3) world +Y in the camera's axes, per frame (following cameras turn); NaN: unknown


def load_synth_people(root: str | Path, length: int, exclude_subjects: list[str] = ()) -> list[SynthPerson]:
    """Every (view, person) of a detected synth dataset with at least one fully detected window of ``length``;
    people performing an excluded subject's motion are left out (keeps held-out subjects held out)."""
    root = Path(root)
    manifest = load_manifest(root)
    subjects = {v["poses"]: [p["subject"] for p in c.get("people", [])]
                for c in manifest["clips"] for v in c["views"]}
    people = []
    for _, truth_file in views(root):
        det_file = detections_path(truth_file)
        if not det_file.is_file():
            raise InputError("has views without detections", "train with --data synth:DIR (it detects them) or "
                             "run posecli.synth.detections.detect_dataset", root)
        truth = read_poses(truth_file)
        who = subjects.get(str(truth_file.relative_to(root)), [])
        for k, (pts, conf) in enumerate(matched_detections(truth, read_poses(det_file))):
            if k < len(who) and who[k] in exclude_subjects:
                continue
            t = truth.tracks[k]
            found = conf.sum(-1) > 0
            run = np.convolve(found.astype(int), np.ones(length, int), "valid") == length
            if not run.any():
                continue
            people.append(SynthPerson(pts, conf, t.arrays["keypoints3d_all"].astype(np.float32),
                                      t.keypoints[KEYPOINTS_2D_H36M].points.astype(np.float32), np.flatnonzero(run),
                                      _up_per_frame(t, truth, len(found))))
    return people


class SynthClipSampler:
    def __init__(self, roots: list[str | Path], length: int, seed: int = 0, mirror: bool = True,
                 exclude_subjects: list[str] = ()):
        self.people = [p for r in roots for p in load_synth_people(r, length, exclude_subjects)]
        if not self.people:
            raise InputError(f"no person is detected on {length} consecutive frames in {', '.join(map(str, roots))}",
                             "render longer clips (--frames) or more of them")
        self.length = length
        self.mirror = mirror
        self.rng = np.random.default_rng(seed)
        windows = np.array([len(p.starts) for p in self.people], dtype=float)
        self.weights = windows / windows.sum()

    @property
    def windows(self) -> int:
        return int(sum(len(p.starts) for p in self.people))

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        clips = [self.random_clip() for _ in range(batch)]
        return {k: np.stack([c[k] for c in clips]) for k in ("x", "joints", "joints2d", "up")}

    def random_clip(self) -> dict[str, np.ndarray]:
        p = self.people[self.rng.choice(len(self.people), p=self.weights)]
        s = int(p.starts[self.rng.integers(len(p.starts))])
        sl = slice(s, s + self.length)
        det, conf, j3, j2, up = p.detected[sl], p.confidence[sl], p.joints3d[sl], p.joints2d[sl], p.up[sl]
        if self.mirror and self.rng.random() < 0.5:
            det, conf = mirror(det, "coco17"), conf[:, joints.COCO17.flip_permutation]
            j3, j2 = mirror(j3, "h36m17"), mirror(j2, "h36m17")
            up = up * np.array([-1.0, 1.0, 1.0], np.float32)  # the mirror image of the scene: x -> -x
        clip = make_clip(det, conf, j3, j2)
        clip["up"] = up
        return clip


def _up_per_frame(track, truth, frames: int) -> np.ndarray:
    """(T, 3) world +Y in camera axes: column 1 of each frame's world -> camera rotation (the track's
    ``camera_R``, which a following camera turns; else the file's static ``camera`` R). NaN without either:
    such clips are left out of the up loss."""
    rotation = track.arrays.get("camera_R", truth.camera.get("R"))
    if rotation is None:
        return np.full((frames, 3), np.nan, np.float32)
    up = np.asarray(rotation, np.float32)[..., :, 1]
    return np.broadcast_to(up, (frames, 3)).astype(np.float32)


def make_clip(detected: np.ndarray, confidence: np.ndarray, joints3d: np.ndarray, joints2d: np.ndarray) -> dict:
    x, centre, scale = normalize_2d(detected, confidence)
    return {"x": x, "joints": (joints3d - joints3d[:, :1]).astype(np.float32),
            "joints2d": ((joints2d - centre[:, None]) / scale[:, None, None]).astype(np.float32)}

