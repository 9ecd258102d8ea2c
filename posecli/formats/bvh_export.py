"""BVH export: one track's H36M-17 3D keypoints as a skeleton animation (Blender, MotionBuilder, Unreal, ...).

Choices the issue leaves open, and why:

* Skeleton: the H36M-17 tree (``joints.H36M17.parents``, joints keep their posecli names) plus four joints with
  zero OFFSET, like the ``LHipJoint``/``LeftShoulder`` bones of the CMU BVH files: ``left_pelvis`` and
  ``right_pelvis`` at the pelvis (their bone goes to the hip) and ``left_clavicle``/``right_clavicle`` at the
  thorax (bone to the shoulder). One rotation per joint can place several children only if the triangle they
  form is rigid, and estimated poses bend it (hip/spine angle, shrugs); with one rotation per side bone, every
  bone direction is reproduced exactly, and every position too when bone lengths are constant.
* Rest pose (all channels 0): a T-pose facing +z (toward the camera) with its left on +x; legs, spine, neck and
  head along -y/+y, arms along +-x. OFFSETs are those directions times each bone's median length over the
  track. Estimated bone lengths vary by a few percent while a BVH bone has one length, so on such frames a
  joint lands off by the length difference (summed down the chain) but every bone points where it did.
* Rotations: pelvis and thorax get a full frame from two directions: up the spine (pelvis -> spine, thorax ->
  neck_nose, reproduced exactly) and from the right to the left hip (shoulder), orthogonalised. Every other
  joint turns by the smallest rotation, in its parent's frame, that points its bone at its child (a swing: no
  twist about the bone relative to the parent). Limb roll therefore comes only from the torso frames: stable
  (nothing flips when a limb straightens) at the price of not recovering the upper-arm/thigh axial roll, which
  17 points do not pin down anyway. Leaf joints (ankles, wrists, head) keep rotation 0 and carry End Sites that
  extend their bone: a foot forward (0.35 x shin), a hand along the forearm (0.4 x forearm), a head top
  (0.5 x neck_nose->head).
* Channels: root ``Xposition Yposition Zposition``, then three rotations per joint (degrees, intrinsic in the
  listed order, as every BVH reader applies them) in an order chosen per joint to stay away from gimbal lock:
  a joint that swings a bone has that bone's rest axis in the middle (``Zrotation Xrotation Yrotation`` for
  arms, pelvis-to-hip and clavicle joints, ``Xrotation Yrotation Zrotation`` for legs, spine, neck, head; the
  middle angle stays under 83 degrees for any swing up to 170), and pelvis and thorax, which turn freely about
  the vertical and bow forward, use ``Yrotation Zrotation Xrotation`` (lock only when leaning 90 degrees
  sideways). Angles are kept continuous over time (of the two equivalent triples, the one nearest the previous
  frame, unwrapped by 360 degrees) so that animation curves do not jump.
* World and units: Y-up (``axes.y_up``: x right, y up, z toward the camera; the camera is at the origin, and
  when ``estimate`` found gravity the axes are levelled and the person's floor is at y = 0) in metres, so
  Blender's BVH importer at its default scale gives a life-size figure (tools that assume centimetres need a
  scale of 100). The root OFFSET is 0 and its position channels hold the pelvis, so readers
  that add the root OFFSET and readers that replace it agree.
* Time: frame time = step / fps, step being the gcd of the track's frame gaps (1, or N after ``--every N``).
  Frames missing inside the track, and NaN joints, are filled by linear interpolation (held at the ends).
* Source: the chosen 3D layer; for ``keypoints3d`` the track's ``keypoints3d_all`` array when present (the
  lifter's guess for every joint, so hidden joints are not mere interpolations). Layers in other joint sets are
  mapped to H36M-17 with ``joints.convert`` when posecli has a map.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .. import joints
from ..atomic import atomic_path
from ..console import warn
from ..errors import PoseCliError, SchemaError
from ..mocap.bvh import Bvh
from ..poses import KEYPOINTS_3D, Poses
from .axes import y_up
from .layers import one_track, pick_layer

ALL_JOINTS = "keypoints3d_all"  # track array written by the lifter: every joint, seen or guessed
POSITION = ("Xposition", "Yposition", "Zposition")

_X, _Y, _Z = np.eye(3)
# Rest direction of the bone that ends at each joint (parent -> joint), Y-up world, T-pose facing +z.
_REST = {
    "right_hip": -_X, "right_knee": -_Y, "right_ankle": -_Y,
    "left_hip": _X, "left_knee": -_Y, "left_ankle": -_Y,
    "spine": _Y, "thorax": _Y, "neck_nose": _Y, "head": _Y,
    "left_shoulder": _X, "left_elbow": _X, "left_wrist": _X,
    "right_shoulder": -_X, "right_elbow": -_X, "right_wrist": -_X,
}
# Joints with several children: the child their own frame aims at, and the (right, left) pair for the side axis.
_TORSO = {"pelvis": ("spine", ("right_hip", "left_hip")),
          "thorax": ("neck_nose", ("right_shoulder", "left_shoulder"))}
# The zero-OFFSET joint that carries the rotation of each other child of a torso joint.
_CONNECTOR = {"right_hip": "right_pelvis", "left_hip": "left_pelvis",
              "right_shoulder": "right_clavicle", "left_shoulder": "left_clavicle"}
# Euler orders. A joint that only swings its bone (no twist) decomposes with the bone's axis in the middle: its
# middle angle then stays under 83 degrees for swings up to 170 degrees, far from gimbal lock (90). Torso frames
# turn freely about the vertical (heading) and bend forward, so their middle axis is z (leaning sideways).
_ORDER_BY_AXIS = {0: "ZXY", 1: "XYZ"}
_TORSO_ORDER = "YZX"
# End Sites: leaf -> (rest direction, length as a fraction of the bone ending at the leaf).
_END = {"right_ankle": (_Z, 0.35), "left_ankle": (_Z, 0.35), "head": (_Y, 0.5),
        "left_wrist": (_X, 0.4), "right_wrist": (-_X, 0.4)}


def write_bvh(poses: Poses, path: str | Path, track_id: int | None = None, layer: str | None = None) -> None:
    """Write one track (``track_id``, or the only one) as a BVH skeleton animation."""
    track = one_track(poses.validate(), track_id, "BVH")
    if layer is None and not any(k.dim == 3 for k in track.keypoints.values()):
        raise PoseCliError(f"track {track.id} has no 3D keypoints", "run posecli estimate on the video first")
    name, kp = pick_layer(track, 3, layer)
    if kp.dim != 3:
        raise SchemaError(f"BVH needs 3D keypoints but layer {name!r} is 2D", "choose a 3D layer with --layer")
    if len(track) == 0:
        raise PoseCliError(f"track {track.id} has no frames", "choose another track with --track")
    h36m = joints.H36M17
    points = kp.points
    if name == KEYPOINTS_3D and ALL_JOINTS in track.arrays and track.arrays[ALL_JOINTS].shape == points.shape:
        points = track.arrays[ALL_JOINTS]
    elif kp.joint_set != h36m.name:
        points, _ = joints.convert(points, kp.confidence, kp.joint_set, h36m.name)
    else:
        points = np.where(kp.confidence[..., None] > 0, points, np.nan)
    rate = poses.fps
    if rate is None:
        rate = 30.0
        warn("the pose file has no frame rate; the BVH assumes 30 fps")
    step = _frame_step(track.frames)
    filled = fill_gaps(track.frames, points, step, h36m.joints)
    grid = np.arange(track.frames[0], track.frames[-1] + 1, step)  # fill_gaps' frames
    bvh = skeleton_animation(y_up(filled, poses.meta, track.id, grid), step / rate, Path(path))
    with atomic_path(path) as tmp:
        tmp.write_text(format_bvh(bvh))


def _frame_step(frames: np.ndarray) -> int:
    return int(np.gcd.reduce(np.diff(frames))) if len(frames) > 1 else 1


def fill_gaps(frames: np.ndarray, points: np.ndarray, step: int, names: tuple[str, ...]) -> np.ndarray:
    """(N, J, 3) points on every ``step``-th frame from the first to the last, NaN and missing frames filled
    by linear interpolation over time (ends held)."""
    grid = np.arange(frames[0], frames[-1] + 1, step)
    out = np.empty((len(grid), points.shape[1], 3))
    for j in range(points.shape[1]):
        seen = np.isfinite(points[:, j]).all(-1)
        if not seen.any():
            raise PoseCliError(f"joint {names[j]} has no 3D position in any frame of the track",
                               "choose another track or layer")
        for k in range(3):
            out[:, j, k] = np.interp(grid, frames[seen], points[seen, j, k])
    return out


def skeleton_animation(points: np.ndarray, frame_time: float, path: Path = Path("export.bvh")) -> Bvh:
    """The BVH skeleton and motion reproducing (T, 17, 3) H36M-17 positions given in the Y-up export world."""
    h36m = joints.H36M17
    idx = {n: i for i, n in enumerate(h36m.joints)}
    pts = np.asarray(points, dtype=np.float64)
    n_frames = pts.shape[0]
    bone = {n: np.linalg.norm(pts[:, i] - pts[:, h36m.parents[i]], axis=-1)
            for n, i in idx.items() if h36m.parents[i] >= 0}
    length = {n: float(np.median(v)) for n, v in bone.items()}
    children = {n: [c for c in h36m.joints if h36m.parents[idx[c]] == idx[n]] for n in h36m.joints}

    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[tuple[str, ...]] = []
    world: dict[int, np.ndarray] = {}  # BVH joint -> (T, 3, 3) rotation, its local axes to world
    local: list[np.ndarray] = []  # per joint with channels, in file order
    orders: list[str] = []  # their Euler orders

    def add(name: str, parent: int, offset: np.ndarray, rot: np.ndarray | None = None, order: str = "") -> int:
        """Append a joint (``rot`` its world rotation, ``order`` its rotation channels), or an End Site."""
        names.append(name)
        parents.append(parent)
        offsets.append(offset)
        channels.append((POSITION if parent < 0 else ()) + tuple(f"{a}rotation" for a in order))
        if rot is not None:
            up = world[parent] if parent >= 0 else np.eye(3)
            world[len(names) - 1] = rot
            local.append(np.swapaxes(up, -1, -2) @ rot)
            orders.append(order)
        return len(names) - 1

    def aim(parent: int, at: str, start: str) -> np.ndarray:
        """World rotation: the parent's, then the smallest turn pointing ``_REST[at]`` from ``start`` at ``at``."""
        up = world[parent]
        u = _unit(pts[:, idx[at]] - pts[:, idx[start]], fallback=up @ _REST[at])
        return up @ _swing(_REST[at], np.einsum("tji,tj->ti", up, u))

    def emit(joint: str, parent: int, offset: np.ndarray) -> None:
        kids = children[joint]
        if joint in _TORSO:
            rot, order = _torso_frame(pts, idx, joint), _TORSO_ORDER
        elif len(kids) == 1:
            rot, order = aim(parent, kids[0], joint), _swing_order(kids[0])
        elif not kids:  # a leaf: no bone to aim, keeps its parent's orientation
            rot, order = world[parent], _swing_order(joint)
        else:
            raise AssertionError(f"{joint}: several children but no torso frame rule")
        me = add(joint, parent, offset, rot, order)
        if not kids:
            direction, fraction = _END[joint]
            add(f"{joint}_End", me, direction * fraction * length[joint])
        primary = _TORSO.get(joint, (None,))[0]
        for kid in kids:
            child_offset = _REST[kid] * length[kid]
            if joint in _TORSO and kid != primary:
                link = add(_CONNECTOR[kid], me, np.zeros(3), aim(me, kid, joint), _swing_order(kid))
                emit(kid, link, child_offset)
            else:
                emit(kid, me, child_offset)

    root = h36m.joints[h36m.parents.index(-1)]
    emit(root, -1, np.zeros(3))
    angles = continuous_euler(np.stack(local, axis=1), orders)  # (T, B, 3) degrees, B = joints with channels
    motion = np.concatenate([pts[:, idx[root]], angles.reshape(n_frames, -1)], axis=1)  # the root comes first
    return Bvh(path, names, np.asarray(parents), np.asarray(offsets, dtype=np.float64), channels,
               float(frame_time), motion)


