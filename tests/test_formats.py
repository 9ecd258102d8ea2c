"""Round trips through every pose file format, and the schema validation that guards loading."""
import json

import numpy as np
import pytest

from posecli.errors import InputError, PoseCliError, SchemaError
from posecli.formats import read_poses, write_poses
from posecli.poses import BOXES, KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track


def make_poses(n_tracks=2, with_3d=True, seed=0):
    rng = np.random.default_rng(seed)
    tracks = []
    for tid in range(n_tracks):
        frames = np.array([0, 1, 2, 4, 5, 6]) + tid
        pts = rng.uniform(10, 600, (len(frames), 17, 2)).astype(np.float32)
        conf = rng.uniform(0.05, 1.0, (len(frames), 17)).astype(np.float32)
        pts[1, 3], conf[1, 3] = np.nan, 0.0
        layers = {KEYPOINTS_2D: Keypoints("coco17", pts, conf)}
        if with_3d:
            p3 = rng.normal(0, 0.5, (len(frames), 17, 3)).astype(np.float32)
            layers[KEYPOINTS_3D] = Keypoints("h36m17", p3, np.ones((len(frames), 17), np.float32))
        boxes = np.concatenate([np.nanmin(pts, 1), np.nanmax(pts, 1)], 1)
        tracks.append(Track(tid + 1, frames, frames / 30.0, layers, {BOXES: boxes}, {"note": "x"}))
    return Poses(tracks, fps=30.0, width=640, height=480, num_frames=10, source="clip.mp4",
                 camera={"K": np.eye(3)}, meta={"command": "test"})


def assert_layer_equal(a: Keypoints, b: Keypoints, atol=1e-3):
    assert a.joint_set == b.joint_set
    np.testing.assert_array_equal(np.isnan(a.points), np.isnan(b.points))
    np.testing.assert_allclose(a.points, b.points, atol=atol, equal_nan=True)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=atol)


@pytest.mark.parametrize("suffix", ["npz", "json"])
def test_native_round_trip_is_lossless(tmp_path, suffix):
    p = make_poses()
    path = tmp_path / f"poses.{suffix}"
    write_poses(p, path)
    q = read_poses(path)
    assert (q.fps, q.width, q.height, q.num_frames, q.source) == (30.0, 640, 480, 10, "clip.mp4")
    assert q.meta == {"command": "test"} and list(q.camera) == ["K"]
    for a, b in zip(p.tracks, q.tracks):
        assert a.id == b.id and a.attrs == b.attrs
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_allclose(a.times, b.times)
        for name in a.keypoints:
            assert_layer_equal(a.keypoints[name], b.keypoints[name], atol=0)
        np.testing.assert_allclose(a.arrays[BOXES], b.arrays[BOXES])


def test_npz_does_not_need_pickle(tmp_path):
    write_poses(make_poses(), tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert str(z["schema"]) == "posecli.poses"


def test_coco_round_trip(tmp_path):
    p = make_poses(with_3d=False)
    write_poses(p, tmp_path / "k.json", "coco-json")
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc[0]["category_id"] == 1 and len(doc[0]["keypoints"]) == 51 and doc[0]["image_id"] == 0
    q = read_poses(tmp_path / "k.json", fps=30)
    for a, b in zip(p.tracks, q.tracks):
        assert a.id == b.id
        np.testing.assert_array_equal(a.frames, b.frames)
        assert_layer_equal(a.keypoints[KEYPOINTS_2D], b.keypoints[KEYPOINTS_2D])
        np.testing.assert_allclose(a.arrays[BOXES], b.arrays[BOXES], atol=0.01)


def test_coco_ground_truth_visibility_flags(tmp_path):
    kp = [100, 50, 2] * 17
    kp[3:6] = [0, 0, 0]
    (tmp_path / "gt.json").write_text(json.dumps({"annotations": [{"image_id": 7, "keypoints": kp}]}))
    q = read_poses(tmp_path / "gt.json")
    layer = q.tracks[0].keypoints[KEYPOINTS_2D]
    assert q.tracks[0].frames.tolist() == [7] and layer.confidence[0, 0] == 1.0
    assert np.isnan(layer.points[0, 1]).all() and layer.confidence[0, 1] == 0


def test_vp3d_round_trip(tmp_path):
    p = make_poses()
    write_poses(p, tmp_path / "data_2d_custom.npz", "vp3d")
    with np.load(tmp_path / "data_2d_custom.npz", allow_pickle=True) as z:
        pos2d = z["positions_2d"].item()
        meta = z["metadata"].item()
    assert set(pos2d) == {"clip.mp4#1", "clip.mp4#2"}
    arr = pos2d["clip.mp4#1"]["custom"][0]
    assert arr.shape == (7, 17, 2)  # frames 0..6, the gap at frame 3 filled
    np.testing.assert_allclose(arr[3], (arr[2] + arr[4]) / 2, rtol=1e-5)
    assert meta["layout_name"] == "coco" and meta["keypoints_symmetry"][0] == [1, 3, 5, 7, 9, 11, 13, 15]
    q = read_poses(tmp_path / "data_2d_custom.npz")
    a, b = p.tracks[0], q.tracks[0]
    assert b.attrs["subject"] == "clip.mp4#1" and b.frames[0] == a.frames[0]
    keep = np.isin(b.frames, a.frames)
    ok = a.keypoints[KEYPOINTS_2D].confidence > 0
    np.testing.assert_allclose(b.keypoints[KEYPOINTS_2D].points[keep][ok], a.keypoints[KEYPOINTS_2D].points[ok],
                               rtol=1e-5)
    np.testing.assert_allclose(b.keypoints[KEYPOINTS_3D].points[keep], a.keypoints[KEYPOINTS_3D].points, rtol=1e-5)


def test_vp3d_reads_32_joint_h36m(tmp_path):
    pos = {"S1": {"Walking": np.arange(5 * 32 * 3, dtype=np.float32).reshape(5, 32, 3)}}
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=pos)
    q = read_poses(tmp_path / "data_3d_h36m.npz")
    layer = q.tracks[0].keypoints[KEYPOINTS_3D]
    assert layer.joint_set == "h36m17" and layer.points.shape == (5, 17, 3)
    np.testing.assert_array_equal(layer.points[0, 4], pos["S1"]["Walking"][0, 6])


