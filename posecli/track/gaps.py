"""Short gaps inside a track filled in: the person was there, hidden for a moment (behind someone, missed by the
detector), and the track says where, marked as not seen.

Offline MOT trackers do the same after association (ByteTrack's and StrongSORT's interpolation of the boxes across
a track's gaps); here the keypoints are interpolated with the box, so every later step finds the person in every
frame of their track. Filled frames carry a confidence of FILLED_CONFIDENCE on every joint, presence and pose flag
0, and ``filled`` = 1.

Hand-written because the libraries that do it (ByteTrack's tools, StrongSORT's GSI) are research scripts working
on MOTChallenge text files, not installable packages.
"""
from __future__ import annotations

import numpy as np

from ..poses import BOXES, FILLED, KEYPOINTS_2D, Keypoints, Track, shot_index

# Above 0, which the data model reads as "no joint", and below every threshold at which posecli takes a joint as
# seen (0.3 for matching and left/right, 0.5 for ``complete``'s hidden joints and the 3D limb pull), so later steps
# know where the person was and take none of their joints for seen.
FILLED_CONFIDENCE = 0.1
EDGE_MARGIN = 0.01  # of the frame's short side: an end this close to the border may be someone who left


def fill_gaps(track: Track, max_gap: int, step: int, width: int, height: int, cuts=()) -> Track:
    """``track`` with every gap of at most ``max_gap`` processed frames (``step`` video frames apart) filled by
    linear interpolation between the frames on either side. A gap is left alone across a shot cut (another
    camera) and where either side's keypoints reach the image border (the person may have left the picture and
    come back; a straight line between would put them inside it)."""
    n = len(track)
    # the flag on every frame, also where nothing is filled (the input track is left as it is)
    track = Track(track.id, track.frames, track.times, dict(track.keypoints),
                  {**track.arrays, FILLED: track.arrays.get(FILLED, np.zeros(n, np.uint8))}, track.attrs)
    if n < 2 or max_gap < 1:
        return track
    frames = track.frames
    missing = np.diff(frames) // step - 1
    shot = shot_index(frames, cuts)
    inside = _inside(track, width, height)
    gaps = [i for i in np.flatnonzero((missing >= 1) & (missing <= max_gap))
            if shot[i] == shot[i + 1] and inside[i] and inside[i + 1]]
    if not gaps:
        return track
    # Rows of the filled track: each existing row, then the gap's rows after it; w = weight of the next row.
    src, w = [], []
    for i in range(n):
        src.append(i)
        w.append(0.0)
        if gaps and gaps[0] == i:
            gaps.pop(0)
            k = int(missing[i])
            src += [i] * k
            w += list(np.arange(1, k + 1) / (k + 1))
    src, w = np.array(src), np.array(w)
    new = w > 0
    nxt = np.minimum(src + new, n - 1)

    def blend(a: np.ndarray) -> np.ndarray:
        ww = w.reshape(-1, *([1] * (a.ndim - 1)))
        return ((1 - ww) * a[src] + ww * a[nxt]).astype(a.dtype)

    out_frames = frames[src] + np.round(w * (frames[nxt] - frames[src])).astype(np.int64)
    layers = {}
    for name, kp in track.keypoints.items():
        points = blend(kp.points)
        conf = kp.confidence[src].copy()
        conf[new] = np.where(np.isfinite(points[new]).all(-1), FILLED_CONFIDENCE, 0)
        layers[name] = Keypoints(kp.joint_set, points, conf)
    arrays = {}
    for name, a in track.arrays.items():
        if name == BOXES:
            arrays[name] = blend(a)
        else:  # flags, pose flag, presence: nothing was seen in a filled frame
            v = a[src].copy()
            v[new] = 1 if name == FILLED else 0
            arrays[name] = v
    return Track(track.id, out_frames, blend(track.times), layers, arrays, track.attrs)


def _inside(track: Track, width: int, height: int) -> np.ndarray:
    """Per frame: the person's keypoints (all, seen or not) lie inside the image, clear of its border."""
    pts = track.keypoints[KEYPOINTS_2D].points
    margin = EDGE_MARGIN * min(width, height)
    finite = np.isfinite(pts).all(-1, keepdims=True)
    lo = np.where(finite, pts, np.inf).min(axis=1)
    hi = np.where(finite, pts, -np.inf).max(axis=1)
    return (lo[:, 0] > margin) & (lo[:, 1] > margin) & (hi[:, 0] < width - margin) & (hi[:, 1] < height - margin)
