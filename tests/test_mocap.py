"""BVH parsing and FK, rig maps, resampling and dataset preparation on hand-made files (no ../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecli import joints
from posecli.errors import InputError
from posecli.mocap.bvh import read_bvh
from posecli.mocap.dataset import MocapDataset
from posecli.mocap.prepare import bone_stats, jump_frames, nominal_fps, prepare, prepare_file, resample, subject_of
from posecli.mocap.rigs import HEAD_MODEL, guess_rig_map, load_rig_map, map_bvh, rig_map_for, save_rig_map

from helpers import figure_bvh, walk, write  # noqa: E402

H36M = joints.get("h36m17").joints
COCO = joints.get("coco17").joints

# Three joints with two different rotation orders, a root OFFSET that must be added to the root's position
# channels, and End Sites. Expected positions worked out by hand below.
TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 0 5
    }
  }
  JOINT Leg
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -4 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.016667
0 0 0 0 0 0   0 0 0    0 0 0
10 0 0 90 0 0   90 0 0    0 0 0
0 0 0 90 90 0   0 90 90    0 90 90
"""
# Rotations are intrinsic in channel order, R = R1 @ R2 @ R3. Rz90 takes x->y, y->-x; Rx90 y->z, z->-y;
# Ry90 z->x, x->-z.
TINY_EXPECTED = {  # Hips, Chest, Chest_End, Leg, Leg_End
    0: [(1, 2, 3), (1, 12, 3), (1, 12, 8), (3, 2, 3), (3, -2, 3)],
    # root at OFFSET + (10, 0, 0), turned Rz90; Chest turned Rx90 sends its end (0,0,5) to (0,-5,0) -> (5,0,0)
    1: [(11, 2, 3), (1, 2, 3), (6, 2, 3), (11, 4, 3), (15, 4, 3)],
    # root R = Rz90 @ Rx90 (order Z X Y): (0,10,0) -> (0,0,10). Chest R = Rx0 @ Ry90 @ Rz90 sends (0,0,5) to
    # (5,0,0), the root to (0,5,0). Leg R = Rz0 @ Ry90 @ Rx90 sends (0,-4,0) to (-4,0,0), the root to (0,-4,0).
    2: [(1, 2, 3), (1, 2, 13), (1, 7, 13), (1, 4, 3), (1, 0, 3)],
}


def at(points: np.ndarray, names: tuple[str, ...], joint: str) -> np.ndarray:
    return points[:, names.index(joint)]


# --------------------------------------------------------------------------------------------------- BVH + FK

def test_fk_matches_hand_computed_positions(tmp_path):
    bvh = read_bvh(write(tmp_path / "tiny.bvh", TINY))
    assert bvh.names == ["Hips", "Chest", "Chest_End", "Leg", "Leg_End"]
    assert list(bvh.parents) == [-1, 0, 1, 0, 3]
    assert bvh.channels[2] == () and bvh.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    assert bvh.n_frames == 3 and nominal_fps(bvh.frame_time) == 60.0
    pos, rot = bvh.fk()
    for frame, expected in TINY_EXPECTED.items():
        np.testing.assert_allclose(pos[frame], expected, atol=1e-9, err_msg=f"frame {frame}")
    rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    rx90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])
    np.testing.assert_allclose(rot[1, 1], rz90 @ rx90, atol=1e-12)  # Chest's world rotation, frame 1
    np.testing.assert_allclose(bvh.positions(slice(2, 3))[0], TINY_EXPECTED[2], atol=1e-9)
    np.testing.assert_allclose(bvh.rest_positions(), TINY_EXPECTED[0])