def test_trc_round_trip(tmp_path):
    p = make_poses(n_tracks=1)
    p.tracks[0].keypoints[KEYPOINTS_3D].points[2, 5] = np.nan
    p.tracks[0].keypoints[KEYPOINTS_3D].confidence[2, 5] = 0
    write_poses(p, tmp_path / "m.trc")
    text = (tmp_path / "m.trc").read_text().splitlines()
    assert text[0].startswith("PathFileType\t4\t(X/Y/Z)") and text[2].split("\t")[:5] == ["30", "30", "6", "17", "m"]
    q = read_poses(tmp_path / "m.trc")
    assert q.fps == 30 and q.tracks[0].keypoints[KEYPOINTS_3D].joint_set == "h36m17"
    np.testing.assert_array_equal(q.tracks[0].frames, p.tracks[0].frames)
    # camera frame (x right, y down, z forward) -> OpenSim's (X forward = away from the camera, Y up, Z right)
    cam = p.tracks[0].keypoints[KEYPOINTS_3D]
    expect = np.stack([cam.points[..., 2], -cam.points[..., 1], cam.points[..., 0]], -1)
    assert_layer_equal(Keypoints("h36m17", expect, cam.confidence), q.tracks[0].keypoints[KEYPOINTS_3D], atol=1e-5)
    # a TRC read back is in the file's world already: written again, it is unchanged
    write_poses(q, tmp_path / "again.trc")
    assert_layer_equal(q.tracks[0].keypoints[KEYPOINTS_3D],
                       read_poses(tmp_path / "again.trc").tracks[0].keypoints[KEYPOINTS_3D], atol=1e-5)


def test_trc_needs_one_track(tmp_path):
    with pytest.raises(PoseCliError, match="--track"):
        write_poses(make_poses(n_tracks=2), tmp_path / "m.trc")
    write_poses(make_poses(n_tracks=2), tmp_path / "m.trc", track=2)
    assert not list(tmp_path.glob(".*part*"))
    # the track id survives the round trip (on the first line, which OpenSim keeps whole and Pose2Sim skips)
    first = (tmp_path / "m.trc").read_text().splitlines()[0].split("\t")
    assert first[:4] == ["PathFileType", "4", "(X/Y/Z)", "m.trc"] and first[4] == "posecli_track=2"
    assert read_poses(tmp_path / "m.trc").tracks[0].id == 2
    # a TRC from elsewhere (no tag) is track 1
    lines = (tmp_path / "m.trc").read_text().splitlines()
    lines[0] = "\t".join(first[:4])
    (tmp_path / "other.trc").write_text("\n".join(lines) + "\n")
    assert read_poses(tmp_path / "other.trc").tracks[0].id == 1