def _swing_order(joint: str) -> str:
    """Euler order of a joint that swings the bone ending at ``joint``: that bone's rest axis in the middle."""
    return _ORDER_BY_AXIS[int(np.argmax(np.abs(_REST[joint])))]


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of ``v`` normalised; rows too short to have a direction take the fallback's."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    fallback = np.broadcast_to(fallback, v.shape)
    return np.where(norm > 1e-9, v / np.maximum(norm, 1e-12), fallback)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking the unit vector ``a`` (3,) to the unit vectors ``b`` (T, 3)."""
    a = np.broadcast_to(a, b.shape)
    v = np.cross(a, b)
    c = np.einsum("ti,ti->t", a, b)
    k = np.zeros(b.shape + (3,))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    opposite = c < -1 + 1e-9
    r = np.eye(3) + k + (k @ k) / np.where(opposite, 1.0, 1.0 + c)[:, None, None]
    if opposite.any():  # half turn about any axis perpendicular to a
        e = np.eye(3)[np.argmin(np.abs(a[opposite]), axis=-1)]
        n = _unit(np.cross(a[opposite], e), fallback=e)
        r[opposite] = 2 * np.einsum("ti,tj->tij", n, n) - np.eye(3)
    return r


def _torso_frame(pts: np.ndarray, idx: dict[str, int], joint: str) -> np.ndarray:
    """(T, 3, 3) world rotation of a torso joint: the rest frame (up the spine, right -> left) turned onto the
    current one; the up axis is matched exactly, the side axis after removing its up component."""
    primary, (right, left) = _TORSO[joint]
    up_rest, side_rest = _REST[primary], _REST[left] - _REST[right]
    up = pts[:, idx[primary]] - pts[:, idx[joint]]
    side = pts[:, idx[left]] - pts[:, idx[right]]
    rest = _basis(up_rest[None], side_rest[None])[0]
    # A degenerate side axis (shoulders on the spine line) falls back to the rest side axis.
    return _basis(up, side, side_rest) @ rest.T


def _basis(up: np.ndarray, side: np.ndarray, side_fallback: np.ndarray | None = None) -> np.ndarray:
    """(T, 3, 3) orthonormal frames with columns (side, up, side x up), built from ``up`` exactly."""
    e_up = _unit(up, fallback=_Y)
    s = side - np.einsum("ti,ti->t", side, e_up)[:, None] * e_up
    if side_fallback is not None:
        alt = side_fallback - np.einsum("i,ti->t", side_fallback, e_up)[:, None] * e_up
        s = np.where(np.linalg.norm(s, axis=-1, keepdims=True) > 1e-9, s, alt)
    e_side = _unit(s, fallback=_X)
    return np.stack([e_side, e_up, np.cross(e_side, e_up)], axis=-1)


def continuous_euler(rot: np.ndarray, orders: list[str]) -> np.ndarray:
    """(T, B, 3, 3) rotations to (T, B, 3) intrinsic Euler angles in degrees (joint b in ``orders[b]``, e.g.
    "ZXY": R = Rz @ Rx @ Ry, angles in that order), continuous over time.

    Every rotation has two triples, (a, b, c) and (a + 180, 180 - b, c + 180), each defined up to 360; frame by
    frame we keep the one closest to the previous frame's angles."""
    from scipy.spatial.transform import Rotation  # imported here: scipy.spatial costs ~0.5 s of CLI start-up

    t = rot.shape[0]
    first = np.empty(rot.shape[:2] + (3,))
    for order in set(orders):
        cols = [k for k, o in enumerate(orders) if o == order]
        with warnings.catch_warnings():  # "gimbal lock": the decomposition is still a valid one
            warnings.simplefilter("ignore", UserWarning)
            first[:, cols] = Rotation.from_matrix(rot[:, cols].reshape(-1, 3, 3)).as_euler(order).reshape(t, -1, 3)
    second = first + np.array([math.pi, 0.0, math.pi])
    second[..., 1] = math.pi - first[..., 1]
    out = np.empty_like(first)
    out[0] = first[0]
    for i in range(1, t):
        prev = out[i - 1]
        cands = [c + 2 * math.pi * np.round((prev - c) / (2 * math.pi)) for c in (first[i], second[i])]
        dist = [np.abs(c - prev).sum(-1) for c in cands]
        out[i] = np.where((dist[1] < dist[0])[:, None], cands[1], cands[0])
    return np.degrees(out)


