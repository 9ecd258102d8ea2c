"""Training clips for 2D->3D models: mocap 3D seen by a random virtual camera, with detector-like 2D.

One clip = T consecutive frames of one sequence (mirrored with probability 1/2 when asked), one static camera (Pr-VIPE's angle ranges, the person filling
40-90 % of the frame), realistic 2D noise correlated over time (rho 0.8 at 30 fps), a random noise level per
clip (0.6-1.5x BlazePose Full's), and, in a fraction of clips, the amodal paper's videography (zoom, pan,
truncation) whose hidden joints come out with low confidence as a detector reports them.

``augment=True`` (training the shipped lifter) adds what generalises to other people and footage: bodies
resized (``mocap.augment``: 0.8-1.2x, per-bone +-4 %), motions played 0.7-1.5x as fast, and the cameras of
:data:`FOOTAGE_CAMERAS`. Every clip also carries ``up``: the world's up direction in camera axes (the target
of the lifter's gravity head, from which ``estimate`` stands people upright).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import joints
from ..lifting.normalize import normalize_2d
from ..mocap.augment import lean_upper_body, resample_speed, resize_body, speed_span, swing_limbs
from ..mocap.dataset import MocapDataset
from ..synth2d import CameraSampler, realistic_2d, simulate_videography

# Cameras of real footage, a superset of the default sampler's (Pr-VIPE's +-30 degrees, 22-35 mm): people
# filmed from above (broadcast, stands, a phone held high: elevation up to 50 degrees), from a tripod at hip
# height or below, phones tilted (roll +-30 degrees), ultra-wide phone lenses to short zooms (18-70 mm
# equivalent), and people filling 30-90 % of the frame height.
FOOTAGE_CAMERAS = CameraSampler(elevation=(-30.0, 50.0), roll=(-30.0, 30.0), focal_mm=(18.0, 70.0),
                                fit_in_frame=True, fill=(0.3, 0.9))
SPEED_RANGE = (0.7, 1.5)  # log-uniform


@dataclass
class Clip:
    x: np.ndarray  # (T, 17, 3) normalised COCO-17 input (x, y, confidence)
    joints: np.ndarray  # (T, 17, 3) H36M-17 root-relative, camera axes, metres
    joints2d: np.ndarray  # (T, 17, 2) H36M-17 projected, in the input's normalised units (clean)
    root: np.ndarray  # (T, 3) pelvis in the camera frame, metres
    centre: np.ndarray  # (T, 2) pixels
    scale: np.ndarray  # (T,) pixels per normalised unit
    focal: float  # pixels
    visible: np.ndarray | None = None  # (T, 17) COCO-17 joints inside the videographed frame (None: no videography)
    rotation: np.ndarray | None = None  # (3, 3) world -> camera
    size: tuple[int, int] | None = None  # image (width, height) pixels

    @property
    def up(self) -> np.ndarray:
        """(T, 3) the world's up (+Y) in camera axes, per frame (the camera is static)."""
        return np.broadcast_to(self.rotation[:, 1], (len(self.x), 3)).astype(np.float32)


