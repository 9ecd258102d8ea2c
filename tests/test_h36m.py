import numpy as np
import pytest

from posecli import joints
from posecli.errors import SchemaError
from posecli.mocap.dataset import MocapDataset, Sequence
from posecli.mocap.h36m import coco_from_h36m, read_h36m_3d, write_vp3d_dataset


def standing_h36m(n=20):
    """A person facing +z in a Y-up world, metres; left is +x."""
    base = {"pelvis": (0, 1.0, 0), "right_hip": (-0.1, 1.0, 0), "right_knee": (-0.1, 0.55, 0),
            "right_ankle": (-0.1, 0.1, 0), "left_hip": (0.1, 1.0, 0), "left_knee": (0.1, 0.55, 0),
            "left_ankle": (0.1, 0.1, 0), "spine": (0, 1.25, 0), "thorax": (0, 1.5, 0),
            "neck_nose": (0, 1.62, 0.1), "head": (0, 1.78, 0), "left_shoulder": (0.2, 1.48, 0),
            "left_elbow": (0.22, 1.2, 0), "left_wrist": (0.23, 0.95, 0), "right_shoulder": (-0.2, 1.48, 0),
            "right_elbow": (-0.22, 1.2, 0), "right_wrist": (-0.23, 0.95, 0)}
    h = np.array([base[j] for j in joints.H36M17.joints], dtype=np.float32)
    drift = np.linspace(0, 1, n)[:, None, None] * np.array([0.5, 0, 0.2], dtype=np.float32)
    return h[None] + drift


def test_face_points_in_front_and_on_the_right_sides():
    h = standing_h36m(3)
    c = coco_from_h36m(h)
    co = joints.COCO17
    assert (c[:, co.index("left_ear"), 0] > c[:, co.index("right_ear"), 0]).all()  # left = +x here
    assert (c[:, co.index("left_eye"), 2] > c[:, co.index("left_ear"), 2]).all()  # eyes in front of ears
    np.testing.assert_allclose(c[:, co.index("left_wrist")], h[:, joints.H36M17.index("left_wrist")])


def test_vp3d_layout_round_trip(tmp_path):
    h = standing_h36m()
    ds = MocapDataset([Sequence("S1", "Walk 1", 30.0, {"h36m17": h, "coco17": coco_from_h36m(h)})])
    write_vp3d_dataset(ds, tmp_path / "data_3d_x.npz", tmp_path / "data_2d_x_gt.npz", cameras=2)
    with np.load(tmp_path / "data_3d_x.npz", allow_pickle=True) as z:
        zup = z["positions_3d"].item()["S1"]["Walk 1"]
    assert zup.shape == (20, 17, 3) and zup[0, 10, 2] > 1.7  # head height is Z in the VideoPose3D world
    with np.load(tmp_path / "data_2d_x_gt.npz", allow_pickle=True) as z:
        cams = z["positions_2d"].item()["S1"]["Walk 1"]
        assert z["metadata"].item()["layout_name"] == "coco"
    assert len(cams) == 2 and cams[0].shape == (20, 17, 2) and np.isfinite(cams[0]).all()
    back = read_h36m_3d(tmp_path / "data_3d_x.npz", fps=30.0)
    seq = back.sequences[0]
    assert (seq.subject, seq.name, len(seq)) == ("S1", "Walk 1", 20)
    floor = h[..., 1].min(1).min()  # the reader puts the lowest joint on the floor
    np.testing.assert_allclose(seq.joints["h36m17"], h - np.array([0, floor, 0]), atol=1e-5)


def test_h36m_32_joint_input_is_reduced_and_resampled(tmp_path):
    pos = {"S9": {"Sitting": np.random.default_rng(0).normal(size=(50, 32, 3)).astype(np.float32)}}
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=pos)
    ds = read_h36m_3d(tmp_path / "data_3d_h36m.npz", fps=25.0)
    assert len(ds.sequences[0]) == 25 and ds.sequences[0].joints["h36m17"].shape == (25, 17, 3)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(SchemaError, match="not a VideoPose3D data_3d file"):
        read_h36m_3d(tmp_path / "bad.npz")
