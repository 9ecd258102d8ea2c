"""Videographic augmentation: a virtual camera operator who zooms and pans over a clip, cutting joints off.

After the amodal-completion paper's "videographic augmentation" (smooth random scale and focus variations,
fast and slow camera motion, truncation by the image border, per-joint visibility masks): a crop window
moves smoothly over the source image and is resized to the output image. Everything is a per-frame
similarity of the image plane (an orthographic zoom/pan), so it applies to keypoints exactly and to
frames with the same matrices (``cv2.warpAffine(frame, A[t][:2], out_size)``). Also :func:`occlusion_masks`:
a box passing in front of the person.

The window may reach past the source image (as person-centred crops are padded); a joint is visible only
inside both the window and the source image.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter1d

from .. import joints
from ..errors import PoseCliError
from .noise import body_part, person_scale

LEG_PARTS = ("knee", "ankle", "heel", "foot", "foot_index")
HEAD_PARTS = ("nose", "eye", "eye_inner", "eye_outer", "ear", "mouth", "head", "neck_nose")
HIP_PARTS = ("hip", "pelvis")


def smooth_curve(rng: np.random.Generator, n: int, period: float, low, high) -> np.ndarray:
    """(n, D) smooth random path: uniform values in [low, high] (D-vectors) every ``period`` frames, joined
    by a monotone cubic (PCHIP), which never overshoots the knots, so the path stays in [low, high].

    The knot spacing sets the speed: a short period is a nervous handheld operator, a long one a slow drift.
    """
    low, high = np.atleast_1d(np.asarray(low, float)), np.atleast_1d(np.asarray(high, float))
    count = max(2, int(np.ceil((n - 1) / period)) + 1)
    knots = rng.uniform(low, high, (count, len(low)))
    if n <= 1:
        return knots[:max(n, 0)]
    return PchipInterpolator(np.arange(count) * period, knots, axis=0)(np.arange(n, dtype=float))


def _parts(joint_set: str, parts: tuple[str, ...]) -> np.ndarray:
    return np.array([body_part(n) in parts for n in joints.get(joint_set).joints])


def _fill_gaps(x: np.ndarray, default: np.ndarray) -> np.ndarray:
    """(T, D) per-frame values with NaN rows filled from the nearest finite frame (``default`` if none)."""
    ok = np.isfinite(x).all(-1)
    if not ok.any():
        return np.broadcast_to(default, x.shape).astype(float)
    idx = np.arange(len(x))
    return np.stack([np.interp(idx, idx[ok], x[ok, d]) for d in range(x.shape[1])], -1)


def _person_centre(uv: np.ndarray, default: np.ndarray) -> np.ndarray:
    """(T, 2) centre of the keypoints' box per frame, gaps filled from the nearest frame."""
    every = np.ones(uv.shape[1], bool)
    box = [[_nan_reduce(f, uv, every, a) for a in (0, 1)] for f in (np.min, np.max)]
    return _fill_gaps((np.stack(box[0], -1) + np.stack(box[1], -1)) / 2, default)


def _nan_reduce(f, uv: np.ndarray, mask: np.ndarray, axis: int) -> np.ndarray:
    """f (np.min / np.max) of coordinate ``axis`` over the ``mask`` joints, NaN where none is finite."""
    v = uv[:, mask, axis]
    ok = np.isfinite(v)
    fill = np.inf if f is np.min else -np.inf
    r = f(np.where(ok, v, fill), axis=1)
    return np.where(ok.any(1), r, np.nan)


