"""Pr-VIPE training pairs from ``posecli synth`` renders: BlazePose's own 2D of one instant seen by two cameras.

The paper trains on detected Human3.6M keypoints mixed with clean projections; our stand-in for detected keypoints
with known 3D is the renders: every clip is filmed by several cameras at once, and the detector's output on each
view (``synth.detections``, as ``train estimate --data synth:DIR`` uses it) gives, for one person at one frame,
an anchor 2D in one view and a positive 2D in another, with the rendered body's exact 3D as the label. Only
frames where both views' detections matched the person (on the whole window, for a temporal model) enter;
people performing an excluded subject's motion are left out. Mirroring flips both views and the 3D together.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from .. import joints
from ..embed.normalize import model_input, normalize_3d, window_indices
from ..errors import InputError
from ..formats import read_poses
from ..synth.detections import detections_path, load_manifest, matched_detections
from .clips import mirror


@dataclass
class _ViewPair:
    a: tuple[np.ndarray, np.ndarray]  # view A: detected COCO-17 pixels (T, 17, 2), confidence (T, 17)
    b: tuple[np.ndarray, np.ndarray]
    joints3d: np.ndarray  # (T, 17, 3) H36M-17 of the rendered body (camera A's axes; NP-MPJPE ignores rotation)
    span: np.ndarray  # (T, W) each frame's window (embed.normalize.window_indices)
    centres: np.ndarray  # frames whose whole window is detected in both views


def load_view_pairs(root: str | Path, window: int = 1, exclude_subjects: list[str] = (),
                    window_fps: float = 30.0) -> list[_ViewPair]:
    """Every (person, pair of views) of a detected synth dataset with at least one usable frame."""
    root = Path(root)
    pairs = []
    for clip in load_manifest(root)["clips"]:
        who = [p["subject"] for p in clip.get("people", [])]
        per_view = []
        for v in clip["views"]:
            truth_file = root / v["poses"]
            det_file = detections_path(truth_file)
            if not det_file.is_file():
                raise InputError("has views without detections", "train with --synth DIR (it detects them) or run "
                                 "posecli.synth.detections.detect_dataset", root)
            truth = read_poses(truth_file)
            per_view.append((truth, matched_detections(truth, read_poses(det_file))))
        for (ta, da), (_, db) in combinations(per_view, 2):
            for k, ((pa, ca), (pb, cb)) in enumerate(zip(da, db)):
                if k < len(who) and who[k] in exclude_subjects:
                    continue
                both = (ca.sum(-1) > 0) & (cb.sum(-1) > 0)
                t = ta.tracks[k]
                span = window_indices(t.times, window, window_fps)
                ok = both[span].all(1)
                if ok.any():
                    truth3d = t.arrays["keypoints3d_all"].astype(np.float64)
                    pairs.append(_ViewPair((pa, ca), (pb, cb), truth3d, span, np.flatnonzero(ok)))
    return pairs


class SynthPairSampler:
    """Batches shaped as :class:`posecli.train.vipe.PairSampler`'s: anchor and positive model inputs, 3D labels."""

    def __init__(self, roots: list[str | Path], window: int = 1, seed: int = 0, mirror: bool = True,
                 exclude_subjects: list[str] = (), window_fps: float = 30.0):
        self.pairs = [p for r in roots for p in load_view_pairs(r, window, exclude_subjects, window_fps)]
        if not self.pairs:
            raise InputError(f"no person is detected in two views at once in {', '.join(map(str, roots))}",
                             "render more clips, with --views 2 or more")
        self.mirror = mirror
        self.rng = np.random.default_rng(seed)
        frames = np.array([len(p.centres) for p in self.pairs], dtype=float)
        self.weights = frames / frames.sum()  # every usable frame equally likely

    @property
    def frames(self) -> int:
        return int(sum(len(p.centres) for p in self.pairs))

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        anchors, positives, poses = [], [], []
        for _ in range(batch):
            p = self.pairs[self.rng.choice(len(self.pairs), p=self.weights)]
            f = int(p.centres[self.rng.integers(len(p.centres))])
            span = p.span[f]
            views = [p.a, p.b] if self.rng.random() < 0.5 else [p.b, p.a]
            pose = p.joints3d[f]
            flip = self.mirror and self.rng.random() < 0.5
            inputs = []
            for pts, conf in views:
                xy, c = pts[span], conf[span]
                if flip:
                    xy, c = mirror(xy, "coco17"), c[:, joints.COCO17.flip_permutation]
                inputs.append(model_input(xy, c).reshape(-1))
            if flip:
                pose = mirror(pose[None], "h36m17")[0]
            anchors.append(inputs[0])
            positives.append(inputs[1])
            poses.append(pose)
        return {"anchor": np.stack(anchors), "positive": np.stack(positives), "poses3d": normalize_3d(np.stack(poses))}