def format_bvh(bvh: Bvh) -> str:
    """BVH text of a skeleton and motion (joints in depth-first order; channel-less leaves become End Sites)."""
    kids: list[list[int]] = [[] for _ in bvh.names]
    for j, p in enumerate(bvh.parents):
        if p >= 0:
            kids[p].append(j)
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        offset = " ".join(f"{v:.6f}" for v in _no_negative_zero(bvh.offsets[j]))
        if not bvh.channels[j] and not kids[j]:
            lines.extend([f"{pad}End Site", f"{pad}{{", f"{pad}\tOFFSET {offset}", f"{pad}}}"])
            return
        lines.append(f"{pad}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.names[j]}")
        lines.extend([f"{pad}{{", f"{pad}\tOFFSET {offset}",
                      f"{pad}\tCHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}".rstrip()])
        for k in kids[j]:
            emit(k, depth + 1)
        lines.append(f"{pad}}}")

    for j, p in enumerate(bvh.parents):
        if p < 0:
            emit(j, 0)
    lines += ["MOTION", f"Frames: {bvh.n_frames}", f"Frame Time: {bvh.frame_time:.9f}"]
    lines.extend(" ".join(f"{v:.6f}" for v in row) for row in _no_negative_zero(bvh.motion))
    return "\n".join(lines) + "\n"


def _no_negative_zero(values: np.ndarray) -> np.ndarray:
    """Values that print as 0 at 6 decimals set to +0, so files do not show "-0.000000"."""
    return np.where(np.abs(values) < 5e-7, 0.0, values)


__all__ = ["continuous_euler", "fill_gaps", "format_bvh", "skeleton_animation", "write_bvh"]
