"""Detector-like 2D keypoints from exact projections: jitter, outliers, missing joints, left/right swaps, scores.

Errors scale with the person's size in pixels, because a top-down detector (BlazePose, posecli's own) sees
every person through a crop resized to a fixed input: its error is a fraction of the crop, not a number of
pixels. Each effect draws from its own child generator, so changing one rate (say ``drop_prob``) leaves the
other effects' draws unchanged under the same seed.

Default magnitudes (per-axis standard deviation as a fraction of the person's size, :data:`PART_SIGMA`) are
calibrated to BlazePose Full, the landmark model posecli runs: MediaPipe reports PCK@0.2 of 95.5-96.3 % on the
17 COCO joints of its Yoga/Dance/HIIT sets (96.4-97.5 % Heavy, 90.2-93.5 % Lite, 96.0 % AlphaPose ResNet-50;
mediapipe docs/solutions/pose.md). With the defaults, random views of a standing person score ~96 %
(tests/test_synth2d.py): the median error is 0.05 of the torso at the shoulders and 0.1 at the wrists, and the
misses come about equally from wrists/ankles, outliers, drops and swapped runs. ``sigma_scale`` ~0.8 gives
Heavy's accuracy, ~1.3 Lite's.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from .. import joints
from ..boxes import keypoint_heights
from ..errors import PoseCliError

# Per-axis error std / person size. Ordering follows what detectors get wrong: the face is sharp and
# textured, shoulders and hips are big, elbows/knees bend, wrists and ankles move fast and are small
# (motion blur, self-occlusion); hand and foot tips are worst. Hips are a bit looser than shoulders
# because clothing hides the hip joint. Name parts without the left_/right_ prefix.
PART_SIGMA: dict[str, float] = {
    "nose": 0.012, "eye": 0.012, "eye_inner": 0.012, "eye_outer": 0.012, "ear": 0.014, "mouth": 0.012,
    "neck_nose": 0.014, "head": 0.014, "neck": 0.014,
    "shoulder": 0.014, "collar": 0.017, "thorax": 0.014, "spine": 0.018, "pelvis": 0.018, "hip": 0.018,
    "elbow": 0.022, "knee": 0.022,
    "wrist": 0.030, "ankle": 0.026, "heel": 0.030, "foot": 0.034, "foot_index": 0.034,
    "hand": 0.036, "pinky": 0.036, "index": 0.036, "thumb": 0.036,
}
DEFAULT_SIGMA = 0.018  # a joint whose part is not listed


def body_part(name: str) -> str:
    """A joint name without its side prefix and index: ``left_wrist`` -> ``wrist``, ``spine2`` -> ``spine``."""
    for prefix in ("left_", "right_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.rstrip("0123456789")  # SMPL's spine1..3


def joint_sigmas(joint_set: str) -> np.ndarray:
    """(J,) per-axis error std of each joint of ``joint_set``, as a fraction of the person's size."""
    return np.array([PART_SIGMA.get(body_part(n), DEFAULT_SIGMA) for n in joints.get(joint_set).joints])


def person_scale(uv: np.ndarray) -> np.ndarray:
    """(...) person size in pixels: the longer side of the keypoints' box (NaN where no joint is finite).

    The longer side, as BlazePose's square region of interest uses, so a person lying down or seen from
    an odd angle still gets a sensible size.
    """
    uv = np.asarray(uv, dtype=np.float64)
    ok = np.isfinite(uv).all(-1, keepdims=True)
    lo = np.where(ok, uv, np.inf).min(-2)
    hi = np.where(ok, uv, -np.inf).max(-2)
    side = (hi - lo).max(-1)
    return np.where(np.isfinite(side), side, np.nan)


