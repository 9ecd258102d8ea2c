"""Mocap preparation on the real CMU files in ../shared/data/mocap (skipped when absent).

Conventions checked: Y up, floor at y = 0, and the figure's left is ``cross(up, facing)`` where facing is the
horizontal direction from the ear midpoint to the nose (facing +z with +y up, left is +x). Facing is itself
checked against something the head model does not touch: the walking direction or where the toes point.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posecli import joints
from posecli.mocap.bvh import read_bvh
from posecli.mocap.prepare import floor_height, nominal_fps, prepare_file, standing_frames, tpose_first_frame
from posecli.mocap.rigs import map_bvh

pytestmark = pytest.mark.integration

H36M = joints.get("h36m17").joints
COCO = joints.get("coco17").joints
LIMBS = [f"{s}_{a}->{s}_{b}" for s in ("left", "right")
         for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"))]


@pytest.fixture
def mocap(shared_data: Path) -> Path:
    folder = shared_data / "mocap"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: mocap integration data absent")
    return folder


def facing(coco: np.ndarray) -> np.ndarray:
    """Unit horizontal direction from the ear midpoint to the nose, (N, 3)."""
    ears = (coco[:, COCO.index("left_ear")] + coco[:, COCO.index("right_ear")]) / 2
    f = coco[:, COCO.index("nose")] - ears
    f[:, 1] = 0
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def girdles_left(points: np.ndarray, names: tuple[str, ...], face: np.ndarray) -> bool:
    """Hips and shoulders on the correct side in every frame, elbows/wrists/knees/ankles in most (a hop or a
    turn of the head against the body can cross a hand or a foot over)."""
    side = left_of(points, names, face) > 0
    return bool(side[:, [0, 3]].all() and (side.mean(axis=0) > 0.8).all())


def left_of(points: np.ndarray, names: tuple[str, ...], face: np.ndarray) -> np.ndarray:
    """(N, 6) signed distance along the figure's left of each left joint from its right twin, in the order
    hip, knee, ankle, shoulder, elbow, wrist."""
    left_dir = np.cross([0.0, 1.0, 0.0], face)
    out = []
    for name in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
        d = points[:, names.index(f"left_{name}")] - points[:, names.index(f"right_{name}")]
        out.append(np.einsum("nk,nk->n", d, left_dir))
    return np.stack(out, axis=1)


def limb_variation(h36m: np.ndarray) -> dict[str, float]:
    out = {}
    for bone in LIMBS:
        a, b = bone.split("->")
        length = np.linalg.norm(h36m[:, H36M.index(b)] - h36m[:, H36M.index(a)], axis=1)
        out[bone] = float(length.std() / length.mean())
    return out


def floor_view(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(H36M at the file's rate, lowest body joint per frame above the floor, fps) as prepare sees them."""
    bvh = read_bvh(path)
    mapped = map_bvh(bvh)
    keep = slice(1, None) if tpose_first_frame(mapped.joints["h36m17"]) else slice(None)
    body = mapped.body[keep]
    floor = floor_height(body)
    h36m = mapped.joints["h36m17"][keep].copy()
    h36m[..., 1] -= floor
    return h36m, body[..., 1].min(axis=1) - floor, nominal_fps(bvh.frame_time)


def test_iclone_tpose_quirk_file(mocap):
    path = mocap / "cmu_iclone" / "007" / "007_03.bvh"
    seq = prepare_file(path)
    assert seq.attrs["rig"] == "cmu_iclone"
    assert seq.attrs["dropped_tpose_frame"] and len(seq) == 104  # 207 frames at 60 fps -> 104 at 30
    # The hip height lives in the root OFFSET: added, the body already stands on the file's floor.
    assert abs(seq.attrs["floor_shift_m"]) < 0.1
    h36m, lowest, fps = floor_view(path)
    standing = standing_frames(h36m, fps)
    assert standing.sum() >= 10
    assert 1.5 < np.median(h36m[standing, H36M.index("head"), 1]) < 1.9
    assert np.median(lowest[standing]) < 0.05
    # Left/right: facing follows the walk, and every left joint is on the figure's left.
    h, c = seq.joints["h36m17"], seq.joints["coco17"]
    face = facing(c)
    velocity = np.gradient(h[:, 0], axis=0) * seq.fps
    velocity[:, 1] = 0
    moving = np.linalg.norm(velocity, axis=1) > 0.5
    assert moving.sum() > 50
    along = np.einsum("nk,nk->n", face[moving], velocity[moving]) / np.linalg.norm(velocity[moving], axis=1)
    assert (along > 0.7).mean() > 0.95
    assert girdles_left(h, H36M, face) and girdles_left(c, COCO, face)
    assert max(limb_variation(h).values()) < 0.02