class ClipSampler:
    def __init__(self, dataset: MocapDataset, length: int, seed: int = 0, videography: float = 0.25,
                 noise: tuple[float, float] = (0.6, 1.5), clean: bool = False, mirror: bool = False,
                 avoid_glitches: bool = False, truncate: float = 0.5, augment: bool = False, lean: float = 0.0,
                 limbs: float = 0.0, exact: float = 0.0):
        self.sequences = [s for s in dataset.sequences if len(s) >= 2]
        if not self.sequences:
            raise ValueError("no sequences to sample clips from")
        self.length = length
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        self.lean = lean  # fraction of clips whose upper body is tilted (mocap.augment.lean_upper_body)
        self.limbs = limbs  # fraction of clips whose limbs are turned (mocap.augment.swing_limbs)
        self.exact = exact  # fraction of clips given their exact 2D (markers, renders), the rest detector noise
        self.cameras = FOOTAGE_CAMERAS if augment else CameraSampler(fit_in_frame=True)
        self.videography = videography
        self.noise = noise
        self.clean = clean
        self.mirror = mirror
        self.truncate = truncate  # probability that a videographed clip is framed to cut the legs off
        frames = np.array([len(s) for s in self.sequences], dtype=float)
        self.weights = frames / frames.sum()  # every frame equally likely
        self.bad = [glitch_mask(s) if avoid_glitches else None for s in self.sequences]

    def sample(self, batch: int) -> dict[str, np.ndarray]:
        clips = [self.random_clip() for _ in range(batch)]
        return {k: np.stack([getattr(c, k) for c in clips]) for k in ("x", "joints", "joints2d", "up")}

    def random_clip(self) -> Clip:
        return self.make_clip(*self.random_window())

    def random_window(self) -> tuple[np.ndarray, np.ndarray, np.random.Generator, float]:
        """(H36M-17 world joints, COCO-17 world joints, rng, fps) of a random window, mirrored as configured."""
        k = self.rng.choice(len(self.sequences), p=self.weights)
        seq, bad = self.sequences[k], self.bad[k]
        n = len(seq)
        speed = float(np.exp(self.rng.uniform(*np.log(SPEED_RANGE)))) if self.augment else 1.0
        span = speed_span(self.length, speed)
        for _ in range(20):  # redraw windows that touch a retargeting glitch (few tries: glitches are rare)
            start = int(self.rng.integers(0, max(1, n - span + 1)))
            if bad is None or not bad[start:start + span].any():
                break
        idx = np.minimum(np.arange(start, start + span), n - 1)  # short sequences repeat their end
        h36m, coco = seq.joints["h36m17"][idx], seq.joints["coco17"][idx]
        if self.augment:
            h36m, coco = resize_body(h36m, coco, self.rng)
            h36m, coco = resample_speed(h36m, self.length, speed), resample_speed(coco, self.length, speed)
        if self.lean and self.rng.random() < self.lean:  # no draw at 0: earlier recipes keep their random stream
            h36m, coco = lean_upper_body(h36m, coco, self.rng)
        if self.limbs and self.rng.random() < self.limbs:  # as lean: no draw at 0
            h36m, coco = swing_limbs(h36m, coco, self.rng)
        if self.mirror and self.rng.random() < 0.5:
            h36m, coco = mirror(h36m, "h36m17"), mirror(coco, "coco17")
        return h36m, coco, self.rng, seq.fps

    def make_clip(self, h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator, fps: float = 30.0) -> Clip:
        cam = self.cameras.sample(rng, h36m[:, 0].mean(0), points=np.concatenate([h36m, coco], 1))[0]
        uv, _ = cam.project(coco)
        uv_h, _ = cam.project(h36m)
        cam_h = cam.to_camera(h36m)
        visible = None
        if not self.clean and rng.random() < self.videography:
            uv, visible, a = simulate_videography(uv, cam.width, cam.height, rng, fps=fps,
                                                  truncate_lower_body=self.truncate, joint_set="coco17")
            # The same moving crop applied to the H36M joints (A maps source pixels to output pixels).
            uv_h = np.einsum("tij,tkj->tki", a[:, :2, :2], uv_h) + a[:, None, :2, 2]
        if self.clean or (self.exact and rng.random() < self.exact):  # no draw at 0, as lean
            noisy, conf = uv.astype(np.float32), np.ones(uv.shape[:2], np.float32)
        else:
            noisy, conf = realistic_2d(uv, rng, "coco17", sigma_scale=float(rng.uniform(*self.noise)), rho=0.8,
                                       visible=visible)
        x, centre, scale = normalize_2d(noisy, conf)
        joints2d = (uv_h - centre[:, None]) / scale[:, None, None]
        return Clip(x, (cam_h - cam_h[:, :1]).astype(np.float32), joints2d.astype(np.float32),
                    cam_h[:, 0].astype(np.float32), centre, scale, float(cam.K[0, 0]), visible, cam.R,
                    (int(cam.width), int(cam.height)))


def mirror(points: np.ndarray, joint_set: str) -> np.ndarray:
    """(..., J, 2 or 3): the mirror image of a motion (x -> -x, left and right joints swapped): another plausible
    motion, which doubles what 6 training subjects show (e.g. a left-footed balance becomes a right-footed one)."""
    sign = np.ones(points.shape[-1], dtype=points.dtype)
    sign[0] = -1.0  # 2D (image x) or 3D (camera/world x)
    return points[..., joints.get(joint_set).flip_permutation, :] * sign


def glitch_mask(seq, span_s: float = 1.0) -> np.ndarray:
    """Frames (at the sequence's rate) to keep out of training: retargeting pops and flips found by
    ``prepare`` (``attrs["jump_frames"]``, source-rate indices), and the time between two of them less than
    ``span_s`` apart, during which a flipped joint (subject 005's knee) sits in the wrong place."""
    mask = np.zeros(len(seq), dtype=bool)
    src_fps = float(seq.attrs.get("source_fps") or seq.fps)
    jumps = sorted(seq.attrs.get("jump_frames") or [])
    idx = [min(len(seq) - 1, int(round(j * seq.fps / src_fps))) for j in jumps]
    for a, b, ja, jb in zip(idx, idx[1:], jumps, jumps[1:]):
        if (jb - ja) / src_fps <= span_s:
            mask[a:b + 1] = True
    mask[idx] = True
    return mask