def ar1_normal(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """Standard normal samples correlated along axis 0 as AR(1) with coefficient ``rho`` (0 = white).

    Every sample keeps unit variance (stationary start), so ``rho`` changes only how slowly the error drifts:
    detector errors persist over frames (same blur, same occluder), which a white jitter misses.
    """
    if not 0 <= rho < 1:
        raise PoseCliError(f"rho {rho} must be in [0, 1)")
    w = rng.standard_normal(shape)
    if rho == 0 or shape[0] == 0:
        return w
    gain = np.sqrt(1 - rho * rho)
    w[0] /= gain  # so that e_0 = w_0 has unit variance, like every later e_t
    return lfilter([gain], [1.0, -rho], w, axis=0)


def swap_runs(rng: np.random.Generator, n: int, rate: float, length: tuple[int, int]) -> np.ndarray:
    """(n,) bool: frames inside runs of left/right confusion; a run starts at each frame with prob ``rate``."""
    starts = np.flatnonzero(rng.random(n) < rate)
    ends = np.minimum(starts + rng.integers(length[0], length[1] + 1, len(starts)), n)
    edges = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    return np.cumsum(edges)[:n] > 0


def realistic_2d(uv: np.ndarray, rng: np.random.Generator, joint_set: str, scale: np.ndarray | None = None, *,
                 sigma_scale: float = 1.0, rho: float = 0.0,
                 outlier_prob: float = 0.01, outlier_range: tuple[float, float] = (0.1, 0.4),
                 drop_prob: float = 0.01, swap_rate: float = 0.002, swap_length: tuple[int, int] = (5, 20),
                 conf_slope: float = 5.0, conf_noise: float = 0.05, conf_floor: float = 0.05,
                 visible: np.ndarray | None = None, hidden_sigma: float = 3.0, hidden_conf: float = 0.3,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact 2D joints ``uv`` (N, J, 2) -> (noisy uv (N, J, 2), confidence (N, J)), as a detector would give.

    - ``scale`` (N,) person size in pixels (default :func:`person_scale`); errors are fractions of it.
    - Gaussian error per axis, std ``sigma_scale * joint_sigmas(joint_set)`` x scale, AR(1) over frames with
      coefficient ``rho`` (0: independent frames, right for unordered poses; ~0.7-0.9 for 30 fps clips).
    - Outliers: with ``outlier_prob`` a joint jumps ``outlier_range`` x scale in a random direction (the
      detector locks onto the other limb or the background).
    - Swaps: runs of ``swap_length`` frames (starting with prob ``swap_rate`` per frame; ~2.5 % of frames by
      default) in which the whole pose has left and right exchanged (the joint set's flip permutation), as
      BlazePose does on frontal and back views. Confidence stays high there: the detector is sure, and wrong.
    - Confidence ``clip(1 - conf_slope * |error| / scale + N(0, conf_noise), conf_floor, 1)``: ~0.9 for a
      typical error, the floor for an outlier, so it ranks joints the way real scores roughly do.
    - ``visible`` (N, J) bool, e.g. from :mod:`videography`: hidden joints are still guessed (as BlazePose
      does) with ``hidden_sigma`` times the error and confidence times ``hidden_conf``.
    - Dropped joints (prob ``drop_prob``, and any non-finite input): NaN with confidence 0.
    """
    uv = np.asarray(uv, dtype=np.float64)
    js = joints.get(joint_set)
    if uv.ndim != 3 or uv.shape[1] != len(js) or uv.shape[2] != 2:
        raise PoseCliError(f"uv has shape {uv.shape}, expected (N, {len(js)}, 2) for joint set {js.name}")
    n, J = uv.shape[:2]
    size = person_scale(uv) if scale is None else np.broadcast_to(np.asarray(scale, np.float64), (n,))
    hidden = np.zeros((n, J), bool) if visible is None else ~np.asarray(visible, bool)
    r_swap, r_noise, r_out, r_conf, r_drop = rng.spawn(5)

    swapped = swap_runs(r_swap, n, swap_rate, swap_length)
    out = uv.copy()
    out[swapped] = uv[swapped][:, js.flip_permutation]

    sigma = sigma_scale * joint_sigmas(joint_set)[None, :] * np.where(hidden, hidden_sigma, 1.0)
    err = ar1_normal(r_noise, (n, J, 2), rho) * (sigma * size[:, None])[..., None]
    jump = r_out.random((n, J)) < outlier_prob
    radius = r_out.uniform(*outlier_range, (n, J)) * size[:, None]
    angle = r_out.uniform(0, 2 * np.pi, (n, J))
    err += np.where(jump, radius, 0.0)[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    out += err

    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.linalg.norm(err, axis=-1) / size[:, None]
    conf = np.clip(1 - conf_slope * rel + conf_noise * r_conf.standard_normal((n, J)), conf_floor, 1.0)
    conf = np.where(hidden, conf * hidden_conf, conf)

    drop = (r_drop.random((n, J)) < drop_prob) | ~np.isfinite(out).all(-1) | ~np.isfinite(conf)
    out[drop] = np.nan
    conf[drop] = 0.0
    return out, conf


def gaussian_2d(uv: np.ndarray, rng: np.random.Generator, sigma: float = 0.025, drop: float = 0.05
                ) -> tuple[np.ndarray, np.ndarray]:
    """Exact 2D ``uv`` (N, J, 2) -> (noisy uv, confidence (N, J)) under the plain error model papers and outside
    checks use: independent Gaussian error of ``sigma`` x the person's height per axis, each joint dropped
    (NaN, confidence 0) with probability ``drop``, every other joint at confidence 1. No swaps, outliers or
    time correlation: a second, simpler yardstick beside :func:`realistic_2d`. Height: the keypoints' vertical
    extent per frame (:func:`posecli.boxes.keypoint_heights`).
    """
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[2] != 2:
        raise PoseCliError(f"uv has shape {uv.shape}, expected (N, J, 2)")
    out = uv + rng.standard_normal(uv.shape) * (sigma * keypoint_heights(uv))[:, None, None]
    gone = (rng.random(uv.shape[:2]) < drop) | ~np.isfinite(out).all(-1)
    out[gone] = np.nan
    return out, np.where(gone, 0.0, 1.0)