def simulate_videography(uv: np.ndarray, width: int, height: int, rng: np.random.Generator, *,
                         zoom_range: tuple[float, float] = (1.0, 2.0), pan_range: float = 0.25,
                         period: tuple[float, float] = (0.5, 3.0), fps: float = 30.0, follow: bool = True,
                         out_size: tuple[int, int] | None = None, truncate_lower_body: float = 0.0,
                         cut_range: tuple[float, float] = (0.2, 0.8), joint_set: str | None = None,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Film the clip ``uv`` (T, J, 2, pixels of a ``width`` x ``height`` source) with a moving crop window.

    - Zoom: the window is ``1/zoom`` of the source height (``zoom_range``, log-uniform knots), with the
      output's aspect ratio; output size ``out_size`` (width, height), default the source's.
    - Pan: the window centre follows the person's box centre, smoothed like an operator's lagging hand
      (``follow``; else it stays on the image centre), plus an offset of up to ``pan_range`` window sizes.
    - Speed: zoom and offset are :func:`smooth_curve` paths with knots every ``period`` seconds (drawn per
      clip: from fast to slow camera motion).
    - ``truncate_lower_body``: the probability that this clip is framed to cut the legs off (the window's
      bottom edge between hips and knees, at ``cut_range`` of the way down, while head stays inside), the
      case the amodal paper's partial-visibility losses are for. Needs ``joint_set``; it cuts what is below
      in the image, so it hides the legs of people upright in the image (as people are filmed).

    Returns (uv in output pixels (T, J, 2): every joint, hidden ones included, visible (T, J) bool,
    transform (T, 3, 3): [u', v', 1] = A [u, v, 1], so A @ K is the virtual camera's intrinsics).
    """
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[-1] != 2:
        raise PoseCliError(f"uv has shape {uv.shape}, expected (T, J, 2)")
    T = len(uv)
    out_w, out_h = (width, height) if out_size is None else out_size
    aspect = out_w / out_h
    r_zoom, r_pan, r_cut = rng.spawn(3)
    spacing = float(rng.uniform(*period)) * fps  # frames between knots of the zoom and pan paths

    zoom = np.exp(smooth_curve(r_zoom, T, spacing, np.log(zoom_range[0]), np.log(zoom_range[1])))[:, 0]
    win_h = height / zoom
    source_centre = np.array([width / 2, height / 2])
    if follow:
        centre = gaussian_filter1d(_person_centre(uv, source_centre), sigma=max(spacing / 4, 1e-3), axis=0,
                                   mode="nearest")
    else:
        centre = np.broadcast_to(source_centre, (T, 2)).copy()
    offset = smooth_curve(r_pan, T, spacing, [-pan_range] * 2, [pan_range] * 2)
    centre = centre + offset * np.stack([win_h * aspect, win_h], -1)

    if r_cut.random() < truncate_lower_body:
        if joint_set is None:
            raise PoseCliError("truncate_lower_body needs joint_set= to know which joints are legs")
        centre, win_h = _cut_lower_body(uv, joint_set, centre, win_h, aspect, float(r_cut.uniform(*cut_range)))

    win_w = win_h * aspect
    s = out_h / win_h
    A = np.zeros((T, 3, 3))
    A[:, 0, 0] = A[:, 1, 1] = s
    A[:, 0, 2] = -s * (centre[:, 0] - win_w / 2)
    A[:, 1, 2] = -s * (centre[:, 1] - win_h / 2)
    A[:, 2, 2] = 1.0
    new = uv * s[:, None, None] + A[:, None, :2, 2]
    in_window = (new >= 0).all(-1) & (new[..., 0] <= out_w) & (new[..., 1] <= out_h)
    in_source = (uv >= 0).all(-1) & (uv[..., 0] <= width) & (uv[..., 1] <= height)
    return new, np.isfinite(uv).all(-1) & in_window & in_source, A


def _cut_lower_body(uv, joint_set, centre, win_h, aspect, cut):
    """Move/grow the window so its bottom edge crosses the thighs and the head stays inside.

    The bottom edge sits ``cut`` of the way from the lowest hip down to the highest leg joint (just above the
    highest leg joint when a knee is raised above the hips). The window grows (zooms out) where needed to keep
    the head 5 % of the person's size inside its top, and slides sideways to keep the head inside horizontally.
    Frames without a visible leg or head keep the nearest frame's cut (the framing is one decision per clip).
    """
    legs, head, hips = (_parts(joint_set, p) for p in (LEG_PARTS, HEAD_PARTS, HIP_PARTS))
    if not legs.any() or not head.any():
        raise PoseCliError(f"joint set {joint_set} has no leg or head joints to truncate between")
    if not hips.any():
        hips = ~legs & ~head
    size = _fill_gaps(person_scale(uv)[:, None], np.array([1.0]))[:, 0]
    margin = 0.05 * size
    leg_top = _nan_reduce(np.min, uv, legs, 1)
    hip_low = _nan_reduce(np.max, uv, hips, 1)
    bottom = np.where(leg_top > hip_low, hip_low + cut * (leg_top - hip_low), leg_top - margin)
    head_box = np.stack([_nan_reduce(f, uv, head, a) for f, a in
                         ((np.min, 0), (np.min, 1), (np.max, 0), (np.max, 1))], -1)
    if not np.isfinite(bottom).any():
        return centre, win_h  # no frame shows both hips and legs: nothing to cut
    bottom = _fill_gaps(bottom[:, None], np.array([np.nan]))[:, 0]
    head_box = _fill_gaps(head_box, np.full(4, np.nan))
    win_h = np.maximum(win_h, bottom - head_box[:, 1] + margin)
    win_w = win_h * aspect
    lo_x, hi_x = head_box[:, 2] + margin - win_w / 2, head_box[:, 0] - margin + win_w / 2
    x = np.clip(centre[:, 0], np.minimum(lo_x, hi_x), np.maximum(lo_x, hi_x))
    return np.stack([x, bottom - win_h / 2], -1), win_h


def crop_windows(transform: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """(T, 4) xyxy crop windows in source pixels, from :func:`simulate_videography`'s transforms."""
    A = np.asarray(transform, dtype=np.float64)
    s = A[:, 0, 0]
    x0, y0 = -A[:, 0, 2] / s, -A[:, 1, 2] / s
    return np.stack([x0, y0, x0 + out_size[0] / s, y0 + out_size[1] / s], -1)


def occlusion_masks(uv: np.ndarray, rng: np.random.Generator, *, prob: float = 0.5,
                    size_range: tuple[float, float] = (0.2, 0.5), reach: float = 0.6,
                    period: tuple[float, float] = (1.0, 4.0), fps: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """A box occluder (a passer-by, furniture) hiding the joints behind it: (occluded (T, J) bool, boxes (T, 4)).

    With probability ``prob`` the clip gets one square box whose side is ``size_range`` of the person's median
    size and whose centre drifts smoothly (knots every ``period`` seconds) within ``reach`` sizes of the
    person's centre, so it covers different joints over time. Without one, nothing is occluded and the boxes
    are NaN. Combine with videography as ``visible & ~occluded``.
    """
    uv = np.asarray(uv, dtype=np.float64)
    T, J = uv.shape[:2]
    r_on, r_box = rng.spawn(2)
    boxes = np.full((T, 4), np.nan)
    if r_on.random() >= prob:
        return np.zeros((T, J), bool), boxes
    size = np.nanmedian(person_scale(uv)) if np.isfinite(uv).any() else 0.0
    centre = _person_centre(uv, np.zeros(2))
    half = r_box.uniform(*size_range) * size / 2
    path = centre + smooth_curve(r_box, T, float(r_box.uniform(*period)) * fps, [-reach] * 2, [reach] * 2) * size
    boxes = np.concatenate([path - half, path + half], -1)
    inside = ((uv >= boxes[:, None, :2]) & (uv <= boxes[:, None, 2:])).all(-1)
    return inside, boxes
