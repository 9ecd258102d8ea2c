"""``posecli data`` and the estimate train -> run loop end to end, on hand-made BVH files (no ../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import figure_bvh, walk, write

from posecli.cli import main
from posecli.formats import read_poses
from posecli.mocap.h36m import read_h36m_3d

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"


def mocap_folder(tmp: Path) -> Path:
    root = tmp / "mocap"
    for subject, speed in (("101", 1.0), ("102", 1.5)):
        for take in (1, 2):
            write(root / subject / f"{subject}_0{take}.bvh", figure_bvh(walk(40, speed, start=take * 7)))
    return root


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_data_prepare_info_preview_export(tmp_path, capsys):
    root = mocap_folder(tmp_path)
    code, _, err = run(capsys, "data", "prepare", "--mocap", root, "-o", tmp_path / "m.npz", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "data", "info", tmp_path / "m.npz", "--json", "--bones")
    info = json.loads(out)
    assert code == 0 and set(info["subjects"]) == {"101", "102"}
    assert info["subjects"]["101"] == {"sequences": 2, "frames": 40}  # 2 takes x (40 frames at 60 fps -> 20 at 30)
    assert all(b["std"] / b["mean"] < 0.01 for b in info["bones"].values())  # a rigid figure keeps its bone lengths
    code, _, err = run(capsys, "data", "preview", tmp_path / "m.npz", "--frame", "5", "-o", tmp_path / "p.png")
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "data", "preview", tmp_path / "m.npz", "--frame", "500", "-o", tmp_path / "q.png")
    assert code == 1 and not (tmp_path / "q.png").exists()
    code, _, _ = run(capsys, "data", "export", tmp_path / "m.npz", "--to-3d", tmp_path / "d3.npz",
                     "--to-2d", tmp_path / "d2.npz", "--cameras", "2", "-q")
    assert code == 0
    back = read_h36m_3d(tmp_path / "d3.npz")
    assert sorted(s.name for s in back.sequences) == ["101_01", "101_02", "102_01", "102_02"]


def test_train_estimate_development_split_leaves_the_excluded_subject_out(tmp_path, capsys):
    root = mocap_folder(tmp_path)
    write(root / "103" / "103_01.bvh", figure_bvh(walk(40, 0.8, start=3)))
    w = tmp_path / "dev.safetensors"
    code, _, err = run(capsys, "train", "estimate", "--data", f"cmu:{root}", "--val-subjects", "102",
                       "--exclude-subjects", "103", "--steps", "2", "--batch", "2", "--length", "8", "-o", w, "-q")
    assert code == 0, err
    split = json.loads(w.with_suffix(".json").read_text())["split"]
    assert split["train_subjects"] == ["101"] and split["val_subjects"] == ["102"]
    assert split["excluded_subjects"] == ["103"] and split["train_frames"] == 40  # as without 103


def test_train_a_few_steps_then_estimate(tmp_path, capsys):
    root = mocap_folder(tmp_path)
    w = tmp_path / "lifter.safetensors"
    code, _, err = run(capsys, "train", "estimate", "--data", f"cmu:{root}", "--val-subjects", "102", "--steps", "3",
                       "--batch", "2", "--length", "8", "-o", w, "-q")
    assert code == 0, err
    card = json.loads(w.with_suffix(".json").read_text())
    assert card["split"] == {"train_subjects": ["101"], "val_subjects": ["102"], "train_frames": 40, "val_frames": 40}
    held = card["metrics"]["held_out_detector_like_2d"]
    assert held["frames"] == 40 and 0 < held["mpjpe_mm"] < 5000 and held["pa_mpjpe_mm"] <= held["mpjpe_mm"]
    code, _, err = run(capsys, "estimate", EXAMPLE, "--weights", w, "--end", "10", "-o", tmp_path / "p.npz", "-q")
    assert code == 0, err
    poses = read_poses(tmp_path / "p.npz")
    t = poses.tracks[0]
    kp3 = t.keypoints["keypoints3d"]
    assert kp3.joint_set == "h36m17" and kp3.points.shape == (10, 17, 3)
    seen = kp3.confidence > 0
    assert seen.mean() > 0.8 and np.isfinite(kp3.points[seen]).all()
    assert (t.arrays["root"][:, 2] > 0).all()  # in front of the camera
    # Root-relative by construction: the pelvis sits at the root.
    np.testing.assert_allclose(t.arrays["keypoints3d_all"][:, 0], t.arrays["root"], atol=1e-5)
    # The upright world frame: the documented axes in the meta, the same joints rotated (distances kept),
    # the floor at y = 0 under the feet (the ankles' 10th percentile sits ANKLE_HEIGHT above it).
    world = poses.meta["world"]
    assert "y up" in world["axes"] and len(world["up_camera"]) == 3
    rot = np.asarray(world["rotation"])
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(rot[1], world["up_camera"], atol=1e-5)
    kw = t.keypoints["keypoints3d_world"]
    assert kw.joint_set == "h36m17" and kw.points.shape == (10, 17, 3)
    np.testing.assert_allclose(np.linalg.norm(kw.points[seen] - kw.points[:, :1].repeat(17, 1)[seen], axis=-1),
                               np.linalg.norm(kp3.points[seen] - kp3.points[:, :1].repeat(17, 1)[seen], axis=-1),
                               atol=1e-4)
    below = world["floor_below_camera_m"][str(t.id)]  # (this 3-step model's depths are not sane: no floor check)
    expect = t.arrays["keypoints3d_all"].astype(np.float64) @ rot.T + [0.0, below, 0.0]
    np.testing.assert_allclose(t.arrays["keypoints3d_world_all"], expect, rtol=1e-4, atol=1e-3 * np.abs(expect).max())
    # TRC export writes the upright world in OpenSim's axes (Y up)
    code, _, err = run(capsys, "export", tmp_path / "p.npz", "--to", "trc", "--track", "1", "-o", tmp_path / "p.trc",
                         "-q")
    assert code == 0, err
    trc = read_poses(tmp_path / "p.trc").tracks[0].keypoints["keypoints3d"].points
    np.testing.assert_allclose(trc[..., 1], kw.points[..., 1], atol=1e-5)
    code, _, err = run(capsys, "estimate", EXAMPLE, "--weights", tmp_path / "none.safetensors", "-o", tmp_path / "x.npz")
    assert code == 1 and "weights not found" in err and not (tmp_path / "x.npz").exists()
    wrong = tmp_path / "wrong.npz"  # a file that is not lifter weights: one line, before any tracking
    wrong.write_bytes(b"not weights")
    code, _, err = run(capsys, "estimate", EXAMPLE, "--weights", wrong, "-o", tmp_path / "x.npz")
    assert code == 1 and "not lifter weights" in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.npz").exists()