def test_windows_line_ends(tmp_path):
    path = tmp_path / "crlf.bvh"
    path.write_bytes(TINY.replace("\n", "\r\n").encode())
    np.testing.assert_allclose(read_bvh(path).positions()[2], TINY_EXPECTED[2], atol=1e-9)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("0 0 0 90 90 0   0 90 90    0 90 90\n", ""), "truncated"),
    (lambda t: t.replace("10 0 0 90 0 0   90 0 0    0 0 0", "10 0 0 90 0 0   90 0 0    0 0"), "line 29"),
    (lambda t: t.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 4 Xrotation Yrotation Zrotation"),
     "Chest"),
    (lambda t: t.replace("Frames: 3", "Frames: x"), "not numbers"),
    (lambda t: t[:t.index("MOTION")], "no MOTION"),
    (lambda t: t.replace("  }\n}\nMOTION", "  }\nMOTION"), "unclosed"),
    (lambda t: t.replace("0 90 90\n", "0 90 nan\n", 1), "NaN"),
    # found by fuzzing: a huge count made the message repeat the rest of the file
    (lambda t: t.replace("CHANNELS 3 Xrotation", "CHANNELS 99999999999999999999999 Xrotation"), "0 to 6 exist"),
    (lambda t: t.replace("OFFSET 1 2 3", "OFFSET nan 2 3"), "finite"),
    (lambda t: t.replace("Frame Time: 0.016667", "Frame Time: nan"), "no usable motion"),
])
def test_bad_bvh_raises_input_error_naming_the_file(tmp_path, edit, words):
    path = write(tmp_path / "broken.bvh", edit(TINY))
    with pytest.raises(InputError) as err:
        read_bvh(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.bvh"):
        read_bvh(tmp_path / "nope.bvh")


# ----------------------------------------------------------------------------------------------- resampling

def test_resample_whole_and_fractional_ratios():
    x = np.arange(7, dtype=float)[:, None, None] * np.array([1.0, 2.0, 3.0])  # linear in time, (7, 1, 3)
    half = resample(x, 60, 30)
    np.testing.assert_allclose(half[:, 0, 0], [0, 2, 4, 6])  # every other frame, nothing interpolated
    y = resample(x, 50, 30)  # 6 intervals at 50 fps = 0.12 s -> frames at 0, 1/30, 2/30, 3/30 s
    np.testing.assert_allclose(y[:, 0, 0], np.arange(4) * 50 / 30)
    np.testing.assert_allclose(resample(x, 30, 30), x)
    assert nominal_fps(0.0083333) == 120.0 and nominal_fps(1 / 29.97) == pytest.approx(29.97)


# -------------------------------------------------------------------------------------------------- rig maps

def test_name_matched_map_puts_left_on_the_left_and_face_in_front(tmp_path):
    frames = [{}, {"Hips": (0, 95, 0, 0, 0, 180)}, {"Head": (0, 30, 0)}]  # rest; turned round; head nodding
    bvh = read_bvh(write(tmp_path / "fig.bvh", figure_bvh(frames)))
    rig = rig_map_for(bvh)
    assert rig.name == "by-name"
    assert rig.table("h36m17")["left_shoulder"] == {"LeftArm": 1.0}  # not the clavicle named LeftShoulder
    assert rig.table("h36m17")["head"] == {"Head_End": 1.0}
    m = map_bvh(bvh)
    assert m.units == 0.01 and m.up == "y"
    h, c = m.joints["h36m17"], m.joints["coco17"]
    assert h.shape == (3, 17, 3) and c.shape == (3, 17, 3)
    # Facing +z (frame 0) the figure's left is +x; turned round (frame 1) it is -x, for every left joint.
    for names, pts in (("h36m17", h), ("coco17", c)):
        js = joints.get(names)
        for left, right in zip(*js.symmetry, strict=True):
            assert pts[0, left, 0] > pts[0, right, 0], js.joints[left]
            assert pts[1, left, 0] < pts[1, right, 0], js.joints[left]
    np.testing.assert_allclose(at(h, H36M, "left_hip")[0], [0.09, 0.90, 0])
    np.testing.assert_allclose(at(h, H36M, "pelvis")[0], [0, 0.90, 0])
    np.testing.assert_allclose(at(h, H36M, "head")[0], [0, 1.70, 0], atol=1e-9)
    # Face points from the head model around the ear midpoint, facing +z in frame 0 and -z in frame 1.
    centre = (at(c, COCO, "left_ear") + at(c, COCO, "right_ear")) / 2
    np.testing.assert_allclose(centre[0], [0, 1.52 + 0.03, 0], atol=1e-9)  # head joint + 3 cm
    fwd, up, _ = HEAD_MODEL["nose"]
    np.testing.assert_allclose(at(c, COCO, "nose")[0] - centre[0], [0, up, fwd], atol=1e-9)
    np.testing.assert_allclose(at(c, COCO, "nose")[1] - centre[1], [0, up, -fwd], atol=1e-9)
    # Nodding (Xrotation 30 on the head joint) tips the face down: the rotation, not positions, moves it.
    assert at(c, COCO, "nose")[2, 1] < at(c, COCO, "nose")[0, 1] - 0.04
    assert np.allclose(at(h, H36M, "head")[2], at(h, H36M, "head")[0], atol=0.1)


def test_head_axes_calibrated_when_the_zero_pose_is_not_upright(tmp_path):
    # Every OFFSET turned so that the zero pose lies on its back, and the root turned back upright in every
    # frame: the motion is the same, but the head joint's local axes are no longer the world's.
    frames = [{"Hips": (0, 95, i, 0, 0, 0)} for i in range(4)]  # local joint rotations would differ: none
    bvh = read_bvh(write(tmp_path / "tilted.bvh", figure_bvh(frames, tilt=True)))
    rest = bvh.rest_positions()
    assert abs(rest[bvh.index("Head"), 1] - rest[bvh.index("LeftUpLeg"), 1]) < 1  # zero pose not upright
    m = map_bvh(bvh)
    c = m.joints["coco17"]
    nose, ears = c[:, COCO.index("nose")], (c[:, COCO.index("left_ear")] + c[:, COCO.index("right_ear")]) / 2
    fwd, up, _ = HEAD_MODEL["nose"]
    np.testing.assert_allclose(nose - ears, np.broadcast_to([0, up, fwd], nose.shape), atol=1e-6)
    upright = map_bvh(read_bvh(write(tmp_path / "upright.bvh", figure_bvh(frames))))
    np.testing.assert_allclose(m.joints["h36m17"], upright.joints["h36m17"], atol=1e-9)


def test_user_rig_map_round_trip_and_weights(tmp_path):
    bvh = read_bvh(write(tmp_path / "fig.bvh", figure_bvh(walk(3))))
    guessed = guess_rig_map(bvh)
    save_rig_map(guessed, tmp_path / "map.json")
    loaded = load_rig_map(tmp_path / "map.json")
    assert loaded.to_dict() == guessed.to_dict()
    a, b = map_bvh(bvh, guessed), map_bvh(bvh, tmp_path / "map.json")
    for js in ("h36m17", "coco17"):
        np.testing.assert_allclose(a.joints[js], b.joints[js])
    # A hand-written map: weights, explicit head axes, fixed units, and a COCO override.
    doc = json.loads((tmp_path / "map.json").read_text())
    doc["h36m17"]["spine"] = {"Spine": 0.5, "Spine1": 0.5}
    doc["coco17"] = {"left_eye": ["Head"]}
    doc["head"] = {"joint": "Head", "forward": [0, 0, 1], "up": [0, 1, 0], "centre_offset": [0, 0.05, 0]}
    doc["units"] = 0.02
    write(tmp_path / "mine.json", json.dumps(doc))
    m = map_bvh(bvh, tmp_path / "mine.json")
    assert m.units == 0.02 and m.rig_name == doc["name"]
    np.testing.assert_allclose(m.joints["h36m17"][0, H36M.index("spine")], [0, (95 + 17.5) * 0.02, 0])
    np.testing.assert_allclose(m.joints["coco17"][0, COCO.index("left_eye")], [0, 152 * 0.02, 0])
    ears = m.joints["coco17"][0, [COCO.index("left_ear"), COCO.index("right_ear")]].mean(0)
    np.testing.assert_allclose(ears, [0, 152 * 0.02 + 0.05, 0], atol=1e-9)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["h36m17"].pop("thorax"), "lacks thorax"),
    (lambda d: d["h36m17"].update(nose=["Head"]), "unknown joint"),
    (lambda d: d["h36m17"].update(spine={"Spine": 0.5, "Spine1": 0.2}), "add up to 0.7"),
    (lambda d: d["h36m17"].update(head=["@chin"]), "@chin"),
    (lambda d: d.update(units=-1), "units"),
    (lambda d: d.update(up="w"), "'up'"),
    (lambda d: d.update(unit=0.01), "unknown key"),
    (lambda d: d.update(head={"joint": "Head", "forward": [0, 0, 1]}), "both"),
])
def test_bad_rig_map_names_the_file(tmp_path, change, words):
    bvh = read_bvh(write(tmp_path / "fig.bvh", figure_bvh(walk(2))))
    doc = guess_rig_map(bvh).to_dict()
    change(doc)
    path = write(tmp_path / "bad.json", json.dumps(doc))
    with pytest.raises(InputError) as err:
        load_rig_map(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_rig_map_naming_a_missing_joint_names_the_bvh(tmp_path):
    bvh = read_bvh(write(tmp_path / "fig.bvh", figure_bvh(walk(2))))
    doc = guess_rig_map(bvh).to_dict()
    doc["h36m17"]["thorax"] = ["Chest"]
    write(tmp_path / "map.json", json.dumps(doc))
    with pytest.raises(InputError, match=r"fig\.bvh.*Chest"):
        map_bvh(bvh, tmp_path / "map.json")


def test_unknown_rig_without_names_asks_for_a_map(tmp_path):
    with pytest.raises(InputError, match="--rig-map"):
        map_bvh(read_bvh(write(tmp_path / "tiny.bvh", TINY)))


# ----------------------------------------------------------------------------------------------- preparation

def test_prepare_drops_a_prepended_tpose_frame_and_sets_the_floor(tmp_path):
    tpose = {"Hips": (200, 97, 0, 0, 0, 0)}  # 2 m away, 2 cm up, arms horizontal (the zero pose)
    write(tmp_path / "007" / "007_03.bvh", figure_bvh([tpose, *walk(61, start=1)]))
    held = {"Hips": (0, 95, 0, 0, 0, 0)}  # a T-pose held at the start of a take is motion: kept
    write(tmp_path / "cmu_131" / "131_01.bvh", figure_bvh([held, held, *walk(59)], frame_time=1 / 120))
    write(tmp_path / "cmu_131" / "notes.csv", "Subject,Trial #,Motion Description\n131,1,stand and walk\n")
    calls = []
    ds = prepare(tmp_path, fps=30, progress=lambda done, total, path: calls.append((done, total, path.name)))
    assert calls == [(1, 2, "007_03.bvh"), (2, 2, "131_01.bvh")]
    assert ds.subjects == ["007", "131"]
    s7, s131 = ds.sequences
    assert s7.attrs["dropped_tpose_frame"] and not s131.attrs["dropped_tpose_frame"]
    assert len(s7) == 31 and len(s131) == 16  # 61 frames at 60 fps; 61 at 120 fps (1 s and 0.5 s)
    assert s131.attrs["description"] == "stand and walk" and s7.attrs["source"] == "007/007_03.bvh"
    for s in ds.sequences:
        assert s.fps == 30 and set(s.joints) == {"h36m17", "coco17"}
        ankles = s.joints["h36m17"][:, [H36M.index("left_ankle"), H36M.index("right_ankle")], 1]
        np.testing.assert_allclose(ankles, 0.06, atol=1e-5)  # toes on y = 0, ankles 6 cm above them
    np.testing.assert_allclose(s7.joints["h36m17"][:, 0, 2], 0.01 * (1 + 2 * np.arange(31)), atol=1e-6)
    stats = bone_stats(ds)
    assert set(stats) == {f"{H36M[p]}->{H36M[c]}" for c, p in enumerate(joints.get("h36m17").parents) if p >= 0}
    assert stats["left_hip->left_knee"]["mean"] == pytest.approx(0.42)
    assert all(v["std"] < 1e-6 for v in stats.values())
    ds.save(tmp_path / "out.npz")
    back = MocapDataset.load(tmp_path / "out.npz")
    np.testing.assert_allclose(back.sequences[0].joints["coco17"], s7.joints["coco17"])


def test_prepare_stops_on_a_bad_file_and_names_it(tmp_path):
    write(tmp_path / "a" / "a_01.bvh", figure_bvh(walk(5)))
    bad = write(tmp_path / "a" / "a_02.bvh", figure_bvh(walk(5)).rsplit("\n", 3)[0] + "\n")
    with pytest.raises(InputError, match=str(bad)):
        prepare(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .bvh files"):
        prepare(tmp_path / "empty")


def test_jump_frames_flags_flips_and_pops():
    walk_pts = np.zeros((10, 17, 3))
    walk_pts[..., 2] = np.arange(10)[:, None] * 0.02  # 1.2 m/s
    assert jump_frames(walk_pts, 60) == []
    walk_pts[5:, 3, 0] += 0.4  # a knee flips to another solution and stays
    walk_pts[7, 13, 1] += 0.5  # a wrist pops out for one frame
    assert jump_frames(walk_pts, 60) == [5, 7, 8]


def test_subject_names():
    root = Path("/data")
    assert subject_of(root / "cmu_iclone" / "007" / "007_03.bvh", root) == "007"
    assert subject_of(root / "cmu_131" / "131_02.bvh", root) == "131"
    assert subject_of(root / "takes" / "walk.bvh", root) == "takes"
    assert subject_of(root / "S9_walk.bvh", root) == "S9"


def test_prepare_file_single(tmp_path):
    seq = prepare_file(write(tmp_path / "x_01.bvh", figure_bvh(walk(9))), fps=60)
    assert seq.subject == "x" and seq.name == "x_01" and len(seq) == 9


# ------------------------------------------------------------------------------ position-channel conventions

def with_joint_positions(text: str, repeat_offset: bool) -> str:
    """``text`` (figure_bvh) with 6 channels on every joint: the position channels either repeat the joint's
    OFFSET (exporters that write the whole local translation) or hold zero (a displacement added to it)."""
    out, offsets, in_motion = [], [], False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("CHANNELS 3"):
            offsets.append([float(v) for v in lines[i - 1].split()[1:4]])
            line = line.replace("CHANNELS 3", "CHANNELS 6 Xposition Yposition Zposition")
        elif stripped.startswith("CHANNELS 6"):
            offsets.append(None)  # the root keeps its own 6 channels
        if in_motion and stripped and not stripped.startswith(("Frames", "Frame Time")):
            values = stripped.split()
            row, col = [], 0
            for off in offsets:
                if off is None:
                    row += values[col:col + 6]
                    col += 6
                else:
                    row += [f"{v:g}" for v in (off if repeat_offset else (0, 0, 0))] + values[col:col + 3]
                    col += 3
            line = " ".join(row)
        if stripped == "MOTION":
            in_motion = True
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("convention", ["root only", "offset + channels", "channels"])
def test_position_channel_conventions_give_the_offsets_bone_lengths(tmp_path, convention):
    text = figure_bvh(walk(5))
    if convention != "root only":
        text = with_joint_positions(text, repeat_offset=convention == "channels")
    bvh = read_bvh(write(tmp_path / "f.bvh", text))
    assert bvh.position_convention == convention
    pos = bvh.positions()
    for k, p in enumerate(bvh.parents):
        if p >= 0:  # every bone keeps its OFFSET's length in every frame (units: cm; 1 mm = 0.1)
            np.testing.assert_allclose(np.linalg.norm(pos[:, k] - pos[:, p], axis=-1),
                                       np.linalg.norm(bvh.offsets[k]), atol=0.1)
    seq = prepare_file(tmp_path / "f.bvh")
    assert seq.attrs["position_channels"] == convention and seq.attrs["implausible_bones"] == []
    assert seq.attrs["units"] == "cm" and seq.attrs["units_from"] == "the skeleton's height"


def test_bones_no_person_has_are_named_in_a_warning(tmp_path, capsys):
    path = write(tmp_path / "big.bvh", figure_bvh(walk(5)))
    rig = guess_rig_map(read_bvh(path))
    rig.units = 0.025  # a wrong unit in a user's rig map: everything 2.5 times too long
    seq = prepare_file(path, rig=rig)
    err = capsys.readouterr().err
    assert "big.bvh" in err and "left thigh" in err and "--rig-map" in err
    assert any(b.startswith("left thigh") for b in seq.attrs["implausible_bones"])


def test_unknown_rig_names_the_files_joints(tmp_path):
    text = figure_bvh(walk(3))
    for k, name in enumerate(["LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg"]):
        text = text.replace(f"JOINT {name}\n", f"JOINT bone_{k}\n")
    with pytest.raises(InputError) as info:
        map_bvh(read_bvh(write(tmp_path / "odd.bvh", text)))
    message = str(info.value)
    assert "bone_0" in message and "--rig-map" in message