def test_csv_round_trip(tmp_path):
    p = make_poses(with_3d=False)
    write_poses(p, tmp_path / "k.csv")
    header = (tmp_path / "k.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["track_id", "frame", "time", "nose_x", "nose_y"]
    q = read_poses(tmp_path / "k.csv")
    assert q.fps == pytest.approx(30.0)
    for a, b in zip(p.tracks, q.tracks):
        np.testing.assert_array_equal(a.frames, b.frames)
        assert_layer_equal(a.keypoints[KEYPOINTS_2D], b.keypoints[KEYPOINTS_2D])


# ---- validation: loading says exactly what is wrong ----

def test_wrong_npz_keys(tmp_path):
    np.savez(tmp_path / "other.npz", foo=np.zeros(3))
    with pytest.raises(SchemaError, match="not a posecli pose file.*foo"):
        read_poses(tmp_path / "other.npz")


def test_nan_with_confidence_is_rejected(tmp_path):
    p = make_poses(n_tracks=1)
    p.tracks[0].keypoints[KEYPOINTS_2D].points[0, 0] = np.nan  # confidence stays > 0
    with pytest.raises(SchemaError, match="NaN coordinates but confidence > 0"):
        write_poses(p, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_nan_timestamps_in_file_are_rejected(tmp_path):
    write_poses(make_poses(n_tracks=1), tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        data = dict(z)
    data["tracks/1/times"] = data["tracks/1/times"].copy()
    data["tracks/1/times"][2] = np.nan
    np.savez(tmp_path / "nan.npz", **data)
    with pytest.raises(SchemaError, match="track 1: timestamps contain NaN") as e:
        read_poses(tmp_path / "nan.npz")
    assert "nan.npz" in str(e.value)


def test_shape_mismatch_is_named(tmp_path):
    write_poses(make_poses(n_tracks=1), tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        data = dict(z)
    data["tracks/1/keypoints/keypoints2d/points"] = data["tracks/1/keypoints/keypoints2d/points"][:-1]
    np.savez(tmp_path / "short.npz", **data)
    with pytest.raises(SchemaError, match="keypoints 'keypoints2d': points have shape"):
        read_poses(tmp_path / "short.npz")


def test_truncated_and_non_npz_files(tmp_path):
    write_poses(make_poses(), tmp_path / "p.npz")
    raw = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="not a readable NPZ"):
        read_poses(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(InputError, match="not a readable NPZ"):
        read_poses(tmp_path / "text.npz")
    with pytest.raises(InputError, match="does not exist"):
        read_poses(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="directory"):
        read_poses(tmp_path)


def test_unwritable_output_leaves_nothing(tmp_path):
    with pytest.raises(PoseCliError, match="does not exist"):
        write_poses(make_poses(), tmp_path / "no" / "such" / "dir.npz")


def test_openpose_folder(tmp_path):
    folder = tmp_path / "cam01_json"
    folder.mkdir()
    kp = np.arange(75, dtype=float).reshape(25, 3) % 50 + 1
    kp[:, 2] = 0.8
    kp[3] = 0  # a missing joint
    for f in (0, 1, 3):
        people = [{"person_id": [-1], "pose_keypoints_2d": kp.reshape(-1).tolist()}]
        (folder / f"cam01.{f:04d}.json").write_text(json.dumps({"version": 1.3, "people": people}))
    (folder / "cam01.0002.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": []}]}))
    poses = read_poses(folder, fps=60)
    t = poses.tracks[0]
    layer = t.keypoints[KEYPOINTS_2D]
    assert t.frames.tolist() == [0, 1, 3] and layer.joint_set == "body25b"
    assert np.isnan(layer.points[0, 3]).all() and layer.confidence[0, 3] == 0
    np.testing.assert_allclose(layer.points[1, 0], kp[0, :2])


def test_openpose_folder_without_fps_says_what_it_assumed(tmp_path, capsys):
    from posecli.console import set_quiet

    set_quiet(False)
    folder = tmp_path / "json"
    folder.mkdir()
    kp = np.full((25, 3), 0.8) * np.arange(1, 26)[:, None]
    (folder / "v.0000.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": kp.reshape(-1).tolist()}]}))
    capsys.readouterr()
    assert read_poses(folder).fps == 30.0
    err = capsys.readouterr().err
    assert "assuming 30 fps" in err and "--fps" in err
    read_poses(folder, fps=60)
    assert "assuming" not in capsys.readouterr().err


def test_outputs_follow_the_umask(tmp_path):
    """Outputs are written to a private temporary file and renamed: the result must still get the usual mode."""
    import os
    import stat

    from posecli.atomic import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
        os.umask(0o077)
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("x")
        assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600
    finally:
        os.umask(old)