def test_cmu_131_original_skeleton(mocap):
    path = mocap / "cmu_131" / "131_03.bvh"
    seq = prepare_file(path)
    assert seq.attrs["rig"] == "cmu_asf" and seq.attrs["units_m"] == pytest.approx(0.0254 / 0.45)
    assert seq.attrs["source_fps"] == 120 and len(seq) == 276  # 1102 frames at 120 fps -> 276 at 30
    h36m, lowest, fps = floor_view(path)
    # This subject stands with the knees bent ~30 degrees (CMU skeleton), hence the lower knee threshold.
    standing = standing_frames(h36m, fps, knee_deg=140)
    assert standing.sum() >= 20
    head = h36m[:, H36M.index("head"), 1]
    assert 1.35 < np.median(head[standing]) < 1.6  # 1.40 m (End Site crown over the toe joints)
    assert np.median(lowest[standing]) < 0.05
    h, c = seq.joints["h36m17"], seq.joints["coco17"]
    face = facing(c)
    assert girdles_left(h, H36M, face) and girdles_left(c, COCO, face)
    # Facing checked independently: the feet point where the nose points.
    mapped = map_bvh(read_bvh(path))
    toes = sum(mapped.body[:, mapped.body_names.index(f"{s}Toe")] - mapped.body[:, mapped.body_names.index(f"{s}Ankle")]
               for s in ("Left", "Right"))
    toes[:, 1] = 0
    cos = np.einsum("nk,nk->n", facing(mapped.joints["coco17"]), toes) / np.linalg.norm(toes, axis=1)
    assert (cos > 0.5).mean() > 0.9
    assert max(limb_variation(h).values()) < 0.02


def test_face_follows_the_head_rotation(mocap):
    """005_01 holds the head pitched ~43 degrees down all through (a data oddity): the nose must show it."""
    c = prepare_file(mocap / "cmu_iclone" / "005" / "005_01.bvh").joints["coco17"]
    ears = (c[:, COCO.index("left_ear")] + c[:, COCO.index("right_ear")]) / 2
    d = c[:, COCO.index("nose")] - ears
    pitch = np.degrees(np.arctan2(d[:, 1], np.linalg.norm(d[:, [0, 2]], axis=1)))
    assert np.median(pitch) < -40  # the head model alone puts the nose 11 degrees below the ear line


@pytest.mark.parametrize("file, digest", [
    ("cmu_iclone/006/006_01.bvh", "a6a3dbd6e6e3ddab254406823d9ea99d52bd64999497fa3d2a06baccd5b24357"),
    ("cmu_iclone/001/001_01.bvh", "8216e60872b73b6a2dea5039d00b7d6a0bca6f0597afd9fc428a3ff797e2552c"),
    ("cmu_131/131_01.bvh", "c2340b086d13e41386b43fc9194b60c395c36379a57016ab33545970f896e362"),
])
def test_real_cmu_files_import_exactly_as_before_the_position_conventions(mocap, file, digest):
    """sha256 of the prepared joint arrays (rounded to 10 micrometres, so that another CPU's last bits do not
    matter), recorded with the code of commit 33951d5, before position-channel conventions were told apart:
    these files have position channels on the root only, so nothing may change."""
    import hashlib

    seq = prepare_file(mocap / file)
    h = hashlib.sha256()
    for js in sorted(seq.joints):
        h.update(np.round(seq.joints[js].astype(np.float64), 5).tobytes())
    assert h.hexdigest() == digest and seq.attrs["position_channels"] == "root only"
    assert seq.attrs["implausible_bones"] == []
